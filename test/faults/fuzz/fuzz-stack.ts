/**
 * The system under fuzz: a real scheduler and a real worker (components in this process, as the CLI wires them)
 * on a fresh topic prefix of the shared broker, with input topics that accept 4 MB records (so a 2 MB record
 * reaches the scheduler instead of being refused by the broker), a plain producer for the fuzz input, and one
 * independent read_committed reader of every input and output topic. The executions topics use LogAppendTime. Everything is closed and the prefix's topics
 * deleted when the file ends.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import type { Scheduler } from '../../../scheduler/scheduler.ts'
import type { TopicNames } from '../../../topics.ts'
import { topicNames } from '../../../topics.ts'
import { HandlerRegistry } from '../../../workers/handler.ts'
import { createWorker, type Worker } from '../../../workers/worker.ts'
import { collect, testAdmin, testProducer, uniqueName, type CollectedRecord } from '../../helpers/kafka.ts'
import { deletePrefixTopics, testProcessDeps, testScheduler } from '../../helpers/scheduler.ts'

export interface FuzzStack {
  topics: TopicNames
  partitions: number
  scheduler: Scheduler
  worker: Worker
  producer: ReturnType<typeof testProducer>
  /** Every record of the inputs, executions and dead letters so far (read_committed, from the beginning). */
  records: CollectedRecord[]
}

const maxInputBytes = 4 * 1024 * 1024

export async function fuzzStack(prefixName: string, partitions: number): Promise<FuzzStack> {
  const prefix = uniqueName(prefixName)
  const topics = topicNames(prefix)
  const stateDir = mkdtempSync(join(tmpdir(), `${prefixName}-`))
  const { admin } = testAdmin()
  const producer = testProducer()
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
    rmSync(stateDir, { recursive: true, force: true })
  })
  cleanups.push(() => deletePrefixTopics(admin, prefix))
  const inputs = [topics.definitions, topics.commands, topics.results]
  for (const topic of inputs) {
    const policy = topic === topics.definitions ? 'compact' : 'delete'
    await admin.createTopics({
      topics: [topic],
      partitions,
      replicas: 1,
      configs: [
        { name: 'cleanup.policy', value: policy },
        { name: 'max.message.bytes', value: String(maxInputBytes) },
      ],
    })
  }
  // The broker stamps executions (LogAppendTime), so a fire's lateness is measured without the scheduler's clock.
  await admin.createTopics({
    topics: [topics.executions('internal'), topics.executions('http')],
    partitions,
    replicas: 1,
    configs: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
  })
  const env = {
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: String(partitions),
    FLEXTASK_CATEGORIES: 'http,internal',
    FLEXTASK_SESSION_TIMEOUT_MS: '6000',
  }
  const { scheduler } = testScheduler(
    { ...env, FLEXTASK_STATE_DIR: stateDir, FLEXTASK_INSTANCE_ID: uniqueName('fuzz-scheduler') },
    { overrides: { runtime: { commitIntervalMs: 50 } } },
  )
  cleanups.push(() => scheduler.close())
  await scheduler.start()
  const handlers = new HandlerRegistry().registerInternal('tick', () => Promise.resolve({ ok: true }))
  const workerDeps = testProcessDeps(
    { ...env, FLEXTASK_INSTANCE_ID: uniqueName('fuzz-worker') },
    { overrides: { worker: { categories: ['internal'], rebalanceHandoverMs: 200 } } },
  )
  const worker = createWorker({ ...workerDeps, handlers })
  cleanups.push(() => worker.close())
  await worker.start()
  const reader = await collect([...inputs, topics.executions('internal'), topics.executions('http'), topics.deadLetter])
  cleanups.push(reader.close)
  return { topics, partitions, scheduler, worker, producer, records: reader.records }
}
