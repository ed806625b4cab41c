/**
 * Real-broker helpers for scheduler suites: TaskDefinition builders, producing definitions with the Avro
 * serde to the partition that owns the taskId (Java murmur2, as the contract requires), decoding the raw value
 * bytes of `collect()` (kafka.ts), the scheduler CLI as a child process (one or a file's fleet of them), and
 * deleting every topic of a topic prefix.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Admin, Producer } from '@platformatic/kafka'
import { onTestFailed } from 'vitest'
import { type ConfigOverrides, resolveConfig } from '../../config.ts'
import { createProcessDeps, type ProcessDeps } from '../../host/flextask-process.ts'
import { silentLogger } from '../../logger.ts'
import { createMetrics } from '../../metrics.ts'
import { createScheduler, type Scheduler } from '../../scheduler/scheduler.ts'
import type { AvroSerde } from '../../schemas/avro-serde.ts'
import { RegistryClient } from '../../schemas/registry-client.ts'
import { createSerdeRegistry, type SerdeRegistry } from '../../schemas/serde-registry.ts'
import type { TaskDefinition } from '../../schemas/task-definition.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { schedulerApplicationId, type TopicNames } from '../../topics.ts'
import type { Clock } from '../../topology/api.ts'
import { kafkaBrokers, schemaRegistryUrl } from './env.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import type { Serde } from '../../topology/api.ts'
import { onCleanup } from './cleanup.ts'
import { type CollectedRecord, collect, waitFor } from './kafka.ts'

export { taskDefinition } from './task-definitions.ts'

/** The serdes of a topic prefix, with the scheduler's subjects (schemas/serde-registry.ts), registered. */
export async function testSerdes(registryUrl: string, topics: TopicNames): Promise<SerdeRegistry> {
  const serdes = createSerdeRegistry(new RegistryClient(registryUrl), topics)
  await serdes.init()
  return serdes
}

/**
 * The process dependencies for an in-process component on the local broker and registry: `env` on top of the
 * test environment (KAFKA_BROKERS, SCHEMA_REGISTRY_URL), silent logs unless given, a private metrics registry.
 */
export function testProcessDeps(
  env: Record<string, string>,
  options: { overrides?: ConfigOverrides; clock?: Clock; logger?: ProcessDeps['logger'] } = {},
): ProcessDeps {
  const config = resolveConfig(
    { KAFKA_BROKERS: kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: schemaRegistryUrl, ...env },
    options.overrides,
  )
  return createProcessDeps(config, {
    logger: options.logger ?? silentLogger,
    metrics: createMetrics(),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  })
}

/** A scheduler component (not started) with testProcessDeps. */
export function testScheduler(
  env: Record<string, string>,
  options: Parameters<typeof testProcessDeps>[1] = {},
): { scheduler: Scheduler; deps: ProcessDeps } {
  const deps = testProcessDeps(env, options)
  return { scheduler: createScheduler(deps), deps }
}

/** A started in-process scheduler of a test file, and a read_committed collector of what it produced. */
export interface RunningTestScheduler {
  app: Scheduler
  out: { records: CollectedRecord[]; close: () => Promise<void> }
}

/**
 * Starts a scheduler component on `prefix` (category http, a state directory of its own) and a collector of
 * `collectTopics`. When the file ends (cleanup.ts): the collector and the scheduler close, every topic of the prefix
 * is deleted (also ones the test created itself, e.g. a definitions topic with settings of its own) and the state
 * directory is removed; failures there are ignored. Create the admin (testAdmin) before calling this.
 */
export async function startTestScheduler(options: {
  admin: Admin
  prefix: string
  partitions: number
  instanceId: string
  collectTopics: string[]
}): Promise<RunningTestScheduler> {
  const stateDir = mkdtempSync(join(tmpdir(), `flextask-${options.prefix}-`))
  const cleanups: (() => Promise<unknown>)[] = [() => deletePrefixTopics(options.admin, options.prefix)]
  onCleanup(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
    rmSync(stateDir, { recursive: true, force: true })
  })
  const app = testScheduler({
    FLEXTASK_TOPIC_PREFIX: options.prefix,
    FLEXTASK_PARTITIONS: String(options.partitions),
    FLEXTASK_CATEGORIES: 'http',
    FLEXTASK_STATE_DIR: stateDir,
    FLEXTASK_INSTANCE_ID: options.instanceId,
  }).scheduler
  cleanups.push(() => app.close())
  await app.start()
  const out = await collect(options.collectTopics)
  cleanups.push(out.close)
  return { app, out }
}

/**
 * Produces definitions keyed by taskId, each to partitionForKey(taskId, partitions), in batches of `batchSize`
 * (acks from all in-sync replicas before the next batch).
 */
export async function produceDefinitions(
  producer: Producer,
  serde: Pick<AvroSerde<TaskDefinition>, 'serialize'>,
  topic: string,
  definitions: readonly TaskDefinition[],
  partitions: number,
  batchSize = 1000,
): Promise<void> {
  for (let i = 0; i < definitions.length; i += batchSize) {
    const messages = definitions.slice(i, i + batchSize).map((d) => ({
      topic,
      partition: partitionForKey(d.taskId, partitions),
      key: Buffer.from(d.taskId, 'utf8'),
      value: serde.serialize(d),
    }))
    await producer.send({ messages })
  }
}

/** Decodes the non-null values (`raw` bytes) of `records` on `topic` with `serde`, in order. */
export async function decodeAll<T>(
  serde: Pick<Serde<T>, 'deserialize'>,
  records: readonly CollectedRecord[],
  topic: string,
): Promise<T[]> {
  const out: T[] = []
  for (const r of records) if (r.topic === topic && r.raw !== undefined) out.push(await serde.deserialize(r.raw))
  return out
}

/**
 * The broker's timestamp of each execution's first record on `topic`, by executionId (on a topic with
 * LogAppendTime, when the fire became visible), for lateness measured by the broker rather than the scheduler.
 */
export async function firstAppendTimes(
  serde: Pick<Serde<TaskExecution>, 'deserialize'>,
  records: readonly CollectedRecord[],
  topic: string,
): Promise<Map<string, number>> {
  const appendedAt = new Map<string, number>()
  for (const r of records) {
    if (r.topic !== topic || r.raw === undefined) continue
    const e = await serde.deserialize(r.raw)
    if (!appendedAt.has(e.executionId)) appendedAt.set(e.executionId, r.timestampMs)
  }
  return appendedAt
}

/** Waits until every cron in `crons` has fired a slot at or after `slotMs`; returns the executions then. */
export function waitForCronsPast(
  what: string,
  crons: readonly string[],
  slotMs: number,
  executions: () => Promise<TaskExecution[]>,
): Promise<TaskExecution[]> {
  return waitFor(what, async () => {
    const e = await executions()
    return crons.every((id) => e.some((x) => x.taskId === id && x.scheduledForMs >= slotMs)) ? e : undefined
  })
}

/**
 * Deletes every topic of the prefix: `<prefix>.*` (the contract topics) and the scheduler's changelogs
 * `<prefix>-scheduler-*-changelog`.
 */
export async function deletePrefixTopics(admin: Admin, prefix: string): Promise<void> {
  const changelogPrefix = `${schedulerApplicationId(prefix)}-`
  const topics = (await admin.listTopics()).filter(
    (t) => t.startsWith(`${prefix}.`) || (t.startsWith(changelogPrefix) && t.endsWith('-changelog')),
  )
  if (topics.length > 0) await admin.deleteTopics({ topics })
}

const cli = fileURLToPath(new URL('../../cli/flextask.ts', import.meta.url))

export interface SchedulerChild {
  child: ChildProcess
  /** stdout and stderr lines, in arrival order. */
  lines: string[]
  /**
   * Resolves once the CLI logged that it serves (topics ensured, group joined, every assigned task restored), within
   * `timeoutMs` (default 60 s).
   */
  running: (timeoutMs?: number) => Promise<void>
  exited: () => boolean
}

/**
 * Starts `node cli/flextask.ts <command…>` (default `scheduler`; an array adds arguments) with `env` on top of this process's environment
 * (METRICS_PORT=0 unless set: a free port, so several can run at once). Its output is printed when the current
 * test fails. Kill it (or leave that to the caller's afterAll).
 */
export function spawnScheduler(
  name: string,
  env: Record<string, string>,
  command: string | readonly string[] = 'scheduler',
): SchedulerChild {
  const child = spawn(process.execPath, [cli, ...(typeof command === 'string' ? [command] : command)], {
    env: { ...process.env, METRICS_PORT: '0', PORT: '0', LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  onTestFailed(() => console.log(`scheduler ${name} (pid ${child.pid}):\n  ${lines.join('\n  ')}`))
  const onData = (chunk: Buffer): void => {
    lines.push(...chunk.toString().split('\n').filter(Boolean))
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null
  return {
    child,
    lines,
    exited,
    running: async (timeoutMs = 60_000) => {
      await waitFor(
        `scheduler ${name} to print that it is running`,
        () => {
          if (exited()) throw new Error(`scheduler ${name} exited early:\n${lines.join('\n')}`)
          return lines.some((l) => l.includes('"msg":"serving"')) ? true : undefined
        },
        timeoutMs,
      )
    },
  }
}

/** SIGKILLs the child (if still alive) and resolves once it has exited. */
export async function killHard(scheduler: SchedulerChild): Promise<void> {
  if (scheduler.exited()) return
  const exit = new Promise<void>((resolve) => scheduler.child.once('exit', () => resolve()))
  scheduler.child.kill('SIGKILL')
  await exit
}

/** The scheduler CLIs one test file spawns, and what they leave behind. */
export interface SchedulerFleet {
  /** A directory of this file for the children's state directories; removed when the file ends. */
  readonly stateRoot: string
  /** spawnScheduler, and SIGKILLs the child when the file ends if it is still alive. */
  spawn(name: string, env: Record<string, string>, command?: string | readonly string[]): SchedulerChild
  /** Runs `fn` when the file ends, once every child is dead (topics, collectors); the last added first. */
  afterChildren(fn: () => unknown): void
}

/**
 * A fleet for the current test file (cleanup.ts: wherever it is called). When the file ends: every child still
 * alive is SIGKILLed, then the `afterChildren` cleanups run (a failing one is ignored, as a test's cleanup of
 * topics it no longer needs), then the state root is removed. Create it after `testAdmin()` so that the admin it
 * deletes topics with is closed after it.
 */
export function schedulerFleet(tag: string): SchedulerFleet {
  const stateRoot = mkdtempSync(join(tmpdir(), `flextask-${tag}-`))
  const children: SchedulerChild[] = []
  const after: (() => unknown)[] = []
  onCleanup(async () => {
    for (const child of children) await killHard(child)
    for (const fn of after.reverse())
      await Promise.resolve()
        .then(fn)
        .catch(() => {})
    rmSync(stateRoot, { recursive: true, force: true })
  })
  return {
    stateRoot,
    spawn(name, env, command) {
      const child = spawnScheduler(name, env, command)
      children.push(child)
      return child
    },
    afterChildren: (fn) => void after.push(fn),
  }
}
