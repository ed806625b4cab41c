/**
 * Real-broker input for the sink suites: the topics of a unique prefix, a workload of definitions, executions,
 * results (with redelivered duplicates, failed first attempts and retries), logs, occurrences and a few undecodable
 * records, produced with the Avro serdes to the taskId's partition; the distinct rows it must project; and a wait
 * until a sink's stored offsets reach the topics' ends.
 */
import { Admin, Consumer, FetchIsolationLevels, ListOffsetTimestamps, type Producer } from '@platformatic/kafka'
import type pg from 'pg'
import { onCleanup } from './cleanup.ts'
import { type ConfigOverrides, resolveConfig } from '../../config.ts'
import { type ConnectorDeps, sinkTopics } from '../../connectors/connector.ts'
import { createProcessDeps } from '../../host/flextask-process.ts'
import { silentLogger } from '../../logger.ts'
import { RegistryClient } from '../../schemas/registry-client.ts'
import { createSerdeRegistry, type SerdeRegistry } from '../../schemas/serde-registry.ts'
import { buildTaskDefinition, emptySchedule } from '../../schemas/task-definition-builder.ts'
import { topicNames, type TopicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { schemaRegistryUrl } from './env.ts'
import { kafkaBrokers, uniqueName, waitFor } from './kafka.ts'
import { execution, log, occurrence, result } from './sink.ts'

export interface SinkFixture {
  prefix: string
  topics: TopicNames
  categories: string[]
  partitions: number
  /** Every topic the sink reads. */
  names: string[]
  serdes: SerdeRegistry
}

/** Creates the sink's topics under a unique prefix (deleted when the file ends) and registers the serdes. */
export async function sinkFixture(partitions = 3): Promise<SinkFixture> {
  const prefix = uniqueName('ft-sink')
  const topics = topicNames(prefix)
  const categories = ['http']
  const names = [...sinkTopics(topics, categories).keys()]
  const admin = new Admin({ clientId: uniqueName('sink-admin'), bootstrapBrokers: kafkaBrokers })
  await admin.createTopics({ topics: names, partitions, replicas: 1 })
  onCleanup(async () => {
    await admin.deleteTopics({ topics: names }).catch(() => {})
    await admin.close()
  })
  const serdes = createSerdeRegistry(new RegistryClient(schemaRegistryUrl), topics)
  await serdes.init()
  return { prefix, topics, categories, partitions, names, serdes }
}

/** The configuration overrides of a sink on the fixture's topics, for `createConnector` or the child process. */
export function sinkOverrides(
  fx: SinkFixture,
  databaseUrl: string,
  options: { groupId: string; instanceId: string; sessionTimeoutMs?: number } & ConfigOverrides['sink'],
): ConfigOverrides {
  const { instanceId, sessionTimeoutMs, ...sink } = options
  return {
    topics: { prefix: fx.prefix, partitions: fx.partitions, categories: fx.categories },
    database: { url: databaseUrl },
    runtime: { instanceId, startTimeoutMs: 60_000, ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }) },
    sink: { batchSize: 250, flushIntervalMs: 50, ...sink },
  }
}

/** Connector dependencies for an in-process sink (silent logger, its own metrics registry). */
export function sinkDeps(overrides: ConfigOverrides): ConnectorDeps {
  return createProcessDeps(resolveConfig(process.env, overrides), { logger: silentLogger })
}

export interface Expected {
  runs: number
  logs: number
  occurrences: number
  tasks: number
  undecodable: number
}

interface Outgoing {
  topic: string
  partition: number
  key: Buffer
  value: Buffer
}

/**
 * One wave of work: `tasks` tasks (ids `<wave>-t<i>`) with `slots` slots each. Every slot: execution, STARTED,
 * SUCCEEDED twice (a redelivery), two log lines, a FIRED occurrence; every third slot fails its first attempt and
 * succeeds on a retry. `undecodable` garbage values go to the results topic.
 */
export function workload(
  fx: SinkFixture,
  wave: string,
  options: { tasks: number; slots: number; undecodable?: number; startMs?: number },
): { messages: Outgoing[]; expected: Expected } {
  const d = fx.serdes as unknown as Record<string, { serialize(value: unknown): Buffer }>
  const messages: Outgoing[] = []
  const send = (topic: string, taskId: string, serde: string, value: unknown): void => {
    messages.push({
      topic,
      partition: partitionForKey(taskId, fx.partitions),
      key: Buffer.from(taskId),
      value: d[serde]!.serialize(value),
    })
  }
  const start = options.startMs ?? Date.UTC(2026, 10, 30, 12)
  const expected: Expected = { runs: 0, logs: 0, occurrences: 0, tasks: options.tasks, undecodable: 0 }
  const exec = fx.topics.executions('http')
  for (let t = 0; t < options.tasks; t++) {
    const taskId = `${wave}-t${t}`
    send(fx.topics.definitions, taskId, 'definition', {
      ...buildTaskDefinition({
        taskId,
        category: 'http',
        type: 'HealthCheck',
        createdAtMs: start - 1000,
        labels: { wave },
        schedule: { ...emptySchedule, kind: 'INTERVAL', everyMs: 1000 },
      }),
    })
    for (let s = 0; s < options.slots; s++) {
      const slot = start + s * 1000
      const retried = s % 3 === 0
      send(exec, taskId, 'execution', execution(taskId, slot, 1))
      send(fx.topics.results, taskId, 'result', result(taskId, slot, 'STARTED', 1))
      if (retried) {
        send(fx.topics.results, taskId, 'result', result(taskId, slot, 'FAILED', 1))
        send(exec, taskId, 'execution', execution(taskId, slot, 2, { dueAtMs: slot + 500 }))
      }
      const last = retried ? 2 : 1
      send(fx.topics.results, taskId, 'result', result(taskId, slot, 'SUCCEEDED', last))
      send(fx.topics.results, taskId, 'result', result(taskId, slot, 'SUCCEEDED', last))
      send(fx.topics.logs, taskId, 'log', log(taskId, slot, 0, last))
      send(fx.topics.logs, taskId, 'log', log(taskId, slot, 1, last))
      send(fx.topics.occurrences, taskId, 'occurrence', occurrence(taskId, slot))
      expected.runs += last
      expected.logs += 2
      expected.occurrences += 1
    }
  }
  for (let i = 0; i < (options.undecodable ?? 0); i++) {
    const taskId = `${wave}-garbage-${i}`
    messages.push({
      topic: fx.topics.results,
      partition: partitionForKey(taskId, fx.partitions),
      key: Buffer.from(taskId),
      value: Buffer.from(`not avro ${i}`),
    })
    expected.undecodable++
  }
  return { messages, expected }
}

export async function produce(producer: Producer, messages: Outgoing[], batchSize = 500): Promise<void> {
  for (let i = 0; i < messages.length; i += batchSize)
    await producer.send({ messages: messages.slice(i, i + batchSize) })
}

export function addExpected(a: Expected, b: Expected): Expected {
  return {
    runs: a.runs + b.runs,
    logs: a.logs + b.logs,
    occurrences: a.occurrences + b.occurrences,
    tasks: a.tasks + b.tasks,
    undecodable: a.undecodable + b.undecodable,
  }
}

/** The read_committed end offset of every partition of `topics`, as topic:partition → offset. */
export async function endOffsets(topics: string[]): Promise<Map<string, bigint>> {
  const consumer = new Consumer({
    clientId: uniqueName('ends'),
    groupId: uniqueName('ends-never-joins'),
    bootstrapBrokers: kafkaBrokers,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  })
  try {
    const offsets = await consumer.listOffsets({ topics, timestamp: ListOffsetTimestamps.LATEST })
    const out = new Map<string, bigint>()
    for (const [topic, partitions] of offsets) partitions.forEach((o, p) => out.set(`${topic}:${p}`, o))
    return out
  } finally {
    await consumer.close()
  }
}

/** Whether the sink's stored offsets have reached the end of every partition of `topics`. */
export async function caughtUp(pool: pg.Pool, group: string, topics: string[]): Promise<boolean> {
  const ends = await endOffsets(topics)
  const { rows } = await pool.query<{ topic: string; partition: number; next_offset: string }>(
    'SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = $1',
    [group],
  )
  const stored = new Map(rows.map((r) => [`${r.topic}:${r.partition}`, BigInt(r.next_offset)]))
  for (const [key, end] of ends) if (end > 0n && (stored.get(key) ?? 0n) < end) return false
  return true
}

/**
 * Waits until the sink's stored offsets reach the end of every topic, measured again on every probe (the sink
 * itself adds dead letters while it catches up).
 */
export async function waitCaughtUp(pool: pg.Pool, group: string, topics: string[], timeoutMs = 120_000): Promise<void> {
  await waitFor(
    `sink ${group} to reach the end of ${topics.length} topics`,
    async () => ((await caughtUp(pool, group, topics)) ? true : undefined),
    timeoutMs,
  )
}
