/**
 * One flextask benchmark run on the shared local broker: its own topics (unique prefix `bench-<id>`, 3
 * partitions, category `internal`), registry subjects, consumer groups and state directories, all removed by
 * `closeRun`, also after a failure. The scheduler runs in a child process (scheduler-process.ts) so that its
 * resident memory is measured alone; the bench process produces definitions and observes executions.
 * Exactly-once is on: the runtime always commits fires, state and offsets in one Kafka transaction.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  FetchIsolationLevels,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type Admin,
  type Message,
  type Producer,
} from '@platformatic/kafka'
import avro from 'avsc'
import { resolveConfig } from '../../config.ts'
import { createProcessDeps, type ProcessDeps } from '../../host/flextask-process.ts'
import { silentLogger } from '../../logger.ts'
import { createMetrics } from '../../metrics.ts'
import { ensureSchedulerTopics } from '../../scheduler/scheduler-topics.ts'
import { buildTaskDefinition } from '../../schemas/task-definition-builder.ts'
import type { TaskDefinition } from '../../schemas/task-definition.ts'
import { taskExecutionSchema, type TaskExecution } from '../../schemas/task-execution.ts'
import { schedulerApplicationId, topicNames, type TopicNames } from '../../topics.ts'
import { kafkaBrokers, schemaRegistryUrl } from '../../test/helpers/env.ts'
import {
  benchEnvironment,
  caughtUp,
  committedOffsets,
  deleteRunTopics,
  deleteSubjects,
  endOffsets,
  produceDefinitions,
} from './kafka-bench.ts'
import type { CycleTrace } from './cycle-trace.ts'
import type { ProcessMemory, SchedulerProcessMessage, SchedulerProcessSettings } from './scheduler-process.ts'

export const PARTITIONS = 3
export const CATEGORY = 'internal'
export const TASK_TYPE = 'noop'
const POLL_MS = 100
const CHILD_CLOSE_TIMEOUT_MS = 60_000

export interface FlextaskRun {
  prefix: string
  applicationId: string
  topics: TopicNames
  deps: ProcessDeps
  admin: Admin
  producer: Producer
  stateDirs: string[]
  groups: string[]
  children: SchedulerChild[]
}

export async function openRun(tag: string): Promise<FlextaskRun> {
  const prefix = `bench-${tag}-${randomUUID().slice(0, 8)}`
  const config = resolveConfig(
    benchEnvironment({ prefix, partitions: PARTITIONS, category: CATEGORY, instanceId: `${prefix}-bench` }),
    { worker: { concurrency: 64, maxQueuedExecutions: 5000 } },
  )
  const deps = createProcessDeps(config, { logger: silentLogger, metrics: createMetrics() })
  const applicationId = schedulerApplicationId(prefix)
  const run: FlextaskRun = {
    prefix,
    applicationId,
    topics: topicNames(prefix),
    deps,
    admin: deps.kafka.admin(`${prefix}-admin`),
    producer: deps.kafka.producer({ clientId: `${prefix}-producer` }),
    stateDirs: [],
    groups: [applicationId],
    children: [],
  }
  await ensureSchedulerTopics(run.admin, run.topics, [CATEGORY], PARTITIONS)
  await deps.serdes.init()
  return run
}

export async function closeRun(run: FlextaskRun): Promise<void> {
  await Promise.all(run.children.map((c) => c.close().catch(() => 0)))
  await run.producer.close().catch(() => {})
  await deleteRunTopics(run.admin, run).catch((error: unknown) =>
    console.error(`warning: could not delete the topics of ${run.prefix}: ${String(error)}`),
  )
  await run.admin.close().catch(() => {})
  await deleteSubjects(schemaRegistryUrl, run.prefix)
  for (const dir of run.stateDirs) rmSync(dir, { recursive: true, force: true })
}

/** A ONE_SHOT definition of the no-op internal task `taskId`, due at `atMs`. */
export function oneShot(taskId: string, atMs: number, createdAtMs: number): TaskDefinition {
  return buildTaskDefinition({
    taskId,
    category: CATEGORY,
    type: TASK_TYPE,
    createdAtMs,
    schedule: { kind: 'ONE_SHOT', atMs },
  })
}

/** Produces `count` definitions built by `build(i)` to the run's definitions topic; returns the bytes sent. */
export function produce(run: FlextaskRun, count: number, build: (i: number) => TaskDefinition): Promise<number> {
  const target = { topic: run.topics.definitions, partitions: PARTITIONS }
  return produceDefinitions(run.producer, run.deps.serdes, target, count, build)
}

/** Resolves (epoch ms) once the scheduler group committed every definition produced so far. */
export async function ingested(run: FlextaskRun, child: SchedulerChild, deadlineMs: number): Promise<number> {
  const ends = await endOffsets(run.deps.kafka, run.topics.definitions)
  for (;;) {
    child.throwIfFailed()
    const committed = await committedOffsets(run.admin, run.applicationId, run.topics.definitions, PARTITIONS)
    if (caughtUp(committed, ends)) return Date.now()
    if (Date.now() > deadlineMs) {
      throw new Error(`ingestion not done in time: committed ${committed.join(',')} of ${ends.join(',')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

/** The scheduler child process, as seen from the bench. */
export class SchedulerChild {
  readonly startedMs = Date.now()
  readonly serving: Promise<number>
  rssBytes = 0
  peakRssBytes = 0
  /** Resident memory backed by no file (heap, malloc, buffers), and by mapped files (LevelDB tables). */
  rssAnonBytes = 0
  peakRssAnonBytes = 0
  rssFileBytes = 0
  restoredRecords = 0
  restoredPartitions = 0
  /** The scheduler's committed cycles, when started with `trace` (cycle-trace.ts). */
  readonly cycles: CycleTrace[] = []
  /** `partition/store` → records applied so far by a restore in progress (or done). */
  readonly restoring = new Map<string, number>()
  /** `partition/store` → fetches its restore asked again after a retriable failure. */
  readonly retriedFetches = new Map<string, number>()
  #failure: Error | undefined
  readonly #child: ChildProcess
  #closing: Promise<number> | undefined

  constructor(settings: SchedulerProcessSettings, onRestored: (line: string) => void) {
    this.#child = fork(new URL('./scheduler-process.ts', import.meta.url), [], {
      env: { ...process.env, BENCH_SCHEDULER: JSON.stringify(settings) },
      execArgv: [...process.execArgv, '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.serving = new Promise((resolve, reject) => {
      this.#child.on('message', (m: SchedulerProcessMessage) => {
        if (m.type === 'serving') {
          this.rssBytes = m.rssBytes
          resolve(Date.now())
        } else if (m.type === 'rss') {
          this.rssBytes = m.rssBytes
          this.peakRssBytes = m.peakRssBytes
          this.rssAnonBytes = m.rssAnonBytes
          this.peakRssAnonBytes = m.peakRssAnonBytes
          this.rssFileBytes = m.rssFileBytes
        } else if (m.type === 'restoring') {
          this.restoring.set(`${m.partition}/${m.store}`, m.records)
          this.retriedFetches.set(`${m.partition}/${m.store}`, m.retriedFetches)
        } else if (m.type === 'taskFailed') {
          onRestored(`partition ${m.partition}: task open failed, retried: ${m.code}: ${m.message}`)
        } else if (m.type === 'restored') {
          this.restoredRecords += m.records
          this.restoredPartitions++
          onRestored(
            `partition ${m.partition} restored: ${m.records} records in ${Math.round(m.durationMs)} ms ` +
              `(${this.restoredPartitions} of ${PARTITIONS} partitions, ${this.restoredRecords} records)`,
          )
        } else if (m.type === 'cycle') {
          const { type: _, ...cycle } = m
          this.cycles.push(cycle)
        } else if (m.type === 'fatal') {
          this.#failure ??= new Error(`scheduler process: ${m.message}`)
          reject(this.#failure)
        }
      })
      this.#child.on('exit', (code) => {
        this.#failure ??= new Error(`scheduler process exited with code ${code}`)
        reject(this.#failure)
      })
    })
    this.serving.catch(() => {})
  }

  /** The child's memory after a full GC: RSS (anonymous, file-backed), V8 heap, external (Buffers outside it). */
  measure(): Promise<ProcessMemory> {
    return new Promise((resolve) => {
      const onMessage = (m: SchedulerProcessMessage): void => {
        if (m.type !== 'memory') return
        this.#child.off('message', onMessage)
        const { type: _type, ...memory } = m
        resolve(memory)
      }
      this.#child.on('message', onMessage)
      this.#child.send({ type: 'measure' })
    })
  }

  throwIfFailed(): void {
    if (this.#failure !== undefined && this.#closing === undefined) throw this.#failure
  }

  /** Closes the scheduler (clean close, then SIGKILL after a minute); resolves with its peak RSS. */
  close(): Promise<number> {
    this.#closing ??= new Promise<number>((resolve) => {
      if (this.#child.exitCode !== null || !this.#child.connected) {
        resolve(this.peakRssBytes)
        return
      }
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), CHILD_CLOSE_TIMEOUT_MS)
      this.#child.on('message', (m: SchedulerProcessMessage) => {
        if (m.type !== 'closed') return
        this.peakRssBytes = Math.max(this.peakRssBytes, m.peakRssBytes)
        this.peakRssAnonBytes = Math.max(this.peakRssAnonBytes, m.peakRssAnonBytes)
      })
      this.#child.once('exit', () => {
        clearTimeout(timer)
        resolve(this.peakRssBytes)
      })
      this.#child.send({ type: 'close' })
    })
    return this.#closing
  }
}

/** Starts a scheduler process on a fresh state directory; `trace`: it reports its cycles (cycle-trace.ts). */
export function forkScheduler(
  run: FlextaskRun,
  progress: (line: string) => void,
  options: { trace?: boolean; startTimeoutMs?: number } = {},
): SchedulerChild {
  const stateDir = mkdtempSync(join(tmpdir(), 'flextask-bench-'))
  run.stateDirs.push(stateDir)
  const child = new SchedulerChild(
    {
      brokers: kafkaBrokers,
      registryUrl: schemaRegistryUrl,
      prefix: run.prefix,
      partitions: PARTITIONS,
      category: CATEGORY,
      stateDir,
      instanceId: `${run.prefix}-${run.children.length}`,
      trace: options.trace ?? false,
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    },
    progress,
  )
  run.children.push(child)
  return child
}

/**
 * Observes the run's committed executions with a read_committed consumer of its own (from the earliest offset),
 * handing each decoded execution and the instant it was received to `onExecution`; resolves with its close
 * function once subscribed.
 */
export async function observeExecutions(
  run: FlextaskRun,
  onExecution: (execution: TaskExecution, receivedMs: number) => void,
): Promise<() => Promise<void>> {
  const type = avro.Type.forSchema(taskExecutionSchema)
  const groupId = `${run.prefix}-observer`
  run.groups.push(groupId)
  const consumer = run.deps.kafka.consumer({
    clientId: groupId,
    groupId,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 50,
  })
  const stream = await consumer.consume({
    topics: [run.topics.executions(CATEGORY)],
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
  })
  stream.on('data', (message: Message) => {
    const receivedMs = Date.now()
    const bytes = message.value as Buffer | null
    if (bytes === null || bytes.length < 5) return
    onExecution(type.fromBuffer(bytes.subarray(5)) as TaskExecution, receivedMs)
  })
  return async () => {
    await stream.close().catch(() => {})
    await consumer.close(true).catch(() => {})
  }
}
