/**
 * Throughput benchmark of the StreamRuntime on the local broker, exactly-once (the runtime always commits in
 * transactions). Not a test: it prints figures.
 *
 * 1. Process: N pre-produced records (3 partitions, ~10k keys, ~100-byte values) through
 *    source → LastValueCounter (reads + writes one store entry per key) → sink (3 partitions).
 *    Done when the group's committed input offsets reach the input end offsets: the offsets commit in the
 *    same transaction as the outputs and changelog records, so at that point all N outputs are committed.
 * 2. Restore: close the runtime, delete its local state, start a fresh one (same applicationId, stateDir and
 *    instanceId, so static membership hands it the partitions at once) and time the `restored` events.
 * Verifies the restored state (sum of per-key counts = N, one entry per key), then deletes its topics and state.
 *
 * Usage: node bench/topology-throughput.ts [--records N] [--keys K] [--timeout-ms MS]
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin, Consumer, FetchIsolationLevels, ListOffsetTimestamps, Producer } from '@platformatic/kafka'
import type { KeyValueStore, Processor, ProcessorContext, StreamRecord } from '../topology/api.ts'
import { jsonSerde, stringSerde } from '../topology/serdes.ts'
import { countingObserver, type RuntimeCounters } from '../topology/runtime-events.ts'
import { StreamRuntime, type StreamRuntimeOptions } from '../topology/stream-runtime.ts'
import { TopologyBuilder, type Topology } from '../topology/topology-builder.ts'
import { kafkaBrokers } from '../test/helpers/env.ts'
import { benchArgs, hardStop, integerArg } from './lib/args.ts'
import { describeKafkaError } from './lib/kafka-error-detail.ts'
import { type ProcessFigures, report, type RestoreFigures } from './lib/topology-report.ts'

const PARTITIONS = 3
const VALUE_BYTES = 100
const PRODUCE_BATCH_RECORDS = 5_000
const PRODUCE_IN_FLIGHT = 4
const STORE = 'last-values'
const POLL_INTERVAL_MS = 50
const HARD_STOP_GRACE_MS = 60_000
/** Aborted transactions in a row, with no commit between, after which the run is declared a livelock. */
const MAX_CONSECUTIVE_ABORTS = 5

interface LastValue {
  count: number
  last: string
}

/** Keeps the count and last value per key in store 'last-values' and forwards the record unchanged. */
class LastValueCounter implements Processor<string, string, string, string> {
  #context!: ProcessorContext<string, string>
  #store!: KeyValueStore<LastValue>

  init(context: ProcessorContext<string, string>): void {
    this.#context = context
    this.#store = context.getStateStore<LastValue>(STORE)
  }

  process(record: StreamRecord<string, string>): void {
    const count = (this.#store.get(record.key)?.count ?? 0) + 1
    this.#store.put(record.key, { count, last: record.value })
    this.#context.forward(record)
  }
}

function passThroughTopology(input: string, output: string): Topology {
  return new TopologyBuilder()
    .addSource('input', { topic: input, keySerde: stringSerde, valueSerde: stringSerde })
    .addProcessor('last-value-counter', () => new LastValueCounter(), 'input')
    .addStateStore({ name: STORE, valueSerde: jsonSerde<LastValue>() }, 'last-value-counter')
    .addSink('output', { topic: output, keySerde: stringSerde, valueSerde: stringSerde }, 'last-value-counter')
    .build()
}

interface BenchOptions {
  records: number
  keys: number
  timeoutMs: number
  /** Runtime tuning passed through when given; the runtime's defaults otherwise. */
  runtime: Pick<StreamRuntimeOptions, 'commitIntervalMs' | 'maxRecordsPerCycle'>
}

function parseOptions(): BenchOptions {
  const values = benchArgs(
    {
      records: { type: 'string', default: '200000' },
      keys: { type: 'string', default: '10000' },
      'timeout-ms': { type: 'string', default: '600000' },
      'commit-interval-ms': { type: 'string' },
      'max-records-per-cycle': { type: 'string' },
    },
    'Usage: node bench/topology-throughput.ts [--records N] [--keys K] [--timeout-ms MS] [--commit-interval-ms MS] [--max-records-per-cycle N]',
  )
  const integer = integerArg
  const commitInterval = values['commit-interval-ms']
  const maxRecords = values['max-records-per-cycle']
  return {
    records: integer('records', values.records, 1),
    keys: integer('keys', values.keys, 1),
    timeoutMs: integer('timeout-ms', values['timeout-ms'], 1),
    runtime: {
      ...(commitInterval === undefined ? {} : { commitIntervalMs: integer('commit-interval-ms', commitInterval, 0) }),
      ...(maxRecords === undefined ? {} : { maxRecordsPerCycle: integer('max-records-per-cycle', maxRecords, 1) }),
    },
  }
}

interface Run {
  suffix: string
  input: string
  output: string
  applicationId: string
  stateRoot: string
  admin: Admin
  /** Shares the runtime's group id to read its committed offsets; never joins the group. */
  offsetReader: Consumer
  runtimes: StreamRuntime[]
}

async function produceInput(run: Run, options: BenchOptions): Promise<number> {
  const producer = new Producer({ clientId: `bench-producer-${run.suffix}`, bootstrapBrokers: kafkaBrokers })
  const startedAt = performance.now()
  try {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < options.records) {
        const from = next
        next = Math.min(options.records, next + PRODUCE_BATCH_RECORDS)
        const messages = []
        for (let i = from; i < next; i++) {
          const key = `key-${(i * 7919) % options.keys}`
          const value = `${key}:${i}:`.padEnd(VALUE_BYTES, 'x')
          messages.push({ topic: run.input, key: Buffer.from(key), value: Buffer.from(value) })
        }
        await producer.send({ messages })
      }
    }
    await Promise.all(Array.from({ length: PRODUCE_IN_FLIGHT }, worker))
  } finally {
    await producer.close().catch(() => {})
  }
  const ends = await run.offsetReader.listOffsets({ topics: [run.input], timestamp: ListOffsetTimestamps.LATEST })
  const total = (ends.get(run.input) ?? []).reduce((a, b) => a + b, 0n)
  if (total !== BigInt(options.records))
    throw new Error(`input topic holds ${total} records, expected ${options.records}`)
  return performance.now() - startedAt
}

interface Watched {
  runtime: StreamRuntime
  stats: RuntimeCounters
  /** The runtime's fatal error, or a livelock of aborted transactions; undefined while healthy. */
  failure: () => Error | undefined
}

function newRuntime(run: Run, options: BenchOptions): Watched {
  const runtime = new StreamRuntime(passThroughTopology(run.input, run.output), {
    applicationId: run.applicationId,
    bootstrapBrokers: kafkaBrokers,
    stateDir: run.stateRoot,
    instanceId: `bench-instance-${run.suffix}`,
    ...options.runtime,
  })
  run.runtimes.push(runtime)
  let fatal: Error | undefined
  let abortsInARow = 0
  let firstAbort = ''
  const counting = countingObserver()
  const stats = counting.counters
  runtime.observe(counting)
  runtime.observe({
    onFatal: (error) => (fatal ??= error),
    onCommitted: () => (abortsInARow = 0),
    onAborted: (event) => {
      if (abortsInARow++ === 0) firstAbort = describeKafkaError(event.error.cause ?? event.error)
      if (abortsInARow < MAX_CONSECUTIVE_ABORTS || fatal !== undefined) return
      fatal = new Error(
        `livelock: ${abortsInARow} transactions aborted in a row after ${stats.cyclesCommitted} commits ` +
          `(${stats.recordsProcessed} records processed)\n  first abort: ${firstAbort}` +
          `\n  last abort:  ${describeKafkaError(event.error.cause ?? event.error)}`,
      )
    },
  })
  return { runtime, stats, failure: () => fatal }
}

/** Polls `probe` until it returns a value, the runtime fails, or the deadline passes. */
async function until<T>(
  what: string,
  deadlineMs: number,
  fatal: () => Error | undefined,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  for (;;) {
    const error = fatal()
    if (error !== undefined)
      throw new Error(`runtime failed while waiting for ${what}: ${error.message}`, { cause: error })
    const value = await probe()
    if (value !== undefined) return value
    if (performance.now() > deadlineMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(POLL_INTERVAL_MS)
  }
}

async function processPhase(run: Run, options: BenchOptions, deadlineMs: number): Promise<ProcessFigures> {
  const { runtime, stats, failure } = newRuntime(run, options)
  const commitMs: number[] = []
  let producedMessages = 0
  let lastCommittedAt = 0
  let runningAt: number | undefined
  const restoredPartitions = new Set<number>()
  runtime.observe({
    onCommitted: (event) => {
      commitMs.push(event.durationMs)
      producedMessages += event.records
      lastCommittedAt = performance.now()
    },
    onRestored: (event) => {
      restoredPartitions.add(event.partition)
      if (restoredPartitions.size === PARTITIONS) runningAt ??= performance.now()
    },
  })
  const cpuBefore = process.cpuUsage()
  const startedAt = performance.now()
  await runtime.start()
  let lastReport = startedAt
  await until(`${options.records} committed input offsets`, deadlineMs, failure, async () => {
    const committed = await run.offsetReader.listCommittedOffsets({
      topics: [{ topic: run.input, partitions: [0, 1, 2] }],
    })
    const total = (committed.get(run.input) ?? []).reduce((a, b) => a + (b > 0n ? b : 0n), 0n)
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now()
      console.error(`  … ${total} / ${options.records} committed, ${commitMs.length} transactions`)
    }
    return total >= BigInt(options.records) ? true : undefined
  })
  const cpu = process.cpuUsage(cpuBefore)
  const doneAt = lastCommittedAt
  return {
    wallMs: doneAt - startedAt,
    startupMs: (runningAt ?? doneAt) - startedAt,
    processingMs: doneAt - (runningAt ?? startedAt),
    transactions: stats.cyclesCommitted,
    aborted: stats.cyclesAborted,
    producedMessages,
    commitMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
  }
}

async function restorePhase(run: Run, options: BenchOptions, deadlineMs: number): Promise<RestoreFigures> {
  const previous = run.runtimes.at(-1)
  if (previous !== undefined) await previous.close()
  rmSync(join(run.stateRoot, run.applicationId), { recursive: true, force: true })
  const { runtime, failure } = newRuntime(run, options)
  const restored = new Map<number, { records: number; durationMs: number }>()
  runtime.observe({
    onRestored: (event) => restored.set(event.partition, { records: event.records, durationMs: event.durationMs }),
  })
  const startedAt = performance.now()
  await runtime.start()
  await until(`${PARTITIONS} restored partitions`, deadlineMs, failure, () =>
    restored.size === PARTITIONS ? true : undefined,
  )
  const wallMs = performance.now() - startedAt
  let storeEntries = 0
  let countSum = 0
  for (let p = 0; p < PARTITIONS; p++) {
    const entries = (await runtime.queryStore<LastValue>(STORE, p)) ?? []
    storeEntries += entries.length
    for (const [, v] of entries) countSum += v.count
  }
  return {
    wallMs,
    records: [...restored.values()].reduce((n, r) => n + r.records, 0),
    partitionMs: [...restored.entries()].sort(([a], [b]) => a - b).map(([, r]) => r.durationMs),
    storeEntries,
    countSum,
  }
}

async function cleanup(run: Run): Promise<void> {
  for (const runtime of run.runtimes) await runtime.close().catch(() => {})
  await run.offsetReader.close(true).catch(() => {})
  const changelog = `${run.applicationId}-${STORE}-changelog`
  await run.admin.deleteTopics({ topics: [run.input, run.output, changelog] }).catch((error: unknown) => {
    console.error(`warning: could not delete topics: ${String(error)}`)
  })
  await run.admin.close().catch(() => {})
  rmSync(run.stateRoot, { recursive: true, force: true })
}

async function main(): Promise<void> {
  const options = parseOptions()
  const deadlineMs = performance.now() + options.timeoutMs
  // A hard stop in case a close or a broker call hangs.
  hardStop(options.timeoutMs + HARD_STOP_GRACE_MS, 'bench')
  const suffix = randomUUID().slice(0, 8)
  const applicationId = `bench-app-${suffix}`
  const run: Run = {
    suffix,
    input: `bench-in-${suffix}`,
    output: `bench-out-${suffix}`,
    applicationId,
    stateRoot: mkdtempSync(join(tmpdir(), 'flextask-bench-')),
    admin: new Admin({ clientId: `bench-admin-${suffix}`, bootstrapBrokers: kafkaBrokers }),
    offsetReader: new Consumer({
      clientId: `bench-offsets-${suffix}`,
      groupId: applicationId,
      bootstrapBrokers: kafkaBrokers,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    }),
    runtimes: [],
  }
  try {
    await run.admin.createTopics({ topics: [run.input, run.output], partitions: PARTITIONS, replicas: 1 })
    console.error(`producing ${options.records} records to ${run.input} …`)
    const produceMs = await produceInput(run, options)
    console.error(`processing with ${applicationId} …`)
    const processed = await processPhase(run, options, deadlineMs)
    console.error('restoring from the changelog …')
    const restored = await restorePhase(run, options, deadlineMs)
    report({ ...options, valueBytes: VALUE_BYTES, partitions: PARTITIONS }, produceMs, processed, restored)
    if (restored.countSum !== options.records) {
      throw new Error(
        `restored counts sum to ${restored.countSum}, expected ${options.records} (lost or duplicated updates)`,
      )
    }
  } finally {
    await cleanup(run)
  }
}

try {
  await main()
  process.exit(0)
} catch (error) {
  console.error(`bench: FAILED: ${error instanceof Error ? error.message : String(error)}`)
  const cause = error instanceof Error ? error.cause : undefined
  if (cause instanceof Error && !(error instanceof Error && error.message.includes(cause.message))) {
    console.error('cause:', cause)
  }
  process.exit(1)
}
