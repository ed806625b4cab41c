/**
 * Scheduler metrics derived from what the scheduler topology committed: every execution, occurrence and dead
 * letter of a committed transaction is counted once, so the figures agree with the occurrence ledger and the
 * executions topics by construction. Aborted cycles count nothing (their records are re-produced by the retry).
 * The processors know nothing of metrics.
 *
 * What a record counts as is noted when the topology serializes it (`noting` wraps the scheduler's serdes), keyed
 * by the very Buffer that is produced, so a commit is counted without decoding anything: decoding every committed
 * execution with Avro only to count it showed in the herd CPU profile (issue 14). A committed record that was not
 * serialized through `noting` (a test feeding raw records) is decoded as before.
 */
import type { SchedulerMetrics } from '../metrics.ts'
import type { DeadLetter } from '../schemas/dead-letter.ts'
import type { Occurrence } from '../schemas/occurrence.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TopicNames } from '../topics.ts'
import type { Serde } from '../topology/api.ts'

/** A record of a committed transaction, as the runtime reports it. */
export interface CommittedRecord {
  topic: string
  value: Buffer | null
}

/**
 * A bounded label for an occurrence's free-text reason: the part before the first `:` / `;` / `(` (`overlap`,
 * `duplicate`, `paused`), `cancelled` for `cancelled by …`, the policy for `misfire: <policy>`, else `other`.
 */
export function reasonLabel(reason: string | null): string {
  if (reason === null || reason === '') return 'none'
  const misfire = /^misfire: ([a-z-]+)/.exec(reason)
  if (misfire !== null) return `misfire ${misfire[1]}`
  const head = (reason.split(/[:;(]/, 1)[0] ?? '').replace(/ by .*$/, '').trim()
  return /^[a-z][a-z -]{0,31}$/.test(head) ? head : 'other'
}

/**
 * The largest value per key over a sliding window, kept as `slots` sub-windows of `windowMs / slots` each: the
 * maximum of the live slots is the maximum of the last windowMs (to within one slot).
 */
export class WindowMax {
  readonly #slotMs: number
  readonly #slots: number
  /** key → slot index (time / slotMs) → max in that slot */
  readonly #maxima = new Map<string, Map<number, number>>()

  constructor(options: { windowMs: number; slots: number }) {
    this.#slots = options.slots
    this.#slotMs = options.windowMs / options.slots
  }

  observe(key: string, value: number, nowMs: number): void {
    const slot = Math.floor(nowMs / this.#slotMs)
    let slots = this.#maxima.get(key)
    if (slots === undefined) this.#maxima.set(key, (slots = new Map<number, number>()))
    slots.set(slot, Math.max(value, slots.get(slot) ?? -Infinity))
  }

  /** The maximum of the window ending at nowMs, per key; keys with nothing in the window are forgotten. */
  read(nowMs: number): Map<string, number> {
    const oldest = Math.floor(nowMs / this.#slotMs) - this.#slots + 1
    const out = new Map<string, number>()
    for (const [key, slots] of this.#maxima) {
      for (const slot of slots.keys()) if (slot < oldest) slots.delete(slot)
      if (slots.size === 0) this.#maxima.delete(key)
      else out.set(key, Math.max(...slots.values()))
    }
    return out
  }
}

/** What a committed record adds to the metrics, taken from the value before it was encoded. */
type Noted =
  | { kind: 'execution'; category: string; trigger: string; latenessMs: number }
  | { kind: 'occurrence'; outcome: string; reason: string }
  | { kind: 'deadLetter'; reasonCode: string }

/** The serdes of the records the metrics count. */
export interface CountedSerdes {
  execution: Serde<TaskExecution>
  occurrence: Serde<Occurrence>
  deadLetter: Serde<DeadLetter>
}

export class SchedulerOutputMetrics {
  readonly #metrics: SchedulerMetrics
  readonly #serdes: CountedSerdes
  readonly #executionsPrefix: string
  readonly #occurrences: string
  readonly #deadLetter: string
  readonly #nowMs: () => number
  readonly #latenessMax = new WindowMax({ windowMs: 60_000, slots: 6 })
  /** Encoded value → what it counts as; entries of aborted cycles are never looked up and go with their Buffers. */
  readonly #noted = new WeakMap<Buffer, Noted>()

  constructor(options: {
    metrics: SchedulerMetrics
    /** Wall clock in epoch ms (the window of fireLatenessMax). */
    nowMs: () => number
    serdes: CountedSerdes
    topics: Pick<TopicNames, 'executions' | 'occurrences' | 'deadLetter'>
  }) {
    this.#metrics = options.metrics
    this.#serdes = options.serdes
    const sample = options.topics.executions('\u0000')
    this.#executionsPrefix = sample.slice(0, sample.indexOf('\u0000'))
    this.#occurrences = options.topics.occurrences
    this.#deadLetter = options.topics.deadLetter
    this.#nowMs = options.nowMs
  }

  /**
   * The topology's serdes with the counted ones wrapped: serializing an execution, occurrence or dead letter notes
   * what it counts as against the produced Buffer. Pass the result to the scheduler topology.
   */
  noting<S extends CountedSerdes>(serdes: S): Omit<S, keyof CountedSerdes> & CountedSerdes {
    return {
      ...serdes,
      execution: this.#noter(serdes.execution, (e) => ({
        kind: 'execution',
        category: e.category,
        trigger: e.trigger,
        latenessMs: latenessMs(e),
      })),
      occurrence: this.#noter(serdes.occurrence, (o) => ({
        kind: 'occurrence',
        outcome: o.outcome,
        reason: reasonLabel(o.reason),
      })),
      deadLetter: this.#noter(serdes.deadLetter, (d) => ({ kind: 'deadLetter', reasonCode: d.reasonCode })),
    }
  }

  #noter<T>(serde: Serde<T>, note: (value: T) => Noted): Serde<T> {
    return {
      serialize: (value) => {
        const bytes = serde.serialize(value)
        this.#noted.set(bytes, note(value))
        return bytes
      },
      deserialize: (data) => serde.deserialize(data),
    }
  }

  /** Sets the lateness-max gauge from the last minute (called at scrape time). */
  collect(): void {
    this.#metrics.fireLatenessMax.reset()
    for (const [category, maxMs] of this.#latenessMax.read(this.#nowMs())) {
      this.#metrics.fireLatenessMax.set({ category }, maxMs / 1000)
    }
  }

  /** Counts the sink records of one committed transaction. */
  async committed(records: readonly CommittedRecord[], durationMs: number): Promise<void> {
    this.#metrics.transactions.inc({ outcome: 'committed' })
    this.#metrics.commitDuration.observe({}, durationMs / 1000)
    for (const record of records) if (record.value !== null) await this.#observe(record.topic, record.value)
  }

  aborted(): void {
    this.#metrics.transactions.inc({ outcome: 'aborted' })
  }

  async #observe(topic: string, value: Buffer): Promise<void> {
    const noted = this.#noted.get(value) ?? (await this.#decode(topic, value))
    if (noted === undefined) return
    if (noted.kind === 'execution') {
      this.#metrics.fires.inc({ category: noted.category, trigger: noted.trigger })
      this.#metrics.fireLateness.observe({ category: noted.category }, noted.latenessMs / 1000)
      this.#latenessMax.observe(noted.category, noted.latenessMs, this.#nowMs())
    } else if (noted.kind === 'occurrence') {
      this.#metrics.occurrences.inc({ outcome: noted.outcome, reason: noted.reason })
    } else {
      this.#metrics.deadLetters.inc({ reason: noted.reasonCode })
    }
  }

  /** What a record that was not serialized through `noting` counts as, from its bytes. */
  async #decode(topic: string, value: Buffer): Promise<Noted | undefined> {
    if (topic.startsWith(this.#executionsPrefix)) {
      const e = await this.#serdes.execution.deserialize(value)
      return { kind: 'execution', category: e.category, trigger: e.trigger, latenessMs: latenessMs(e) }
    }
    if (topic === this.#occurrences) {
      const o = await this.#serdes.occurrence.deserialize(value)
      return { kind: 'occurrence', outcome: o.outcome, reason: reasonLabel(o.reason) }
    }
    if (topic === this.#deadLetter) {
      const d = await this.#serdes.deadLetter.deserialize(value)
      return { kind: 'deadLetter', reasonCode: d.reasonCode }
    }
    return undefined
  }
}

function latenessMs(execution: TaskExecution): number {
  return Math.max(0, execution.firedAtMs - execution.dueAtMs)
}
