/**
 * Per-fault figures, printed with the audit: how long the fault lasted, the fire lateness of the slots due while it
 * lasted (firedAtMs − scheduledForMs of committed attempt-1 executions), the peak end-to-end lag the monitor saw, and
 * the recovery time (from the heal until the end-to-end lag is under the monitor's threshold again).
 */
import type { TaskExecution } from '../../schemas/task-execution.ts'
import type { FaultRecord } from './faults.ts'
import type { LagMonitor } from './readers.ts'

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

function lateness(executions: readonly TaskExecution[], fromMs: number, toMs: number): number[] {
  return executions
    .filter((e) => e.attempt === 1 && e.trigger !== 'MANUAL' && e.scheduledForMs >= fromMs && e.scheduledForMs <= toMs)
    .map((e) => e.firedAtMs - e.scheduledForMs)
    .sort((a, b) => a - b)
}

export interface FaultFigures {
  kind: string
  target: string
  durationMs: number
  slots: number
  latenessP50Ms: number
  latenessMaxMs: number
  peakLagMs: number
  recoveryMs: number | null
  notes: string[]
}

export function faultFigures(
  faults: readonly FaultRecord[],
  executions: readonly TaskExecution[],
  monitor: LagMonitor,
): FaultFigures[] {
  return faults.map((f) => {
    const late = lateness(executions, f.injectedAtMs, f.healedAtMs)
    const recoveryMs = monitor.recoveryMs(f.healedAtMs)
    return {
      kind: f.kind,
      target: f.target,
      durationMs: f.healedAtMs - f.injectedAtMs,
      slots: late.length,
      latenessP50Ms: quantile(late, 0.5),
      latenessMaxMs: late.at(-1) ?? 0,
      peakLagMs: monitor.peakMs(f.injectedAtMs, f.healedAtMs + (recoveryMs ?? 0)),
      recoveryMs,
      notes: f.notes,
    }
  })
}

/** Lateness of the slots due outside every fault (and 30 s after each heal): the undisturbed baseline. */
export function baseline(faults: readonly FaultRecord[], executions: readonly TaskExecution[]): string {
  const disturbed = (t: number): boolean => faults.some((f) => t >= f.injectedAtMs && t <= f.healedAtMs + 30_000)
  const late = executions
    .filter((e) => e.attempt === 1 && e.trigger !== 'MANUAL' && !disturbed(e.scheduledForMs))
    .map((e) => e.firedAtMs - e.scheduledForMs)
    .sort((a, b) => a - b)
  return (
    `undisturbed fire lateness over ${late.length} slots: p50 ${quantile(late, 0.5)} ms, ` +
    `p99 ${quantile(late, 0.99)} ms, max ${late.at(-1) ?? 0} ms`
  )
}

export function formatFigures(figures: readonly FaultFigures[]): string {
  const head =
    'fault                       target                 lasted   slots  late p50  late max  peak lag  recovery'
  const lines = figures.map(
    (f) =>
      `${f.kind.padEnd(27)} ${f.target.slice(0, 22).padEnd(22)} ${`${(f.durationMs / 1000).toFixed(1)} s`.padStart(7)}` +
      ` ${String(f.slots).padStart(6)} ${`${f.latenessP50Ms} ms`.padStart(9)} ${`${f.latenessMaxMs} ms`.padStart(9)}` +
      ` ${`${(f.peakLagMs / 1000).toFixed(1)} s`.padStart(9)} ${(f.recoveryMs === null ? 'n/a' : `${(f.recoveryMs / 1000).toFixed(1)} s`).padStart(9)}` +
      (f.notes.length > 0 ? `  (${f.notes.join('; ')})` : ''),
  )
  return [head, ...lines].join('\n')
}
