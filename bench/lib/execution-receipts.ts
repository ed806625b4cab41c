/**
 * The receipt side of bench/scheduler.ts: a read_committed consumer in a worker thread (its own event loop, so it
 * neither slows the scheduler's loop nor gets delayed by it) that reads `<prefix>.executions.http`, stamps each
 * execution on receipt with the scheduler's clock, checks every bulk task fires once with its own dueAtMs, and
 * reports lateness distributions. The main thread follows its progress through shared counters (`Counter`).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import type { Message } from '@platformatic/kafka'
import avro from 'avsc'
import { taskExecutionSchema, type TaskExecution } from '../../schemas/task-execution.ts'
import { committedReader, readFrom } from './committed-reader.ts'

/** Width of the bulk due window. */
export const SPREAD_MS = 1_000
export const BULK_PREFIX = 'b-'
export const PROBE_PREFIX = 'p-'

/** Shared counters between the main thread and the worker (Int32Array indices). */
export const Counter = { bulk: 0, probes: 1, duplicates: 2, unexpected: 3, catchUp: 4 } as const

export interface WorkerInput {
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

export interface Distribution {
  p50: number
  p99: number
  max: number
  min: number
}

export interface ConsumerSummary {
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
export function bulkDueMs(t: number, i: number, n: number): number {
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
  const consumer = committedReader({
    brokers: input.brokers,
    groupId: input.groupId,
    clientId: `${input.groupId}-client`,
  })
  const stream = await readFrom(consumer, [input.topic], 'earliest')
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

export function startWorker(
  run: { worker: Worker | undefined },
  input: WorkerInput,
): Promise<{ worker: Worker; failure: () => Error | undefined }> {
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

export function finishWorker(worker: Worker): Promise<ConsumerSummary> {
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

if (!isMainThread) await consumerWorker(workerData as WorkerInput)
