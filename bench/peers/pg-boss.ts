/**
 * The due workload on pg-boss (the local Postgres at DATABASE_URL's server) with one-shots: `boss.insert` of
 * jobs with `startAfter` = the due instant (what `sendAfter` does, in batches). pg-boss fetches due jobs by
 * polling; configured as its docs recommend for low latency: `pollingIntervalSeconds` 0.5 (the minimum it
 * accepts), `batchSize` 100 with `burstWhenBatchFull` (fetch again at once while batches come back full) and
 * `localConcurrency` 4 (four polling workers). LISTEN/NOTIFY does not apply: it wakes workers when a job is
 * created ready, not when a deferred job comes due. Runs in its own database `bench_pgboss_<id>`, dropped at
 * the end, also on failure.
 */
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { PgBoss } from 'pg-boss'
import { driveDueRun, type DueRun, type DueWorkload } from '../lib/due-workload.ts'

const BATCH = 5_000
const POLLING_INTERVAL_S = 0.5
const BATCH_SIZE = 100
const LOCAL_CONCURRENCY = 4
const ASSUMED_LOAD_PER_S = 5_000
const QUEUE = 'due'

interface JobData {
  i: number
  dueMs: number
}

export const pgBossConfig =
  `pg-boss one-shots (insert with startAfter = due, as sendAfter); work() with pollingIntervalSeconds ` +
  `${POLLING_INTERVAL_S} (minimum), batchSize ${BATCH_SIZE}, burstWhenBatchFull, localConcurrency ` +
  `${LOCAL_CONCURRENCY}; own database, dropped after`

function serverUrl(database: string): string {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  url.pathname = `/${database}`
  return url.toString()
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl('postgres') })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

async function insertJobs(boss: PgBoss, count: number, job: (i: number) => JobData): Promise<void> {
  for (let from = 0; from < count; from += BATCH) {
    const jobs = []
    for (let i = from; i < Math.min(count, from + BATCH); i++) {
      const data = job(i)
      jobs.push({ data, startAfter: new Date(data.dueMs) })
    }
    await boss.insert(QUEUE, jobs)
  }
}

export async function runPgBoss(workload: DueWorkload, progress: (line: string) => void): Promise<DueRun> {
  const database = `bench_pgboss_${randomUUID().replaceAll('-', '').slice(0, 10)}`
  await admin(`CREATE DATABASE ${database}`)
  const boss = new PgBoss({ connectionString: serverUrl(database) })
  boss.on('error', (error: Error) => progress(`pg-boss error: ${error.message}`))
  try {
    await boss.start()
    await boss.createQueue(QUEUE)
    const options = {
      pollingIntervalSeconds: POLLING_INTERVAL_S,
      batchSize: BATCH_SIZE,
      burstWhenBatchFull: true,
      localConcurrency: LOCAL_CONCURRENCY,
    }
    return await driveDueRun(
      {
        name: 'pg-boss',
        observed: 'worker start',
        config: pgBossConfig,
        assumedLoadPerS: ASSUMED_LOAD_PER_S,
        loadPending: (count, dueMs) => insertJobs(boss, count, (i) => ({ i: -1 - i, dueMs })),
        observe: async (recorder) => {
          await boss.work<JobData>(QUEUE, options, async (jobs) => {
            const at = Date.now()
            for (const job of jobs) recorder.record(job.data.i, job.data.dueMs, at)
            return Promise.resolve()
          })
        },
        loadMeasured: (count, dueMs) => insertJobs(boss, count, (i) => ({ i, dueMs: dueMs(i) })),
      },
      workload,
      progress,
    )
  } finally {
    await boss.stop({ graceful: false, timeout: 5_000 }).catch(() => {})
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch((error: unknown) =>
      progress(`warning: could not drop ${database}: ${String(error)}`),
    )
  }
}
