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
 *    loop nor gets delayed by it) reads `<prefix>.executions.http` and stamps each execution on receipt (lib/execution-receipts.ts).
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
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Worker } from 'node:worker_threads'
import type { Admin, Producer } from '@platformatic/kafka'
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
import { schedulerApplicationId, topicNames, type TopicNames } from '../topics.ts'
import type { Clock } from '../topology/api.ts'
import { kafkaBrokers, schemaRegistryUrl, testKafka } from '../test/helpers/env.ts'
import { benchArgs, hardStop, integerArg, withTimeout } from './lib/args.ts'
import { cpuMeter } from './lib/cpu-meter.ts'
import { BULK_PREFIX, bulkDueMs, Counter, finishWorker, PROBE_PREFIX, startWorker } from './lib/execution-receipts.ts'
import { statsOf, watchRuntime } from './lib/runtime-watch.ts'
import { report, type RunFigures } from './lib/scheduler-report.ts'
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
/** The clock step leaves the scheduler this long before T. */
const STEP_LEAD_MS = 3_000
/** The first probe is due this long after it is produced; the probes are PROBE_GAP_MS apart. */
const PROBE_LEAD_MS = 2_000
const PROBE_GAP_MS = 50
const POLL_INTERVAL_MS = 50
const PROGRESS_EVERY_MS = 10_000
const HARD_STOP_GRACE_MS = 120_000
const CLEANUP_TIMEOUT_MS = 60_000

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
  report(
    {
      probes: options.probes,
      category: CATEGORY,
      stepLeadMs: STEP_LEAD_MS,
      maxFiresPerWake: options.scheduler.maxFiresPerWake,
      commitIntervalMs: options.commitIntervalMs,
    },
    runs,
    failed,
  )
  return failed === undefined ? 0 : 1
}

try {
  process.exit(await main())
} catch (error) {
  console.error(`bench: FAILED: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
