/**
 * Worker benchmark on the local broker. Not a test: it prints figures. Two parts, each on fresh topics (unique
 * prefix, 3 partitions, category `internal`), deleted at the end:
 *
 * 1. Throughput: N TaskExecution records (no-op handler `internal/noop`, no deadline) are produced straight to
 *    `<prefix>.executions.internal` before one worker starts (concurrency 64). Figure: N / (time from the worker's
 *    start() resolving to its N-th terminal result acknowledged by Kafka) = no-op executions per second of one
 *    worker process, results (STARTED + SUCCEEDED per execution) and offset commits included.
 * 2. Latency at a steady rate: the real scheduler plus one worker; RATE INTERVAL tasks every 1 s with phases
 *    spread over the second (RATE fires/s). For DURATION seconds after a warm-up, each handler start is stamped;
 *    latency = handler start − dueAtMs, i.e. the scheduler's fire lateness + its transaction commit + the worker's
 *    read_committed fetch + dispatch. Figures: p50 / p99 / max and the count.
 *
 * Usage: node bench/workers.ts [--executions 20000] [--rate 1000] [--seconds 20] [--warmup-seconds 5]
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { resolveConfig } from '../config.ts'
import { createProcessDeps, type ProcessDeps } from '../host/flextask-process.ts'
import { silentLogger } from '../logger.ts'
import { createMetrics } from '../metrics.ts'
import { createScheduler } from '../scheduler/scheduler.ts'
import { ensureSchedulerTopics } from '../scheduler/scheduler-topics.ts'
import { buildTaskDefinition } from '../schemas/task-definition-builder.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import { schedulerApplicationId, topicNames } from '../topics.ts'
import { partitionForKey } from '../topology/partitioner.ts'
import { HandlerRegistry } from '../workers/handler.ts'
import { createWorker } from '../workers/worker.ts'
import { kafkaBrokers, schemaRegistryUrl } from '../test/helpers/env.ts'
import { benchArgs, integerArg } from './lib/args.ts'

const values = benchArgs(
  {
    executions: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    'warmup-seconds': { type: 'string', default: '5' },
  },
  'Usage: node bench/workers.ts [--executions 20000] [--rate 1000] [--seconds 20] [--warmup-seconds 5]',
)
const N = integerArg('executions', values.executions, 1)
const RATE = integerArg('rate', values.rate, 1)
const SECONDS = integerArg('seconds', values.seconds, 1)
const WARMUP = integerArg('warmup-seconds', values['warmup-seconds'], 0)
const PARTITIONS = 3

function setup(tag: string): { deps: ProcessDeps; prefix: string; stateDir: string } {
  const prefix = `bench-wk-${tag}-${randomUUID().slice(0, 8)}`
  const stateDir = mkdtempSync(join(tmpdir(), 'bench-wk-'))
  const config = resolveConfig(
    {
      KAFKA_BROKERS: kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: schemaRegistryUrl,
      FLEXTASK_TOPIC_PREFIX: prefix,
      FLEXTASK_PARTITIONS: String(PARTITIONS),
      FLEXTASK_CATEGORIES: 'internal',
      FLEXTASK_STATE_DIR: stateDir,
      FLEXTASK_INSTANCE_ID: `bench-${randomUUID().slice(0, 6)}`,
    },
    { worker: { concurrency: 64, maxQueuedExecutions: 5000 } },
  )
  return { deps: createProcessDeps(config, { logger: silentLogger, metrics: createMetrics() }), prefix, stateDir }
}

async function cleanup(deps: ProcessDeps, prefix: string, stateDir: string): Promise<void> {
  const admin = deps.kafka.admin('bench-wk-cleanup')
  try {
    const changelogs = `${schedulerApplicationId(prefix)}-`
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`) || t.startsWith(changelogs))
    if (topics.length > 0) await admin.deleteTopics({ topics })
  } finally {
    await admin.close()
  }
  rmSync(stateDir, { recursive: true, force: true })
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

async function throughput(): Promise<void> {
  const { deps, prefix, stateDir } = setup('tp')
  try {
    const admin = deps.kafka.admin('bench-wk-topics')
    const names = topicNames(prefix)
    await ensureSchedulerTopics(admin, names, ['internal'], PARTITIONS)
    await admin.close()
    await deps.serdes.init()
    const producer = deps.kafka.producer({ clientId: 'bench-wk-producer' })
    const now = Date.now()
    for (let i = 0; i < N; i += 5000) {
      const messages = []
      for (let j = i; j < Math.min(N, i + 5000); j++) {
        const execution: TaskExecution = {
          executionId: `noop-${j}:${now}`,
          taskId: `noop-${j}`,
          attempt: 1,
          scheduledForMs: now,
          dueAtMs: now,
          firedAtMs: now,
          deadlineAtMs: null,
          priority: 0,
          category: 'internal',
          type: 'noop',
          payload: '{}',
          trigger: 'SCHEDULE',
          definitionVersion: 1,
          labels: {},
          tenant: null,
        }
        messages.push({
          topic: names.executions('internal'),
          partition: partitionForKey(execution.taskId, PARTITIONS),
          key: Buffer.from(execution.taskId),
          value: deps.serdes.execution.serialize(execution),
        })
      }
      await producer.send({ messages })
    }
    await producer.close()
    const handlers = new HandlerRegistry().registerInternal('noop', () => null)
    const worker = createWorker({ ...deps, handlers })
    let done = 0
    let resolveDone: () => void = () => undefined
    const allDone = new Promise<void>((resolve) => (resolveDone = resolve))
    await worker.start()
    const t0 = performance.now()
    worker.runtime!.on('result', () => {
      if (++done === N) resolveDone()
    })
    await allDone
    const seconds = (performance.now() - t0) / 1000
    console.log(
      `throughput: ${N} no-op executions in ${seconds.toFixed(2)} s = ${Math.round(N / seconds).toLocaleString('en')} executions/s ` +
        `(one worker process, concurrency 64, ${worker.runtime!.stats.commits} offset commits)`,
    )
    await worker.close()
  } finally {
    await cleanup(deps, prefix, stateDir)
  }
}

async function latency(): Promise<void> {
  const { deps, prefix, stateDir } = setup('lat')
  const scheduler = createScheduler(deps)
  const handlers = new HandlerRegistry().registerInternal('noop', () => null)
  const worker = createWorker({ ...deps, handlers })
  try {
    await scheduler.start()
    await worker.start()
    const samples: number[] = []
    const fired: number[] = []
    const startAt = Math.ceil((Date.now() + 5000) / 1000) * 1000
    const measureFrom = startAt + WARMUP * 1000
    const measureUntil = measureFrom + SECONDS * 1000
    worker.runtime!.on('started', (execution: TaskExecution, startedAtMs: number) => {
      if (execution.dueAtMs >= measureFrom && execution.dueAtMs < measureUntil) {
        samples.push(startedAtMs - execution.dueAtMs)
        fired.push(execution.firedAtMs - execution.dueAtMs)
      }
    })
    const producer = deps.kafka.producer({ clientId: 'bench-wk-defs' })
    const defs = Array.from({ length: RATE }, (_, i) =>
      buildTaskDefinition({
        taskId: `tick-${i}`,
        category: 'internal',
        type: 'noop',
        createdAtMs: Date.now(),
        schedule: { kind: 'INTERVAL', everyMs: 1000, startAtMs: startAt, phaseMs: Math.floor((i * 1000) / RATE) },
      }),
    )
    await producer.send({
      messages: defs.map((d) => ({
        topic: scheduler.topics.definitions,
        partition: partitionForKey(d.taskId, PARTITIONS),
        key: Buffer.from(d.taskId),
        value: deps.serdes.definition.serialize(d),
      })),
    })
    await producer.close()
    await sleep(measureUntil - Date.now() + 3000)
    samples.sort((a, b) => a - b)
    fired.sort((a, b) => a - b)
    const expected = RATE * SECONDS
    console.log(
      `latency due → handler start at ${RATE} fires/s over ${SECONDS} s (after ${WARMUP} s warm-up): ` +
        `p50 ${percentile(samples, 50)} ms, p99 ${percentile(samples, 99)} ms, max ${samples.at(-1)} ms ` +
        `(${samples.length} of ${expected} expected starts seen); of which the scheduler's fire lateness ` +
        `(firedAtMs − dueAtMs): p50 ${percentile(fired, 50)} ms, p99 ${percentile(fired, 99)} ms, max ${fired.at(-1)} ms`,
    )
  } finally {
    await worker.close().catch(() => undefined)
    await scheduler.close().catch(() => undefined)
    await cleanup(deps, prefix, stateDir)
  }
}

console.log(`bench/workers.ts on ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`)
await throughput()
await latency()
process.exit(0)
