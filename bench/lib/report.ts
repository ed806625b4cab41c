/**
 * The benchmark report: per-run figures of the due scenarios, their medians over repeats, flextask/peer
 * ratios, the state scenarios, and the check against the issue's targets, written as JSON, a markdown table
 * and SVG lateness CDFs into the results directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import type { DueRun, DueWorkload } from './due-workload.ts'
import { type Preset, type Scenario, Scenarios, Systems, type System, Targets } from './presets.ts'
import { formatNumber, formatRatio, median, ratio, summarize, type Summary } from './stats.ts'
import { cdfSvg } from './svg.ts'
import type { StateRun } from '../scenarios/flextask-state.ts'
import type { IsolationRun } from '../scenarios/flextask-isolation.ts'
import { isolationMarkdown, isolationSvg } from './isolation-report.ts'

export interface DueFigures {
  system: System
  scenario: string
  workload: { count: number; pending: number; spanMs: number }
  failed?: string
  observed?: string
  observedCount?: number
  duplicates?: number
  lateness?: Summary
  fireLateness?: Summary
  /** Last observation − window start. */
  lastAfterWindowMs?: number
  /** Last fire stamp − window start (flextask). */
  lastFireAfterWindowMs?: number
  /** Measured jobs / (last − window start), on fire stamps where the system has them: the rate that kept up. */
  drainPerS?: number
  loadMs?: number
  slackMs?: number
}

export interface BenchResults {
  preset: Preset
  scenarios: Scenario[]
  repeat: number
  startedAt: string
  durationS: number
  environment: string
  configs: Record<System, string>
  peers: System[]
  due: DueFigures[]
  state: (StateRun | { pending: number; failed: string })[]
  isolation: (IsolationRun | { failed: string })[]
}

export function dueFigures(system: System, workload: DueWorkload, run: DueRun | string): DueFigures {
  const base = {
    system,
    scenario: workload.scenario,
    workload: { count: workload.count, pending: workload.pending, spanMs: workload.spanMs },
  }
  if (typeof run === 'string') return { ...base, failed: run }
  const fire = run.fireLateness !== undefined
  const last = fire ? run.lastFireMs : run.lastMs
  return {
    ...base,
    observed: run.observed,
    observedCount: run.lateness.length,
    duplicates: run.duplicates,
    lateness: summarize(run.lateness),
    ...(run.fireLateness === undefined ? {} : { fireLateness: summarize(run.fireLateness) }),
    lastAfterWindowMs: run.lastMs - run.windowStartMs,
    ...(fire ? { lastFireAfterWindowMs: run.lastFireMs - run.windowStartMs } : {}),
    drainPerS: (run.lateness.length * 1000) / Math.max(1, last - run.windowStartMs),
    loadMs: run.loadMs,
    slackMs: run.slackMs,
  }
}

type Pick = (f: DueFigures) => number | undefined

/** The median over the scenario's successful runs of `system`, NaN when none. */
function med(due: DueFigures[], scenario: string, system: System, pick: Pick): number {
  return median(
    due
      .filter((d) => d.scenario === scenario && d.system === system && d.failed === undefined)
      .map((d) => pick(d) ?? NaN),
  )
}

function dueTable(results: BenchResults, scenario: string): string[] {
  const systems: System[] = [Systems.flextask, ...results.peers]
  const runs = results.due.filter((d) => d.scenario === scenario)
  const w = runs[0]?.workload
  if (w === undefined) return []
  const rows: [string, Pick, boolean][] = [
    ['lateness p50 ms (observed − due)', (d) => d.lateness?.p50, true],
    ['lateness p99 ms', (d) => d.lateness?.p99, true],
    ['lateness max ms', (d) => d.lateness?.max, true],
    ['last observed − window start ms', (d) => d.lastAfterWindowMs, true],
    ['flextask fire stamp p50 ms (firedAt − due)', (d) => d.fireLateness?.p50, false],
    ['flextask fire stamp p99 ms', (d) => d.fireLateness?.p99, false],
    ['flextask fire stamp max ms', (d) => d.fireLateness?.max, false],
    ['last fire − window start ms', (d) => d.lastFireAfterWindowMs, false],
    ['rate /s (jobs / (last fire or start − window start))', (d) => d.drainPerS, false],
    ['observed of expected', (d) => d.observedCount, false],
    ['duplicates', (d) => d.duplicates, false],
    ['load slack ms (window start − loaded)', (d) => d.slackMs, false],
  ]
  const peers = results.peers
  const head = `| ${['figure (median of runs)', ...systems, ...peers.map((p) => `flextask/${p}`)].join(' | ')} |`
  const lines = [
    `### (${scenario}) ${Scenarios[scenario as Scenario]}: ${formatNumber(w.count)} one-shots over ${w.spanMs / 1000} s, ` +
      `${formatNumber(w.pending)} pending`,
    '',
    head,
    `|${' --- |'.repeat(1 + systems.length + peers.length)}`,
    `| observed at | ${systems.map((s) => runs.find((d) => d.system === s && d.observed !== undefined)?.observed ?? 'n/a').join(' | ')} |${' |'.repeat(peers.length)}`,
  ]
  for (const [label, pick, withRatio] of rows) {
    const values = systems.map((s) => med(runs, scenario, s, pick))
    if (values.every((v) => !Number.isFinite(v))) continue
    const flextask = values[0] ?? NaN
    const ratios = peers.map((_, i) => (withRatio ? formatRatio(ratio(flextask, values[i + 1] ?? NaN)) : ''))
    lines.push(`| ${[label, ...values.map(formatNumber), ...ratios].join(' | ')} |`)
  }
  const overran = runs.filter((d) => (d.slackMs ?? 0) < 0)
  if (overran.length > 0) {
    lines.push(
      '',
      `WARNING: in ${overran.length} run(s) (${overran.map((d) => d.system).join(', ')}) loading the measured jobs ` +
        'finished after the window opened (negative load slack): their lateness includes loading time. ' +
        'Re-run with a larger --lead-ms.',
    )
  }
  const failed = runs.filter((d) => d.failed !== undefined)
  for (const f of failed) lines.push('', `FAILED: ${f.system}: ${f.failed ?? ''}`)
  lines.push('')
  return lines
}

const MiB = (bytes: number): string => formatNumber(bytes / 2 ** 20)

function stateTable(results: BenchResults): string[] {
  if (results.state.length === 0) return []
  const lines = [
    '### (c) ingest, (d) cold restore, (e) resident memory — flextask',
    '',
    '| pending | ingest definitions/s | startup ms | RSS after ingest MiB | peak RSS (ingest) MiB | heap used after GC (ingest) MiB | cold restore s | restored records | RSS after restore MiB | peak RSS (restore) MiB | heap used after GC (restore) MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const s of results.state) {
    if ('failed' in s) {
      lines.push(`| ${formatNumber(s.pending)} | FAILED: ${s.failed} |`)
      continue
    }
    lines.push(
      `| ${formatNumber(s.pending)} | ${formatNumber(s.ingestPerS)} | ${formatNumber(s.startupMs)} | ` +
        `${MiB(s.rssAfterIngestBytes)} | ${MiB(s.peakRssIngestBytes)} | ${MiB(s.heapAfterIngestBytes ?? NaN)} | ` +
        `${(s.restoreMs / 1000).toFixed(1)} | ${formatNumber(s.restoredRecords)} | ${MiB(s.rssAfterRestoreBytes)} | ` +
        `${MiB(s.peakRssRestoreBytes)} | ${MiB(s.heapAfterRestoreBytes ?? NaN)} |`,
    )
  }
  lines.push('')
  return lines
}

function targetRows(results: BenchResults): string[] {
  const due = results.due
  const flex = (scenario: string, pick: Pick): number => med(due, scenario, Systems.flextask, pick)
  const rows: [string, string, number, (v: number) => boolean][] = []
  const a = due.find((d) => d.scenario === 'a')?.workload
  if (a !== undefined) {
    const at = `${formatNumber(a.count / (a.spanMs / 1000))}/s, ${formatNumber(a.pending)} pending (target: 1M)`
    rows.push([
      `(a) fire p99 ≤ ${Targets.steadyFireP99Ms} ms`,
      at,
      flex('a', (d) => d.fireLateness?.p99),
      (v) => v <= Targets.steadyFireP99Ms,
    ])
    rows.push([
      `(a) fire max ≤ ${Targets.steadyFireMaxMs} ms`,
      at,
      flex('a', (d) => d.fireLateness?.max),
      (v) => v <= Targets.steadyFireMaxMs,
    ])
  }
  const b = due.find((d) => d.scenario === 'b')?.workload
  if (b !== undefined) {
    const at = `herd of ${formatNumber(b.count)} (target: 100k)`
    rows.push([
      `(b) fires/s ≥ ${formatNumber(Targets.herdRatePerS)}`,
      at,
      flex('b', (d) => d.drainPerS),
      (v) => v >= Targets.herdRatePerS,
    ])
    rows.push([
      `(b) last fire ≤ ${Targets.herdAllEmittedMs} ms after window start`,
      at,
      flex('b', (d) => d.lastFireAfterWindowMs),
      (v) => v <= Targets.herdAllEmittedMs,
    ])
  }
  // One row per pending count and target: the median over the repeats (a run per repeat).
  const byPending = new Map<number, StateRun[]>()
  for (const s of results.state) {
    if ('failed' in s) continue
    byPending.set(s.pending, [...(byPending.get(s.pending) ?? []), s])
  }
  for (const [pending, runs] of byPending) {
    const at = `${formatNumber(pending)} pending${runs.length > 1 ? `, median of ${runs.length}` : ''}`
    const ingest = median(runs.map((s) => s.ingestPerS))
    rows.push([`(c) ingest ≥ ${formatNumber(Targets.ingestPerS)}/s`, at, ingest, (v) => v >= Targets.ingestPerS])
    rows.push([
      '(d) cold restore of 1M ≤ 30 s (ms)',
      at,
      median(runs.map((s) => s.restoreMs)),
      (v) => (pending >= 1_000_000 ? v <= Targets.restoreOneMillionMs : false),
    ])
    rows.push([
      '(e) RSS at 10M pending ≤ 1 GiB (peak MiB)',
      at,
      median(runs.map((s) => Math.max(s.peakRssIngestBytes, s.peakRssRestoreBytes) / 2 ** 20)),
      (v) => (pending >= 10_000_000 ? v <= 1024 : false),
    ])
  }
  const lines = [
    "### Against the issue's targets (flextask, medians)",
    '',
    '| target | measured at | figure | met? |',
    '| --- | --- | --- | --- |',
  ]
  for (const [target, at, value, met] of rows) {
    const verdict = !Number.isFinite(value) ? 'not measured' : met(value) ? 'yes' : 'no'
    lines.push(`| ${target} | ${at} | ${formatNumber(value)} | ${verdict} |`)
  }
  lines.push(
    '',
    '(d) and (e) count as met only when measured at the target size (1M, 10M); at a smaller size they read "no".',
    '',
  )
  return lines
}

export function markdown(results: BenchResults): string {
  const lines = [
    `## flextask benchmark (${results.preset.name} preset), ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${results.environment}. Took ${results.durationS} s; ${results.repeat} run(s) per figure, medians shown; ` +
      'ratios are flextask/peer (below 1: flextask lower). Lateness is measured to what each system can observe ' +
      "(flextask: a read_committed consumer's receipt in a and b, a worker's handler start in f; peers: their " +
      "worker's handler start).",
    '',
  ]
  for (const scenario of ['a', 'b', 'f']) lines.push(...dueTable(results, scenario))
  lines.push(...isolationMarkdown(results.isolation))
  lines.push(...stateTable(results), ...targetRows(results), '### How each system was configured', '')
  for (const system of [Systems.flextask, ...results.peers]) lines.push(`- **${system}**: ${results.configs[system]}`)
  return `${lines.join('\n')}\n`
}

/** Writes `<preset>.json`, `<preset>.md` and one `<preset>-<scenario>.svg` per due scenario. */
export function writeResults(
  outDir: URL,
  results: BenchResults,
  samples: Map<string, number[]>,
): { markdown: string; files: string[] } {
  mkdirSync(outDir, { recursive: true })
  const name = results.preset.name
  const files: string[] = []
  const write = (file: string, text: string): void => {
    writeFileSync(new URL(file, outDir), text)
    files.push(file)
  }
  const md = markdown(results)
  write(`${name}.json`, `${JSON.stringify(results, null, 2)}\n`)
  write(`${name}.md`, md)
  for (const scenario of ['a', 'b', 'f']) {
    const series = [...samples.entries()]
      .filter(([key]) => key.startsWith(`${scenario}\u0000`))
      .map(([key, values]) => ({ label: key.slice(2), values }))
    if (series.length === 0) continue
    const w = results.due.find((d) => d.scenario === scenario)?.workload
    const title = `(${scenario}) ${Scenarios[scenario as Scenario]}${w === undefined ? '' : `: ${formatNumber(w.count)} jobs`}`
    write(`${name}-${scenario}.svg`, cdfSvg({ title, xLabel: 'lateness: observed − due (ms)', series }))
  }
  const isolation = isolationSvg(results.isolation)
  if (isolation !== undefined) write(`${name}-isolation.svg`, isolation)
  return { markdown: md, files }
}
