/**
 * Scheduler benchmark on the local broker, exactly-once (the runtime always commits in transactions). Not a
 * test: it prints figures. For every N of --pending, on fresh topics (unique prefix, 3 partitions, category
 * http only) and a fresh state directory:
 *
 * 1. Ingest: N ONE_SHOT definitions (Avro, registered serde) are produced BEFORE the scheduler starts, with a
 *    plain producer, 5,000 per send, each to partitionForKey(taskId, 3). Then createScheduler(...).start() and time until
 *    the group's committed offsets on the definitions topic reach its end offsets (offsets commit in the same
 *    transaction as the state changelogs, so at that point all N are durably in the due index).
 * 2. Near tasks with N pending: PROBES definitions due 2 s after they are produced (real time), while the N
 *    bulk tasks are still ~45 min away. Their lateness shows what the pending index costs a near task.
 * 3. Fire: the bulk tasks are due in one window [T, T + 1 s). To make that window start right after ingestion
 *    without re-producing N definitions, the scheduler runs on an injected clock (`SchedulerDeps.clock`
 *    option) = system time + offset; after ingestion the offset steps forward ONCE so that the clock reads
 *    T − 3 s. Everything after the step is real elapsed time (firedAtMs, dueAtMs and the receipt stamps are all
 *    on that clock). The step stays below the broker's message.timestamp.after.max.ms (1 h default in Kafka 4),
 *    because records are stamped with the scheduler's clock.
 *    A read_committed consumer in a worker thread (its own event loop, so it neither slows the scheduler's
 *    loop nor gets delayed by it) reads `<prefix>.executions.http` and stamps each execution on receipt.
 *    fires/s = N / (last − first firedAtMs); lateness = firedAtMs − dueAtMs (the scheduler's stamp) and
 *    visibility lateness = receipt − dueAtMs (includes the transaction commit and the fetch). Every bulk task
 *    must fire exactly once with its own dueAtMs.
 * Topics (`<prefix>.*`, `<prefix>-scheduler-*-changelog`), consumer groups, registry subjects and the state
 * directory are deleted at the end of each run, also on failure.
 *
 * Usage: node bench/scheduler.ts [--pending 100000,1000000] [--timeout-ms MS per N] [--probes K]
 *          [--max-fires-per-wake F] [--commit-interval-ms MS]
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import {
  type Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type Producer,
} from '@platformatic/kafka'
import avro from 'avsc'
import { resolveConfig } from '../config.ts'
import { createProcessDeps } from '../host/flextask-process.ts'
import { silentLogger } from '../logger.ts'
import { createMetrics } from '../metrics.ts'
import { createScheduler, type Scheduler } from '../scheduler/scheduler.ts'
import { ensureSchedulerTopics } from '../scheduler/scheduler-topics.ts'
import type { SerdeRegistry } from '../schemas/serde-registry.ts'
import type { SchedulerConfig } from '../processors/task-state.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import { buildTaskDefinition } from '../schemas/task-definition-builder.ts'
import { taskExecutionSchema, type TaskExecution } from '../schemas/task-execution.ts'
import { schedulerApplicationId, topicNames, type TopicNames } from '../topics.ts'
import type { Clock } from '../topology/api.ts'
import { countingObserver, type RuntimeCounters } from '../topology/runtime-events.ts'
import { kafkaBrokers, schemaRegistryUrl, testKafka } from '../test/helpers/env.ts'
import { benchArgs, environment, hardStop, integerArg } from './lib/args.ts'
import {
  benchEnvironment,
  committedOffsets,
  deleteRunTopics,
  deleteSubjects,
  endOffsets,
  produceDefinitions,
} from './lib/kafka-bench.ts'

const USAGE = `Usage: node bench/scheduler.ts [--pending 100000,1000000] [--timeout-ms MS per N] [--probes K]
         [--max-fires-per-wake F] [--commit-interval-ms MS]`
const PARTITIONS = 3
const CATEGORY = 'http'
/** The bulk window starts this far after the run starts (scheduler clock); < the broker's 1 h timestamp limit. */
const BULK_AHEAD_MS = 45 * 60_000
/** Width of the bulk due window. */
const SPREAD_MS = 1_000
/** The clock step leaves the scheduler this long before T. */
const STEP_LEAD_MS = 3_000
/** The first probe is due this long after it is produced; the probes are PROBE_GAP_MS apart. */
const PROBE_LEAD_MS = 2_000
const PROBE_GAP_MS = 50
const POLL_INTERVAL_MS = 50
const PROGRESS_EVERY_MS = 10_000
const HARD_STOP_GRACE_MS = 120_000
const CLEANUP_TIMEOUT_MS = 60_000
/** Aborted transactions in a row, with no commit between, after which the run is declared a livelock. */
const MAX_CONSECUTIVE_ABORTS = 5
const BULK_PREFIX = 'b-'
const PROBE_PREFIX = 'p-'

// ---------------------------------------------------------------------------------------------------------
// Consumer worker: reads the executions topic and stamps receipt times.

/** Shared counters between the main thread and the worker (Int32Array indices). */
const Counter = { bulk: 0, probes: 1, duplicates: 2, unexpected: 3, catchUp: 4 } as const

interface WorkerInput {
  brokers: string[]
  topic: string
  groupId: string
  schemaId: number
  bulk: number
  probes: number
  /** Float64Array[1]: the scheduler clock's offset from Date.now(). */
  offset: SharedArrayBuffer
  counters: SharedArrayBuffer
}

interface Distribution {
  p50: number
  p99: number
  max: number
  min: number
}

interface ConsumerSummary {
  bulk: number
  firstFiredMs: number
  lastFiredMs: number
  firstReceivedMs: number
  lastReceivedMs: number
  fireLateness: Distribution
  visibleLateness: Distribution
  probes: { taskId: string; dueAtMs: number; firedAtMs: number; receivedMs: number }[]
  probeFireLateness: Distribution
  probeVisibleLateness: Distribution
  /** Bulk executions whose dueAtMs or scheduledForMs is not their definition's atMs. */
  wrongDue: number
}

type WorkerMessage =
  { type: 'ready' } | { type: 'summary'; summary: ConsumerSummary } | { type: 'error'; message: string }

/** Bulk task i is due at T + floor(i * SPREAD_MS / n): the same formula on both sides. */
function bulkDueMs(t: number, i: number, n: number): number {
  return t + Math.floor((i * SPREAD_MS) / n)
}

function distribution(values: Float64Array): Distribution {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN, min: NaN }
  const sorted = values.slice().sort()
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN, min: sorted[0] ?? NaN }
}

async function consumerWorker(input: WorkerInput): Promise<void> {
  const port = parentPort
  if (port === null) throw new Error('consumerWorker runs in a worker thread')
  const offset = new Float64Array(input.offset)
  const counters = new Int32Array(input.counters)
  const type = avro.Type.forSchema(taskExecutionSchema)
  const n = input.bulk
  const seen = new Uint8Array(n)
  const fireLate = new Float64Array(n)
  const visibleLate = new Float64Array(n)
  let bulk = 0
  let wrongDue = 0
  let firstFiredMs = Infinity
  let lastFiredMs = -Infinity
  let firstReceivedMs = Infinity
  let lastReceivedMs = -Infinity
  const probes: ConsumerSummary['probes'] = []
  let bulkT: number | undefined
  const consumer = new Consumer({
    clientId: `${input.groupId}-client`,
    groupId: input.groupId,
    bootstrapBrokers: input.brokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 100,
  })
  const stream = await consumer.consume({
    topics: [input.topic],
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
  })
  let failure: string | undefined
  stream.on('data', (message: Message) => {
    const receivedMs = Date.now() + (offset[0] ?? 0)
    const bytes = message.value as Buffer | null
    if (bytes === null || bytes.length < 5 || bytes[0] !== 0 || bytes.readInt32BE(1) !== input.schemaId) {
      failure ??= `unexpected record on ${input.topic}: not framed with schema id ${input.schemaId}`
      Atomics.add(counters, Counter.unexpected, 1)
      return
    }
    const e = type.fromBuffer(bytes.subarray(5)) as TaskExecution
    if (e.trigger === 'CATCH_UP') Atomics.add(counters, Counter.catchUp, 1)
    if (e.taskId.startsWith(PROBE_PREFIX)) {
      probes.push({ taskId: e.taskId, dueAtMs: e.dueAtMs, firedAtMs: e.firedAtMs, receivedMs })
      Atomics.add(counters, Counter.probes, 1)
      return
    }
    const i = e.taskId.startsWith(BULK_PREFIX) ? Number(e.taskId.slice(BULK_PREFIX.length)) : NaN
    if (!Number.isSafeInteger(i) || i < 0 || i >= n) {
      Atomics.add(counters, Counter.unexpected, 1)
      return
    }
    if (seen[i] === 1) {
      Atomics.add(counters, Counter.duplicates, 1)
      return
    }
    seen[i] = 1
    // Task 0 is due exactly at T.
    bulkT ??= e.dueAtMs - Math.floor((i * SPREAD_MS) / n)
    if (e.dueAtMs !== bulkDueMs(bulkT, i, n) || e.scheduledForMs !== e.dueAtMs) wrongDue++
    fireLate[bulk] = e.firedAtMs - e.dueAtMs
    visibleLate[bulk] = receivedMs - e.dueAtMs
    bulk++
    if (e.firedAtMs < firstFiredMs) firstFiredMs = e.firedAtMs
    if (e.firedAtMs > lastFiredMs) lastFiredMs = e.firedAtMs
    if (receivedMs < firstReceivedMs) firstReceivedMs = receivedMs
    if (receivedMs > lastReceivedMs) lastReceivedMs = receivedMs
    Atomics.store(counters, Counter.bulk, bulk)
  })
  stream.on('error', (error: unknown) => (failure ??= `consumer stream failed: ${String(error)}`))
  port.postMessage({ type: 'ready' } satisfies WorkerMessage)
  port.on('message', (command: { type: 'finish' }) => {
    if (command.type !== 'finish') return
    void (async () => {
      await stream.close().catch(() => {})
      await consumer.close(true).catch(() => {})
      if (failure !== undefined) {
        port.postMessage({ type: 'error', message: failure } satisfies WorkerMessage)
        return
      }
      const probeFire = Float64Array.from(probes, (p) => p.firedAtMs - p.dueAtMs)
      const probeVisible = Float64Array.from(probes, (p) => p.receivedMs - p.dueAtMs)
      const summary: ConsumerSummary = {
        bulk,
        firstFiredMs,
        lastFiredMs,
        firstReceivedMs,
        lastReceivedMs,
        fireLateness: distribution(fireLate.subarray(0, bulk)),
        visibleLateness: distribution(visibleLate.subarray(0, bulk)),
        probes,
        probeFireLateness: distribution(probeFire),
        probeVisibleLateness: distribution(probeVisible),
        wrongDue,
      }
      port.postMessage({ type: 'summary', summary } satisfies WorkerMessage)
    })()
  })
}

// ---------------------------------------------------------------------------------------------------------
// Main thread.

interface BenchOptions {
  pending: number[]
  timeoutMs: number
  probes: number
  scheduler: Partial<Omit<SchedulerConfig, 'categories'>>
  commitIntervalMs: number | undefined
}

function parseOptions(): BenchOptions {
  const values = benchArgs(
    {
      pending: { type: 'string', default: '100000,1000000' },
      'timeout-ms': { type: 'string', default: '600000' },
      probes: { type: 'string', default: '20' },
      'max-fires-per-wake': { type: 'string' },
      'commit-interval-ms': { type: 'string' },
    },
    USAGE,
  )
  const integer = integerArg
  const pending = values.pending.split(',').map((raw) => integer('pending', raw.trim(), 1))
  const timeoutMs = integer('timeout-ms', values['timeout-ms'], 1)
  // Ingestion must finish (in real time) before the bulk window, which is BULK_AHEAD_MS after the run starts.
  if (timeoutMs > BULK_AHEAD_MS - 5 * 60_000) {
    throw new Error(`--timeout-ms must be at most ${BULK_AHEAD_MS - 5 * 60_000} (the bulk window is 45 min ahead)`)
  }
  const maxFires = values['max-fires-per-wake']
  const commitInterval = values['commit-interval-ms']
  return {
    pending,
    timeoutMs,
    probes: integer('probes', values.probes, 1),
    scheduler: maxFires === undefined ? {} : { maxFiresPerWake: integer('max-fires-per-wake', maxFires, 1) },
    commitIntervalMs: commitInterval === undefined ? undefined : integer('commit-interval-ms', commitInterval, 0),
  }
}

/** A phase's CPU: this process (scheduler + consumer worker + bench) and the broker JVM, in ms. */
interface Cpu {
  processMs: number
  brokerMs: number | undefined
}

const brokerPid = ((): number | undefined => {
  try {
    const port = kafkaBrokers[0]?.split(':')[1] ?? '9092'
    const file = new URL(`../.tools/kafka/kafka-${port}.pid`, import.meta.url)
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
})()

/** utime + stime of the local broker in ms (Linux /proc; clock ticks assumed 100 Hz), or undefined. */
function brokerCpuMs(): number | undefined {
  if (brokerPid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${brokerPid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

function cpuMeter(): () => Cpu {
  const before = process.cpuUsage()
  const brokerBefore = brokerCpuMs()
  return () => {
    const used = process.cpuUsage(before)
    const brokerAfter = brokerCpuMs()
    return {
      processMs: (used.user + used.system) / 1000,
      brokerMs: brokerBefore === undefined || brokerAfter === undefined ? undefined : brokerAfter - brokerBefore,
    }
  }
}

interface RunFigures {
  n: number
  produceMs: number
  produceBytes: number
  startupMs: number
  ingestMs: number
  ingestWallMs: number
  ingestTransactions: number
  ingestAborted: number
  ingestCpu: Cpu
  fireTransactions: number
  fireAborted: number
  fireCpu: Cpu
  /** Scheduler-clock instant of the bulk window start. */
  bulkT: number
  catchUp: number
  consumer: ConsumerSummary
}

interface Run {
  n: number
  prefix: string
  topics: TopicNames
  applicationId: string
  stateDir: string
  admin: Admin
  producer: Producer | undefined
  app: Scheduler | undefined
  worker: Worker | undefined
  consumerGroup: string
  progress: () => string
}

/** Polls `probe` until it returns a value, `fatal` reports an error, or the deadline passes. */
async function until<T>(
  run: Run,
  what: string,
  deadlineMs: number,
  fatal: () => Error | undefined,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  let lastReport = performance.now()
  for (;;) {
    const error = fatal()
    if (error !== undefined) throw new Error(`failed while waiting for ${what}: ${error.message}`, { cause: error })
    const value = await probe()
    if (value !== undefined) return value
    const now = performance.now()
    if (now > deadlineMs) throw new Error(`timed out waiting for ${what} (${run.progress()})`)
    if (now - lastReport > PROGRESS_EVERY_MS) {
      lastReport = now
      console.error(`  … N=${run.n}: ${what}: ${run.progress()}`)
    }
    await sleep(POLL_INTERVAL_MS)
  }
}

function bulkDefinition(taskId: string, atMs: number, createdAtMs: number): TaskDefinition {
  return buildTaskDefinition({
    taskId,
    category: CATEGORY,
    type: 'HealthCheck',
    createdAtMs,
    schedule: { kind: 'ONE_SHOT', atMs },
  })
}

/** Produces `count` definitions built by `build` to the run's definitions topic; returns the bytes sent. */
function produceRunDefinitions(
  run: Run,
  serdes: SerdeRegistry,
  count: number,
  build: (i: number) => TaskDefinition,
): Promise<number> {
  const producer = (run.producer ??= testKafka.producer({ clientId: `${run.prefix}-producer` }))
  return produceDefinitions(producer, serdes, { topic: run.topics.definitions, partitions: PARTITIONS }, count, build)
}

function startWorker(run: Run, input: WorkerInput): Promise<{ worker: Worker; failure: () => Error | undefined }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: input })
  run.worker = worker
  let failure: Error | undefined
  worker.on('error', (error: Error) => (failure ??= new Error(`consumer worker failed: ${error.message}`)))
  worker.on('exit', (code: number) => {
    if (code !== 0) failure ??= new Error(`consumer worker exited with code ${code}`)
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('consumer worker not ready within 60 s')), 60_000)
    worker.once('message', (message: WorkerMessage) => {
      clearTimeout(timer)
      if (message.type === 'ready') resolve({ worker, failure: () => failure })
      else reject(new Error(`consumer worker: ${message.type === 'error' ? message.message : 'unexpected message'}`))
    })
    worker.once('error', (error: Error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

function finishWorker(worker: Worker): Promise<ConsumerSummary> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('consumer worker did not report within 60 s')), 60_000)
    worker.once('message', (message: WorkerMessage) => {
      clearTimeout(timer)
      if (message.type === 'summary') resolve(message.summary)
      else reject(new Error(`consumer worker: ${message.type === 'error' ? message.message : 'unexpected message'}`))
    })
    worker.postMessage({ type: 'finish' })
  })
}

const runtimeCounters = new WeakMap<object, RuntimeCounters>()

function statsOf(runtime: object): RuntimeCounters {
  const counters = runtimeCounters.get(runtime)
  if (counters === undefined) throw new Error('watchRuntime was not called for this runtime')
  return counters
}

/** Watches the runtime for a fatal error or a livelock of aborted transactions. */
function watchRuntime(app: Scheduler): { failure: () => Error | undefined; lastCommitAt: () => number } {
  let fatal: Error | undefined
  let abortsInARow = 0
  let lastCommitAt = performance.now()
  const counting = countingObserver()
  runtimeCounters.set(app.runtime, counting.counters)
  app.runtime.observe(counting)
  app.runtime.observe({
    onFatal: (error) => (fatal ??= error),
    onCommitted: () => {
      abortsInARow = 0
      lastCommitAt = performance.now()
    },
    onAborted: (event) => {
      abortsInARow++
      if (abortsInARow >= MAX_CONSECUTIVE_ABORTS && fatal === undefined) {
        fatal = new Error(`livelock: ${abortsInARow} transactions aborted in a row; last: ${event.message}`)
      }
    },
  })
  return { failure: () => fatal, lastCommitAt: () => lastCommitAt }
}

async function runOnce(n: number, options: BenchOptions): Promise<RunFigures> {
  const deadlineMs = performance.now() + options.timeoutMs
  const suffix = randomUUID().slice(0, 8)
  const prefix = `bench-sched-${suffix}`
  const stateDir = mkdtempSync(join(tmpdir(), 'flextask-bench-scheduler-'))
  const config = resolveConfig(
    benchEnvironment({
      prefix,
      partitions: PARTITIONS,
      category: CATEGORY,
      instanceId: `bench-${suffix}`,
      stateDir,
    }),
    {
      scheduler: options.scheduler,
      runtime: options.commitIntervalMs === undefined ? {} : { commitIntervalMs: options.commitIntervalMs },
    },
  )
  const counters = new Int32Array(new SharedArrayBuffer(8 * Int32Array.BYTES_PER_ELEMENT))
  const offset = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT))
  const clock: Clock = { nowMs: () => Date.now() + (offset[0] ?? 0) }
  const run: Run = {
    n,
    prefix,
    topics: topicNames(prefix),
    applicationId: schedulerApplicationId(prefix),
    stateDir,
    admin: testKafka.admin(`${prefix}-admin`),
    producer: undefined,
    app: undefined,
    worker: undefined,
    consumerGroup: `${prefix}-reader`,
    progress: () => 'setting up',
  }
  try {
    const deps = createProcessDeps(config, { logger: silentLogger, metrics: createMetrics(), clock })
    await ensureSchedulerTopics(run.admin, run.topics, config.topics.categories, config.topics.partitions)
    const serdes = deps.serdes
    await serdes.init()
    const { worker, failure: workerFailure } = await startWorker(run, {
      brokers: kafkaBrokers,
      topic: run.topics.executions(CATEGORY),
      groupId: run.consumerGroup,
      schemaId: (serdes.execution as unknown as { schemaId: number }).schemaId,
      bulk: n,
      probes: options.probes,
      offset: offset.buffer,
      counters: counters.buffer,
    })

    // 1. Pre-produce N definitions due in [T, T + SPREAD_MS), T = BULK_AHEAD_MS from now.
    const bulkT = Date.now() + BULK_AHEAD_MS
    console.error(`N=${n}: producing ${n} definitions to ${run.topics.definitions} …`)
    const produceStarted = performance.now()
    const createdAtMs = Date.now()
    const produceBytes = await produceRunDefinitions(run, serdes, n, (i) =>
      bulkDefinition(`${BULK_PREFIX}${i}`, bulkDueMs(bulkT, i, n), createdAtMs),
    )
    const produceMs = performance.now() - produceStarted
    const ends = await endOffsets(testKafka, run.topics.definitions)
    const total = ends.reduce((a, b) => a + b, 0n)
    if (total !== BigInt(n)) throw new Error(`definitions topic holds ${total} records, expected ${n}`)

    // 2. Start the scheduler and time the ingestion.
    console.error(`N=${n}: starting the scheduler (${run.applicationId}) …`)
    const ingestCpu = cpuMeter()
    const startedAt = performance.now()
    // Not awaited: start() resolves only once every partition is restored; the figures below time that.
    const app = createScheduler(deps)
    let startFailure: Error | undefined
    const starting = app.start().catch((error: unknown) => {
      startFailure = error instanceof Error ? error : new Error(String(error))
    })
    run.app = app
    const { failure: runtimeFailure, lastCommitAt } = watchRuntime(app)
    const failure = (): Error | undefined => startFailure ?? runtimeFailure() ?? workerFailure()
    let committed = 0n
    run.progress = () =>
      `${statsOf(app.runtime).recordsProcessed} processed, ${committed} committed of ${n}, ` +
      `${statsOf(app.runtime).cyclesCommitted} transactions, ${statsOf(app.runtime).cyclesAborted} aborted`
    await until(run, 'all partitions running', deadlineMs, failure, () =>
      app.runtime.runningPartitions().length === PARTITIONS ? true : undefined,
    )
    const runningAt = performance.now()
    await starting
    await until(run, 'committed offsets to reach the end of the definitions', deadlineMs, failure, async () => {
      const offsets = await committedOffsets(run.admin, run.applicationId, run.topics.definitions, PARTITIONS)
      committed = offsets.reduce((a, b) => a + b, 0n)
      return offsets.every((o, p) => o >= (ends[p] ?? 0n)) ? true : undefined
    })
    const ingestedAt = lastCommitAt()
    const ingestCpuUsed = ingestCpu()
    const ingestTransactions = statsOf(app.runtime).cyclesCommitted
    const ingestAborted = statsOf(app.runtime).cyclesAborted

    // 3. Near tasks while N are pending far ahead.
    console.error(`N=${n}: ${options.probes} near tasks with ${n} pending …`)
    const probeAt = clock.nowMs() + PROBE_LEAD_MS
    await produceRunDefinitions(run, serdes, options.probes, (i) =>
      bulkDefinition(`${PROBE_PREFIX}${i}`, probeAt + i * PROBE_GAP_MS, clock.nowMs()),
    )
    run.progress = () => `${Atomics.load(counters, Counter.probes)} of ${options.probes} near tasks received`
    await until(run, 'the near tasks to fire', deadlineMs, failure, () =>
      Atomics.load(counters, Counter.probes) >= options.probes ? true : undefined,
    )
    if (Atomics.load(counters, Counter.bulk) > 0) throw new Error('bulk tasks fired before their window')

    // 4. Step the clock to T − STEP_LEAD_MS and time the fires.
    console.error(`N=${n}: stepping the scheduler clock to ${STEP_LEAD_MS} ms before the bulk window …`)
    const fireCpu = cpuMeter()
    const fireStats = { ...statsOf(app.runtime) }
    offset[0] = bulkT - STEP_LEAD_MS - Date.now()
    run.progress = () =>
      `${Atomics.load(counters, Counter.bulk)} of ${n} fired and received, ` +
      `${Atomics.load(counters, Counter.duplicates)} duplicates, ` +
      `${statsOf(app.runtime).cyclesCommitted - fireStats.cyclesCommitted} transactions`
    await until(run, 'every bulk task to fire', deadlineMs, failure, () =>
      Atomics.load(counters, Counter.bulk) >= n ? true : undefined,
    )
    const fireCpuUsed = fireCpu()
    const fireTransactions = statsOf(app.runtime).cyclesCommitted - fireStats.cyclesCommitted
    const fireAborted = statsOf(app.runtime).cyclesAborted - fireStats.cyclesAborted
    // Late duplicates would show up within a few commit intervals.
    await sleep(1_000)
    const summary = await finishWorker(worker)
    run.worker = undefined
    await worker.terminate()
    const duplicates = Atomics.load(counters, Counter.duplicates)
    const unexpected = Atomics.load(counters, Counter.unexpected)
    if (duplicates > 0 || unexpected > 0 || summary.wrongDue > 0 || summary.bulk !== n) {
      throw new Error(
        `executions check failed: ${summary.bulk} of ${n} bulk tasks, ${duplicates} duplicates, ` +
          `${unexpected} unexpected records, ${summary.wrongDue} with a wrong dueAtMs`,
      )
    }
    return {
      n,
      produceMs,
      produceBytes,
      startupMs: runningAt - startedAt,
      ingestMs: ingestedAt - runningAt,
      ingestWallMs: ingestedAt - startedAt,
      ingestTransactions,
      ingestAborted,
      ingestCpu: ingestCpuUsed,
      fireTransactions,
      fireAborted,
      fireCpu: fireCpuUsed,
      bulkT,
      catchUp: Atomics.load(counters, Counter.catchUp),
      consumer: summary,
    }
  } finally {
    await withTimeout(cleanup(run), CLEANUP_TIMEOUT_MS, `cleanup of ${prefix}`).catch((error: unknown) =>
      console.error(`warning: ${error instanceof Error ? error.message : String(error)}`),
    )
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

async function cleanup(run: Run): Promise<void> {
  await run.worker?.terminate().catch(() => {})
  await run.app?.close().catch(() => {})
  await run.producer?.close().catch(() => {})
  await deleteRunTopics(run.admin, { ...run, groups: [run.applicationId, run.consumerGroup] }).catch((error: unknown) =>
    console.error(`warning: could not delete the topics of ${run.prefix}: ${String(error)}`),
  )
  await run.admin.close().catch(() => {})
  await deleteSubjects(schemaRegistryUrl, run.prefix)
  rmSync(run.stateDir, { recursive: true, force: true })
}

function report(options: BenchOptions, runs: RunFigures[], failed: { n: number; reason: string } | undefined): void {
  const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
  const rate = (count: number, ms: number): string => (ms > 0 ? `${int((count * 1000) / ms)}/s` : 'n/a')
  const dist = (d: Distribution): string => `${int(d.p50)} / ${int(d.p99)} / ${int(d.max)}`
  const cpu = (c: Cpu, count: number): string =>
    `${int((1000 * c.processMs) / count)} / ${c.brokerMs === undefined ? 'n/a' : int((1000 * c.brokerMs) / count)}`
  const rows: [string, (r: RunFigures) => string][] = [
    ['pending one-shot definitions (N)', (r) => int(r.n)],
    ['pre-produce (plain producer)', (r) => `${int(r.produceMs)} ms, ${rate(r.n, r.produceMs)}`],
    ['  definition record size (key + value)', (r) => `${int(r.produceBytes / r.n)} B`],
    ['ingest: start() → all committed', (r) => `${int(r.ingestWallMs)} ms`],
    ['  startup (→ 3 partitions running)', (r) => `${int(r.startupMs)} ms`],
    ['  definitions ingested per second', (r) => rate(r.n, r.ingestMs)],
    ['  transactions committed / aborted', (r) => `${r.ingestTransactions} / ${r.ingestAborted}`],
    ['  CPU ms per 1k: bench process / broker', (r) => cpu(r.ingestCpu, r.n)],
    [`near tasks with N pending (${options.probes})`, () => ''],
    ['  fire lateness p50 / p99 / max ms', (r) => dist(r.consumer.probeFireLateness)],
    ['  visibility lateness p50 / p99 / max ms', (r) => dist(r.consumer.probeVisibleLateness)],
    [`fire: N due in a ${SPREAD_MS} ms window`, () => ''],
    ['  fires per second (N / first→last fire)', (r) => rate(r.n, r.consumer.lastFiredMs - r.consumer.firstFiredMs)],
    [
      '  first fire / last fire − window start ms',
      (r) => `${int(r.consumer.firstFiredMs - r.bulkT)} / ${int(r.consumer.lastFiredMs - r.bulkT)}`,
    ],
    ['  last visible − window start ms', (r) => int(r.consumer.lastReceivedMs - r.bulkT)],
    ['  lateness firedAt − dueAt p50 / p99 / max', (r) => dist(r.consumer.fireLateness)],
    ['  visibility receipt − dueAt p50/p99/max', (r) => dist(r.consumer.visibleLateness)],
    ['  fired as CATCH_UP (> 60 s late)', (r) => int(r.catchUp)],
    ['  transactions committed / aborted', (r) => `${r.fireTransactions} / ${r.fireAborted}`],
    ['  CPU ms per 1k: bench process / broker', (r) => cpu(r.fireCpu, r.n)],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  const columns = runs.map((r) => rows.map(([, value]) => value(r)))
  const colWidth = Math.max(12, ...columns.flat().map((v) => v.length))
  console.log(`\nflextask scheduler benchmark (exactly-once) — ${environment(kafkaBrokers)}`)
  console.log(
    `3 partitions, category ${CATEGORY}, maxFiresPerWake ${options.scheduler.maxFiresPerWake ?? 'default (1000)'}, ` +
      `commitIntervalMs ${options.commitIntervalMs ?? 'default (100)'}; fire phase: scheduler clock stepped to ` +
      `${STEP_LEAD_MS} ms before the window after ingestion`,
  )
  rows.forEach(([label], i) => {
    console.log(`${label.padEnd(width)}  ${columns.map((c) => (c[i] ?? '').padStart(colWidth)).join('  ')}`)
  })
  if (failed !== undefined) console.log(`N=${int(failed.n)}: DID NOT FINISH: ${failed.reason}`)
}

async function main(): Promise<number> {
  const options = parseOptions()
  // A hard stop in case a close or a broker call hangs.
  hardStop(options.pending.length * (options.timeoutMs + CLEANUP_TIMEOUT_MS) + HARD_STOP_GRACE_MS, 'bench')
  const runs: RunFigures[] = []
  let failed: { n: number; reason: string } | undefined
  for (const n of options.pending) {
    try {
      runs.push(await runOnce(n, options))
    } catch (error) {
      failed = { n, reason: error instanceof Error ? error.message : String(error) }
      console.error(`bench: N=${n} FAILED: ${failed.reason}`)
      const cause = error instanceof Error ? error.cause : undefined
      if (cause instanceof Error) console.error('cause:', cause)
      break
    }
  }
  report(options, runs, failed)
  return failed === undefined ? 0 : 1
}

if (isMainThread) {
  try {
    process.exit(await main())
  } catch (error) {
    console.error(`bench: FAILED: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
} else {
  await consumerWorker(workerData as WorkerInput)
}
