/**
 * Real-broker helpers for worker suites: a scheduler (in process, as the CLI wires it) on a unique topic prefix,
 * worker runtimes on the same prefix, definitions produced to the owning partition, and the decoded results and
 * logs collected with read_committed. Everything is closed and the prefix's topics deleted when the file ends.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin, Producer } from '@platformatic/kafka'
import type { ConfigOverrides } from '../../config.ts'
import type { ProcessDeps } from '../../host/flextask-process.ts'
import type { Scheduler } from '../../scheduler/scheduler.ts'
import type { TaskDefinition } from '../../schemas/task-definition.ts'
import type { TaskLog } from '../../schemas/task-log.ts'
import type { TaskResult } from '../../schemas/task-result.ts'
import type { TopicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import type { HandlerRegistry } from '../../workers/handler.ts'
import { createWorker, type Worker, type WorkerDeps } from '../../workers/worker.ts'
import type { WorkerRuntime } from '../../workers/worker-runtime.ts'
import { onCleanup } from './cleanup.ts'
import { collect, type CollectedRecord, kafkaBrokers, uniqueName, waitFor } from './kafka.ts'
import { deletePrefixTopics, testProcessDeps, testScheduler } from './scheduler.ts'
import { schemaRegistryUrl } from './env.ts'

export interface WorkerStack {
  prefix: string
  topics: TopicNames
  scheduler: Scheduler
  deps: ProcessDeps
  /** Env for a child process (CLI / fixture) on the same prefix. */
  env: Record<string, string>
  define(definitions: TaskDefinition[]): Promise<void>
  /** A worker component with these handlers (plus the built-ins), started; `worker` config overrides on top. */
  startWorker(
    handlers: HandlerRegistry,
    worker?: ConfigOverrides['worker'],
    deps?: Partial<WorkerDeps>,
  ): Promise<{ worker: Worker; runtime: WorkerRuntime }>
  /** Every decoded result so far (read_committed, from the beginning). */
  results(): Promise<TaskResult[]>
  logs(): Promise<TaskLog[]>
  /** Waits until `predicate` holds for the results, and returns them. */
  waitForResults(what: string, predicate: (results: TaskResult[]) => boolean, timeoutMs?: number): Promise<TaskResult[]>
}

/** Starts a scheduler for `categories` on a fresh prefix; closed when the file ends (onCleanup). */
export async function workerStack(categories: string[], partitions = 3): Promise<WorkerStack> {
  const prefix = uniqueName('ft-wk')
  const stateDir = mkdtempSync(join(tmpdir(), 'ft-wk-'))
  const env = {
    KAFKA_BROKERS: kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: schemaRegistryUrl,
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: String(partitions),
    FLEXTASK_CATEGORIES: categories.join(','),
    FLEXTASK_SESSION_TIMEOUT_MS: '6000',
  }
  const { scheduler, deps } = testScheduler(
    { ...env, FLEXTASK_STATE_DIR: stateDir, FLEXTASK_INSTANCE_ID: uniqueName('sched') },
    { overrides: { runtime: { commitIntervalMs: 20 } } },
  )
  await scheduler.start()
  const topics = scheduler.topics
  const serdes = deps.serdes
  const producer = new Producer({ clientId: uniqueName('wk-producer'), bootstrapBrokers: kafkaBrokers })
  const workers: Worker[] = []
  let collector: Awaited<ReturnType<typeof collect>> | undefined

  onCleanup(async () => {
    for (const w of workers) await w.close().catch(() => undefined)
    await collector?.close()
    await producer.close().catch(() => undefined)
    await scheduler.close().catch(() => undefined)
    const admin = new Admin({ clientId: uniqueName('wk-cleanup'), bootstrapBrokers: kafkaBrokers })
    await deletePrefixTopics(admin, prefix).catch(() => undefined)
    await admin.close()
    rmSync(stateDir, { recursive: true, force: true })
  })

  async function records(): Promise<CollectedRecord[]> {
    collector ??= await collect([topics.results, topics.logs])
    return collector.records
  }
  async function decode<T>(topic: string, serde: { deserialize(b: Buffer): Promise<T> | T }): Promise<T[]> {
    const out: T[] = []
    for (const r of await records())
      if (r.topic === topic && r.raw !== undefined) out.push(await serde.deserialize(r.raw))
    return out
  }
  const results = (): Promise<TaskResult[]> => decode(topics.results, serdes.result)

  return {
    prefix,
    topics,
    scheduler,
    deps,
    env,
    async define(definitions) {
      await producer.send({
        messages: definitions.map((d) => ({
          topic: topics.definitions,
          partition: partitionForKey(d.taskId, partitions),
          key: Buffer.from(d.taskId),
          value: scheduler.serdes.definition.serialize(d),
        })),
      })
    },
    async startWorker(handlers, worker = {}, extra = {}) {
      const workerDeps = testProcessDeps(
        { ...env, FLEXTASK_INSTANCE_ID: uniqueName('worker') },
        { overrides: { worker: { ssrfAllow: ['loopback'], rebalanceHandoverMs: 200, ...worker } } },
      )
      const component = createWorker({ ...workerDeps, handlers, ...extra })
      workers.push(component)
      await component.start()
      return { worker: component, runtime: component.runtime! }
    },
    results,
    logs: () => decode(topics.logs, serdes.log),
    async waitForResults(what, predicate, timeoutMs = 60_000) {
      return waitFor(
        what,
        async () => {
          const all = await results()
          return predicate(all) ? all : undefined
        },
        timeoutMs,
      )
    },
  }
}
