/**
 * Failover without waiting for a dead instance's transaction timeout. Every instance's transactional id is
 * `<applicationId>-<instanceId>` (eos-producer.ts). When an instance dies mid-transaction, its open
 * transaction holds the committed offsets of its partitions (require_stable answers UNSTABLE_OFFSET_COMMIT)
 * until the coordinator aborts it: transactionTimeoutMs after it began, plus up to the broker's abort check
 * interval (transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default) — 16 s were seen.
 *
 * The fencer remembers the static instance ids it has seen in the group (read on every join, retried: an
 * instance it never saw cannot be fenced, and its partitions would wait for the transaction timeout). While a
 * task open waits on an unstable offset (asked again every second of the wait, so a fence that gave up or
 * found nobody yet is tried again), every remembered instance that is no longer a member is fenced:
 * InitProducerId with its transactional id aborts its open transaction at once, exactly as that instance's
 * own restart would. An instance that is alive but was expelled is a zombie, and fencing it is what Kafka
 * Streams' EOS does too; if it comes back it gets PRODUCER_FENCED and re-opens its tasks.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type Admin, Producer, type ProducerOptions } from '@platformatic/kafka'

export interface ZombieFencerOptions {
  admin: Admin
  applicationId: string
  bootstrapBrokers: string[]
  instanceId: string
  /** Bounds the retries of a failed fence, and is each fencing producer's request timeout. */
  transactionTimeoutMs: number
  /** First delay between fence attempts (grows linearly to 2 s). @default 200 */
  retryDelayMs?: number
  /** SASL / TLS options of every client. */
  connection?: Pick<ProducerOptions<Buffer, Buffer, Buffer, Buffer>, 'sasl' | 'tls' | 'tlsServerName'>
}

/** What the last fence run saw and did (for the runtime's onFenced event: a failover's log explains itself). */
export interface FenceReport {
  known: string[]
  members: string[]
  attempts: number
  errors: string[]
}

export class ZombieFencer {
  readonly #o: ZombieFencerOptions
  readonly #known = new Set<string>()
  #fencing: Promise<string[]> | undefined
  lastReport: FenceReport = { known: [], members: [], attempts: 0, errors: [] }

  constructor(options: ZombieFencerOptions) {
    this.#o = options
  }

  /** Remembers the group's current static members (three attempts: a join is when an instance is seen). */
  async observeMembers(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        for (const id of await this.#members()) if (id !== this.#o.instanceId) this.#known.add(id)
        return
      } catch (error) {
        if (attempt >= 3) throw error
        await sleep((this.#o.retryDelayMs ?? 200) * attempt)
      }
    }
  }

  /**
   * Fences every remembered instance that is not a member now; returns the ids fenced. One run at a time.
   * A fence that fails (the coordinator busy, a request timed out on a loaded box) is retried with backoff for
   * up to transactionTimeoutMs: a task open asks once, and a fence given up on silently left the new owner
   * waiting for the transaction timeout plus the broker's abort check (20 s gaps in bench:failover).
   */
  fenceDeparted(): Promise<string[]> {
    this.#fencing ??= this.#fenceWithRetries().finally(() => (this.#fencing = undefined))
    return this.#fencing
  }

  async #fenceWithRetries(): Promise<string[]> {
    const deadline = Date.now() + this.#o.transactionTimeoutMs
    const fenced: string[] = []
    const report: FenceReport = (this.lastReport = { known: [...this.#known], members: [], attempts: 0, errors: [] })
    for (let attempt = 1; ; attempt++) {
      report.attempts = attempt
      try {
        const members = await this.#members()
        report.members = [...members]
        const departed = [...this.#known].filter((id) => !members.has(id))
        for (const id of departed) {
          await this.#fence(id)
          fenced.push(id)
        }
        return fenced
      } catch (error) {
        report.errors.push(error instanceof Error ? error.message.slice(0, 160) : String(error))
        if (Date.now() + (this.#o.retryDelayMs ?? 200) > deadline) throw error
        await sleep(Math.min(2000, (this.#o.retryDelayMs ?? 200) * attempt))
      }
    }
  }

  async #fence(id: string): Promise<void> {
    const producer = new Producer({
      ...this.#o.connection,
      clientId: `${this.#o.instanceId}-fencer`,
      bootstrapBrokers: this.#o.bootstrapBrokers,
      idempotent: true,
      transactionalId: `${this.#o.applicationId}-${id}`,
      timeout: this.#o.transactionTimeoutMs,
      // The coordinator answers CONCURRENT_TRANSACTIONS while it aborts the open transaction: ask again soon
      // (the client's default waits 1 s per retry; eos-producer.ts, workaround 4, is the same case).
      retries: 20,
      retryDelay: 50,
    })
    try {
      // InitProducerId bumps the epoch of that transactional id and aborts its open transaction. Producer id
      // and epoch −1: see eos-producer.ts, workaround 1. Nothing is added, so the transaction is discarded.
      const transaction = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
      await transaction.cancel()
      this.#known.delete(id)
    } finally {
      await producer.close().catch(() => {})
    }
  }

  async #members(): Promise<Set<string>> {
    const groups = await this.#o.admin.describeGroups({ groups: [this.#o.applicationId] })
    const ids = new Set<string>()
    for (const member of groups.get(this.#o.applicationId)?.members.values() ?? [])
      if (member.groupInstanceId) ids.add(member.groupInstanceId)
    return ids
  }
}
