/**
 * Postgres sink benchmark on the local broker and Postgres. Not a test: it prints figures. On fresh topics (unique
 * prefix, 3 partitions, category http) and a fresh database `ft_sink_bench_<id>`:
 *
 * 1. Throughput: N slots' worth of records are produced BEFORE the sink starts — per slot one TaskExecution, one
 *    TaskResult SUCCEEDED and one Occurrence FIRED (Avro, registered serdes, to the taskId's partition). Then
 *    createConnector(...).start() and time until the sink's stored offsets reach the topics' ends. Rows projected =
 *    task_runs + task_occurrences rows; rows/s over that time (start-up — migrations, joining — excluded).
 * 2. Lag: with the sink caught up, executions for L more slots are produced and projected, then their results are
 *    produced at --rate per second, one record per send. Each result is stamped before its send; a poller queries
 *    task_runs every --poll-ms for the SUCCEEDED rows still awaited and stamps them when seen. Lag = seen − produced
 *    (includes the poll interval: at most --poll-ms too late), p50 / p99 / max.
 * Topics and the database are deleted at the end, also on failure.
 *
 * Usage: node bench/sink.ts [--slots 100000] [--lag-samples 2000] [--rate 200] [--poll-ms 5] [--batch-size 2000]
 */
import { randomUUID } from 'node:crypto'
import { cpus } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps, Producer } from '@platformatic/kafka'
import pg from 'pg'
import { resolveConfig } from '../config.ts'
import { createConnector, sinkTopics } from '../connectors/connector.ts'
import { createProcessDeps } from '../host/flextask-process.ts'
import { silentLogger } from '../logger.ts'
import type { Occurrence } from '../schemas/occurrence.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import { topicNames } from '../topics.ts'
import { partitionForKey } from '../topology/partitioner.ts'
import { benchArgs, integerArg } from './lib/args.ts'

const args = benchArgs(
  {
    slots: { type: 'string', default: '100000' },
    'lag-samples': { type: 'string', default: '2000' },
    rate: { type: 'string', default: '200' },
    'poll-ms': { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '2000' },
  },
  'Usage: node bench/sink.ts [--slots N] [--lag-samples N] [--rate R] [--poll-ms MS] [--batch-size N]',
)
const slots = integerArg('slots', args.slots, 1)
const lagSamples = integerArg('lag-samples', args['lag-samples'], 1)
const rate = integerArg('rate', args.rate, 1)
const pollMs = integerArg('poll-ms', args['poll-ms'], 0)
const partitions = 3
const id = randomUUID().slice(0, 8)
const prefix = `ft-sink-bench-${id}`
const databaseName = `ft_sink_bench_${id.replaceAll('-', '')}`
const topics = topicNames(prefix)
const names = [...sinkTopics(topics, ['http']).keys()]

const base = resolveConfig(process.env)
const adminUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
const databaseUrl = new URL(adminUrl)
databaseUrl.pathname = `/${databaseName}`
const config = resolveConfig(process.env, {
  topics: { prefix, partitions, categories: ['http'] },
  database: { url: databaseUrl.toString() },
  runtime: { instanceId: `sink-bench-${id}` },
  sink: { groupId: `${prefix}-sink`, batchSize: integerArg('batch-size', args['batch-size'], 1), retentionDays: 0 },
})
const deps = createProcessDeps(config, { logger: silentLogger })
const producer = new Producer({ clientId: `${prefix}-producer`, bootstrapBrokers: base.kafka.brokers })
const admin = deps.kafka.admin(`${prefix}-admin`)

async function adminQuery(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl.toString() })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

function slotRecords(taskId: string, slotMs: number, withResult: boolean) {
  const execution: TaskExecution = {
    executionId: `${taskId}:${slotMs}`,
    taskId,
    attempt: 1,
    scheduledForMs: slotMs,
    dueAtMs: slotMs,
    firedAtMs: slotMs + 1,
    deadlineAtMs: null,
    priority: 0,
    category: 'http',
    type: 'HealthCheck',
    payload: '{}',
    trigger: 'SCHEDULE',
    definitionVersion: 1,
    labels: { bench: 'sink' },
    tenant: null,
  }
  const occurrence: Occurrence = {
    taskId,
    scheduledForMs: slotMs,
    executionId: execution.executionId,
    outcome: 'FIRED',
    reason: null,
    recordedAtMs: slotMs + 1,
  }
  const partition = partitionForKey(taskId, partitions)
  const key = Buffer.from(taskId)
  const out = [
    { topic: topics.executions('http'), partition, key, value: deps.serdes.execution.serialize(execution) },
    { topic: topics.occurrences, partition, key, value: deps.serdes.occurrence.serialize(occurrence) },
  ]
  if (withResult) out.push(resultRecord(taskId, slotMs))
  return out
}

function resultRecord(taskId: string, slotMs: number) {
  const result: TaskResult = {
    executionId: `${taskId}:${slotMs}`,
    taskId,
    attempt: 1,
    status: 'SUCCEEDED',
    workerId: 'bench',
    startedAtMs: slotMs + 2,
    finishedAtMs: slotMs + 12,
    durationMs: 10,
    output: '{"ok":true}',
    error: null,
  }
  return {
    topic: topics.results,
    partition: partitionForKey(taskId, partitions),
    key: Buffer.from(taskId),
    value: deps.serdes.result.serialize(result),
  }
}

async function endOffsets(): Promise<Map<string, bigint>> {
  const consumer = new Consumer({
    clientId: `${prefix}-ends`,
    groupId: `${prefix}-ends`,
    bootstrapBrokers: base.kafka.brokers,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  })
  try {
    const offsets = await consumer.listOffsets({ topics: names, timestamp: ListOffsetTimestamps.LATEST })
    const out = new Map<string, bigint>()
    for (const [topic, list] of offsets) list.forEach((o, p) => out.set(`${topic}:${p}`, o))
    return out
  } finally {
    await consumer.close()
  }
}

async function waitCaughtUp(pool: pg.Pool, timeoutMs: number): Promise<void> {
  const ends = await endOffsets()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { rows } = await pool.query<{ topic: string; partition: number; next_offset: string }>(
      'SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = $1',
      [config.sink.groupId],
    )
    const stored = new Map(rows.map((r) => [`${r.topic}:${r.partition}`, BigInt(r.next_offset)]))
    if ([...ends].every(([k, end]) => end === 0n || (stored.get(k) ?? 0n) >= end)) return
    if (Date.now() > deadline) throw new Error(`sink not caught up after ${timeoutMs} ms`)
    await sleep(50)
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

async function main(): Promise<void> {
  await adminQuery(`CREATE DATABASE ${databaseName}`)
  const pool = new pg.Pool({ connectionString: databaseUrl.toString(), max: 2 })
  const connector = createConnector(deps)
  try {
    await admin.createTopics({ topics: names, partitions, replicas: 1 })
    await deps.serdes.init()
    console.log(
      `sink bench: ${slots} slots (execution + result + occurrence each), ${partitions} partitions, ` +
        `batch ${config.sink.batchSize}; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`,
    )
    const start = Date.UTC(2026, 10, 30)
    const tasks = 1000
    let batch: ReturnType<typeof slotRecords> = []
    for (let i = 0; i < slots; i++) {
      batch.push(...slotRecords(`bench-t${i % tasks}`, start + Math.floor(i / tasks) * 1000, true))
      if (batch.length >= 6000) {
        await producer.send({ messages: batch })
        batch = []
      }
    }
    if (batch.length > 0) await producer.send({ messages: batch })

    await connector.start()
    let flushMs = 0
    connector.runner!.on('flushed', (s: { durationMs: number }) => (flushMs += s.durationMs))
    const t0 = performance.now()
    await waitCaughtUp(pool, 30 * 60_000)
    const seconds = (performance.now() - t0) / 1000
    const { rows } = await pool.query<{ runs: string; occurrences: string }>(
      `SELECT (SELECT count(*) FROM task_runs)::text AS runs, (SELECT count(*) FROM task_occurrences)::text AS occurrences`,
    )
    const runs = Number(rows[0]?.runs)
    const occurrences = Number(rows[0]?.occurrences)
    if (runs !== slots || occurrences !== slots)
      throw new Error(`expected ${slots} runs and occurrences, got ${runs}/${occurrences}`)
    const stats = connector.runner!.stats
    console.log(
      `throughput: ${runs + occurrences} rows (${runs} runs + ${occurrences} occurrences) from ${3 * slots} records ` +
        `in ${seconds.toFixed(1)} s = ${Math.round((runs + occurrences) / seconds)} rows/s ` +
        `(${Math.round((3 * slots) / seconds)} records/s, ${stats.flushes} transactions, ` +
        `${(flushMs / 1000).toFixed(1)} s of it in Postgres transactions)`,
    )

    // Lag: executions first (projected PENDING), then their results at a steady rate.
    const lagStart = start + 10_000_000
    const lagTasks = Array.from({ length: lagSamples }, (_, i) => ({ taskId: `lag-t${i % 100}`, slotMs: lagStart + i }))
    await producer.send({ messages: lagTasks.flatMap((t) => slotRecords(t.taskId, t.slotMs, false)) })
    await waitCaughtUp(pool, 120_000)
    const producedAt = new Map<string, number>()
    const seenAt = new Map<string, number>()
    let polling = true
    const poller = (async () => {
      while (polling || seenAt.size < producedAt.size) {
        const awaited = [...producedAt.keys()].filter((k) => !seenAt.has(k))
        if (awaited.length > 0) {
          const { rows: seen } = await pool.query<{ execution_id: string }>(
            `SELECT execution_id FROM task_runs WHERE status = 'SUCCEEDED' AND execution_id = ANY($1::text[])`,
            [awaited],
          )
          const now = performance.now()
          for (const r of seen) seenAt.set(r.execution_id, now)
        }
        await sleep(pollMs)
      }
    })()
    const intervalMs = 1000 / rate
    const began = performance.now()
    for (let i = 0; i < lagTasks.length; i++) {
      const t = lagTasks[i]!
      const due = began + i * intervalMs
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      producedAt.set(`${t.taskId}:${t.slotMs}`, performance.now())
      await producer.send({ messages: [resultRecord(t.taskId, t.slotMs)] })
    }
    polling = false
    await Promise.race([poller, sleep(60_000)])
    const lags = [...producedAt].map(([k, at]) => (seenAt.get(k) ?? NaN) - at).sort((a, b) => a - b)
    const missing = lags.filter((x) => Number.isNaN(x)).length
    const ok = lags.filter((x) => !Number.isNaN(x))
    console.log(
      `lag (result produced → row visible, ${ok.length} results at ${rate}/s, polled every ${pollMs} ms): ` +
        `p50 ${percentile(ok, 50).toFixed(1)} ms, p99 ${percentile(ok, 99).toFixed(1)} ms, ` +
        `max ${(ok.at(-1) ?? NaN).toFixed(1)} ms${missing > 0 ? `, ${missing} never seen` : ''}`,
    )
  } finally {
    await connector.close().catch(() => {})
    await producer.close().catch(() => {})
    await admin.deleteTopics({ topics: names }).catch(() => {})
    await admin.close().catch(() => {})
    await pool.end().catch(() => {})
    await adminQuery(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`).catch(() => {})
  }
}

await main()
