/**
 * The report of bench/scheduler.ts: one column per N, one row per figure (ingest, near tasks with N pending, the
 * fire of N due in one window), with the machine it ran on.
 */
import { kafkaBrokers } from '../../test/helpers/env.ts'
import { environment } from './args.ts'
import type { Cpu } from './cpu-meter.ts'
import { type ConsumerSummary, type Distribution, SPREAD_MS } from './execution-receipts.ts'

/** The settings a report states above its table. */
export interface ReportSettings {
  probes: number
  category: string
  /** The scheduler clock is stepped to this long before the bulk window. */
  stepLeadMs: number
  maxFiresPerWake: number | undefined
  commitIntervalMs: number | undefined
}

export interface RunFigures {
  n: number
  produceMs: number
  produceBytes: number
  startupMs: number
  ingestMs: number
  ingestWallMs: number
  ingestTransactions: number
  ingestAborted: number
  ingestCpu: Cpu
  fireTransactions: number
  fireAborted: number
  fireCpu: Cpu
  /** Scheduler-clock instant of the bulk window start. */
  bulkT: number
  catchUp: number
  consumer: ConsumerSummary
}

export function report(
  options: ReportSettings,
  runs: RunFigures[],
  failed: { n: number; reason: string } | undefined,
): void {
  const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
  const rate = (count: number, ms: number): string => (ms > 0 ? `${int((count * 1000) / ms)}/s` : 'n/a')
  const dist = (d: Distribution): string => `${int(d.p50)} / ${int(d.p99)} / ${int(d.max)}`
  const cpu = (c: Cpu, count: number): string =>
    `${int((1000 * c.processMs) / count)} / ${c.brokerMs === undefined ? 'n/a' : int((1000 * c.brokerMs) / count)}`
  const rows: [string, (r: RunFigures) => string][] = [
    ['pending one-shot definitions (N)', (r) => int(r.n)],
    ['pre-produce (plain producer)', (r) => `${int(r.produceMs)} ms, ${rate(r.n, r.produceMs)}`],
    ['  definition record size (key + value)', (r) => `${int(r.produceBytes / r.n)} B`],
    ['ingest: start() → all committed', (r) => `${int(r.ingestWallMs)} ms`],
    ['  startup (→ 3 partitions running)', (r) => `${int(r.startupMs)} ms`],
    ['  definitions ingested per second', (r) => rate(r.n, r.ingestMs)],
    ['  transactions committed / aborted', (r) => `${r.ingestTransactions} / ${r.ingestAborted}`],
    ['  CPU ms per 1k: bench process / broker', (r) => cpu(r.ingestCpu, r.n)],
    [`near tasks with N pending (${options.probes})`, () => ''],
    ['  fire lateness p50 / p99 / max ms', (r) => dist(r.consumer.probeFireLateness)],
    ['  visibility lateness p50 / p99 / max ms', (r) => dist(r.consumer.probeVisibleLateness)],
    [`fire: N due in a ${SPREAD_MS} ms window`, () => ''],
    ['  fires per second (N / first→last fire)', (r) => rate(r.n, r.consumer.lastFiredMs - r.consumer.firstFiredMs)],
    [
      '  first fire / last fire − window start ms',
      (r) => `${int(r.consumer.firstFiredMs - r.bulkT)} / ${int(r.consumer.lastFiredMs - r.bulkT)}`,
    ],
    ['  last visible − window start ms', (r) => int(r.consumer.lastReceivedMs - r.bulkT)],
    ['  lateness firedAt − dueAt p50 / p99 / max', (r) => dist(r.consumer.fireLateness)],
    ['  visibility receipt − dueAt p50/p99/max', (r) => dist(r.consumer.visibleLateness)],
    ['  fired as CATCH_UP (> 60 s late)', (r) => int(r.catchUp)],
    ['  transactions committed / aborted', (r) => `${r.fireTransactions} / ${r.fireAborted}`],
    ['  CPU ms per 1k: bench process / broker', (r) => cpu(r.fireCpu, r.n)],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  const columns = runs.map((r) => rows.map(([, value]) => value(r)))
  const colWidth = Math.max(12, ...columns.flat().map((v) => v.length))
  console.log(`\nflextask scheduler benchmark (exactly-once) — ${environment(kafkaBrokers)}`)
  console.log(
    `3 partitions, category ${options.category}, maxFiresPerWake ${options.maxFiresPerWake ?? 'default (1000)'}, ` +
      `commitIntervalMs ${options.commitIntervalMs ?? 'default (100)'}; fire phase: scheduler clock stepped to ` +
      `${options.stepLeadMs} ms before the window after ingestion`,
  )
  rows.forEach(([label], i) => {
    console.log(`${label.padEnd(width)}  ${columns.map((c) => (c[i] ?? '').padStart(colWidth)).join('  ')}`)
  })
  if (failed !== undefined) console.log(`N=${int(failed.n)}: DID NOT FINISH: ${failed.reason}`)
}
