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

export class SchedulerOutputMetrics {
  readonly #metrics: SchedulerMetrics
  readonly #serdes: Pick<SerdeRegistry, 'execution' | 'occurrence' | 'deadLetter'>
  readonly #executionsPrefix: string
  readonly #occurrences: string
  readonly #deadLetter: string

  constructor(options: {
    metrics: SchedulerMetrics
    serdes: Pick<SerdeRegistry, 'execution' | 'occurrence' | 'deadLetter'>
    topics: Pick<TopicNames, 'executions' | 'occurrences' | 'deadLetter'>
  }) {
    this.#metrics = options.metrics
    this.#serdes = options.serdes
    const sample = options.topics.executions('\u0000')
    this.#executionsPrefix = sample.slice(0, sample.indexOf('\u0000'))
    this.#occurrences = options.topics.occurrences
    this.#deadLetter = options.topics.deadLetter
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
    } else if (topic === this.#occurrences) {
      const occurrence = await this.#serdes.occurrence.deserialize(value)
      this.#metrics.occurrences.inc({ outcome: occurrence.outcome, reason: reasonLabel(occurrence.reason) })
    } else if (topic === this.#deadLetter) {
      const deadLetter = await this.#serdes.deadLetter.deserialize(value)
      this.#metrics.deadLetters.inc({ reason: deadLetter.reasonCode })
    }
  }
}
