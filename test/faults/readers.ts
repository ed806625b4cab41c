/**
 * The audit's independent readers: kafkajs (another Kafka client than the one flextask uses) reading whole topics
 * from the beginning, read_committed for the audit and read_uncommitted to count what aborted transactions left
 * behind; SQL on the projection; and the lag monitor, which samples end-to-end lag during the run.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Kafka, logLevel } from 'kafkajs'
import type pg from 'pg'
import { uniqueName, waitFor } from '../helpers/kafka.ts'

/** The raw values of `topics`, from the beginning until nothing new arrived for `quietMs`. */
export async function readTopics(
  brokers: string[],
  topics: string[],
  isolation: 'read_committed' | 'read_uncommitted',
  quietMs = 4_000,
): Promise<Map<string, Buffer[]>> {
  const kafka = new Kafka({ clientId: uniqueName('faults-audit'), brokers, logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({
    groupId: uniqueName('faults-audit'),
    readUncommitted: isolation === 'read_uncommitted',
    maxWaitTimeInMs: 500,
  })
  const values = new Map<string, Buffer[]>(topics.map((t) => [t, []]))
  let lastAtMs = Date.now()
  let total = 0
  await consumer.connect()
  try {
    await consumer.subscribe({ topics, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        lastAtMs = Date.now()
        total++
        if (message.value !== null) values.get(topic)?.push(message.value)
        await Promise.resolve()
      },
    })
    await waitFor(`the ${isolation} reader's first record`, () => (total > 0 ? true : undefined), 60_000)
    while (Date.now() - lastAtMs < quietMs) await sleep(250)
  } finally {
    await consumer.disconnect()
  }
  return values
}

export interface RunRow {
  executionId: string
  attempt: number
  taskId: string
  status: string
  trigger: string | null
}

export async function taskRuns(pool: pg.Pool, prefix: string): Promise<RunRow[]> {
  const { rows } = await pool.query<RunRow>(
    `SELECT execution_id AS "executionId", attempt, task_id AS "taskId", status, trigger
       FROM task_runs WHERE task_id LIKE $1`,
    [`${prefix}-%`],
  )
  return rows
}

/** Runs still PENDING or PROCESSING, and all runs. */
export async function runCounts(pool: pg.Pool): Promise<{ open: number; total: number }> {
  const { rows } = await pool.query<{ open: string; total: string }>(
    `SELECT count(*) FILTER (WHERE status IN ('PENDING', 'PROCESSING')) AS open, count(*) AS total FROM task_runs`,
  )
  return { open: Number(rows[0]?.open ?? 0), total: Number(rows[0]?.total ?? 0) }
}

export interface LagSample {
  atMs: number
  /** now − the oldest of the every-second crons' latest SUCCEEDED slot in Postgres; null before any. */
  lagMs: number | null
}

/**
 * End-to-end lag, sampled every second from Postgres (directly, not through the proxy the faults cut): for each
 * every-second cron its latest slot whose run SUCCEEDED, and the oldest of those. A stall anywhere (scheduler,
 * broker, worker, connector, Postgres) makes it grow; it is back under `thresholdMs` once everything caught up.
 */
export class LagMonitor {
  readonly samples: LagSample[] = []
  #stopped = false
  #loop: Promise<void> | undefined

  private readonly pool: pg.Pool
  private readonly taskIds: string[]
  readonly thresholdMs: number

  constructor(pool: pg.Pool, taskIds: string[], thresholdMs = 3_000) {
    this.pool = pool
    this.taskIds = taskIds
    this.thresholdMs = thresholdMs
  }

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        await this.sample().catch(() => {})
        await sleep(1_000)
      }
    })()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await this.#loop
  }

  private async sample(): Promise<void> {
    const { rows } = await this.pool.query<{ oldest: Date | null; n: string }>(
      `SELECT min(latest) AS oldest, count(latest) AS n FROM (
         SELECT t.id, max(r.scheduled_for) AS latest FROM unnest($1::text[]) AS t(id)
           LEFT JOIN task_runs r ON r.task_id = t.id AND r.status = 'SUCCEEDED' GROUP BY t.id) x`,
      [this.taskIds],
    )
    const row = rows[0]
    const complete = row !== undefined && Number(row.n) === this.taskIds.length && row.oldest !== null
    const atMs = Date.now()
    this.samples.push({ atMs, lagMs: complete ? atMs - (row.oldest as Date).getTime() : null })
  }

  /** The peak lag in [fromMs, toMs]. */
  peakMs(fromMs: number, toMs: number): number {
    let peak = 0
    for (const s of this.samples) if (s.atMs >= fromMs && s.atMs <= toMs) peak = Math.max(peak, s.lagMs ?? 0)
    return peak
  }

  /** ms from `healedAtMs` until the lag is under the threshold again; null if it never was (while sampled). */
  recoveryMs(healedAtMs: number): number | null {
    const back = this.samples.find((s) => s.atMs >= healedAtMs && s.lagMs !== null && s.lagMs < this.thresholdMs)
    return back === undefined ? null : back.atMs - healedAtMs
  }
}
