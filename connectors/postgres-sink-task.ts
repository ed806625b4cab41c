/**
 * The Postgres SinkTask: writes a batch of decoded records as rows of the projection and advances the consumed
 * offsets in the same transaction, so a crash anywhere leaves either the whole batch with its offsets or neither
 * (exactly-once effect on the tables; Kafka Connect's "offsets in the sink" pattern, as the JDBC connectors do
 * for exactly-once).
 *
 * Fencing: each offsets row is advanced with a compare-and-set from the offset this task resumed from or last
 * wrote. The UPDATE takes the row lock first, so of two sinks that both believe they own a partition (a zombie
 * after a rebalance) the second blocks until the first commits, then matches nothing and rolls back with
 * FLEXTASK_SINK_FENCED; its rows are never written. The runner then re-reads the offsets.
 *
 * Connections: one pg Client, dropped and re-created after any error. pg's `query_timeout` bounds a query whose
 * server has gone silent (a blackholed network), and a Client whose query timed out never sends another query
 * (brianc/node-postgres#3399), hence the rule. `statement_timeout` bounds slow SQL on the server side.
 */
import pg from 'pg'
import type { Logger } from '../logger.ts'
import { silentLogger } from '../logger.ts'
import type { Occurrence } from '../schemas/occurrence.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import { coerceError, FlextaskError } from '../errors.ts'
import { nextFireMs, project, type ProjectionBatch, type SinkRecord } from './projection.ts'
import {
  advanceOffsets,
  applyCancellations,
  insertDeadLetters,
  readForSchedule,
  readOffsets,
  setSchedule,
  upsertCancellations,
  upsertLogs,
  upsertOccurrences,
  upsertRuns,
  upsertTasks,
} from './postgres-binds.ts'
import { sql } from './postgres-sql.ts'
import { isRowRefused, postgresError, SinkErrorCodes } from './sink-errors.ts'
import { type FlushStats, type SinkTask, type TopicPartition, topicPartitionKey } from './sink-task.ts'

/** What pg needs to connect (config.ts postgresClientOptions gives it for the database section). */
export interface PostgresConnection {
  connectionString: string
  ssl?: pg.ClientConfig['ssl']
}

export interface PostgresSinkTaskOptions {
  connection: PostgresConnection
  /** The consumer group whose offsets rows this task owns (sink_offsets.consumer_group). */
  group: string
  /** Written to sink_offsets.written_by with every batch. */
  writerId: string
  /** Client-side bound on one query (the blackhole case). @default 30000 */
  queryTimeoutMs?: number
  /** Server-side statement_timeout. @default 20000 */
  statementTimeoutMs?: number
  /** Bound on establishing a connection. @default 5000 */
  connectTimeoutMs?: number
  logger?: Logger
}

type Buffered = SinkRecord & { timestampMs: number }

export class PostgresSinkTask implements SinkTask {
  readonly #options: Required<Omit<PostgresSinkTaskOptions, 'logger'>>
  readonly #logger: Logger
  #client: pg.Client | undefined
  /** topic:partition → the next offset stored in Postgres, as this task last read or wrote it. */
  readonly #positions = new Map<string, bigint>()
  /** topic:partition → the next offset once the buffer is written. */
  readonly #pendingNext = new Map<string, bigint>()
  #pending: Buffered[] = []

  constructor(options: PostgresSinkTaskOptions) {
    this.#options = { queryTimeoutMs: 30_000, statementTimeoutMs: 20_000, connectTimeoutMs: 5_000, ...options }
    delete (this.#options as { logger?: Logger }).logger
    this.#logger = options.logger ?? silentLogger
  }

  async open(partitions: TopicPartition[]): Promise<Map<string, bigint>> {
    if (partitions.length === 0) return new Map()
    const offsets = await this.#run('reading offsets', (client) => readOffsets(client, this.#options.group, partitions))
    for (const tp of partitions) {
      const key = topicPartitionKey(tp)
      this.#positions.set(key, offsets.get(key) ?? 0n)
      this.#pendingNext.delete(key)
    }
    this.#pending = this.#pending.filter((r) => !offsets.has(topicPartitionKey(r)))
    return new Map(partitions.map((tp) => [topicPartitionKey(tp), this.#positions.get(topicPartitionKey(tp)) ?? 0n]))
  }

  put(records: Buffered[]): void {
    for (const record of records) {
      const key = topicPartitionKey(record)
      const position = this.#pendingNext.get(key) ?? this.#positions.get(key)
      // Not ours (revoked), or already written / buffered: a redelivery changes nothing.
      if (position === undefined || record.offset < position) continue
      this.#pending.push(record)
      this.#pendingNext.set(key, record.offset + 1n)
    }
  }

  buffered(): number {
    return this.#pending.length
  }

  async flush(): Promise<FlushStats | undefined> {
    if (this.#pending.length === 0) return undefined
    const startedAt = performance.now()
    const pending = this.#pending
    const moves = [...this.#pendingNext].map(([key, next]) => {
      const [topic, partition] = splitKey(key)
      return { topic, partition, expected: this.#positions.get(key) ?? 0n, next }
    })
    let batch: ProjectionBatch
    try {
      batch = await this.#write(pending, moves)
    } catch (error) {
      if (!isRowRefused(error)) throw error
      // One record Postgres refuses must not stop every partition: find it (one record per transaction, in
      // offset order, each advancing its own partition) and hand it to the runner to dead-letter.
      await this.#isolate()
      return this.flush()
    }
    for (const move of moves) this.#positions.set(topicPartitionKey(move), move.next)
    this.#pending = []
    this.#pendingNext.clear()
    return flushStats(pending, moves, batch, performance.now() - startedAt)
  }

  /**
   * Replaces a record Postgres refused (FLEXTASK_SINK_ROW_REFUSED) by a skipped one, once the runner has
   * dead-lettered it: its offset then advances with the next batch.
   */
  skip(record: TopicPartition & { offset: bigint }, reason: string): void {
    this.#pending = this.#pending.map((r) =>
      r.topic === record.topic && r.partition === record.partition && r.offset === record.offset
        ? { ...r, value: { kind: 'skipped', reason } }
        : r,
    )
  }

  /** Writes the buffered records one per transaction until one is refused (thrown with its coordinates). */
  async #isolate(): Promise<void> {
    while (this.#pending.length > 0) {
      const record = this.#pending[0] as Buffered
      const key = topicPartitionKey(record)
      const move = { ...record, expected: this.#positions.get(key) ?? 0n, next: record.offset + 1n }
      try {
        await this.#write([record], [move])
      } catch (error) {
        if (!isRowRefused(error)) throw error
        throw new FlextaskError(SinkErrorCodes.rowRefused, coerceError(error).message, {
          retriable: false,
          cause: error,
          context: { topic: record.topic, partition: record.partition, offset: record.offset, record },
        })
      }
      this.#positions.set(key, move.next)
      this.#pending.shift()
      if (this.#pendingNext.get(key) === move.next) this.#pendingNext.delete(key)
    }
  }

  /** One transaction: compare-and-set the offsets, then the rows. */
  async #write(
    records: Buffered[],
    moves: { topic: string; partition: number; expected: bigint; next: bigint }[],
  ): Promise<ProjectionBatch> {
    const batch = project(records)
    await this.#run('writing a batch', async (client) => {
      await client.query('BEGIN')
      try {
        const moved = await advanceOffsets(client, this.#options.group, this.#options.writerId, moves)
        if (moved !== moves.length) {
          throw new FlextaskError(
            SinkErrorCodes.fenced,
            `offsets of ${moves.length - moved} of ${moves.length} partitions moved under ${this.#options.writerId}: ` +
              'another sink owns them now',
            { retriable: false },
          )
        }
        await writeRows(client, batch)
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      }
    })
    return batch
  }

  close(partitions: TopicPartition[]): Promise<void> {
    const keys = new Set(partitions.map(topicPartitionKey))
    for (const key of keys) {
      this.#positions.delete(key)
      this.#pendingNext.delete(key)
    }
    this.#pending = this.#pending.filter((r) => !keys.has(topicPartitionKey(r)))
    return Promise.resolve()
  }

  async stop(): Promise<void> {
    const client = this.#client
    this.#client = undefined
    await client?.end().catch(() => {})
  }

  /** Runs `work` on the connection; any failure drops the connection and comes back as a coded error. */
  async #run<T>(what: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    try {
      const client = await this.#connect()
      return await work(client)
    } catch (error) {
      const client = this.#client
      this.#client = undefined
      // A failed query may leave the connection unusable (a query_timeout never recovers): always start afresh.
      if (client !== undefined) discardClient(client)
      const coded = postgresError(error, what)
      this.#logger.warn({ code: coded.code, retriable: coded.retriable }, coded.message)
      throw coded
    }
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client !== undefined) return this.#client
    const o = this.#options
    const client = new pg.Client({
      ...o.connection,
      query_timeout: o.queryTimeoutMs,
      connectionTimeoutMillis: o.connectTimeoutMs,
      keepAlive: true,
      application_name: `flextask-sink ${o.writerId}`.slice(0, 63),
    })
    // An idle connection that breaks emits 'error'; the next query fails and reconnects.
    client.on('error', () => {
      if (this.#client === client) this.#client = undefined
    })
    try {
      await client.connect()
      await client.query(sql.session.statementTimeout(o.statementTimeoutMs))
    } catch (error) {
      discardClient(client)
      throw error
    }
    this.#client = client
    return client
  }
}

/**
 * Drops a connection without waiting for it: `end()` waits for the server to close the socket, which never happens
 * when the network has gone silent, so the socket is destroyed after `graceMs`.
 */
export function discardClient(client: pg.Client, graceMs = 1000): void {
  client.on('error', () => {})
  const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream
  const timer = setTimeout(() => stream?.destroy(), graceMs)
  timer.unref()
  void client
    .end()
    .catch(() => {})
    .finally(() => clearTimeout(timer))
}

/** Writes the rows of one batch; the caller holds the transaction. */
export async function writeRows(client: pg.ClientBase, batch: ProjectionBatch): Promise<void> {
  await upsertTasks(client, [...batch.tasks.values()])
  await upsertRuns(client, [...batch.runs.values()])
  await upsertCancellations(client, [...batch.cancellations.values()])
  const touched = new Set([...batch.runs.values()].map((r) => r.executionId))
  for (const id of batch.cancellations.keys()) touched.add(id)
  await applyCancellations(client, [...touched])
  const occurrences = [...batch.occurrences.values()]
  await upsertOccurrences(client, occurrences)
  await refreshSchedule(client, [...batch.tasks.keys()], occurrences)
  await upsertLogs(client, [...batch.logs.values()])
  await insertDeadLetters(client, batch.deadLetters)
}

/**
 * tasks.last_scheduled_for (the latest slot with an occurrence) and next_fire_at (the schedule's next slot after
 * it), for the tasks whose definition or occurrences are in the batch: one read and one write per task.
 */
async function refreshSchedule(client: pg.ClientBase, definedIds: string[], occurrences: Occurrence[]): Promise<void> {
  const latest = new Map<string, number>()
  for (const o of occurrences) latest.set(o.taskId, Math.max(latest.get(o.taskId) ?? -Infinity, o.scheduledForMs))
  const ids = [...new Set([...definedIds, ...latest.keys()])]
  if (ids.length === 0) return
  const stored = new Map((await readForSchedule(client, ids)).map((r) => [r.taskId, r]))
  await setSchedule(
    client,
    ids.map((taskId) => {
      const row = stored.get(taskId)
      const batchLast = latest.get(taskId)
      const storedLast = row?.lastScheduledForMs ?? null
      const last = batchLast === undefined ? storedLast : Math.max(batchLast, storedLast ?? -Infinity)
      const definition = (row?.definition ?? null) as TaskDefinition | null
      return { taskId, lastScheduledForMs: last, nextMs: nextFireMs(row?.status ?? 'UNKNOWN', definition, last) }
    }),
  )
}

function flushStats(
  records: Buffered[],
  moves: TopicPartition[],
  batch: ProjectionBatch,
  durationMs: number,
): FlushStats {
  const kinds: Record<string, number> = {}
  for (const r of records) kinds[r.value.kind] = (kinds[r.value.kind] ?? 0) + 1
  return {
    records: records.length,
    partitions: moves.map(topicPartitionKey),
    kinds,
    rows: {
      tasks: batch.tasks.size,
      task_runs: batch.runs.size,
      task_occurrences: batch.occurrences.size,
      task_logs: batch.logs.size,
      dead_letters: batch.deadLetters.length,
      run_cancellations: batch.cancellations.size,
    },
    durationMs,
  }
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf(':')
  return [key.slice(0, at), Number(key.slice(at + 1))]
}
