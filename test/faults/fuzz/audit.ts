/**
 * The fuzz audit, from an independent read_committed reader (fuzz-stack.ts): every injected bad record is matched
 * to its dead letter by where it landed (topic, partition, offset), found by the fingerprint of what was sent
 * (topic, partition, key, SHA-256 of the value; duplicates share one and each copy needs its own dead letter),
 * and every dead letter must belong to a bad record; and every scheduled slot of a valid task has exactly one
 * committed execution.
 */
import { createHash } from 'node:crypto'
import type { DeadLetter } from '../../../schemas/dead-letter.ts'
import type { TaskExecution } from '../../../schemas/task-execution.ts'
import type { CollectedRecord } from '../../helpers/kafka.ts'
import type { FuzzRecord } from './bad-records.ts'

export interface SentRecord {
  topic: string
  partition: number
  key: Buffer | null
  value: Buffer | null
}

export function fingerprint(r: { topic: string; partition: number; key: string | undefined; value?: Buffer }): string {
  const value = r.value === undefined ? '<null>' : createHash('sha256').update(r.value).digest('hex')
  return `${r.topic}|${r.partition}|${r.key ?? '<null>'}|${value}`
}

export const sentFingerprint = (r: SentRecord): string =>
  fingerprint({
    topic: r.topic,
    partition: r.partition,
    key: r.key?.toString('utf8'),
    ...(r.value === null || r.value.length === 0 ? {} : { value: r.value }),
  })

const at = (topic: string, partition: number, offset: bigint | number): string => `${topic}/${partition}@${offset}`

export interface DeadLetterAudit {
  /** class → sent, dead-lettered, reason codes seen. */
  byClass: Map<string, { sent: number; deadLettered: number; reasons: Map<string, number> }>
  missing: string[]
  wrongReason: string[]
  /** Dead letters of records that were not injected as bad (valid input, or another component's output). */
  unexpected: string[]
  /** Input offsets with more than one committed dead letter. */
  repeated: string[]
  /** Bad records the reader has not seen on their topic yet. */
  unseen: number
}

/**
 * Matches the bad records (with the topic each went to) to the dead letters among `records`.
 * `deadLetters` are the decoded values of the dead-letter topic's records.
 */
export function auditDeadLetters(
  sent: readonly { record: FuzzRecord; topic: string }[],
  records: readonly CollectedRecord[],
  deadLetters: readonly DeadLetter[],
): DeadLetterAudit {
  const expected = new Map<string, FuzzRecord[]>()
  for (const s of sent) {
    const fp = sentFingerprint({ ...s.record, topic: s.topic })
    expected.set(fp, [...(expected.get(fp) ?? []), s.record])
  }
  const badAt = new Map<string, FuzzRecord>()
  const seen = new Map<string, number>()
  for (const r of records) {
    const fp = fingerprint({ topic: r.topic, partition: r.partition, key: r.key, ...(r.raw ? { value: r.raw } : {}) })
    const copies = expected.get(fp)
    const n = seen.get(fp) ?? 0
    const record = copies?.[n]
    if (record === undefined) continue
    seen.set(fp, n + 1)
    badAt.set(at(r.topic, r.partition, r.offset), record)
  }
  const audit: DeadLetterAudit = {
    byClass: new Map(),
    missing: [],
    wrongReason: [],
    unexpected: [],
    repeated: [],
    unseen: sent.length - badAt.size,
  }
  for (const s of sent) classStats(audit, s.record.cls).sent++
  const lettered = new Map<string, DeadLetter>()
  for (const d of deadLetters) {
    const where = at(d.sourceTopic, d.sourcePartition, d.sourceOffset)
    const record = badAt.get(where)
    if (record === undefined) {
      audit.unexpected.push(`${where} ${d.reasonCode}: ${d.message.slice(0, 200)}`)
      continue
    }
    if (lettered.has(where)) {
      audit.repeated.push(where)
      continue
    }
    lettered.set(where, d)
    const stats = classStats(audit, record.cls)
    stats.deadLettered++
    stats.reasons.set(d.reasonCode, (stats.reasons.get(d.reasonCode) ?? 0) + 1)
    if (d.reasonCode !== record.reason) {
      audit.wrongReason.push(
        `${record.cls} at ${where}: expected ${record.reason}, got ${d.reasonCode} (${d.message.slice(0, 160)})`,
      )
    }
  }
  for (const [where, record] of badAt)
    if (!lettered.has(where)) audit.missing.push(`${record.cls} at ${where} (expected ${record.reason})`)
  return audit
}

function classStats(audit: DeadLetterAudit, cls: string) {
  let stats = audit.byClass.get(cls)
  if (stats === undefined) {
    stats = { sent: 0, deadLettered: 0, reasons: new Map() }
    audit.byClass.set(cls, stats)
  }
  return stats
}

export function formatClasses(audit: DeadLetterAudit): string {
  const rows = [...audit.byClass].sort(([a], [b]) => a.localeCompare(b))
  return rows
    .map(([cls, s]) => {
      const reasons = [...s.reasons].map(([r, n]) => `${r} ${n}`).join(', ')
      return `  ${cls.padEnd(24)} sent ${String(s.sent).padStart(5)}  dead-lettered ${String(s.deadLettered).padStart(5)}  ${reasons}`
    })
    .join('\n')
}

export interface FireAudit {
  /** executionIds (attempt 1) committed more than once. */
  duplicates: string[]
  /** taskId → slots (epoch ms) between its first and last committed slot that have no execution. */
  gaps: Map<string, number[]>
  /** taskId → executions. */
  counts: Map<string, number>
}

/** Every-second crons: one execution per second from the first slot to the last; others: counted. */
export function auditFires(executions: readonly TaskExecution[], everySecond: readonly string[]): FireAudit {
  const audit: FireAudit = { duplicates: [], gaps: new Map(), counts: new Map() }
  const seen = new Set<string>()
  const slots = new Map<string, number[]>()
  for (const e of executions) {
    if (e.attempt !== 1) continue
    if (seen.has(e.executionId)) audit.duplicates.push(e.executionId)
    seen.add(e.executionId)
    audit.counts.set(e.taskId, (audit.counts.get(e.taskId) ?? 0) + 1)
    slots.set(e.taskId, [...(slots.get(e.taskId) ?? []), e.scheduledForMs])
  }
  for (const taskId of everySecond) {
    const mine = [...new Set(slots.get(taskId) ?? [])].sort((a, b) => a - b)
    const missing: number[] = []
    for (let i = 1; i < mine.length; i++) {
      for (let s = (mine[i - 1] ?? 0) + 1000; s < (mine[i] ?? 0); s += 1000) missing.push(s)
    }
    if (missing.length > 0) audit.gaps.set(taskId, missing)
  }
  return audit
}

/**
 * The lateness of every attempt-1 execution of `taskIds` scheduled in [fromMs, toMs]: the broker's append time
 * (LogAppendTime on the executions topic) minus the slot, sorted ascending.
 */
export async function fireLateness(
  records: readonly CollectedRecord[],
  topic: string,
  serde: { deserialize(bytes: Buffer): Promise<TaskExecution> },
  taskIds: readonly string[],
  fromMs: number,
  toMs: number,
): Promise<number[]> {
  const lateness = new Map<string, number>()
  for (const r of records) {
    if (r.topic !== topic || r.raw === undefined) continue
    const e = await serde.deserialize(r.raw)
    if (e.attempt !== 1 || !taskIds.includes(e.taskId) || e.scheduledForMs < fromMs || e.scheduledForMs > toMs) continue
    if (!lateness.has(e.executionId)) lateness.set(e.executionId, r.timestampMs - e.scheduledForMs)
  }
  return [...lateness.values()].sort((a, b) => a - b)
}
