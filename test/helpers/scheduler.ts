/**
 * Real-broker helpers for scheduler suites: TaskDefinition builders, producing definitions with the Avro
 * serde to the partition that owns the taskId (Java murmur2, as the contract requires), decoding the raw value
 * bytes of `collect()` (kafka.ts), the scheduler CLI as a child process, and deleting every topic of a topic
 * prefix.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Admin, Producer } from '@platformatic/kafka'
import { onTestFailed } from 'vitest'
import { AvroSerde } from '../../schemas/avro-serde.ts'
import { deadLetterSchema, type DeadLetter } from '../../schemas/dead-letter.ts'
import { occurrenceSchema, type Occurrence } from '../../schemas/occurrence.ts'
import { RegistryClient } from '../../schemas/registry-client.ts'
import { taskDefinitionSchema, type ScheduleSpec, type TaskDefinition } from '../../schemas/task-definition.ts'
import { buildTaskDefinition, emptySchedule } from '../../schemas/task-definition-builder.ts'
import { taskExecutionSchema, type TaskExecution } from '../../schemas/task-execution.ts'
import { schedulerApplicationId, type TopicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import type { Serde } from '../../topology/api.ts'
import { type CollectedRecord, waitFor } from './kafka.ts'

/** A valid definition (category http, no retry, no jitter) with the given schedule fields; now = createdAtMs. */
export function taskDefinition(
  taskId: string,
  schedule: Partial<ScheduleSpec>,
  overrides: Partial<TaskDefinition> = {},
): TaskDefinition {
  return buildTaskDefinition({
    taskId,
    name: taskId,
    category: 'http',
    type: 'HealthCheck',
    createdAtMs: overrides.createdAtMs ?? Date.now(),
    ...overrides,
    schedule: overrides.schedule ?? { ...emptySchedule, ...schedule },
  })
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

/** Decodes the non-null values (`raw` bytes) of `records` on `topic` with `serde`, in order. */
export async function decodeAll<T>(
  serde: Pick<Serde<T>, 'deserialize'>,
  records: readonly CollectedRecord[],
  topic: string,
): Promise<T[]> {
  const out: T[] = []
  for (const r of records) if (r.topic === topic && r.raw !== undefined) out.push(await serde.deserialize(r.raw))
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
