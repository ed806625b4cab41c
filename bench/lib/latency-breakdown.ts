/**
 * Where a fire's lateness goes (issue 14, isolation): each observed fire joined with the scheduler cycle that
 * committed it (cycle-trace.ts), split into consecutive segments of its timeline
 *
 *   due → reached (a pass found the task due and asked the input barrier: the loop was busy before)
 *       → decided (the barrier let it fire: ListOffsets round trip and input catch-up)
 *       → fired (the fire stamp firedAtMs: earlier wake-ups of the same task in that pass)
 *       → commit started (the rest of the pass: other tasks' wake-ups, e.g. a herd's slice)
 *       → commit ended (the transaction, and the stores' apply)
 *       → received (the transaction markers, the LSO and the observer's fetch).
 *
 * A fire with no cycle found (its wake-up outside every traced cycle) is counted as unmatched. All instants
 * are the wall clock of one machine (scheduler child and bench process).
 */
import type { CycleTrace, WakeTrace } from './cycle-trace.ts'
import { summarize, type Summary } from './stats.ts'

export interface ObservedFire {
  partition: number
  dueAtMs: number
  firedAtMs: number
  receivedMs: number
}

export const Segments = ['toReached', 'barrier', 'inWake', 'toCommit', 'commit', 'toReceipt'] as const
export type Segment = (typeof Segments)[number]

export interface Breakdown {
  matched: number
  unmatched: number
  segments: Record<Segment, Summary>
  /** Records of the transactions that carried these fires (a herd slice shows here). */
  cycleRecords: Summary
}

interface Located {
  wake: WakeTrace
  cycle: CycleTrace
}

/** The wake-up (and its cycle) of `partition` that was running when `firedAtMs` was stamped. */
function locate(cycles: readonly CycleTrace[], partition: number, firedAtMs: number): Located | undefined {
  for (const cycle of cycles) {
    if (cycle.endMs < firedAtMs) continue
    for (const wake of cycle.wakes) {
      if (wake.partition === partition && wake.startedAtMs <= firedAtMs && firedAtMs <= wake.endedAtMs) {
        return { wake, cycle }
      }
    }
  }
  return undefined
}

export function latencyBreakdown(fires: readonly ObservedFire[], cycles: readonly CycleTrace[]): Breakdown {
  const sorted = [...cycles].sort((a, b) => a.endMs - b.endMs)
  const values: Record<Segment, number[]> = {
    toReached: [],
    barrier: [],
    inWake: [],
    toCommit: [],
    commit: [],
    toReceipt: [],
  }
  const records: number[] = []
  let unmatched = 0
  for (const f of fires) {
    const found = locate(sorted, f.partition, f.firedAtMs)
    if (found === undefined) {
      unmatched++
      continue
    }
    const { wake, cycle } = found
    const reachedMs = wake.startedAtMs - wake.barrierWaitMs
    const commitStartMs = cycle.endMs - cycle.durationMs
    values.toReached.push(reachedMs - f.dueAtMs)
    values.barrier.push(wake.barrierWaitMs)
    values.inWake.push(f.firedAtMs - wake.startedAtMs)
    values.toCommit.push(commitStartMs - f.firedAtMs)
    values.commit.push(cycle.durationMs)
    values.toReceipt.push(f.receivedMs - cycle.endMs)
    records.push(cycle.records)
  }
  const segments = Object.fromEntries(Segments.map((s) => [s, summarize(values[s])])) as Record<Segment, Summary>
  return { matched: fires.length - unmatched, unmatched, segments, cycleRecords: summarize(records) }
}
