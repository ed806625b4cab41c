/**
 * Bad input never starves good work (issue 15): floods of bad records on the definitions, commands and results
 * topics of a real scheduler (the CLI, a child process) while every-second crons run. Every slot fires exactly once;
 * a 2 MB record's dead letter carries a capped prefix, its size and its SHA-256; the process's memory stays
 * bounded while far more than its buffers' limits flows through.
 *
 * Lateness is measured independently of the scheduler's clock: the executions topic uses LogAppendTime, so each
 * execution's timestamp is when the broker appended it (the scheduler produces a cycle's records when it commits).
 *
 * The bounds, for the shared 2-core box at load 15–20:
 * - Small bad records (unknown schema ids, bad magic, truncated Avro, random bytes) at 2,000 records/s, in bursts
 *   of 500: no slot later than 3 s. A slot waits for one barrier observation (a ListOffsets round trip), for the
 *   input below the observed end to be processed (the scheduler dead-letters these at thousands per second there),
 *   at most one pass's time budget (100 ms) and one commit; each is sub-second there (measured ~0.1–0.2 s). Before
 *   the fix the input side was bounded by records only (5,000 per cycle) and each unknown-id record cost a registry
 *   request: timers waited behind whole cycles of bad input, past the 60 s lateness limit under load.
 * - 400 MB of 2 MB records as fast as the broker takes them: the limit is bytes, not the loop (each record is a
 *   2 MB fetch and a ~1 MB dead letter) and the scheduler falls behind, so the input barrier gives up waiting after
 *   inputBarrierMaxWaitMs (5 s) and fires anyway (input-barrier.ts). A slot that falls due during such a wait
 *   starts its own wait only once the earlier slot has fired, so a slot can be two waits late, plus the passes and
 *   commits of a loaded box (measured 9.6–14.0 s at load 12–18): the bound is 20 s, well under the 60 s lateness
 *   past which a slot counts as missed (what the fuzz suite once saw). Every slot still fires exactly once.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DeadLetter } from '../../schemas/dead-letter.ts'
import type { SerdeRegistry } from '../../schemas/serde-registry.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { topicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { type CollectedRecord, collect, testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import {
  decodeAll,
  firstAppendTimes,
  deletePrefixTopics,
  killHard,
  produceDefinitions,
  type SchedulerChild,
  spawnScheduler,
  taskDefinition,
  testSerdes,
  waitForCronsPast,
} from '../helpers/scheduler.ts'

const partitions = 3
const smallRecords = Number(process.env.FLOOD_RECORDS ?? 6_000)
/** 2 MB records in the memory phase: 400 MB through a process whose buffers hold 64 MiB (+ a 16 MiB cycle). */
const largeRecords = Number(process.env.FLOOD_LARGE ?? 200)
const twoMiB = 2 * 1024 * 1024
const smallFloodMaxLatenessMs = 3_000
/** 2 × inputBarrierMaxWaitMs plus the passes and commits of a loaded box (see the header). */
const largeFloodMaxLatenessMs = 20_000
const maxRssGrowthBytes = 300 * 1024 * 1024
const crons = ['flood-cron-a', 'flood-cron-b', 'flood-cron-c', 'flood-cron-d']

const prefix = uniqueName('ft-flood')
const topics = topicNames(prefix)
const inputs = [topics.definitions, topics.commands, topics.results] as const
const stateDir = mkdtempSync(join(tmpdir(), 'flextask-flood-'))
const { admin } = testAdmin()
const producer = testProducer()
const cleanups: (() => Promise<unknown>)[] = []
let scheduler: SchedulerChild
let serdes: SerdeRegistry
let out: { records: CollectedRecord[]; close: () => Promise<void> }

beforeAll(async () => {
  cleanups.push(() => deletePrefixTopics(admin, prefix))
  for (const topic of inputs) {
    const policy = topic === topics.definitions ? 'compact' : 'delete'
    await admin.createTopics({
      topics: [topic],
      partitions,
      replicas: 1,
      configs: [
        { name: 'cleanup.policy', value: policy },
        { name: 'max.message.bytes', value: String(4 * 1024 * 1024) },
      ],
    })
  }
  await admin.createTopics({
    topics: [topics.executions('internal')],
    partitions,
    replicas: 1,
    configs: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
  })
  const [executionsConfig] = await admin.describeConfigs({
    resources: [
      { resourceType: 2, resourceName: topics.executions('internal'), configurationKeys: ['message.timestamp.type'] },
    ],
  })
  // The lateness below is only independent of the scheduler's clock if the broker stamps the records.
  expect(executionsConfig?.configs[0]?.value).toBe('LogAppendTime')
  serdes = await testSerdes(schemaRegistryUrl, topics)
}, 180_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  rmSync(stateDir, { recursive: true, force: true })
})

/** The scheduler CLI as a child process (spawned inside the test, so its output is printed when the test fails). */
async function startScheduler(): Promise<SchedulerChild> {
  const child = spawnScheduler('flood', {
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: String(partitions),
    FLEXTASK_CATEGORIES: 'internal',
    FLEXTASK_STATE_DIR: stateDir,
    FLEXTASK_INSTANCE_ID: uniqueName('flood-scheduler'),
  })
  cleanups.push(() => killHard(child))
  await child.running(120_000)
  return child
}

interface BadRecord {
  topic: string
  partition: number
  key: Buffer
  value: Buffer
}

let serial = 0

function bad(value: Buffer): BadRecord {
  const taskId = `flood-bad-${serial++}`
  const topic = inputs[serial % inputs.length] as string
  return { topic, partition: partitionForKey(taskId, partitions), key: Buffer.from(taskId), value }
}

/** Small bad records of four kinds: unknown schema ids (a pool of 64), bad magic, truncated Avro, random bytes. */
function smallFlood(n: number): BadRecord[] {
  const valid = serdes.command.serialize({
    commandId: 'c',
    taskId: 'x',
    kind: 'TRIGGER_NOW',
    executionId: null,
    requestedAtMs: Date.now(),
    requestedBy: null,
  })
  const unknownIds = Array.from({ length: 64 }, (_, i) => 1_900_000_000 + i * 7_919)
  return Array.from({ length: n }, (_, i) => {
    const value = Buffer.from(valid)
    if (i % 10 < 4) value.writeInt32BE(unknownIds[i % unknownIds.length] as number, 1)
    else if (i % 10 < 7) value[0] = 1 + (i % 250)
    else if (i % 10 < 9) return bad(valid.subarray(0, 5 + (i % (valid.length - 6))))
    else return bad(Buffer.concat([Buffer.from([0xfe]), createHash('sha256').update(String(i)).digest()]))
    return bad(value)
  })
}

/** 2 MB of garbage (a bad magic byte), each different. */
function largeFlood(n: number): BadRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const tail = createHash('sha512').update(`large-${i}`).digest()
    return bad(Buffer.concat([Buffer.from([0xff]), Buffer.alloc(twoMiB - 1 - tail.length, i % 256), tail]))
  })
}

/**
 * Sends in bursts of 500 (a 2 MB record alone in its request), one every `spacingMs` (0: as fast as the broker
 * takes them).
 */
async function send(records: readonly BadRecord[], spacingMs: number): Promise<void> {
  for (let i = 0; i < records.length; i += 500) {
    if (i > 0 && spacingMs > 0) await sleep(spacingMs)
    const burst = records.slice(i, i + 500)
    for (const r of burst.filter((x) => x.value.length > 1e6)) await producer.send({ messages: [r] })
    const small = burst.filter((r) => r.value.length <= 1e6)
    if (small.length > 0) await producer.send({ messages: small })
  }
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`

const deadLettersOf = (records: readonly BadRecord[]): CollectedRecord[] => {
  const keys = new Set(records.map((r) => r.key.toString()))
  return out.records.filter((r) => r.topic === topics.deadLetter && keys.has(r.key ?? ''))
}

function executions(): Promise<TaskExecution[]> {
  return decodeAll<TaskExecution>(serdes.execution, out.records, topics.executions('internal'))
}

/**
 * Sends `records`, waits for a dead letter of each and for two cron slots after the last; returns the broker's
 * lateness of every cron slot scheduled in between, sorted, and the scheduler's memory before and after.
 */
async function floodAndMeasure(name: string, records: readonly BadRecord[], spacingMs: number) {
  const pid = scheduler.child.pid as number
  const before = memory(pid)
  const startMs = Date.now()
  await send(records, spacingMs)
  const sentMs = Date.now() - startMs
  await waitFor(
    `a dead letter for every ${name} record`,
    () => (deadLettersOf(records).length >= records.length ? true : undefined),
    180_000,
  )
  const endMs = Date.now()
  const after = memory(pid)
  const lastSlotMs = Math.floor(endMs / 1000) * 1000 + 2000
  const all = await waitForCronsPast('the crons to fire past the flood', crons, lastSlotMs, executions)
  const appendedAt = await firstAppendTimes(serdes.execution, out.records, topics.executions('internal'))
  const during = all.filter((e) => e.attempt === 1 && e.scheduledForMs >= startMs && e.scheduledForMs <= endMs)
  const lateness = during.map((e) => (appendedAt.get(e.executionId) ?? Infinity) - e.scheduledForMs)
  lateness.sort((a, b) => a - b)
  const q = (p: number): number => lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))] ?? NaN
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  console.log(
    `input-flood ${name}: ${records.length} bad records (${mb(records.reduce((n, r) => n + r.value.length, 0))}) ` +
      `sent in ${sentMs} ms, all dead-lettered ${endMs - startMs} ms after the first; ${during.length} cron slots ` +
      `meanwhile, lateness p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${lateness.at(-1)} ms; scheduler RSS ` +
      `${mb(before.rss)} before, ${mb(after.rss)} after, peak ${mb(after.peak)}; load ${load}`,
  )
  return { all, during, lateness, before, after, windowMs: endMs - startMs }
}

/** Every slot of every cron once, none missing between its first and last. */
function expectEverySlotOnce(all: readonly TaskExecution[]): void {
  const counts = new Map<string, number>()
  for (const e of all.filter((x) => x.attempt === 1)) counts.set(e.executionId, (counts.get(e.executionId) ?? 0) + 1)
  expect([...counts].filter(([, n]) => n > 1)).toEqual([])
  for (const id of crons) {
    const mine = [...new Set(all.filter((e) => e.taskId === id).map((e) => e.scheduledForMs))].sort((a, b) => a - b)
    const gaps = mine.slice(1).filter((s, i) => s - (mine[i] as number) !== 1000)
    expect([id, gaps]).toEqual([id, []])
  }
}

describe('floods of bad input while every-second crons run', () => {
  it('fires every slot within 3 s through a flood of small bad records, each dead-lettered once', async () => {
    scheduler = await startScheduler()
    out = await collect([topics.executions('internal'), topics.deadLetter])
    cleanups.push(out.close)
    const definitions = crons.map((id) =>
      taskDefinition(id, { kind: 'CRON', cron: '* * * * * *' }, { category: 'internal', type: 'tick' }),
    )
    await produceDefinitions(producer, serdes.definition, topics.definitions, definitions, partitions)
    await waitFor('every cron to fire three times', async () => {
      const all = await executions()
      return crons.every((id) => all.filter((e) => e.taskId === id).length >= 3) ? true : undefined
    })
    const records = smallFlood(smallRecords)
    const { all, during, lateness } = await floodAndMeasure('small', records, 250)
    expectEverySlotOnce(all)
    expect(during.length).toBeGreaterThan(0)
    expect(lateness.at(-1)).toBeLessThanOrEqual(smallFloodMaxLatenessMs)
    const lettered = await decodeAll<DeadLetter>(serdes.deadLetter, deadLettersOf(records), topics.deadLetter)
    expect(new Set(lettered.map((d) => `${d.sourceTopic}/${d.sourcePartition}@${d.sourceOffset}`)).size).toBe(
      records.length,
    )
    const reasons = new Set(lettered.map((d) => d.reasonCode))
    expect([...reasons].sort()).toEqual(['UNDECODABLE', 'UNKNOWN_SCHEMA'])
    expect(out.records.filter((r) => r.topic === topics.deadLetter && crons.includes(r.key ?? ''))).toEqual([])
  }, 300_000)

  it('keeps memory bounded through 400 MB of 2 MB records, dead letters capped with size and hash', async () => {
    const records = largeFlood(largeRecords)
    const { all, lateness, before, after } = await floodAndMeasure('large', records, 0)
    expectEverySlotOnce(all)
    expect(lateness.at(-1)).toBeLessThanOrEqual(largeFloodMaxLatenessMs)
    expect(after.peak - before.rss).toBeLessThan(maxRssGrowthBytes)
    const lettered = await decodeAll<DeadLetter>(serdes.deadLetter, deadLettersOf(records), topics.deadLetter)
    expect(lettered).toHaveLength(records.length)
    const [first] = records as [BadRecord]
    const letter = lettered.find((d) => d.key?.equals(first.key)) as DeadLetter
    const sha256 = createHash('sha256').update(first.value).digest('hex')
    expect(letter.reasonCode).toBe('UNDECODABLE')
    expect(letter.originalValue?.length).toBeLessThan(1_000_000)
    expect(letter.originalValue?.equals(first.value.subarray(0, letter.originalValue.length))).toBe(true)
    expect(letter.message).toContain(`${twoMiB} bytes, sha256 ${sha256}`)
    expect(scheduler.exited()).toBe(false)
  }, 300_000)
})
