/**
 * The report of bench/topology-throughput.ts: the process phase (throughput, transactions, commit times, CPU) and
 * the restore phase (changelog records, per-partition restore times, the restored-state check), one row a figure.
 */
import { kafkaBrokers } from '../../test/helpers/env.ts'
import type { StreamRuntimeOptions } from '../../topology/stream-runtime.ts'
import { environment } from './args.ts'

/** What the report states about the run. */
export interface ReportSettings {
  records: number
  keys: number
  valueBytes: number
  partitions: number
  runtime: Pick<StreamRuntimeOptions, 'commitIntervalMs' | 'maxRecordsPerCycle'>
}

export interface ProcessFigures {
  wallMs: number
  startupMs: number
  processingMs: number
  transactions: number
  aborted: number
  producedMessages: number
  commitMs: number[]
  cpuMs: number
}

export interface RestoreFigures {
  wallMs: number
  records: number
  partitionMs: number[]
  storeEntries: number
  countSum: number
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

export function report(options: ReportSettings, produceMs: number, p: ProcessFigures, r: RestoreFigures): void {
  const rate = (n: number, ms: number): string => (ms > 0 ? Math.round((n * 1000) / ms).toLocaleString('en-US') : 'n/a')
  const fixed = (n: number, digits = 1): string => n.toFixed(digits)
  const sorted = [...p.commitMs].sort((a, b) => a - b)
  const commitTotalMs = sorted.reduce((a, b) => a + b, 0)
  const rows: [string, string][] = [
    [
      'records (N) / keys',
      `${options.records} / ${options.keys}, ${options.valueBytes}-byte values, ${options.partitions} partitions`,
    ],
    [
      'runtime options',
      Object.entries(options.runtime)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ') || 'defaults',
    ],
    ['pre-produce (non-transactional)', `${fixed(produceMs, 0)} ms, ${rate(options.records, produceMs)} records/s`],
    ['process: wall from start()', `${fixed(p.wallMs, 0)} ms → ${rate(options.records, p.wallMs)} records/s`],
    ['  startup (start → all tasks running)', `${fixed(p.startupMs, 0)} ms`],
    [
      '  processing (running → last commit)',
      `${fixed(p.processingMs, 0)} ms → ${rate(options.records, p.processingMs)} records/s`,
    ],
    ['  transactions committed / aborted', `${p.transactions} / ${p.aborted}`],
    ['  input records per transaction', fixed(options.records / Math.max(1, p.transactions))],
    [
      '  messages produced per transaction',
      `${fixed(p.producedMessages / Math.max(1, p.transactions))} (outputs + changelog)`,
    ],
    [
      '  commit ms mean / p50 / p95 / max',
      [
        commitTotalMs / Math.max(1, sorted.length),
        percentile(sorted, 0.5),
        percentile(sorted, 0.95),
        sorted.at(-1) ?? 0,
      ]
        .map((v) => fixed(v))
        .join(' / '),
    ],
    [
      '  time in commits / wall',
      `${fixed(commitTotalMs, 0)} ms (${fixed((100 * commitTotalMs) / Math.max(1, p.wallMs), 0)}%)`,
    ],
    ['  process CPU / wall', `${fixed(p.cpuMs, 0)} ms (${fixed((100 * p.cpuMs) / Math.max(1, p.wallMs), 0)}%)`],
    ['restore: changelog records restored', String(r.records)],
    ['  wall from start() to all restored', `${fixed(r.wallMs, 0)} ms → ${rate(r.records, r.wallMs)} records/s`],
    ['  per-partition restore ms', r.partitionMs.map((ms) => fixed(ms, 0)).join(' / ')],
    ['  restored state check', `${r.storeEntries} entries, counts sum ${r.countSum}`],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  console.log(`\nflextask topology throughput (exactly-once) — ${environment(kafkaBrokers)}`)
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`)
}
