/**
 * The report of the isolation scenario (flextask-isolation.ts): the herd's drain on partition 0 and the
 * lateness of the crons on the other partitions, quiet versus while the herd drains, with the ratio of the two
 * (same run, so the box's load weighs on both alike) and the target (cron p99 ≤ 50 ms during a herd).
 */
import type { IsolationRun } from '../scenarios/flextask-isolation.ts'
import { Segments } from './latency-breakdown.ts'
import { formatNumber, formatRatio, median, ratio, type Summary } from './stats.ts'
import { cdfSvg } from './svg.ts'

export const isolationTargetP99Ms = 50

type Figure = (r: IsolationRun) => number

const med = (runs: readonly IsolationRun[], pick: Figure): number => median(runs.map(pick))

function row(runs: readonly IsolationRun[], label: string, quiet: Figure, during: Figure): string {
  const q = med(runs, quiet)
  const d = med(runs, during)
  return `| ${label} | ${formatNumber(q)} | ${formatNumber(d)} | ${formatRatio(ratio(d, q))} |`
}

const pick =
  (phase: 'quiet' | 'during', kind: 'lateness' | 'fireLateness', field: keyof Summary): Figure =>
  (r) =>
    r[phase][kind][field]

export function isolationMarkdown(runs: readonly (IsolationRun | { failed: string })[]): string[] {
  if (runs.length === 0) return []
  const ok = runs.filter((r): r is IsolationRun => !('failed' in r))
  const first = ok[0]
  const lines = ['### (isolation) a herd on one partition, crons on the others — flextask', '']
  for (const r of runs) if ('failed' in r) lines.push(`FAILED: ${r.failed}`, '')
  if (first === undefined) return lines
  lines.push(
    `${formatNumber(first.herd)} one-shots due within one second on partition 0; ${formatNumber(first.crons)} ` +
      `crons firing every second on partitions 1 and 2 (${formatNumber(first.crons)} fires/s). Cron fires due in ` +
      `a ${first.quietMs / 1000} s quiet period before the herd are the baseline; "during" counts those due ` +
      'between the herd window opening and its last fire.',
    '',
    '| cron figure (median of runs) | quiet | during the herd | during/quiet |',
    '| --- | --- | --- | --- |',
    row(
      ok,
      'cron fires counted',
      (r) => r.quiet.lateness.count,
      (r) => r.during.lateness.count,
    ),
    row(
      ok,
      'cron lateness p50 ms (receipt − due)',
      pick('quiet', 'lateness', 'p50'),
      pick('during', 'lateness', 'p50'),
    ),
    row(ok, 'cron lateness p99 ms', pick('quiet', 'lateness', 'p99'), pick('during', 'lateness', 'p99')),
    row(ok, 'cron lateness max ms', pick('quiet', 'lateness', 'max'), pick('during', 'lateness', 'max')),
    row(
      ok,
      'cron fire stamp p50 ms (firedAt − due)',
      pick('quiet', 'fireLateness', 'p50'),
      pick('during', 'fireLateness', 'p50'),
    ),
    row(ok, 'cron fire stamp p99 ms', pick('quiet', 'fireLateness', 'p99'), pick('during', 'fireLateness', 'p99')),
    row(ok, 'cron fire stamp max ms', pick('quiet', 'fireLateness', 'max'), pick('during', 'fireLateness', 'max')),
    '',
    '| herd figure (median of runs) | value |',
    '| --- | --- |',
    `| herd fires observed of ${formatNumber(first.herd)} | ${formatNumber(med(ok, (r) => r.herdObserved))} |`,
    `| last herd fire − window start ms | ${formatNumber(med(ok, (r) => r.herdLastFireMs))} |`,
    `| last herd receipt − window start ms | ${formatNumber(med(ok, (r) => r.herdLastObservedMs))} |`,
    `| herd fires/s | ${formatNumber(med(ok, (r) => r.herdFiresPerS))} |`,
    `| herd fire stamp p99 ms | ${formatNumber(med(ok, (r) => r.herdFireLateness.p99))} |`,
    `| duplicates (herd, crons) | ${formatNumber(med(ok, (r) => r.herdDuplicates))}, ${formatNumber(med(ok, (r) => r.cronDuplicates))} |`,
    `| load slack ms (window start − herd loaded) | ${formatNumber(med(ok, (r) => r.slackMs))} |`,
    '',
  )
  lines.push(...breakdownTable(ok))
  const p99 = med(ok, pick('during', 'lateness', 'p99'))
  const verdict = !Number.isFinite(p99) ? 'not measured' : p99 <= isolationTargetP99Ms ? 'yes' : 'no'
  lines.push(
    `Target: cron p99 ≤ ${isolationTargetP99Ms} ms on the other partitions during the herd (receipt): ` +
      `${formatNumber(p99)} ms, met: ${verdict}.`,
    '',
  )
  return lines
}

/** CDF of cron lateness, quiet versus during the herd (all runs pooled). */
export function isolationSvg(runs: readonly (IsolationRun | { failed: string })[]): string | undefined {
  const ok = runs.filter((r): r is IsolationRun => !('failed' in r))
  if (ok.length === 0) return undefined
  return cdfSvg({
    title: `(isolation) cron lateness on partitions 1–2, herd of ${formatNumber(ok[0]?.herd ?? NaN)} on partition 0`,
    xLabel: 'cron lateness: receipt − due (ms)',
    series: [
      { label: 'crons, quiet', values: ok.flatMap((r) => r.samples.quiet) },
      { label: 'crons, during the herd', values: ok.flatMap((r) => r.samples.during) },
    ],
  })
}

const segmentLabels: Record<(typeof Segments)[number], string> = {
  toReached: 'due → a pass reaches the task',
  barrier: 'input barrier wait',
  inWake: 'in the wake-up, before the stamp',
  toCommit: 'fire stamp → commit start (rest of the pass)',
  commit: 'commit (transaction + apply)',
  toReceipt: 'commit end → receipt (LSO + fetch)',
}

/** The cron lateness along its timeline (latency-breakdown.ts), quiet and during the herd: p50 / p99 / max. */
function breakdownTable(runs: readonly IsolationRun[]): string[] {
  const cell = (f: (r: IsolationRun) => Summary): string =>
    (['p50', 'p99', 'max'] as const).map((k) => formatNumber(med(runs, (r) => f(r)[k]))).join(' / ')
  const lines = [
    '| cron lateness segment, ms (median of runs) | quiet p50 / p99 / max | during the herd p50 / p99 / max |',
    '| --- | --- | --- |',
  ]
  for (const s of Segments) {
    lines.push(
      `| ${segmentLabels[s]} | ${cell((r) => r.breakdown.quiet.segments[s])} | ` +
        `${cell((r) => r.breakdown.during.segments[s])} |`,
    )
  }
  lines.push(
    `| records in the committing transaction | ${cell((r) => r.breakdown.quiet.cycleRecords)} | ` +
      `${cell((r) => r.breakdown.during.cycleRecords)} |`,
    `| fires matched to a traced cycle (unmatched) | ${formatNumber(med(runs, (r) => r.breakdown.quiet.matched))} ` +
      `(${formatNumber(med(runs, (r) => r.breakdown.quiet.unmatched))}) | ` +
      `${formatNumber(med(runs, (r) => r.breakdown.during.matched))} ` +
      `(${formatNumber(med(runs, (r) => r.breakdown.during.unmatched))}) |`,
    '',
  )
  return lines
}
