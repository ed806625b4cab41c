/**
 * Scenario (isolation) on flextask: a herd on one partition must not delay the others (issue 14, target: crons
 * on the other partitions keep p99 ≤ 50 ms while the herd drains).
 *
 * `crons` CRON tasks firing every second (`* * * * * *`, UTC) are keyed onto partitions 1 … P−1; `herd`
 * ONE_SHOT tasks due within one second are keyed onto partition 0. The scheduler (a child process) ingests the
 * crons, then the crons run alone for `quietMs` (the baseline, same run), then the herd is loaded and its
 * second opens. A read_committed consumer observes every execution: receipt − due is the observed lateness,
 * firedAtMs − due the scheduler's own stamp. The cron fires due while the herd drains (window start … last
 * herd fire) are compared with the quiet ones; cron fires due while the herd was being loaded are left out
 * (ingest is not what this scenario measures). The scheduler traces its cycles, so every cron fire's lateness
 * is also split into the segments of its timeline (latency-breakdown.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { buildTaskDefinition } from '../../schemas/task-definition-builder.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import type { CycleTrace } from '../lib/cycle-trace.ts'
import { type Breakdown, latencyBreakdown } from '../lib/latency-breakdown.ts'
import { summarize, type Summary } from '../lib/stats.ts'
import {
  CATEGORY,
  closeRun,
  type FlextaskRun,
  observeExecutions,
  forkScheduler,
  ingested,
  oneShot,
  openRun,
  PARTITIONS,
  produce,
  TASK_TYPE,
} from '../lib/flextask-harness.ts'

export interface IsolationRun {
  herd: number
  crons: number
  quietMs: number
  /** Herd: last fire stamp − window start, and fires/s over that span. */
  herdLastFireMs: number
  herdLastObservedMs: number
  herdFiresPerS: number
  herdFireLateness: Summary
  herdObserved: number
  herdDuplicates: number
  /** Cron fires due in the quiet baseline and while the herd drained: observed and fire-stamp lateness. */
  quiet: { lateness: Summary; fireLateness: Summary }
  during: { lateness: Summary; fireLateness: Summary }
  cronDuplicates: number
  /** Cron lateness split along its timeline: due → barrier → fire → commit → receipt. */
  breakdown: { quiet: Breakdown; during: Breakdown }
  slackMs: number
  /** Samples for the plot (ms). */
  samples: { quiet: number[]; during: number[] }
  /** Raw timelines for a closer look (results JSON): the scheduler's cycles and the cron fires counted. */
  trace: { cycles: CycleTrace[]; quiet: Fire[]; during: Fire[] }
}

const LOAD_TIMEOUT_MS = 15 * 60_000
/** Herd ingest rate (one partition) assumed when placing the window (twice over); the run reports the real slack. */
const ASSUMED_INGEST_PER_S = 7_000
const LEAD_MS = 3_000
const GRACE_MS = 180_000
const CRON_PREFIX = 'c-'
const HERD_PREFIX = 'h-'

/** `count` task ids with `prefix` whose murmur2 partition satisfies `wanted`. */
function idsOn(prefix: string, count: number, wanted: (partition: number) => boolean): string[] {
  const ids: string[] = []
  for (let j = 0; ids.length < count; j++) {
    const id = `${prefix}${j}`
    if (wanted(partitionForKey(Buffer.from(id, 'utf8'), PARTITIONS))) ids.push(id)
  }
  return ids
}

export interface Fire {
  partition: number
  dueAtMs: number
  firedAtMs: number
  receivedMs: number
}

class IsolationObserver {
  readonly cron: Fire[] = []
  readonly herd: Fire[] = []
  readonly #seen = new Set<string>()
  cronDuplicates = 0
  herdDuplicates = 0

  record(e: TaskExecution, receivedMs: number): void {
    const partition = partitionForKey(Buffer.from(e.taskId, 'utf8'), PARTITIONS)
    const fire = { partition, dueAtMs: e.dueAtMs, firedAtMs: e.firedAtMs, receivedMs }
    const key = `${e.taskId}\u0000${e.scheduledForMs}`
    const herd = e.taskId.startsWith(HERD_PREFIX)
    if (this.#seen.has(key)) {
      if (herd) this.herdDuplicates++
      else this.cronDuplicates++
      return
    }
    this.#seen.add(key)
    if (herd) this.herd.push(fire)
    else if (e.taskId.startsWith(CRON_PREFIX)) this.cron.push(fire)
  }
}

async function observe(run: FlextaskRun, into: IsolationObserver): Promise<() => Promise<void>> {
  return observeExecutions(run, (execution, receivedMs) => into.record(execution, receivedMs))
}

function lateness(fires: readonly Fire[]): { lateness: Summary; fireLateness: Summary } {
  return {
    lateness: summarize(fires.map((f) => f.receivedMs - f.dueAtMs)),
    fireLateness: summarize(fires.map((f) => f.firedAtMs - f.dueAtMs)),
  }
}

export async function runFlextaskIsolation(
  options: { herd: number; crons: number; quietMs: number },
  progress: (line: string) => void,
): Promise<IsolationRun> {
  const run = await openRun('isolation')
  let closeObserver: (() => Promise<void>) | undefined
  try {
    const createdAtMs = Date.now()
    const cronIds = idsOn(CRON_PREFIX, options.crons, (p) => p !== 0)
    const everySecond = { kind: 'CRON' as const, cron: '* * * * * *', timezone: 'UTC' }
    await produce(run, cronIds.length, (i) =>
      buildTaskDefinition({
        taskId: cronIds[i] as string,
        category: CATEGORY,
        type: TASK_TYPE,
        createdAtMs,
        schedule: everySecond,
      }),
    )
    const child = forkScheduler(run, () => {}, { trace: true })
    await child.serving
    await ingested(run, child, Date.now() + LOAD_TIMEOUT_MS)
    const observer = new IsolationObserver()
    closeObserver = await observe(run, observer)
    // The baseline starts a second after the first cron execution arrives (the observer's join and first
    // fetch are not the scheduler's lateness).
    while (observer.cron.length === 0) {
      child.throwIfFailed()
      await sleep(20)
    }
    const quietFromMs = Math.ceil((Date.now() + 1_000) / 1000) * 1000
    progress(`${cronIds.length} crons on partitions 1..${PARTITIONS - 1} ingested; ${options.quietMs} ms quiet`)
    await sleep(quietFromMs + options.quietMs - Date.now())
    child.throwIfFailed()
    const quietToMs = Date.now()
    // The quiet fires are received before the herd is produced: producing it keeps this process (the observer)
    // busy for seconds, and the last quiet second's receipts were stamped up to 1.9 s late by that alone.
    const quietSeconds = Math.ceil((quietToMs - quietFromMs) / 1000)
    const quietDeadlineMs = quietToMs + 5_000
    const receivedQuiet = (): number =>
      observer.cron.filter((f) => f.dueAtMs >= quietFromMs && f.dueAtMs < quietToMs).length
    while (receivedQuiet() < quietSeconds * cronIds.length && Date.now() < quietDeadlineMs) await sleep(20)

    const herdIds = idsOn(HERD_PREFIX, options.herd, (p) => p === 0)
    const windowStartMs =
      Math.ceil((Date.now() + LEAD_MS + (2 * options.herd * 1000) / ASSUMED_INGEST_PER_S) / 1000) * 1000
    await produce(run, herdIds.length, (i) =>
      oneShot(herdIds[i] as string, windowStartMs + Math.floor((i * 1000) / options.herd), Date.now()),
    )
    await ingested(run, child, windowStartMs + GRACE_MS)
    const slackMs = windowStartMs - Date.now()
    progress(`herd of ${options.herd} on partition 0 loaded, ${slackMs} ms before its second opens`)
    const deadlineMs = windowStartMs + 1000 + GRACE_MS
    let lastReport = Date.now()
    while (observer.herd.length < options.herd && Date.now() < deadlineMs) {
      child.throwIfFailed()
      await sleep(50)
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now()
        progress(`${observer.herd.length} of ${options.herd} herd fires observed`)
      }
    }
    // Crons due up to the last herd fire have been observed once this much later (a cycle or two).
    await sleep(2_000)
    let herdLastFire = -Infinity
    let herdLastObserved = -Infinity
    for (const f of observer.herd) {
      herdLastFire = Math.max(herdLastFire, f.firedAtMs)
      herdLastObserved = Math.max(herdLastObserved, f.receivedMs)
    }
    const quiet = observer.cron.filter((f) => f.dueAtMs >= quietFromMs && f.dueAtMs < quietToMs)
    const during = observer.cron.filter((f) => f.dueAtMs >= windowStartMs && f.dueAtMs <= herdLastFire)
    const herdLastFireMs = herdLastFire - windowStartMs
    return {
      herd: options.herd,
      crons: cronIds.length,
      quietMs: options.quietMs,
      herdLastFireMs,
      herdLastObservedMs: herdLastObserved - windowStartMs,
      herdFiresPerS: (observer.herd.length * 1000) / Math.max(1, herdLastFireMs),
      herdFireLateness: summarize(observer.herd.map((f) => f.firedAtMs - f.dueAtMs)),
      herdObserved: observer.herd.length,
      herdDuplicates: observer.herdDuplicates,
      quiet: lateness(quiet),
      during: lateness(during),
      cronDuplicates: observer.cronDuplicates,
      breakdown: { quiet: latencyBreakdown(quiet, child.cycles), during: latencyBreakdown(during, child.cycles) },
      slackMs,
      samples: {
        quiet: quiet.map((f) => f.receivedMs - f.dueAtMs),
        during: during.map((f) => f.receivedMs - f.dueAtMs),
      },
      trace: { cycles: child.cycles.filter((c) => c.endMs >= quietFromMs), quiet, during },
    }
  } finally {
    await closeObserver?.().catch(() => {})
    await closeRun(run)
  }
}
