/**
 * The due workload on BullMQ (Redis at REDIS_URL, default redis://127.0.0.1:6379) with delayed jobs: each
 * one-shot is `queue.addBulk` with `delay = due − now` at add time. Configured as BullMQ's docs recommend for
 * latency and throughput of short jobs: one Worker with `concurrency` 100 (docs: guide/workers/concurrency),
 * the default `drainDelay` (the worker blocks on the queue's marker key and is woken when a delayed job is
 * due, so no polling interval applies), `removeOnComplete`/`removeOnFail` so Redis keeps no finished jobs.
 * The queue lives under its own key prefix `bench-<id>` and is obliterated at the end, also on failure.
 */
import { randomUUID } from 'node:crypto'
import { Queue, Worker } from 'bullmq'
import { driveDueRun, type DueRun, type DueWorkload } from '../lib/due-workload.ts'

const BATCH = 5_000
const CONCURRENCY = 100
/** Load rate assumed when placing the window (addBulk on a local Redis); the run reports the real slack. */
const ASSUMED_LOAD_PER_S = 10_000
const QUEUE = 'due'

interface JobData {
  i: number
  dueMs: number
}

function redisConnection(): { host: string; port: number } {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  return { host: url.hostname, port: Number(url.port || 6379) }
}

async function addJobs(queue: Queue<JobData>, count: number, job: (i: number) => JobData): Promise<void> {
  for (let from = 0; from < count; from += BATCH) {
    const jobs = []
    for (let i = from; i < Math.min(count, from + BATCH); i++) {
      const data = job(i)
      jobs.push({
        name: 'job',
        data,
        opts: { delay: Math.max(0, data.dueMs - Date.now()), removeOnComplete: true, removeOnFail: true },
      })
    }
    await queue.addBulk(jobs)
  }
}

export const bullmqConfig =
  `BullMQ delayed jobs (addBulk, delay = due − now); 1 Worker, concurrency ${CONCURRENCY}, ` +
  'drainDelay default (woken by the delayed-job marker), removeOnComplete; own key prefix, obliterated after'

export async function runBullmq(workload: DueWorkload, progress: (line: string) => void): Promise<DueRun> {
  const connection = redisConnection()
  const prefix = `bench-${randomUUID().slice(0, 8)}`
  const queue = new Queue<JobData>(QUEUE, { connection, prefix })
  let worker: Worker<JobData> | undefined
  try {
    return await driveDueRun(
      {
        name: 'BullMQ',
        observed: 'worker start',
        config: bullmqConfig,
        assumedLoadPerS: ASSUMED_LOAD_PER_S,
        loadPending: (count, dueMs) => addJobs(queue, count, (i) => ({ i: -1 - i, dueMs })),
        observe: async (recorder) => {
          worker = new Worker<JobData>(
            QUEUE,
            async (job) => {
              recorder.record(job.data.i, job.data.dueMs, Date.now())
              return Promise.resolve()
            },
            { connection, prefix, concurrency: CONCURRENCY },
          )
          worker.on('error', (error) => progress(`bullmq worker error: ${error.message}`))
          await worker.waitUntilReady()
        },
        loadMeasured: (count, dueMs) => addJobs(queue, count, (i) => ({ i, dueMs: dueMs(i) })),
      },
      workload,
      progress,
    )
  } finally {
    await worker?.close(true).catch(() => {})
    await queue.obliterate({ force: true }).catch((error: unknown) => progress(`warning: obliterate: ${String(error)}`))
    await queue.close().catch(() => {})
  }
}
