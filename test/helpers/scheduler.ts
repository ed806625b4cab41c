/**
 * Real-broker helpers for scheduler suites: TaskDefinition builders, producing definitions with the Avro
 * serde to the partition that owns the taskId (Java murmur2, as the contract requires), a read_committed
 * collector that keeps the raw bytes (Avro values are binary), decoding, the scheduler CLI as a child
 * process, and deleting every topic of a topic prefix.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  type Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type Producer,
} from '@platformatic/kafka'
import { onTestFailed } from 'vitest'
import { AvroSerde } from '../../schemas/avro-serde.ts'
import { deadLetterSchema, type DeadLetter } from '../../schemas/dead-letter.ts'
import { occurrenceSchema, type Occurrence } from '../../schemas/occurrence.ts'
import { RegistryClient } from '../../schemas/registry-client.ts'
import { taskDefinitionSchema, type ScheduleSpec, type TaskDefinition } from '../../schemas/task-definition.ts'
import { taskExecutionSchema, type TaskExecution } from '../../schemas/task-execution.ts'
import { schedulerApplicationId, type TopicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import type { Serde } from '../../topology/api.ts'
import { kafkaBrokers, uniqueName, waitFor } from './kafka.ts'

const noSchedule: ScheduleSpec = {
  kind: 'ONE_SHOT',
  cron: null,
  timezone: 'UTC',
  everyMs: null,
  atMs: null,
  delayMs: null,
  startAtMs: null,
  endAtMs: null,
  phaseMs: 0,
  maxRuns: null,
}

/** A valid definition (category http, no retry, no jitter) with the given schedule fields; now = createdAtMs. */
export function taskDefinition(
  taskId: string,
  schedule: Partial<ScheduleSpec>,
  overrides: Partial<TaskDefinition> = {},
): TaskDefinition {
  const createdAtMs = overrides.createdAtMs ?? Date.now()
  return {
    taskId,
    name: taskId,
    category: 'http',
    type: 'HealthCheck',
    payload: '{}',
    schedule: { ...noSchedule, ...schedule },
    priority: 0,
    misfirePolicy: 'FIRE_LAST',
    maxLatenessMs: null,
    overlapPolicy: 'ALLOW_ALL',
    jitterMs: 0,
    timeoutMs: null,
    retry: { maxAttempts: 1, backoffBaseMs: 1000, backoffFactor: 2, backoffMaxMs: 300_000, jitterRatio: 0 },
    paused: false,
    labels: {},
    tenant: null,
    createdAtMs,
    updatedAtMs: createdAtMs,
    version: 1,
    ...overrides,
  }
}

/** The serdes a test needs on a topic prefix, with the subjects the scheduler uses (TopicNameStrategy). */
export interface TestSerdes {
  definition: AvroSerde<TaskDefinition>
  execution: AvroSerde<TaskExecution>
  occurrence: AvroSerde<Occurrence>
  deadLetter: AvroSerde<DeadLetter>
}

/** Creates and registers the serdes; idempotent with the scheduler's own registration of the same schemas. */
export async function testSerdes(registryUrl: string, topics: TopicNames): Promise<TestSerdes> {
  const registry = new RegistryClient(registryUrl)
  const serdes: TestSerdes = {
    definition: new AvroSerde(`${topics.definitions}-value`, taskDefinitionSchema, registry),
    execution: new AvroSerde(`${topics.executions('*').replace('.*', '')}-value`, taskExecutionSchema, registry),
    occurrence: new AvroSerde(`${topics.occurrences}-value`, occurrenceSchema, registry),
    deadLetter: new AvroSerde(`${topics.deadLetter}-value`, deadLetterSchema, registry),
  }
  for (const serde of Object.values(serdes) as AvroSerde<unknown>[]) await serde.init()
  return serdes
}

/**
 * Produces definitions keyed by taskId, each to partitionForKey(taskId, partitions), in batches of `batchSize`
 * (acks from all in-sync replicas before the next batch).
 */
export async function produceDefinitions(
  producer: Producer,
  serde: AvroSerde<TaskDefinition>,
  topic: string,
  definitions: readonly TaskDefinition[],
  partitions: number,
  batchSize = 1000,
): Promise<void> {
  for (let i = 0; i < definitions.length; i += batchSize) {
    const messages = definitions.slice(i, i + batchSize).map((d) => ({
      topic,
      partition: partitionForKey(d.taskId, partitions),
      key: Buffer.from(d.taskId, 'utf8'),
      value: serde.serialize(d),
    }))
    await producer.send({ messages })
  }
}

export interface BytesRecord {
  topic: string
  partition: number
  offset: bigint
  key: string | undefined
  value: Buffer | undefined
}

/**
 * Reads topics from the beginning with a read_committed consumer of a unique group, keeping each value's bytes,
 * until `close()`. (`collect()` of kafka.ts turns values into strings, which breaks Avro bodies.)
 */
export async function collectBytes(topics: string[]): Promise<{ records: BytesRecord[]; close: () => Promise<void> }> {
  const consumer = new Consumer({
    clientId: uniqueName('bytes-collector'),
    groupId: uniqueName('bytes-collector-group'),
    bootstrapBrokers: kafkaBrokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 200,
  })
  const stream = await consumer.consume({
    topics,
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
  })
  const records: BytesRecord[] = []
  stream.on('data', (m: Message) => {
    records.push({
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      key: m.key?.toString('utf8'),
      value: m.value === null || m.value === undefined || m.value.length === 0 ? undefined : m.value,
    })
  })
  return {
    records,
    close: async () => {
      await stream.close().catch(() => {})
      await consumer.close(true).catch(() => {})
    },
  }
}

/** Decodes the non-null values of `records` on `topic` with `serde`, in order. */
export async function decodeAll<T>(
  serde: Pick<Serde<T>, 'deserialize'>,
  records: readonly BytesRecord[],
  topic: string,
): Promise<T[]> {
  const out: T[] = []
  for (const r of records) if (r.topic === topic && r.value !== undefined) out.push(await serde.deserialize(r.value))
  return out
}

/**
 * Deletes every topic of the prefix: `<prefix>.*` (the contract topics) and the scheduler's changelogs
 * `<prefix>-scheduler-*-changelog`.
 */
export async function deletePrefixTopics(admin: Admin, prefix: string): Promise<void> {
  const changelogPrefix = `${schedulerApplicationId(prefix)}-`
  const topics = (await admin.listTopics()).filter(
    (t) => t.startsWith(`${prefix}.`) || (t.startsWith(changelogPrefix) && t.endsWith('-changelog')),
  )
  if (topics.length > 0) await admin.deleteTopics({ topics })
}

const cli = fileURLToPath(new URL('../../cli/flextask.ts', import.meta.url))

export interface SchedulerChild {
  child: ChildProcess
  /** stdout and stderr lines, in arrival order. */
  lines: string[]
  /** Resolves once the CLI printed that the scheduler is running (topics ensured, group joined). */
  running: () => Promise<void>
  exited: () => boolean
}

/**
 * Starts `node cli/flextask.ts scheduler` with `env` on top of this process's environment. Its output is printed
 * when the current test fails. Kill it (or leave that to the caller's afterAll).
 */
export function spawnScheduler(name: string, env: Record<string, string>): SchedulerChild {
  const child = spawn(process.execPath, [cli, 'scheduler'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  onTestFailed(() => console.log(`scheduler ${name} (pid ${child.pid}):\n  ${lines.join('\n  ')}`))
  const onData = (chunk: Buffer): void => {
    lines.push(...chunk.toString().split('\n').filter(Boolean))
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null
  return {
    child,
    lines,
    exited,
    running: async () => {
      await waitFor(
        `scheduler ${name} to print that it is running`,
        () => {
          if (exited()) throw new Error(`scheduler ${name} exited early:\n${lines.join('\n')}`)
          return lines.some((l) => l.startsWith('flextask: scheduler running')) ? true : undefined
        },
        60_000,
      )
    },
  }
}

/** SIGKILLs the child (if still alive) and resolves once it has exited. */
export async function killHard(scheduler: SchedulerChild): Promise<void> {
  if (scheduler.exited()) return
  const exit = new Promise<void>((resolve) => scheduler.child.once('exit', () => resolve()))
  scheduler.child.kill('SIGKILL')
  await exit
}
