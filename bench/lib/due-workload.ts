/**
 * The workload that scenarios (a), (b) and (f) run on every system alike: `pending` one-shots due a day ahead
 * (they only weigh on the index), then `count` measured one-shots due at `windowStartMs + offsetMs(i)`. The
 * measured jobs are loaded before the window starts; each system then reports, per measured job, the instant
 * it was observed: a read_committed consumer's receipt or a worker handler's start (flextask), the handler's
 * start (BullMQ, pg-boss). `DueRecorder` turns those observations into lateness samples and counts duplicates.
 */

export interface DueWorkload {
  /** Short name for the report, e.g. `a` or `f`. */
  scenario: string
  pending: number
  count: number
  /** Offset of measured job i from the window start, ms, non-decreasing in i. */
  offsetMs: (i: number) => number
  /** Offset of the last measured job. */
  spanMs: number
  /** How long after the last due instant a run may take before it is reported incomplete. */
  graceMs: number
  /** The window opens at least this long after the measured jobs start loading (`--lead-ms`). */
  minLeadMs: number
}

/** Default of DueWorkload.minLeadMs. */
export const MIN_LEAD_MS = 3_000

/** The pending jobs are due this far ahead; they never fire during a run. */
export const PENDING_AHEAD_MS = 24 * 3_600_000

/** A steady rate: `rate` jobs per second for `seconds`, evenly spaced. */
export function steadyWorkload(
  scenario: string,
  rate: number,
  seconds: number,
  pending: number,
  minLeadMs = MIN_LEAD_MS,
): DueWorkload {
  const count = rate * seconds
  return {
    scenario,
    pending,
    count,
    offsetMs: (i) => Math.floor((i * 1000) / rate),
    spanMs: seconds * 1000,
    graceMs: 60_000,
    minLeadMs,
  }
}

/** A herd: `count` jobs due within one second. */
export function herdWorkload(scenario: string, count: number, minLeadMs = MIN_LEAD_MS): DueWorkload {
  return {
    scenario,
    pending: 0,
    count,
    offsetMs: (i) => Math.floor((i * 1000) / count),
    spanMs: 1000,
    graceMs: 120_000,
    minLeadMs,
  }
}

/**
 * Where the window starts: far enough after loading begins that `count` measured jobs are loaded before it
 * at `loadRatePerS`, twice over (a guess; the run reports the actual slack, and a negative slack taints it).
 */
export function windowStart(nowMs: number, count: number, loadRatePerS: number, minLeadMs: number): number {
  return Math.ceil((nowMs + minLeadMs + (2 * count * 1000) / loadRatePerS) / 1000) * 1000
}

/** One system under the due workload: how it loads jobs and how its starts (or receipts) are observed. */
export interface DueSystem {
  name: string
  observed: string
  config: string
  /** Loading rate assumed when nothing was measured yet (no pending jobs). */
  assumedLoadPerS: number
  /** Loads `count` pending jobs due at `dueMs`; resolves once the system holds them (ready to fire). */
  loadPending(count: number, dueMs: number): Promise<void>
  /** Starts observing measured jobs into `recorder`. */
  observe(recorder: DueRecorder): Promise<void>
  /** Loads measured jobs 0 … count−1 due at `dueMs(i)`; resolves once the system holds them. */
  loadMeasured(count: number, dueMs: (i: number) => number, deadlineMs: number): Promise<void>
  /** Throws if the system failed (checked while waiting). */
  check?(): void
}

/** Runs the workload on `system`: pending jobs, then the measured window, then the figures. */
export async function driveDueRun(
  system: DueSystem,
  workload: DueWorkload,
  progress: (line: string) => void,
): Promise<DueRun> {
  const recorder = new DueRecorder(workload.count)
  const loadStarted = Date.now()
  await system.loadPending(workload.pending, loadStarted + PENDING_AHEAD_MS)
  // The pending load measures this system's loading rate on this machine now (conservative for flextask:
  // it includes the scheduler's startup).
  const pendingMs = Math.max(1, Date.now() - loadStarted)
  const measuredPerS = workload.pending >= 10_000 ? (workload.pending * 1000) / pendingMs : Infinity
  await system.observe(recorder)
  const loadRatePerS = Math.min(system.assumedLoadPerS, measuredPerS)
  const windowStartMs = windowStart(Date.now(), workload.count, loadRatePerS, workload.minLeadMs)
  const deadlineMs = windowStartMs + workload.spanMs + workload.graceMs
  await system.loadMeasured(workload.count, (i) => windowStartMs + workload.offsetMs(i), deadlineMs)
  const loadedAt = Date.now()
  await recorder.settled(deadlineMs, (line) => {
    system.check?.()
    progress(line)
  })
  system.check?.()
  return dueRun(recorder, {
    system: system.name,
    scenario: workload.scenario,
    observed: system.observed,
    windowStartMs,
    loadMs: loadedAt - loadStarted,
    slackMs: windowStartMs - loadedAt,
    config: system.config,
  })
}

export interface DueRun {
  system: string
  scenario: string
  /** What the lateness is measured to: `consumer receipt` or `worker start`. */
  observed: string
  /** Observed − due, ms, per measured job that was observed (each once). */
  lateness: number[]
  /** flextask only: firedAtMs − dueAtMs (the scheduler's own stamp). */
  fireLateness: number[] | undefined
  expected: number
  duplicates: number
  windowStartMs: number
  /** First and last observation, epoch ms. */
  firstMs: number
  lastMs: number
  /** First and last fire stamp (flextask), epoch ms. */
  firstFireMs: number
  lastFireMs: number
  /** From the start of loading to every pending and measured job loaded. */
  loadMs: number
  /** Window start − the instant loading finished; negative: loading overran the window. */
  slackMs: number
  /** How the system was configured, for the report. */
  config: string
}

/** Collects observations of measured jobs 0 … count−1. */
export class DueRecorder {
  readonly #seen: Uint8Array
  readonly lateness: number[] = []
  readonly fireLateness: number[] = []
  duplicates = 0
  unexpected = 0
  firstMs = Infinity
  lastMs = -Infinity
  firstFireMs = Infinity
  lastFireMs = -Infinity

  readonly count: number

  constructor(count: number) {
    this.count = count
    this.#seen = new Uint8Array(count)
  }

  get received(): number {
    return this.lateness.length
  }

  get complete(): boolean {
    return this.lateness.length >= this.count
  }

  /** Job `i`, due at `dueMs`, observed at `atMs` (and fired at `firedAtMs` when the system stamps it). */
  record(i: number, dueMs: number, atMs: number, firedAtMs?: number): void {
    if (!Number.isSafeInteger(i) || i < 0 || i >= this.count) {
      this.unexpected++
      return
    }
    if (this.#seen[i] === 1) {
      this.duplicates++
      return
    }
    this.#seen[i] = 1
    this.lateness.push(atMs - dueMs)
    this.firstMs = Math.min(this.firstMs, atMs)
    this.lastMs = Math.max(this.lastMs, atMs)
    if (firedAtMs !== undefined) {
      this.fireLateness.push(firedAtMs - dueMs)
      this.firstFireMs = Math.min(this.firstFireMs, firedAtMs)
      this.lastFireMs = Math.max(this.lastFireMs, firedAtMs)
    }
  }

  /** Resolves once every job was observed, or at `deadlineMs` (epoch) with whatever was observed. */
  async settled(deadlineMs: number, progress: (line: string) => void): Promise<void> {
    let lastReport = Date.now()
    while (!this.complete && Date.now() < deadlineMs) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now()
        progress(`${this.received} of ${this.count} observed`)
      }
    }
  }
}

/** The run's figures from a recorder (lateness sample included). */
export function dueRun(
  recorder: DueRecorder,
  fields: Pick<DueRun, 'system' | 'scenario' | 'observed' | 'windowStartMs' | 'loadMs' | 'slackMs' | 'config'>,
): DueRun {
  if (recorder.unexpected > 0) throw new Error(`${fields.system}: ${recorder.unexpected} jobs that were not loaded`)
  return {
    ...fields,
    lateness: recorder.lateness,
    fireLateness: recorder.fireLateness.length > 0 ? recorder.fireLateness : undefined,
    expected: recorder.count,
    duplicates: recorder.duplicates,
    firstMs: recorder.firstMs,
    lastMs: recorder.lastMs,
    firstFireMs: recorder.firstFireMs,
    lastFireMs: recorder.lastFireMs,
  }
}
