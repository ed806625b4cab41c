/**
 * Failover without waiting for a dead instance's transaction timeout. Every instance's transactional id is
 * `<applicationId>-<instanceId>` (eos-producer.ts). When an instance dies mid-transaction, its open
 * transaction holds the committed offsets of its partitions (require_stable answers UNSTABLE_OFFSET_COMMIT)
 * until the coordinator aborts it: transactionTimeoutMs after it began, plus up to the broker's abort check
 * interval (transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default) — 16 s were seen.
 *
 * The fencer remembers the static instance ids it has seen in the group (read on every join). When a task
 * open waits on an unstable offset, every remembered instance that is no longer a member is fenced:
 * InitProducerId with its transactional id aborts its open transaction at once, exactly as that instance's
 * own restart would. An instance that is alive but was expelled is a zombie, and fencing it is what Kafka
 * Streams' EOS does too; if it comes back it gets PRODUCER_FENCED and re-opens its tasks.
 */
import { type Admin, Producer, type ProducerOptions } from '@platformatic/kafka'

export interface ZombieFencerOptions {
  admin: Admin
  applicationId: string
  bootstrapBrokers: string[]
  instanceId: string
  transactionTimeoutMs: number
  /** SASL / TLS options of every client. */
  connection?: Pick<ProducerOptions<Buffer, Buffer, Buffer, Buffer>, 'sasl' | 'tls' | 'tlsServerName'>
}

export class ZombieFencer {
  readonly #o: ZombieFencerOptions
  readonly #known = new Set<string>()
  #fencing: Promise<string[]> | undefined

  constructor(options: ZombieFencerOptions) {
    this.#o = options
  }

  /** Remembers the group's current static members. */
  async observeMembers(): Promise<void> {
    for (const id of await this.#members()) if (id !== this.#o.instanceId) this.#known.add(id)
  }

  /** Fences every remembered instance that is not a member now; returns their ids. One run at a time. */
  fenceDeparted(): Promise<string[]> {
    this.#fencing ??= this.#fence().finally(() => (this.#fencing = undefined))
    return this.#fencing
  }

  async #fence(): Promise<string[]> {
    const members = await this.#members()
    const departed = [...this.#known].filter((id) => !members.has(id))
    for (const id of departed) {
      const producer = new Producer({
        ...this.#o.connection,
        clientId: `${this.#o.instanceId}-fencer`,
        bootstrapBrokers: this.#o.bootstrapBrokers,
        idempotent: true,
        transactionalId: `${this.#o.applicationId}-${id}`,
        timeout: this.#o.transactionTimeoutMs,
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
    return departed
  }

  async #members(): Promise<Set<string>> {
    const groups = await this.#o.admin.describeGroups({ groups: [this.#o.applicationId] })
    const ids = new Set<string>()
    for (const member of groups.get(this.#o.applicationId)?.members.values() ?? [])
      if (member.groupInstanceId) ids.add(member.groupInstanceId)
    return ids
  }
}
