/**
 * The end-of-run audit, over what the independent readers saw (readers.ts). A violation is a `failures` entry
 * with a count and up to 10 samples; what is only worth knowing goes to `info`.
 *
 *  1. each (executionId, attempt) has exactly one committed execution record (read_committed);
 *  2. each scheduled instant of the workload has an attempt-1 execution, and nothing fired that was not scheduled
 *     (a deleted task: the slots that fired are a prefix of its slots, and none after the delete was acknowledged);
 *  3. each instant has exactly one FIRED occurrence, plus one DEAD for a task meant to die, and no other outcome;
 *  4. each execution took exactly the attempts its task asks for (1, or 2 for the flaky and the dying ones);
 *  5. each acknowledged manual trigger has exactly one execution;
 *  6. each committed (executionId, attempt) has a terminal result on the results topic and exactly one task_runs
 *     row, terminal, with the status its task implies; no row for anything not committed.
 * Terminal results committed twice for one attempt (a worker redelivery) and records of aborted transactions
 * (read_uncommitted minus read_committed) are reported for information: they must be counted once, which 1, 4
 * and 6 check.
 */
import type { Occurrence } from '../../schemas/occurrence.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import type { TaskResult } from '../../schemas/task-result.ts'
import { cronSlots, type Workload } from './load.ts'
import type { RunRow } from './readers.ts'

export interface AuditInput {
  workload: Workload
  executions: TaskExecution[]
  uncommittedExecutions: TaskExecution[]
  occurrences: Occurrence[]
  results: TaskResult[]
  runs: RunRow[]
}

export interface AuditReport {
  failures: string[]
  info: string[]
  counts: Record<string, number>
}

const terminalResults = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'SKIPPED'])
const openRuns = new Set(['PENDING', 'PROCESSING'])

function tally(keys: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1)
  return counts
}

class Findings {
  readonly failures: string[] = []
  readonly info: string[] = []
  fail(what: string, items: readonly string[]): void {
    if (items.length > 0) this.failures.push(`${what}: ${items.length}, e.g. ${items.slice(0, 10).join(' ; ')}`)
  }
  note(what: string, items: readonly string[]): void {
    this.info.push(`${what}: ${items.length}${items.length > 0 ? `, e.g. ${items.slice(0, 5).join(' ; ')}` : ''}`)
  }
}

/** Each scheduled task's expected slots; for a deleted task, every slot and the delete's bounds. */
function expectedSlots(w: Workload): Map<string, number[]> {
  const slots = new Map<string, number[]>()
  const everySecond = cronSlots(w, 1)
  for (const id of [...w.everySecond, ...w.apiCrons]) slots.set(id, everySecond)
  const everyTwo = cronSlots(w, 2)
  for (const d of w.definitions) {
    if (d.schedule.kind === 'ONE_SHOT' && d.schedule.atMs !== null) slots.set(d.taskId, [d.schedule.atMs])
    else if (d.schedule.cron === '*/2 * * * * *') slots.set(d.taskId, everyTwo)
  }
  return slots
}

function auditSlots(input: AuditInput, f: Findings): void {
  const w = input.workload
  const fired = new Map<string, Set<number>>()
  for (const e of input.executions) {
    if (e.trigger === 'MANUAL' || e.attempt !== 1) continue
    const set = fired.get(e.taskId) ?? new Set<number>()
    set.add(e.scheduledForMs)
    fired.set(e.taskId, set)
  }
  const missing: string[] = []
  const unexpected: string[] = []
  for (const [taskId, allSlots] of expectedSlots(w)) {
    const got = fired.get(taskId) ?? new Set<number>()
    // An API cron exists from its create on: a slot before the create was acknowledged may fire or not (not both).
    const createdAtMs = w.apiCreatedAtMs.get(taskId) ?? 0
    for (const s of allSlots) if (s <= createdAtMs) got.delete(s)
    const slots = allSlots.filter((s) => s > createdAtMs)
    const deletion = w.deletions.get(taskId)
    const firedSlots = slots.filter((s) => got.has(s))
    const expected = new Set(slots)
    for (const s of got) if (!expected.has(s)) unexpected.push(`${taskId}:${s} (not a slot of its schedule)`)
    if (deletion === undefined) {
      for (const s of slots) if (!got.has(s)) missing.push(`${taskId}:${s}`)
      continue
    }
    // Deleted: the fired slots are the first n, none after the acknowledged delete, all before it was sent.
    const prefix = slots.slice(0, firedSlots.length)
    if (prefix.some((s) => !got.has(s))) missing.push(`${taskId}: a gap before the delete (${firedSlots.length} fired)`)
    for (const s of slots) {
      if (s < deletion.sentAtMs - 1_000 && !got.has(s) && firedSlots.some((x) => x > s)) missing.push(`${taskId}:${s}`)
    }
    if (deletion.ackedAtMs !== null) {
      const after = firedSlots.filter((s) => s > (deletion.ackedAtMs ?? 0))
      for (const s of after) unexpected.push(`${taskId}:${s} fired after its delete was acknowledged`)
    }
  }
  f.fail('scheduled instants without a committed execution', missing)
  f.fail('executions of instants that were not scheduled', unexpected)
}

function auditOccurrences(input: AuditInput, f: Findings): void {
  const byInstant = new Map<string, Occurrence[]>()
  for (const o of input.occurrences) {
    const key = o.executionId?.includes(':manual:') ? o.executionId : `${o.taskId}:${o.scheduledForMs}`
    byInstant.set(key, [...(byInstant.get(key) ?? []), o])
  }
  const wrong: string[] = []
  const missing: string[] = []
  const executionIds = new Set(input.executions.map((e) => e.executionId))
  for (const id of executionIds) {
    const taskId = id.split(':')[0] ?? ''
    const outcomes = (byInstant.get(id) ?? []).map((o) => o.outcome)
    if (outcomes.length === 0) {
      missing.push(id)
      continue
    }
    const dead = input.workload.expect.get(taskId)?.dead === true
    const wanted = dead ? ['DEAD', 'FIRED'] : ['FIRED']
    if (outcomes.sort().join(',') !== wanted.join(',')) wrong.push(`${id} → ${outcomes.join(',')}`)
  }
  for (const [key, list] of byInstant) {
    if (!executionIds.has(key)) wrong.push(`${key} → ${list.map((o) => `${o.outcome} (${o.reason})`).join(',')}`)
  }
  f.fail('executions without an occurrence', missing)
  f.fail('instants whose occurrences are not exactly one FIRED (+ DEAD for a dying task)', wrong)
}

function auditAttempts(input: AuditInput, f: Findings): void {
  const counts = tally(input.executions.map((e) => `${e.executionId}#${e.attempt}`))
  f.fail(
    '(executionId, attempt) with more than one committed execution',
    [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k}×${n}`),
  )
  const attempts = new Map<string, Set<number>>()
  for (const e of input.executions)
    attempts.set(e.executionId, (attempts.get(e.executionId) ?? new Set()).add(e.attempt))
  const wrong: string[] = []
  for (const [id, set] of attempts) {
    const want = id.includes(':manual:') ? 1 : (input.workload.expect.get(id.split(':')[0] ?? '')?.attempts ?? 1)
    const got = [...set].sort((a, b) => a - b)
    if (got.join(',') !== Array.from({ length: want }, (_, i) => i + 1).join(',')) {
      wrong.push(`${id} attempts ${got.join(',')} (want 1..${want})`)
    }
  }
  f.fail('executions whose attempts are not exactly 1..n', wrong)
  const manual = new Set(input.executions.filter((e) => e.trigger === 'MANUAL').map((e) => e.executionId))
  const acked = input.workload.triggers.map((t) => `${t.taskId}:manual:${t.commandId}`)
  f.fail(
    'acknowledged manual triggers without an execution',
    acked.filter((id) => !manual.has(id)),
  )
  const ackedSet = new Set(acked)
  f.note(
    'manual executions from triggers the API did not acknowledge',
    [...manual].filter((id) => !ackedSet.has(id)),
  )
}

function auditRuns(input: AuditInput, f: Findings): void {
  const committed = new Set(input.executions.map((e) => `${e.executionId}#${e.attempt}`))
  const rows = new Map<string, RunRow>()
  const rowDuplicates: string[] = []
  for (const r of input.runs) {
    const key = `${r.executionId}#${r.attempt}`
    if (rows.has(key)) rowDuplicates.push(key)
    rows.set(key, r)
  }
  f.fail('task_runs rows duplicated', rowDuplicates)
  f.fail(
    'committed executions without a task_runs row',
    [...committed].filter((k) => !rows.has(k)),
  )
  f.fail(
    'task_runs rows for executions never committed',
    [...rows.keys()].filter((k) => !committed.has(k)),
  )
  const maxAttempt = new Map<string, number>()
  for (const e of input.executions)
    maxAttempt.set(e.executionId, Math.max(maxAttempt.get(e.executionId) ?? 0, e.attempt))
  const wrongStatus: string[] = []
  for (const r of rows.values()) {
    const dead = input.workload.expect.get(r.taskId)?.dead === true && !r.executionId.includes(':manual:')
    const last = maxAttempt.get(r.executionId) === r.attempt
    const want = !last ? 'FAILED' : dead ? 'DEAD' : 'SUCCEEDED'
    if (r.status !== want) wrongStatus.push(`${r.executionId}#${r.attempt} ${r.status} (want ${want})`)
  }
  f.fail('task_runs rows not in the status their task implies', wrongStatus)
  f.note(
    'task_runs rows still open',
    [...rows.values()].filter((r) => openRuns.has(r.status)).map((r) => `${r.executionId}#${r.attempt}`),
  )
  const terminal = tally(
    input.results.filter((r) => terminalResults.has(r.status)).map((r) => `${r.executionId}#${r.attempt}`),
  )
  f.fail(
    'committed executions without a terminal result',
    [...committed].filter((k) => !terminal.has(k)),
  )
  f.note(
    'attempts with a terminal result committed more than once (redeliveries, counted once)',
    [...terminal].filter(([, n]) => n > 1).map(([k, n]) => `${k}×${n}`),
  )
}

export function audit(input: AuditInput): AuditReport {
  const f = new Findings()
  auditAttempts(input, f)
  auditSlots(input, f)
  auditOccurrences(input, f)
  auditRuns(input, f)
  const committed = tally(input.executions.map((e) => `${e.executionId}#${e.attempt}`))
  const extra = [...tally(input.uncommittedExecutions.map((e) => `${e.executionId}#${e.attempt}`))]
    .filter(([k, n]) => n > (committed.get(k) ?? 0))
    .map(([k, n]) => `${k} ${n} uncommitted vs ${committed.get(k) ?? 0} committed`)
  f.note('execution records of aborted transactions (uncommitted duplicates)', extra)
  f.note('API calls that failed during faults', input.workload.apiFailures)
  return {
    failures: f.failures,
    info: f.info,
    counts: {
      executions: input.executions.length,
      uncommittedExecutions: input.uncommittedExecutions.length,
      occurrences: input.occurrences.length,
      results: input.results.length,
      runs: input.runs.length,
      manualTriggers: input.workload.triggers.length,
    },
  }
}
