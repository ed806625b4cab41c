/**
 * How long the runtime waits out retriable failures, and when it gives up ("outages are waited out", issue 7).
 *
 * - A startup step (topics, fencing the previous session) is retried with backoff (200 ms doubling to 5 s)
 *   while its failures are retriable, for at most `giveUpAfterMs` from its first attempt.
 * - A failed pass of the loop: a retriable error counts one more abort in a row (the backoff grows with the
 *   streak: 100 ms doubling to 5 s, backoff.ts). A momentary failure (kafka-errors.ts isMomentary: a commit
 *   refused because the group moved to a new generation, CONCURRENT_TRANSACTIONS while the markers of the
 *   abort are written) backs off at most `momentaryBackoffMaxMs`: in a failover the survivor's commit sent
 *   under the generation being replaced is refused, and a streak of those escalating to seconds of sleep after
 *   the coordinator was ready again would add straight to the gap (issue 7: 15 s worst case). The outage clock starts at the first failure and is stopped by
 *   progress: a commit (which also ends the streak) or a stream start. Past `giveUpAfterMs` without progress,
 *   or on an error that is not retriable, the failure is fatal.
 *
 * Fatal is thrown as a FlextaskError: the cause itself, or FLEXTASK_TOPOLOGY_GAVE_UP naming the step that
 * gave up and the last cause.
 */
import { ErrorCodes, FlextaskError } from '../errors.ts'
import { backoffMs, sleepUnless } from './backoff.ts'
import { decideError, isMomentary } from './kafka-errors.ts'
import type { RuntimeEvents } from './runtime-events.ts'

export const GAVE_UP = 'FLEXTASK_TOPOLOGY_GAVE_UP'

/** The longest backoff after a momentary failure (three doublings of 100 ms, ±20 %: ≤ 480 ms). */
const momentaryStreakCap = 3

export interface OutagePolicyOptions {
  /** How long retriable failures may go on without progress. */
  giveUpAfterMs: number
  events: RuntimeEvents
  /** Aborted by close(): ends every backoff sleep, and a startup step stops retrying. */
  stop: AbortSignal
  /** @default Date.now */
  nowMs?: () => number
}

export class OutagePolicy {
  readonly #o: OutagePolicyOptions
  readonly #now: () => number
  #failingSince: number | undefined
  #abortStreak = 0

  constructor(options: OutagePolicyOptions) {
    this.#o = options
    this.#now = options.nowMs ?? Date.now
  }

  /** Runs a startup step until it succeeds, waiting out retriable failures (onRetrying, backoff). */
  async retrying(step: string, fn: () => Promise<void>): Promise<void> {
    const startedAt = this.#now()
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn()
      } catch (error) {
        const decided = decideError(error, ErrorCodes.unknown)
        const failingForMs = this.#now() - startedAt
        if (!decided.retriable) throw decided
        if (failingForMs > this.#o.giveUpAfterMs) throw this.#gaveUp(step, decided, failingForMs)
        if (this.#o.stop.aborted) throw decided
        const wait = backoffMs(attempt, { initialMs: 200, maxMs: 5000 })
        this.#o.events.emit('onRetrying', {
          step,
          code: decided.code,
          message: decided.message,
          attempt,
          backoffMs: wait,
          failingForMs,
          giveUpInMs: this.#o.giveUpAfterMs - failingForMs,
        })
        await sleepUnless(wait, this.#o.stop)
      }
    }
  }

  /**
   * A pass of the loop failed: returns the decided error, the abort streak and the backoff to sleep
   * (`backOff`), or throws when the failure is fatal.
   */
  cycleFailed(error: unknown): { error: FlextaskError; streak: number; backoffMs: number } {
    const decided = decideError(error, ErrorCodes.commitFailed)
    if (!decided.retriable) throw decided
    this.#failingSince ??= this.#now()
    const failingForMs = this.#now() - this.#failingSince
    if (failingForMs > this.#o.giveUpAfterMs) throw this.#gaveUp('cycle', decided, failingForMs)
    this.#abortStreak++
    const momentary = isMomentary(decided.cause ?? decided)
    const step = momentary ? Math.min(this.#abortStreak, momentaryStreakCap) : this.#abortStreak
    return { error: decided, streak: this.#abortStreak, backoffMs: backoffMs(step) }
  }

  /** Sleeps a backoff; only close() cuts it short (review C9). */
  backOff(ms: number): Promise<void> {
    return sleepUnless(ms, this.#o.stop)
  }

  /** A cycle committed: the outage and the abort streak are over. */
  committed(): void {
    this.#abortStreak = 0
    this.#failingSince = undefined
  }

  /** The input stream started: the broker answers again (the abort streak goes on until a commit). */
  streamStarted(): void {
    this.#failingSince = undefined
  }

  #gaveUp(step: string, cause: FlextaskError, failingForMs: number): FlextaskError {
    return new FlextaskError(
      GAVE_UP,
      `${step}: gave up after ${Math.round(failingForMs / 1000)} s of retriable failures (outageGiveUpMs ${this.#o.giveUpAfterMs}): ${cause.message}`,
      { cause },
    )
  }
}
