/**
 * Scheduler metrics derived from what the scheduler topology committed: every execution, occurrence and dead
 * letter of a committed transaction is counted once, so the figures agree with the occurrence ledger and the
 * executions topics by construction. Aborted cycles count nothing (their records are re-produced by the retry).
 * The processors know nothing of metrics.
 */
import type { SchedulerMetrics } from '../metrics.ts'
import type { SerdeRegistry } from '../schemas/serde-registry.ts'
import type { TopicNames } from '../topics.ts'

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

export class SchedulerOutputMetrics {
  readonly #metrics: SchedulerMetrics
  readonly #serdes: Pick<SerdeRegistry, 'execution' | 'occurrence' | 'deadLetter'>
  readonly #executionsPrefix: string
  readonly #occurrences: string
  readonly #deadLetter: string
  readonly #nowMs: () => number
  readonly #latenessMax = new WindowMax({ windowMs: 60_000, slots: 6 })

  constructor(options: {
    metrics: SchedulerMetrics
    /** Wall clock in epoch ms (the window of fireLatenessMax). */
    nowMs: () => number
    serdes: Pick<SerdeRegistry, 'execution' | 'occurrence' | 'deadLetter'>
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
    if (topic.startsWith(this.#executionsPrefix)) {
      const execution = await this.#serdes.execution.deserialize(value)
      this.#metrics.fires.inc({ category: execution.category, trigger: execution.trigger })
      const latenessMs = Math.max(0, execution.firedAtMs - execution.dueAtMs)
      this.#metrics.fireLateness.observe({ category: execution.category }, latenessMs / 1000)
      this.#latenessMax.observe(execution.category, latenessMs, this.#nowMs())
    } else if (topic === this.#occurrences) {
      const occurrence = await this.#serdes.occurrence.deserialize(value)
      this.#metrics.occurrences.inc({ outcome: occurrence.outcome, reason: reasonLabel(occurrence.reason) })
    } else if (topic === this.#deadLetter) {
      const deadLetter = await this.#serdes.deadLetter.deserialize(value)
      this.#metrics.deadLetters.inc({ reason: deadLetter.reasonCode })
    }
  }
}
