/**
 * The fault suite's orchestrator: a whole flextask deployment as real processes (`node cli/flextask.ts scheduler |
 * worker | connector | api`, each with its own instance id, state directory and ports) on a broker of its own, with
 * TCP proxies in front of Postgres (connector only) and of the shared Schema Registry (every process), so that
 * faults can stop the broker, cut Postgres or cut the registry without touching what other suites share.
 *
 * Ports (base 20500, FAULTS_PORT_BASE): broker base (controller +1), registry proxy +2, Postgres proxy +3, API +10
 * (ops +11), schedulers +20…, workers +30…, connector +40.
 *
 * A supervisor restarts a process that exits without being told to (as Kubernetes would) and records it: a
 * running process that exits by itself is a finding the suite fails on; one that exits while starting (e.g. the
 * broker is down at that moment) is recorded and retried for up to 7 minutes.
 *
 * Every process signal goes to a child this module started, by its pid; the broker is stopped by the pid file of
 * the broker this module started (tools/kafka/kafka.ts stop with our own port and data directory).
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { newApiKey } from '../../api/api-keys.ts'
import { topicNames, type TopicNames } from '../../topics.ts'
import { databaseUrl, schemaRegistryUrl } from '../helpers/env.ts'
import { killHard, type SchedulerChild, spawnScheduler } from '../helpers/scheduler.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { waitFor } from '../helpers/kafka.ts'

export const ProcessKinds = ['scheduler', 'worker', 'connector', 'api'] as const
export type ProcessKind = (typeof ProcessKinds)[number]

/** FAULTS_PORT_BASE (default 20500) moves every port, so two runs can share a machine (the large one on 20550). */
const base = Number(process.env.FAULTS_PORT_BASE ?? 20500)
export const ports = {
  broker: base,
  registryProxy: base + 2,
  postgresProxy: base + 3,
  api: base + 10,
  apiOps: base + 11,
  firstScheduler: base + 20,
  firstWorker: base + 30,
  connector: base + 40,
} as const

const root = fileURLToPath(new URL('../..', import.meta.url))
const handlers = join(root, 'test/faults/fault-handlers.ts')
export const partitions = 6

export interface FlextaskProcess {
  name: string
  kind: ProcessKind
  /** The current incarnation (replaced on every restart). */
  child: SchedulerChild
  stateDir: string
  stopped: boolean
}

/** One line per event, with the time since the stack started; printed with the audit. */
export type Timeline = (what: string) => void

export class Stack {
  readonly prefix = `faults-${randomUUID().slice(0, 8)}`
  readonly topics: TopicNames = topicNames(this.prefix)
  readonly brokers = [`127.0.0.1:${ports.broker}`]
  readonly database = `faults_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  readonly apiKey = newApiKey('faults', 'admin')
  readonly processes = new Map<string, FlextaskProcess>()
  readonly stateRoot = mkdtempSync(join(tmpdir(), 'flextask-faults-'))
  readonly brokerDataDir = join(tmpdir(), `flextask-faults-kafka-${ports.broker}`)
  registryProxy!: TcpProxy
  postgresProxy!: TcpProxy
  readonly log: Timeline
  /** Processes that exited by themselves while serving, or while starting. */
  readonly findings = { selfExits: [] as string[], startExits: [] as string[] }
  /** Incarnations this module stopped on purpose (SIGKILL, SIGTERM). */
  private readonly intended = new WeakSet<SchedulerChild>()
  private closing = false
  private readonly starting = new Map<string, Promise<FlextaskProcess>>()

  constructor(log: Timeline) {
    this.log = process.env.FAULTS_VERBOSE === '1' ? (what) => (log(what), console.error(what)) : log
  }

  get databaseUrl(): string {
    const url = new URL(databaseUrl)
    url.pathname = `/${this.database}`
    return url.toString()
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${ports.api}`
  }

  /** Own broker (fresh data dir), proxies, database. */
  async open(): Promise<void> {
    await this.broker('stop')
    rmSync(this.brokerDataDir, { recursive: true, force: true })
    await this.broker('start')
    const registry = new URL(schemaRegistryUrl)
    this.registryProxy = await startTcpProxy(registry.hostname, Number(registry.port), ports.registryProxy)
    const postgres = new URL(databaseUrl)
    this.postgresProxy = await startTcpProxy(postgres.hostname, Number(postgres.port || 5432), ports.postgresProxy)
    await adminQuery(`CREATE DATABASE ${this.database}`)
  }

  async close(): Promise<void> {
    this.closing = true
    for (const p of this.processes.values()) await killHard(p.child)
    await this.broker('stop').catch((error: unknown) => this.log(`broker stop failed: ${String(error)}`))
    rmSync(this.brokerDataDir, { recursive: true, force: true })
    rmSync(this.stateRoot, { recursive: true, force: true })
    await adminQuery(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`).catch(() => {})
  }

  /** Starts (or stops) the suite's own broker with tools/kafka/kafka.ts, asynchronously (the lanes keep going). */
  async broker(command: 'start' | 'stop'): Promise<void> {
    const env = {
      ...process.env,
      KAFKA_PORT: String(ports.broker),
      KAFKA_CONTROLLER_PORT: String(ports.broker + 1),
      KAFKA_DATA_DIR: this.brokerDataDir,
    }
    const child = spawn(process.execPath, [join(root, 'tools/kafka/kafka.ts'), command], { env, stdio: 'pipe' })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    if (code !== 0) throw new Error(`kafka ${command} on ${ports.broker} failed (${code}): ${output}`)
  }

  private env(kind: ProcessKind, name: string, index: number): Record<string, string> {
    const metricsPort = {
      scheduler: ports.firstScheduler + index,
      worker: ports.firstWorker + index,
      connector: ports.connector,
      api: ports.apiOps,
    }[kind]
    return {
      KAFKA_BROKERS: this.brokers.join(','),
      SCHEMA_REGISTRY_URL: `http://127.0.0.1:${ports.registryProxy}/apis/ccompat/v7`,
      DATABASE_URL:
        kind === 'connector'
          ? this.databaseUrl.replace(/:\/\/([^@/]*@)?[^/]+\//, `://$1127.0.0.1:${ports.postgresProxy}/`)
          : this.databaseUrl,
      FLEXTASK_TOPIC_PREFIX: this.prefix,
      FLEXTASK_PARTITIONS: String(partitions),
      FLEXTASK_CATEGORIES: 'internal',
      FLEXTASK_INSTANCE_ID: `${this.prefix}-${name}`,
      FLEXTASK_STATE_DIR: join(this.stateRoot, name),
      FLEXTASK_API_KEYS: this.apiKey.entry,
      PORT: String(ports.api),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'info',
    }
  }

  /** Starts process `name` (scheduler s1…, worker w1…, connector c1, api a1), or restarts it; resolves once serving. */
  async start(kind: ProcessKind, name: string): Promise<FlextaskProcess> {
    // One incarnation per name: a start already under way (a lane's, or the supervisor's) is joined, and a
    // process that runs is not started twice (its ports would clash).
    const pending = this.starting.get(name)
    if (pending !== undefined) return pending
    const current = this.processes.get(name)
    if (current !== undefined && !current.child.exited()) return current
    const starting = this.spawnUntilServing(kind, name).finally(() => this.starting.delete(name))
    this.starting.set(name, starting)
    return starting
  }

  private async spawnUntilServing(kind: ProcessKind, name: string): Promise<FlextaskProcess> {
    const index = Number(name.slice(1)) - 1
    const args = kind === 'worker' ? ['worker', '--categories', 'internal', '--handlers', handlers] : [kind]
    const env = this.env(kind, name, index)
    // Long enough for a broker restart that takes minutes on a loaded box (stop ~75 s, start ~90 s seen).
    const deadline = Date.now() + 420_000
    for (;;) {
      const child = spawnScheduler(name, env, args)
      this.keepLog(name, child)
      const proc: FlextaskProcess = { name, kind, child, stateDir: env.FLEXTASK_STATE_DIR ?? '', stopped: false }
      this.processes.set(name, proc)
      // Generous: on a shared two-core box a Node process takes 15-25 s to start under load.
      await waitFor(
        `${name} to serve (or exit)`,
        () => (child.exited() || child.lines.some((l) => l.includes('"msg":"serving"')) ? true : undefined),
        Math.max(1_000, deadline - Date.now()),
      )
      if (child.exited()) {
        if (Date.now() > deadline) throw new Error(`${name} exited while starting: ${child.lines.at(-1) ?? ''}`)
        this.findings.startExits.push(`${name}: ${child.lines.at(-1) ?? 'no output'}`)
        this.log(`${name} exited while starting (${child.lines.at(-1) ?? ''}); starting it again in 2 s`)
        await sleep(2_000)
        continue
      }
      this.log(`${name} (${kind}, pid ${child.child.pid}) serving`)
      child.child.once('exit', (code, signal) => this.onExit(proc, child, code, signal))
      return proc
    }
  }

  /** FAULTS_LOG_DIR: every incarnation's output appended to `<dir>/<name>.log`, for a diagnosis after the run. */
  private keepLog(name: string, child: SchedulerChild): void {
    const dir = process.env.FAULTS_LOG_DIR
    if (dir === undefined) return
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `${name}.log`)
    appendFileSync(file, `--- ${new Date().toISOString()} ${name} pid ${child.child.pid} ---\n`)
    const append = (chunk: Buffer): void => appendFileSync(file, chunk)
    child.child.stdout?.on('data', append)
    child.child.stderr?.on('data', append)
  }

  /** A serving process exited without being told to: recorded, and started again. */
  private onExit(proc: FlextaskProcess, child: SchedulerChild, code: number | null, signal: string | null): void {
    if (this.intended.has(child) || this.closing || this.processes.get(proc.name)?.child !== child) return
    const tail = child.lines.slice(-3).join(' | ')
    this.findings.selfExits.push(`${proc.name} exited by itself (code ${code}, signal ${signal}): ${tail}`)
    this.log(`${proc.name} EXITED BY ITSELF (code ${code}, signal ${signal}); supervisor restarts it`)
    this.start(proc.kind, proc.name).catch((error: unknown) =>
      this.log(`${proc.name} restart failed: ${String(error)}`),
    )
  }

  running(kind: ProcessKind): FlextaskProcess[] {
    return [...this.processes.values()].filter((p) => p.kind === kind && !p.child.exited())
  }

  get(name: string): FlextaskProcess {
    const p = this.processes.get(name)
    if (p === undefined) throw new Error(`no process ${name}`)
    return p
  }

  async kill(name: string): Promise<void> {
    const p = this.get(name)
    if (p.stopped) this.signal(p, 'SIGCONT')
    this.intended.add(p.child)
    await killHard(p.child)
    this.log(`${name} SIGKILLed`)
  }

  signal(p: FlextaskProcess, signal: 'SIGSTOP' | 'SIGCONT'): void {
    p.child.child.kill(signal)
    p.stopped = signal === 'SIGSTOP'
    this.log(`${p.name} ${signal}`)
  }

  /** SIGTERM and wait for the exit; a process that does not exit within 45 s is reported and SIGKILLed. */
  async terminate(name: string): Promise<{ exitCode: number | null; stuck: boolean }> {
    const p = this.get(name)
    if (p.child.exited()) return { exitCode: p.child.child.exitCode, stuck: false }
    const exit = new Promise<void>((resolve) => p.child.child.once('exit', () => resolve()))
    this.intended.add(p.child)
    p.child.child.kill('SIGTERM')
    let stuck = false
    await waitFor(`${name} to exit after SIGTERM`, () => (p.child.exited() ? true : undefined), 45_000).catch(() => {
      stuck = true
    })
    if (stuck) await killHard(p.child)
    await exit
    this.log(`${name} exited after SIGTERM (code ${p.child.child.exitCode}${stuck ? ', STUCK: SIGKILLed' : ''})`)
    return { exitCode: p.child.child.exitCode, stuck }
  }
}

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  try {
    await admin.query(sql)
  } finally {
    await admin.end()
  }
}
