/**
 * The Postgres connector as a Component: migrates the database (advisory lock), optionally empties the projection
 * for a rebuild, creates missing topics, then runs the Postgres SinkTask on the sink's consumer group and prunes
 * old rows in bounded batches. One wiring module: everything it needs comes in through options.
 *
 * Rebuild: the projection's rows and this group's stored offsets are removed in one transaction, so the sink reads
 * every topic from its beginning and reaches the state an incremental sink has — as far as the topics still hold
 * the records (results, logs, occurrences and dead letters are deleted by Kafka after their retention; definitions
 * are compacted). Stop the other sinks of the group first: they would keep writing from their own positions.
 */
import { Admin } from '@platformatic/kafka'
import pg from 'pg'
import type { Component, Health } from '../component.ts'
import { coerceError, FlextaskError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { silentLogger } from '../logger.ts'
import { AvroSerde } from '../schemas/avro-serde.ts'
import { type DeadLetter, deadLetterSchema } from '../schemas/dead-letter.ts'
import { occurrenceSchema } from '../schemas/occurrence.ts'
import { RegistryClient } from '../schemas/registry-client.ts'
import { taskDefinitionSchema } from '../schemas/task-definition.ts'
import { taskExecutionSchema } from '../schemas/task-execution.ts'
import { taskLogSchema } from '../schemas/task-log.ts'
import { taskResultSchema } from '../schemas/task-result.ts'
import { kafkaErrorIds } from '../topology/kafka-errors.ts'
import { sinkGroupId, topicNames, type TopicNames } from '../topics.ts'
import { migrate } from './migrator.ts'
import { PostgresSinkTask } from './postgres-sink-task.ts'
import { deleteExpired, sql } from './postgres-sql.ts'
import { isTransientPostgresError, postgresError } from './sink-errors.ts'
import { type SinkDecoders, type SinkKind, SinkRunner } from './sink-runner.ts'

export interface PostgresConnectorOptions {
  databaseUrl: string
  kafkaBrokers: string[]
  schemaRegistryUrl: string
  /** @default flextask */
  topicPrefix?: string
  /** Categories whose executions topics are projected into task_runs. */
  categories: string[]
  /** Partitions of topics the connector has to create (it never changes existing ones). @default 6 */
  partitions?: number
  /** Stable per process: static group membership, sink_offsets.written_by. */
  instanceId: string
  /** @default sinkGroupId(topicPrefix) */
  groupId?: string
  /** Empty the projection and this group's offsets first, then replay every topic from its beginning. */
  rebuild?: boolean
  /** Records per Postgres transaction. @default 2000 */
  batchSize?: number
  /** @default 200 */
  flushIntervalMs?: number
  /** Rows older than this many days are deleted; 0 keeps everything. @default 30 */
  retentionDays?: number
  /** Pause between retention passes. @default 600000 (10 minutes) */
  retentionIntervalMs?: number
  /** Rows per DELETE statement. @default 1000 */
  retentionBatchSize?: number
  /** Client-side bound on a query (blackholed network). @default 30000 */
  queryTimeoutMs?: number
  /** Server-side statement_timeout. @default 20000 */
  statementTimeoutMs?: number
  /** How long start() keeps retrying an unreachable Postgres for the migrations. @default 60000 */
  startTimeoutMs?: number
  logger?: Logger
  nowMs?: () => number
}

export interface PostgresConnector extends Component {
  /** Present once started. */
  readonly runner: SinkRunner | undefined
  /** One retention pass now (all tables, bounded batches); returns rows deleted per table. */
  pruneOnce(): Promise<Record<string, number>>
}

/** The topics the sink reads and what each carries. */
export function sinkTopics(topics: TopicNames, categories: string[]): Map<string, SinkKind> {
  return new Map<string, SinkKind>([
    [topics.definitions, 'definition'],
    ...categories.map((c) => [topics.executions(c), 'execution'] as [string, SinkKind]),
    [topics.results, 'result'],
    [topics.logs, 'log'],
    [topics.occurrences, 'occurrence'],
    [topics.deadLetter, 'deadLetter'],
  ])
}

/** Avro serdes of the sink's topics under the subjects every flextask component uses (TopicNameStrategy). */
export async function createSinkDecoders(registryUrl: string, topics: TopicNames): Promise<SinkDecoders> {
  const registry = new RegistryClient(registryUrl)
  const decoders = {
    definition: new AvroSerde(`${topics.definitions}-value`, taskDefinitionSchema, registry),
    // One subject for every category's executions topic: they all carry TaskExecution.
    execution: new AvroSerde(`${topics.executions('*').replace('.*', '')}-value`, taskExecutionSchema, registry),
    result: new AvroSerde(`${topics.results}-value`, taskResultSchema, registry),
    log: new AvroSerde(`${topics.logs}-value`, taskLogSchema, registry),
    occurrence: new AvroSerde(`${topics.occurrences}-value`, occurrenceSchema, registry),
    deadLetter: new AvroSerde<DeadLetter>(`${topics.deadLetter}-value`, deadLetterSchema, registry),
  }
  for (const serde of Object.values(decoders)) await serde.init()
  return decoders
}

export function createPostgresConnector(options: PostgresConnectorOptions): PostgresConnector {
  const o = {
    topicPrefix: 'flextask',
    partitions: 6,
    batchSize: 2000,
    flushIntervalMs: 200,
    retentionDays: 30,
    retentionIntervalMs: 600_000,
    retentionBatchSize: 1000,
    queryTimeoutMs: 30_000,
    statementTimeoutMs: 20_000,
    startTimeoutMs: 60_000,
    nowMs: Date.now,
    ...options,
  }
  const logger = (options.logger ?? silentLogger).child({ component: 'connector' })
  const groupId = o.groupId ?? sinkGroupId(o.topicPrefix)
  const topics = topicNames(o.topicPrefix)
  let runner: SinkRunner | undefined
  let retentionTimer: NodeJS.Timeout | undefined
  let pruning: Promise<unknown> = Promise.resolve()
  let closing: Promise<void> | undefined
  const fatalListeners: ((error: Error) => void)[] = []

  async function withClient<T>(what: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({
      connectionString: o.databaseUrl,
      query_timeout: o.queryTimeoutMs,
      connectionTimeoutMillis: 5000,
    })
    try {
      await client.connect()
      return await work(client)
    } catch (error) {
      throw postgresError(error, what)
    } finally {
      await client.end().catch(() => {})
    }
  }

  async function prepareDatabase(): Promise<void> {
    const deadline = Date.now() + o.startTimeoutMs
    for (let attempt = 1; ; attempt++) {
      try {
        await withClient('migrating', async (client) => {
          const applied = await migrate(client)
          if (applied.length > 0) logger.info({ applied }, 'applied migrations')
          if (o.rebuild === true) await emptyProjection(client)
        })
        return
      } catch (error) {
        const coded = coerceError(error)
        if (!coded.retriable || Date.now() > deadline) throw coded
        logger.warn({ attempt }, `postgres not ready (${coded.message}); retrying`)
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * 2 ** attempt)))
      }
    }
  }

  async function emptyProjection(client: pg.Client): Promise<void> {
    await client.query('BEGIN')
    await client.query(sql.rebuild.truncate)
    await client.query(sql.offsets.forget, [groupId])
    await client.query('COMMIT')
    logger.info({ groupId }, 'rebuild: projection emptied; replaying the topics from the beginning')
  }

  async function pruneOnce(): Promise<Record<string, number>> {
    const deleted: Record<string, number> = {}
    if (o.retentionDays <= 0) return deleted
    const cutoffMs = o.nowMs() - o.retentionDays * 86_400_000
    await withClient('pruning', async (client) => {
      for (const table of Object.keys(sql.retention) as (keyof typeof sql.retention)[]) {
        deleted[table] = 0
        for (;;) {
          const n = await deleteExpired(client, table, cutoffMs, o.retentionBatchSize)
          deleted[table] += n
          if (n < o.retentionBatchSize || closing !== undefined) break
        }
      }
    })
    return deleted
  }

  function scheduleRetention(): void {
    if (o.retentionDays <= 0 || closing !== undefined) return
    retentionTimer = setTimeout(() => {
      pruning = pruneOnce()
        .then((deleted) => logger.info({ deleted }, 'retention pass'))
        .catch((error: unknown) => {
          const coded = coerceError(error)
          if (!isTransientPostgresError(coded.cause)) logger.warn({ code: coded.code }, coded.message)
        })
        .finally(scheduleRetention)
    }, o.retentionIntervalMs)
    retentionTimer.unref()
  }

  const component: PostgresConnector = {
    name: 'connector',
    get runner() {
      return runner
    },
    pruneOnce,
    async start() {
      await prepareDatabase()
      await ensureTopics(o.kafkaBrokers, [...sinkTopics(topics, o.categories).keys()], topics, o.partitions)
      const decoders = await createSinkDecoders(o.schemaRegistryUrl, topics)
      const task = new PostgresSinkTask({
        databaseUrl: o.databaseUrl,
        group: groupId,
        writerId: o.instanceId,
        queryTimeoutMs: o.queryTimeoutMs,
        statementTimeoutMs: o.statementTimeoutMs,
        logger,
      })
      runner = new SinkRunner({
        groupId,
        bootstrapBrokers: o.kafkaBrokers,
        instanceId: o.instanceId,
        topics: sinkTopics(topics, o.categories),
        deadLetterTopic: topics.deadLetter,
        decoders,
        task,
        batchSize: o.batchSize,
        flushIntervalMs: o.flushIntervalMs,
        nowMs: o.nowMs,
        logger,
      })
      runner.on('error', (error: Error) => {
        for (const listener of fatalListeners) listener(error)
      })
      await runner.start()
      await runner.waitUntilReady()
      scheduleRetention()
    },
    close() {
      closing ??= (async () => {
        clearTimeout(retentionTimer)
        await pruning
        await runner?.close()
      })()
      return closing
    },
    health(): Health {
      const reasons: string[] = []
      if (runner === undefined) reasons.push('not started')
      else if (runner.fatal !== undefined) reasons.push(`stopped: ${runner.fatal.message}`)
      else if (!runner.ready) reasons.push('waiting for an assignment or for Postgres')
      return { live: runner?.fatal === undefined, ready: reasons.length === 0, reasons }
    },
    onFatal(listener) {
      fatalListeners.push(listener)
    },
  }
  return component
}

/**
 * Creates the sink's topics that do not exist yet (logs and executions topics may come before their writers), with
 * the partition count of the definitions topic when it exists: the sink's assignment keeps partition p of every
 * topic together.
 */
async function ensureTopics(brokers: string[], names: string[], topics: TopicNames, partitions: number): Promise<void> {
  const admin = new Admin({ clientId: 'flextask-sink-topics', bootstrapBrokers: brokers })
  try {
    const existing = new Set(await admin.listTopics())
    const missing = names.filter((t) => !existing.has(t))
    if (missing.length === 0) return
    let count = partitions
    if (existing.has(topics.definitions)) {
      const metadata = await admin.metadata({ topics: [topics.definitions] })
      count = metadata.topics.get(topics.definitions)?.partitionsCount ?? partitions
    }
    for (const topic of missing) {
      const configs =
        topic === topics.definitions
          ? [
              { name: 'cleanup.policy', value: 'compact' },
              { name: 'min.compaction.lag.ms', value: '0' },
            ]
          : [{ name: 'retention.ms', value: String(7 * 86_400_000) }]
      await admin
        .createTopics({ topics: [topic], partitions: count, replicas: -1, configs })
        .catch((error: unknown) => {
          const ids = kafkaErrorIds(error)
          if (ids.size === 0 || [...ids].some((id) => id !== 'TOPIC_ALREADY_EXISTS')) {
            throw new FlextaskError(
              'FLEXTASK_SINK_TOPICS_FAILED',
              `cannot create ${topic}: ${coerceError(error).message}`,
            )
          }
        })
    }
  } finally {
    await admin.close()
  }
}
