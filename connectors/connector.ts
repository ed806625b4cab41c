/**
 * The connector component (`flextask connector`, and part of `flextask up`): the Postgres projection of the topics.
 * start() migrates the database under an advisory lock (waiting out a Postgres that is not up yet), empties the
 * projection for a rebuild when asked, creates missing topics (refusing mismatched partition counts), then runs the
 * Postgres SinkTask on the sink's consumer group and resolves once its first assignment is open. A retention pass
 * deletes rows older than sink.retentionDays in bounded batches every sink.retentionIntervalMs.
 *
 * Rebuild (`--rebuild`): the projection's rows and this group's stored offsets are removed in one transaction, so
 * the sink reads every topic from its beginning and reaches the state an incremental sink has — as far as the
 * topics still hold the records (results, logs, occurrences and dead letters are deleted by Kafka after their
 * retention, 7 days when flextask creates the topics; definitions are compacted). Stop the group's other sinks
 * first: they would keep writing from their own positions.
 */
import pg from 'pg'
import type { Component, Health } from '../component.ts'
import { postgresClientOptions, type ResolvedConfig } from '../config.ts'
import { coerceError } from '../errors.ts'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import { compacted, ensureCoPartitionedTopics, retainedFor } from '../kafka-topics.ts'
import type { Logger } from '../logger.ts'
import type { Metrics } from '../metrics.ts'
import type { SerdeRegistry } from '../schemas/serde-registry.ts'
import { sinkGroupId, topicNames, type TopicNames } from '../topics.ts'
import type { Clock } from '../topology/api.ts'
import { systemClock } from '../topology/clocks.ts'
import { migrate } from './migrator.ts'
import { discardClient, PostgresSinkTask } from './postgres-sink-task.ts'
import { deleteExpired } from './postgres-binds.ts'
import { sql } from './postgres-sql.ts'
import { postgresError } from './sink-errors.ts'
import type { SinkKind } from './record-decoder.ts'
import { SinkRunner } from './sink-runner.ts'

export interface ConnectorDeps {
  config: Pick<ResolvedConfig, 'topics' | 'runtime' | 'database' | 'sink'>
  logger: Logger
  metrics: Pick<Metrics, 'sink'>
  kafka: KafkaClientFactory
  /** Built for the same topic prefix as config.topics.prefix. */
  serdes: SerdeRegistry
  /** Retention cutoffs and dead letters' failedAtMs. @default the system clock */
  clock?: Clock
}

export interface Connector extends Component {
  /** The consumer group whose offsets the projection stores. */
  readonly groupId: string
  /** Present once started. */
  readonly runner: SinkRunner | undefined
  /** One retention pass now (every table, bounded batches); rows deleted per table. */
  pruneOnce(): Promise<Record<string, number>>
}

/** Days Kafka keeps the event topics flextask creates (README: a rebuild restores what they still hold). */
export const eventTopicRetentionDays = 7

/** The topics the sink reads, and what each carries. */
export function sinkTopics(topics: TopicNames, categories: readonly string[]): Map<string, SinkKind> {
  return new Map<string, SinkKind>([
    [topics.definitions, 'definition'],
    ...categories.map((c) => [topics.executions(c), 'execution'] as [string, SinkKind]),
    [topics.results, 'result'],
    [topics.logs, 'log'],
    [topics.occurrences, 'occurrence'],
    [topics.deadLetter, 'deadLetter'],
  ])
}

export function createConnector(deps: ConnectorDeps): Connector {
  const { config } = deps
  const sink = config.sink
  const clock = deps.clock ?? systemClock
  const logger = deps.logger.child({ component: 'connector' })
  const groupId = sink.groupId ?? sinkGroupId(config.topics.prefix)
  const topics = topicNames(config.topics.prefix)
  const connection = postgresClientOptions(config.database)
  let runner: SinkRunner | undefined
  let retentionTimer: NodeJS.Timeout | undefined
  let pruning: Promise<unknown> = Promise.resolve()
  let closing: Promise<void> | undefined
  let startError: Error | undefined
  const fatalListeners: ((error: Error) => void)[] = []

  async function withClient<T>(what: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ ...connection, query_timeout: sink.queryTimeoutMs, connectionTimeoutMillis: 5000 })
    client.on('error', () => {})
    try {
      await client.connect()
      return await work(client)
    } catch (error) {
      throw postgresError(error, what)
    } finally {
      discardClient(client)
    }
  }

  /** Migrations (and the rebuild's emptying), retried while Postgres is unreachable, up to startTimeoutMs. */
  async function prepareDatabase(): Promise<void> {
    const deadline = Date.now() + config.runtime.startTimeoutMs
    for (let attempt = 1; ; attempt++) {
      try {
        await withClient('migrating', async (client) => {
          const applied = await migrate(client)
          if (applied.length > 0) logger.info({ applied }, 'applied migrations')
          if (sink.rebuild) await emptyProjection(client)
        })
        return
      } catch (error) {
        const coded = coerceError(error)
        if (!coded.retriable || Date.now() > deadline || closing !== undefined) throw coded
        logger.warn({ attempt, err: coded }, 'postgres not ready; retrying')
        await new Promise((resolve) => setTimeout(resolve, Math.min(sink.retryMaxMs, 200 * 2 ** attempt)))
      }
    }
  }

  async function emptyProjection(client: pg.Client): Promise<void> {
    await client.query('BEGIN')
    await client.query(sql.rebuild.truncate)
    await client.query(sql.offsets.forget, [groupId])
    await client.query('COMMIT')
    logger.info({ groupId }, 'rebuild: projection emptied; replaying every topic from its beginning')
  }

  async function pruneOnce(): Promise<Record<string, number>> {
    const deleted: Record<string, number> = {}
    if (sink.retentionDays <= 0) return deleted
    const cutoffMs = clock.nowMs() - sink.retentionDays * 86_400_000
    await withClient('pruning', async (client) => {
      for (const table of Object.keys(sql.retention) as (keyof typeof sql.retention)[]) {
        deleted[table] = 0
        for (;;) {
          const n = await deleteExpired(client, table, cutoffMs, sink.retentionBatchSize)
          deleted[table] += n
          if (n < sink.retentionBatchSize || closing !== undefined) break
        }
      }
    })
    return deleted
  }

  function scheduleRetention(): void {
    if (sink.retentionDays <= 0 || closing !== undefined) return
    retentionTimer = setTimeout(() => {
      pruning = pruneOnce()
        .then((deleted) => logger.info({ deleted }, 'retention pass'))
        .catch((error: unknown) => logger.warn({ err: coerceError(error) }, 'retention pass failed; next one later'))
        .finally(scheduleRetention)
    }, sink.retentionIntervalMs)
    retentionTimer.unref()
  }

  async function ensureTopics(): Promise<void> {
    const admin = deps.kafka.admin(`${config.runtime.instanceId}-sink-topics`)
    try {
      const specs = [...sinkTopics(topics, config.topics.categories).keys()].map((name) => ({
        name,
        configs: name === topics.definitions ? compacted : retainedFor(eventTopicRetentionDays),
      }))
      await ensureCoPartitionedTopics(admin, specs, {
        partitions: config.topics.partitions,
        coPartitionedBecause:
          'The sink writes partition p of every topic from one member, so an execution, its results and logs stay together.',
      })
    } finally {
      await admin.close()
    }
  }

  async function start(): Promise<void> {
    await prepareDatabase()
    await ensureTopics()
    await deps.serdes.init()
    const task = new PostgresSinkTask({
      connection,
      group: groupId,
      writerId: config.runtime.instanceId,
      queryTimeoutMs: sink.queryTimeoutMs,
      statementTimeoutMs: sink.statementTimeoutMs,
      logger,
    })
    const { sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, maxBufferedRecords } = config.runtime
    runner = new SinkRunner({
      groupId,
      kafka: deps.kafka,
      instanceId: config.runtime.instanceId,
      topics: sinkTopics(topics, config.topics.categories),
      deadLetterTopic: topics.deadLetter,
      decoders: deps.serdes,
      task,
      batchSize: sink.batchSize,
      flushIntervalMs: sink.flushIntervalMs,
      maxBufferedRecords,
      retryMaxMs: sink.retryMaxMs,
      sessionTimeoutMs,
      heartbeatIntervalMs,
      rebalanceTimeoutMs,
      nowMs: () => clock.nowMs(),
      logger,
      metrics: deps.metrics.sink,
    })
    runner.on('error', (error: Error) => {
      for (const listener of fatalListeners) listener(error)
    })
    await runner.start()
    await runner.waitUntilReady(config.runtime.startTimeoutMs)
    logger.info({ groupId, partitions: runner.assigned.length }, 'postgres sink running')
    scheduleRetention()
  }

  return {
    name: 'connector',
    groupId,
    get runner() {
      return runner
    },
    pruneOnce,
    async start() {
      try {
        await start()
      } catch (error) {
        startError = coerceError(error)
        await runner?.close().catch(() => {})
        throw startError
      }
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
      const fatal = runner?.fatal ?? startError
      if (fatal !== undefined) reasons.push(`stopped: ${fatal.message}`)
      else if (runner === undefined) reasons.push('starting: migrating Postgres and joining the sink group')
      else if (!runner.ready) reasons.push('waiting for a partition assignment, or for Postgres to answer again')
      return { live: fatal === undefined, ready: reasons.length === 0, reasons }
    },
    onFatal(listener) {
      fatalListeners.push(listener)
    },
  }
}
