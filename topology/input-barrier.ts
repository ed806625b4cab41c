/**
 * "Committed before the instant wins" (issue 8): before a task fires the timers due at T, it has read its
 * input partitions up to their end as observed at or after T, and processed those records first.
 *
 * How: one ListOffsets (LATEST, read_uncommitted: the high watermark) for every assigned partition of every
 * source topic, issued at instant A (A ≥ T, recorded before the request is sent). Every record acknowledged
 * before A lies below that high watermark. A task may fire the timers due at or before A once, for each of
 * its source partitions,
 *   - the input stream's fetch position has reached the observed high watermark (read_committed fetches
 *     stop at the last stable offset, so this also waits for every transaction open at A to commit or abort),
 *   - every record fetched below it has been handed to the inbox, and none below it is still queued there.
 * The timers due up to A then run (A is their due horizon, api.ts glossary), so no timer due after A fires on
 * this observation. The clock is not held at A: during a backlog A can be minutes behind the wall clock, and a
 * timer that fires then is as late as the wall clock says (firedAtMs, the lateness metric and the misfire
 * policy judge the real instant). Holding the clock (until 2026-12) made a fire 230 s late look on time.
 *
 * A transaction left open on an input partition (a producer that died mid-transaction) would hold the
 * partition's timers until the coordinator aborts it; after maxWaitMs the timers fire without it and
 * `onInputLate` reports it.
 */
import type { Consumer } from '@platformatic/kafka'
import { FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka'
import type { Clock } from './api.ts'
import type { RecordBuffer } from './record-buffer.ts'

interface Observation {
  atMs: number
  /** partition → topic → high watermark at atMs. */
  ends: Map<number, Map<string, bigint>>
}

export interface InputBarrierOptions {
  consumer: Consumer
  topics: readonly string[]
  clock: Clock
  /** Longest a due timer waits for its input before it fires anyway. */
  maxWaitMs: number
  /** Wakes the loop (an observation arrived). */
  notify: () => void
}

/** dueUpToMs: the timers due at or before it may fire now. lateMs: they fire without their input (waited). */
export type BarrierDecision =
  { dueUpToMs: number; lateMs?: undefined } | { dueUpToMs: number; lateMs: number } | undefined

export class InputBarrier {
  readonly #o: InputBarrierOptions
  #observation: Observation | undefined
  #inFlight = false
  /** partition → since when a due timer has waited. */
  readonly #waitingSince = new Map<number, number>()
  #failures = 0
  #retryAtMs = 0

  constructor(options: InputBarrierOptions) {
    this.#o = options
  }

  /** Forget observations (a join: new assignment, new stream). */
  reset(): void {
    this.#observation = undefined
    this.#waitingSince.clear()
  }

  /**
   * Whether the timers of `partition` due at or before `dueMs` may fire now, and up to which instant timers
   * are due (the observation's). Undefined: not yet (an observation is requested; the loop is notified).
   */
  decide(partition: number, dueMs: number, buffer: RecordBuffer, assigned: ReadonlySet<number>): BarrierDecision {
    const nowMs = this.#o.clock.nowMs()
    const obs = this.#observation
    const since = this.#waitingSince.get(partition) ?? nowMs
    this.#waitingSince.set(partition, since)
    if (obs === undefined || obs.atMs < dueMs || !obs.ends.has(partition)) {
      this.#observe(assigned)
    } else if (this.#caughtUp(partition, obs, buffer)) {
      this.#waitingSince.delete(partition)
      return { dueUpToMs: obs.atMs }
    }
    if (nowMs - since >= this.#o.maxWaitMs) {
      this.#waitingSince.delete(partition)
      return { dueUpToMs: nowMs, lateMs: nowMs - since }
    }
    return undefined
  }

  #caughtUp(partition: number, obs: Observation, buffer: RecordBuffer): boolean {
    const ends = obs.ends.get(partition) as Map<string, bigint>
    for (const [topic, end] of ends) {
      const fetched = buffer.fetchedUpTo(topic, partition)
      if (fetched === undefined || fetched < end) return false
    }
    return !buffer.holdsBelow(partition, ends)
  }

  #observe(assigned: ReadonlySet<number>): void {
    const atMs = this.#o.clock.nowMs()
    if (this.#inFlight || assigned.size === 0 || atMs < this.#retryAtMs) return
    this.#inFlight = true
    const partitions = [...assigned]
    const topics = [...this.#o.topics]
    this.#o.consumer
      .listOffsets({
        topics,
        partitions: Object.fromEntries(topics.map((t) => [t, partitions])),
        timestamp: ListOffsetTimestamps.LATEST,
        isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED,
      })
      .then((result) => {
        const ends = new Map<number, Map<string, bigint>>()
        for (const p of partitions) {
          const m = new Map<string, bigint>()
          for (const t of topics) m.set(t, result.get(t)?.[p] ?? 0n)
          ends.set(p, m)
        }
        if (this.#observation === undefined || this.#observation.atMs <= atMs) this.#observation = { atMs, ends }
        this.#failures = 0
      })
      .catch(() => {
        // The broker is unreachable: the loop's own paths report the outage; timers wait up to maxWaitMs.
        this.#failures++
        this.#retryAtMs = this.#o.clock.nowMs() + Math.min(1000, 50 * 2 ** this.#failures)
      })
      .finally(() => {
        this.#inFlight = false
        this.#o.notify()
      })
  }
}
