/**
 * One iteration of the exactly-once stress loop (tools/stress-eos.ts): topics of its own, counter-app children,
 * a read_committed collector of the output, the audit (every key counted exactly 1..n, every tick once) and a
 * kafkajs re-read to tell a duplicate in the log from one a reader made up. Also the stress loop's own broker.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { Kafka, logLevel } from 'kafkajs'
import { Admin, type Message, Producer } from '@platformatic/kafka'
import { committedReader, readFrom } from '../bench/lib/committed-reader.ts'
import { freePorts } from '../test/helpers/free-port.ts'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const counterApp = join(root, 'test/fixtures/counter-app.ts')
const kafkaTool = join(root, 'tools/kafka/kafka.ts')
/**
 * The broker-restart scenario's broker (stopped and started mid-run), never the shared one. Its ports are taken
 * free at the first start (test/helpers/free-port.ts: fixed ports collided with other engineers' brokers) and
 * kept for the run, so the restarted broker answers where the instances look for it.
 */
export const ownBroker = { port: 0, controllerPort: 0 }

export async function chooseOwnBrokerPorts(): Promise<void> {
  if (ownBroker.port !== 0) return
  const [port, controllerPort] = (await freePorts(2)) as [number, number]
  Object.assign(ownBroker, { port, controllerPort })
}

export class Run {
  readonly brokers: string[]
  readonly children: ChildProcess[] = []
  readonly lines = new Map<string, string[]>()
  readonly stuck: string[] = []
  readonly stateRoot = mkdtempSync(join(tmpdir(), 'flextask-stress-'))
  readonly applicationId = `ft-lv-stress-${randomUUID().slice(0, 8)}`
  readonly input = `${this.applicationId}-in`
  readonly output = `${this.applicationId}-out`
  readonly expected = new Map<string, number>()
  readonly records: string[] = []
  sent = 0
  #admin: Admin
  #producer: Producer
  #close: (() => Promise<void>) | undefined

  constructor(brokers: string[]) {
    this.brokers = brokers
    this.#admin = new Admin({ clientId: `${this.applicationId}-admin`, bootstrapBrokers: brokers })
    this.#producer = new Producer({ clientId: `${this.applicationId}-producer`, bootstrapBrokers: brokers })
  }

  async setup(): Promise<void> {
    await this.#admin.createTopics({ topics: [this.input, this.output], partitions: 6, replicas: 1 })
    const consumer = committedReader({
      brokers: this.brokers,
      groupId: `${this.applicationId}-collector`,
      maxWaitTimeMs: 200,
    })
    const stream = await readFrom(consumer, [this.output], 'earliest')
    stream.on('data', (m: Message) => this.records.push(`${m.key?.toString() ?? ''} ${m.value?.toString() ?? ''}`))
    // A destroyed stream would read nothing more: count it (retriable failures are waited out inside the stream,
    // scripts/patch-platformatic-kafka.ts). A failed rejoin is emitted on the consumer; without a listener it
    // would throw. The collector's single member keeps fetching its partitions either way.
    stream.on('error', (error: Error) => this.stuck.push(`collector stream failed: ${error.message}`))
    consumer.on('error', () => undefined)
    this.#close = async () => {
      await stream.close().catch(() => {})
      await consumer.close(true).catch(() => {})
    }
  }

  launch(name: string, extra: Record<string, unknown> = {}): ChildProcess {
    const options = {
      input: this.input,
      output: this.output,
      applicationId: this.applicationId,
      bootstrapBrokers: this.brokers,
      sessionTimeoutMs: 6000,
      instanceId: name,
      stateDir: join(this.stateRoot, name),
      ...extra,
    }
    const child = spawn(process.execPath, [counterApp, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.children.push(child)
    const lines: string[] = []
    this.lines.set(name, lines)
    const onData = (chunk: Buffer): void => void lines.push(...chunk.toString().split('\n').filter(Boolean))
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    return child
  }

  partitions(name: string): number[] {
    const last = (this.lines.get(name) ?? []).filter((l) => l.startsWith('assigned')).at(-1)
    return last === undefined || last === 'assigned ' ? [] : last.slice('assigned '.length).split(',').map(Number)
  }

  /** Waits for `probe`; a timeout is recorded as stuck (and audited anyway), not thrown. */
  async waitFor(what: string, probe: () => boolean, timeoutMs = 90_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (probe()) return true
      await sleep(100)
    }
    this.stuck.push(what)
    return false
  }

  counts(): number {
    return this.records.filter((r) => / k\d+=/.test(r)).length
  }

  /** Sends `count` records over the 40 keys; retries while the broker is away. */
  async produce(count: number): Promise<void> {
    const messages = Array.from({ length: count }, (_, i) => {
      const key = `k${(this.sent + i) % 40}`
      this.expected.set(key, (this.expected.get(key) ?? 0) + 1)
      return { topic: this.input, key: Buffer.from(key), value: Buffer.from('x') }
    })
    this.sent += count
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#producer.send({ messages })
        return
      } catch (error) {
        if (attempt > 60) throw error
        await sleep(500)
      }
    }
  }

  /** Waits until no count arrived for `ms` (ticks never stop): a duplicate would come in that window. */
  async quiet(ms: number): Promise<void> {
    let seen = -1
    let since = Date.now()
    await this.waitFor('counts quiet', () => {
      if (this.counts() !== seen) {
        seen = this.counts()
        since = Date.now()
      }
      return Date.now() - since > ms
    })
  }

  /**
   * Reads the output topic again with another client's read_committed (kafkajs, which filters aborted
   * transactions per the Java consumer's algorithm), to tell a duplicate in the committed log from one that only
   * the @platformatic/kafka reader shows (review C3: it keeps one aborted range per producer per response).
   */
  async rereadWithKafkajs(topic = this.output): Promise<string[]> {
    const kafka = new Kafka({
      clientId: `${this.applicationId}-kafkajs`,
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
    })
    const consumer = kafka.consumer({ groupId: `${topic}-kafkajs`, readUncommitted: false })
    const records: string[] = []
    await consumer.connect()
    try {
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({
        eachMessage: ({ message }) => {
          records.push(`${message.key?.toString() ?? ''} ${message.value?.toString() ?? ''}`)
          return Promise.resolve()
        },
      })
      let seen = -1
      let since = Date.now()
      const deadline = Date.now() + 60_000
      while (Date.now() < deadline && (records.length !== seen || Date.now() - since < 3000)) {
        if (records.length !== seen) {
          seen = records.length
          since = Date.now()
        }
        await sleep(200)
      }
    } finally {
      await consumer.disconnect().catch(() => {})
    }
    return records
  }

  /**
   * Records per key in the input topic. The harness's producer is not transactional and retries a send that
   * failed during an outage, so a send that reached the broker before the failure is written twice: the input
   * topic, not the count of sends, is what the application must count exactly once.
   */
  async inputCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>()
    for (const r of await this.rereadWithKafkajs(this.input)) {
      const key = r.split(' ')[0] ?? ''
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    return counts
  }

  audit(
    records: readonly string[] = this.records,
    expected: ReadonlyMap<string, number> = this.expected,
  ): { duplicates: number; missing: number; samples: string[] } {
    const seen = new Map<string, number[]>()
    const ticks = new Map<string, number>()
    for (const r of records) {
      const [, value = ''] = r.split(' ')
      if (value.startsWith('tick@')) ticks.set(r, (ticks.get(r) ?? 0) + 1)
      const [key, count] = value.split('=')
      if (key === undefined || count === undefined || !key.startsWith('k')) continue
      seen.set(key, [...(seen.get(key) ?? []), Number(count)])
    }
    let duplicates = 0
    let missing = 0
    const samples: string[] = []
    for (const [key, n] of expected) {
      const counts = seen.get(key) ?? []
      const distinct = new Set(counts)
      duplicates += counts.length - distinct.size
      const gaps = Array.from({ length: n }, (_, i) => i + 1).filter((i) => !distinct.has(i))
      missing += gaps.length
      const over = [...distinct].filter((c) => c > n) // a count past n means an input was counted twice
      duplicates += over.length
      const twice = counts.filter((c, i) => counts.indexOf(c) !== i)
      if (twice.length + over.length + gaps.length > 0) {
        samples.push(
          `${key}: expected 1..${n}, twice [${twice.join(',')}], over [${over.join(',')}], gaps [${gaps.slice(0, 10).join(',')}]`,
        )
      }
    }
    for (const [tick, n] of ticks) {
      duplicates += n - 1
      if (n > 1) samples.push(`${tick} ×${n}`)
    }
    return { duplicates, missing, samples: samples.slice(0, 10) }
  }

  exited(): string[] {
    return [...this.lines].filter(([, lines]) => lines.some((l) => l.startsWith('fatal'))).map(([name]) => name)
  }

  async cleanup(): Promise<void> {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await this.#close?.()
    await this.#producer.close().catch(() => {})
    await this.#admin
      .deleteTopics({
        topics: [
          this.input,
          this.output,
          `${this.applicationId}-counts-changelog`,
          `${this.applicationId}-ticks-changelog`,
        ],
      })
      .catch(() => {})
    await this.#admin.close().catch(() => {})
    rmSync(this.stateRoot, { recursive: true, force: true })
  }
}

let ownBrokerDir: string | undefined
export function ownBrokerCommand(command: 'start' | 'stop'): void {
  ownBrokerDir ??= mkdtempSync(join(tmpdir(), 'flextask-stress-kafka-'))
  const result = spawnSync(process.execPath, [kafkaTool, command], {
    env: {
      ...process.env,
      KAFKA_PORT: String(ownBroker.port),
      KAFKA_CONTROLLER_PORT: String(ownBroker.controllerPort),
      KAFKA_DATA_DIR: ownBrokerDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (result.status !== 0) throw new Error(`kafka ${command} failed: ${result.stderr.toString()}`)
}

/** Removes the own broker's data directory (after its last stop). */
export function removeOwnBrokerData(): void {
  if (ownBrokerDir !== undefined) rmSync(ownBrokerDir, { recursive: true, force: true })
}

export function ownBrokerUsed(): boolean {
  return ownBrokerDir !== undefined
}
