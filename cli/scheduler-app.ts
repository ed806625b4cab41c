/**
 * Composition root of the scheduler: creates the topics (refusing to start when co-partitioned topics
 * disagree), registers the Avro schemas, builds the scheduler topology and runs it on the stream runtime.
 * Nothing imports this module but the CLI, the demo, tests and benchmarks.
 */
import { join } from 'node:path'
import { Admin } from '@platformatic/kafka'
import type { FlextaskConfig } from '../config.ts'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import { buildSchedulerTopology, type SchedulerSerdes } from '../processors/scheduler-topology.ts'
import type { SchedulerConfig } from '../processors/task-state.ts'
import { AvroSerde } from '../schemas/avro-serde.ts'
import { deadLetterSchema } from '../schemas/dead-letter.ts'
import { occurrenceSchema } from '../schemas/occurrence.ts'
import { RegistryClient } from '../schemas/registry-client.ts'
import { taskCommandSchema } from '../schemas/task-command.ts'
import { taskDefinitionSchema } from '../schemas/task-definition.ts'
import { taskExecutionSchema } from '../schemas/task-execution.ts'
import { taskResultSchema } from '../schemas/task-result.ts'
import { schedulerApplicationId, topicNames, type TopicNames } from '../topics.ts'
import type { Clock } from '../topology/api.ts'
import { kafkaErrorIds } from '../topology/kafka-errors.ts'
import { StreamRuntime, type StreamRuntimeOptions } from '../topology/stream-runtime.ts'

export interface SchedulerApp {
  runtime: StreamRuntime
  serdes: SchedulerSerdes
  topics: TopicNames
  close(): Promise<void>
}

/** Creates the Avro serdes of every flextask topic and registers their schemas (BACKWARD_TRANSITIVE). */
export async function createSerdes(registryUrl: string, topics: TopicNames): Promise<SchedulerSerdes> {
  const registry = new RegistryClient(registryUrl)
  const serdes: SchedulerSerdes = {
    definition: new AvroSerde(`${topics.definitions}-value`, taskDefinitionSchema, registry),
    command: new AvroSerde(`${topics.commands}-value`, taskCommandSchema, registry),
    result: new AvroSerde(`${topics.results}-value`, taskResultSchema, registry),
    // One subject for every category's executions topic: they all carry TaskExecution.
    execution: new AvroSerde(`${topics.executions('*').replace('.*', '')}-value`, taskExecutionSchema, registry),
    occurrence: new AvroSerde(`${topics.occurrences}-value`, occurrenceSchema, registry),
    deadLetter: new AvroSerde(`${topics.deadLetter}-value`, deadLetterSchema, registry),
  }
  for (const serde of Object.values(serdes) as AvroSerde<unknown>[]) await serde.init()
  return serdes
}

/**
 * Creates missing topics with `partitions` partitions and checks the partition counts of existing ones:
 * definitions, commands and results must be co-partitioned, and the scheduler's output topics (which it
 * writes to the task's own partition) must have the same count.
 */
export async function ensureTopics(
  brokers: string[],
  topics: TopicNames,
  categories: string[],
  partitions: number,
): Promise<number> {
  const admin = new Admin({ clientId: 'flextask-topics', bootstrapBrokers: brokers })
  try {
    const compacted = [topics.definitions]
    const deleting = [
      topics.commands,
      topics.results,
      topics.occurrences,
      topics.deadLetter,
      ...categories.map(topics.executions),
    ]
    const existing = new Set(await admin.listTopics())
    await create(
      admin,
      compacted.filter((t) => !existing.has(t)),
      partitions,
      [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'min.compaction.lag.ms', value: '0' },
      ],
    )
    await create(
      admin,
      deleting.filter((t) => !existing.has(t)),
      partitions,
      [{ name: 'retention.ms', value: String(7 * 86_400_000) }],
    )
    const metadata = await admin.metadata({ topics: [...compacted, ...deleting] })
    const counts = [...compacted, ...deleting].map((t) => [t, metadata.topics.get(t)?.partitionsCount] as const)
    const expected = counts[0]?.[1]
    const wrong = counts.filter(([, count]) => count !== expected)
    if (wrong.length > 0) {
      throw new FlextaskError(
        ErrorCodes.topicsMismatch,
        `refusing to start: ${topics.definitions} has ${expected} partitions but ` +
          wrong.map(([t, c]) => `${t} has ${c ?? 'none'}`).join(', ') +
          '. Definitions, commands, results and the scheduler output topics must have equal partition counts.',
      )
    }
    return expected ?? partitions
  } finally {
    await admin.close()
  }
}

async function create(
  admin: Admin,
  names: string[],
  partitions: number,
  configs: { name: string; value: string }[],
): Promise<void> {
  if (names.length === 0) return
  await admin.createTopics({ topics: names, partitions, replicas: -1, configs }).catch((error: unknown) => {
    const ids = kafkaErrorIds(error)
    if (ids.size === 0 || [...ids].some((id) => id !== 'TOPIC_ALREADY_EXISTS')) throw error
  })
}

export async function startScheduler(
  config: FlextaskConfig,
  options: {
    clock?: Clock
    scheduler?: Partial<SchedulerConfig>
    commitIntervalMs?: number
    /** Runtime settings beyond the config (timeouts, observer); see StreamRuntimeOptions. */
    runtime?: Partial<Omit<StreamRuntimeOptions, 'applicationId' | 'bootstrapBrokers' | 'stateDir'>>
  } = {},
): Promise<SchedulerApp> {
  const topics = topicNames(config.topicPrefix)
  await ensureTopics(config.kafkaBrokers, topics, config.categories, config.partitions)
  const serdes = await createSerdes(config.schemaRegistryUrl, topics)
  const topology = buildSchedulerTopology({
    topics,
    serdes,
    config: { ...options.scheduler, categories: config.categories },
  })
  const runtime = new StreamRuntime(topology, {
    applicationId: schedulerApplicationId(config.topicPrefix),
    bootstrapBrokers: config.kafkaBrokers,
    stateDir: join(config.stateDir, 'scheduler'),
    instanceId: config.instanceId,
    outageGiveUpMs: config.outageGiveUpMs,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.commitIntervalMs !== undefined ? { commitIntervalMs: options.commitIntervalMs } : {}),
    ...options.runtime,
  })
  // A start that fails (topics, a fatal error) must not leave the runtime's clients open.
  await runtime.start().catch(async (error: unknown) => {
    await runtime.close()
    throw error
  })
  return { runtime, serdes, topics, close: () => runtime.close() }
}
