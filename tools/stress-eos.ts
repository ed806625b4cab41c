/**
 * Exactly-once stress loop: the crash scenarios of test/integration/topology-crash.test.ts (and more), run
 * over and over under CPU load, each iteration audited for duplicates and gaps.
 *
 *   npm run stress:eos -- [--iterations 50] [--scenarios kill,stop,rebalance,broker-restart] [--load 2]
 *
 * Scenarios (two instances of test/fixtures/counter-app.ts, 6 partitions, 40 keys; the output of key k must be
 * exactly k=1 … k=n, and every tick instant at most once):
 *   kill            SIGKILL one instance mid-stream (topology-crash "moves a SIGKILLed instance's partitions")
 *   stop            SIGSTOP one instance until its partitions moved, then SIGCONT: a frozen zombie with timers
 *   rebalance       a third instance joins mid-stream and is SIGKILLed right after its assignment, while it
 *                   opens (restores) its tasks; then the group rebalances back
 *   broker-restart  on a broker of its own (ports 19200/19201, data in a temp dir): the broker is stopped for
 *                   8 s mid-stream and started again
 * `--load N` starts N busy-loop processes for the whole run (default 2: both cores of the development box).
 * Brokers: KAFKA_BROKERS (default 127.0.0.1:9092) for every scenario but broker-restart.
 * Prints one line per iteration and a summary: iterations, duplicates, missing, stuck (a wait that timed out),
 * exited (an instance that died by itself).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  Producer,
} from '@platformatic/kafka'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const counterApp = join(root, 'test/fixtures/counter-app.ts')
const kafkaTool = join(root, 'tools/kafka/kafka.ts')
const scenarios = ['kill', 'stop', 'rebalance', 'broker-restart'] as const
type Scenario = (typeof scenarios)[number]

const { values: args } = parseArgs({
  options: {
    iterations: { type: 'string', default: '50' },
    scenarios: { type: 'string', default: scenarios.join(',') },
    load: { type: 'string', default: '2' },
  },
})
const iterations = Number(args.iterations)
const selected = args.scenarios.split(',').filter((s): s is Scenario => (scenarios as readonly string[]).includes(s))
const sharedBrokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const ownBroker = { port: 19200, controllerPort: 19201 }

interface Outcome {
  duplicates: number
  missing: number
  stuck: string[]
  exited: string[]
  records: number
  ms: number
}

class Run {
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
    const consumer = new Consumer({
      clientId: `${this.applicationId}-collector`,
      groupId: `${this.applicationId}-collector`,
      bootstrapBrokers: this.brokers,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 200,
    })
    const stream = await consumer.consume({
      topics: [this.output],
      mode: MessagesStreamModes.EARLIEST,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    stream.on('data', (m: Message) => this.records.push(`${m.key?.toString() ?? ''} ${m.value?.toString() ?? ''}`))
    stream.on('error', () => undefined)
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
  async rereadWithKafkajs(): Promise<string[]> {
    const kafka = new Kafka({
      clientId: `${this.applicationId}-kafkajs`,
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
    })
    const consumer = kafka.consumer({ groupId: `${this.applicationId}-kafkajs`, readUncommitted: false })
    const records: string[] = []
    await consumer.connect()
    try {
      await consumer.subscribe({ topic: this.output, fromBeginning: true })
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

  audit(records: readonly string[] = this.records): { duplicates: number; missing: number; samples: string[] } {
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
    for (const [key, n] of this.expected) {
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

async function bothShare(run: Run, a: string, b: string): Promise<boolean> {
  return run.waitFor('both instances share the partitions', () => {
    const [pa, pb] = [run.partitions(a), run.partitions(b)]
    return pa.length > 0 && pb.length > 0 && pa.length + pb.length === 6
  })
}

async function finish(run: Run, quietMs: number): Promise<void> {
  await run.waitFor(`${run.sent} counts`, () => run.counts() >= run.sent)
  await run.quiet(quietMs)
}

const runners: Record<Scenario, (run: Run) => Promise<void>> = {
  async kill(run) {
    const a = run.launch('a')
    run.launch('b')
    await bothShare(run, 'a', 'b')
    for (let i = 0; i < 30; i++) {
      await run.produce(100)
      if (i === 12) a.kill('SIGKILL')
      await sleep(100)
    }
    await run.waitFor('b owns all partitions', () => run.partitions('b').length === 6)
    await finish(run, 1500)
  },

  async stop(run) {
    const a = run.launch('a', { tickPeriodMs: 500 })
    run.launch('b', { tickPeriodMs: 500 })
    await bothShare(run, 'a', 'b')
    await run.produce(200)
    await run.waitFor('200 counts', () => run.counts() >= 200)
    a.kill('SIGSTOP')
    await run.produce(200)
    await run.waitFor('b owns all partitions', () => run.partitions('b').length === 6)
    await run.waitFor('400 counts', () => run.counts() >= 400)
    a.kill('SIGCONT')
    await run.produce(200)
    await finish(run, 3000)
  },

  async rebalance(run) {
    run.launch('a')
    run.launch('b')
    await bothShare(run, 'a', 'b')
    let c: ChildProcess | undefined
    for (let i = 0; i < 30; i++) {
      await run.produce(100)
      if (i === 8) c = run.launch('c')
      // Killed as soon as it is assigned: while it restores and opens its tasks.
      if (i > 8 && c !== undefined && c.exitCode === null && run.partitions('c').length > 0) c.kill('SIGKILL')
      await sleep(100)
    }
    if (c !== undefined && c.exitCode === null) c.kill('SIGKILL')
    await run.waitFor(
      'a and b own all partitions again',
      () => run.partitions('a').length + run.partitions('b').length === 6,
    )
    await finish(run, 1500)
  },

  async ['broker-restart'](run) {
    run.launch('a', { tickPeriodMs: 500 })
    run.launch('b', { tickPeriodMs: 500 })
    await bothShare(run, 'a', 'b')
    for (let i = 0; i < 20; i++) {
      await run.produce(100)
      if (i === 8) {
        ownBrokerCommand('stop')
        await sleep(8000)
        ownBrokerCommand('start')
      }
      await sleep(100)
    }
    await finish(run, 3000)
  },
}

let ownBrokerDir: string | undefined
function ownBrokerCommand(command: 'start' | 'stop'): void {
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

async function iteration(scenario: Scenario): Promise<Outcome> {
  const startedAt = Date.now()
  const run = new Run(scenario === 'broker-restart' ? [`127.0.0.1:${ownBroker.port}`] : sharedBrokers)
  try {
    await run.setup()
    await runners[scenario](run)
    const { duplicates, missing } = run.audit()
    return {
      duplicates,
      missing,
      stuck: run.stuck,
      exited: run.exited(),
      records: run.records.length,
      ms: Date.now() - startedAt,
    }
  } finally {
    const audit = run.audit()
    for (const sample of audit.samples) console.log(`    ${scenario} audit: ${sample}`)
    if (audit.duplicates + audit.missing > 0) {
      const again = run.audit(await run.rereadWithKafkajs())
      console.log(
        `    ${scenario} re-read with kafkajs read_committed: duplicates ${again.duplicates}, missing ${again.missing}`,
      )
      for (const sample of again.samples.slice(0, 3)) console.log(`    ${scenario} kafkajs audit: ${sample}`)
    }
    if (run.stuck.length > 0 || audit.duplicates + audit.missing > 0) {
      for (const [name, lines] of run.lines)
        console.log(
          `    ${name}: ${lines
            .slice(-25)
            .map((l) => l.slice(0, 300))
            .join('\n      ')}`,
        )
    }
    await run.cleanup()
  }
}

const load = Array.from({ length: Number(args.load) }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
)
const cleanupLoad = (): void => {
  for (const child of load) child.kill('SIGKILL')
}
process.on('exit', cleanupLoad)
process.on('SIGINT', () => process.exit(130))

console.log(
  `stress:eos: ${iterations} iterations of ${selected.join(', ')} under ${load.length} busy-loop processes ` +
    `(load average ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')})`,
)
const totals = new Map<
  Scenario,
  { iterations: number; duplicates: number; missing: number; stuck: number; exited: number }
>()
try {
  if (selected.includes('broker-restart')) ownBrokerCommand('start')
  for (let i = 1; i <= iterations; i++) {
    for (const scenario of selected) {
      const total = totals.get(scenario) ?? { iterations: 0, duplicates: 0, missing: 0, stuck: 0, exited: 0 }
      totals.set(scenario, total)
      let outcome: Outcome
      try {
        outcome = await iteration(scenario)
      } catch (error) {
        console.log(`  #${i} ${scenario}: error ${error instanceof Error ? error.message : String(error)}`)
        total.stuck++
        continue
      }
      total.iterations++
      total.duplicates += outcome.duplicates
      total.missing += outcome.missing
      total.stuck += outcome.stuck.length > 0 ? 1 : 0
      total.exited += outcome.exited.length > 0 ? 1 : 0
      console.log(
        `  #${i} ${scenario}: ${outcome.records} records, duplicates ${outcome.duplicates}, missing ${outcome.missing}` +
          `${outcome.stuck.length > 0 ? `, stuck: ${outcome.stuck.join('; ')}` : ''}` +
          `${outcome.exited.length > 0 ? `, exited: ${outcome.exited.join(',')}` : ''} (${outcome.ms} ms)`,
      )
    }
  }
} finally {
  if (ownBrokerDir !== undefined) {
    ownBrokerCommand('stop')
    rmSync(ownBrokerDir, { recursive: true, force: true })
  }
  cleanupLoad()
  console.log('stress:eos summary (scenario: iterations / duplicates / missing / stuck / exited)')
  for (const [scenario, t] of totals) {
    console.log(`  ${scenario}: ${t.iterations} / ${t.duplicates} / ${t.missing} / ${t.stuck} / ${t.exited}`)
  }
}
