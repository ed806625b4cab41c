/**
 * Read-committed filtering of one partition's record batches, with the algorithm of Kafka's Java consumer
 * (apache/kafka `clients/.../consumer/internals/CompletedFetch.java`: `consumeAbortedTransactionsUpTo`,
 * `isBatchAborted`, `containsAbortMarker`):
 *
 * - A read_committed fetch response lists the aborted transactions that overlap it as (producerId,
 *   firstOffset). They are kept in a queue ordered by firstOffset.
 * - Before a batch is looked at, every listed transaction whose firstOffset is at or below the batch's last
 *   offset moves its producer into the aborted set.
 * - A transactional data batch whose producer is in the aborted set is skipped.
 * - A producer leaves the aborted set only on an ABORT control marker. A COMMIT marker does not touch it
 *   (the bug of our first restorer: any control batch cleared the producer, so [P committed][P commit
 *   marker][P aborted …] with the abort marker in the next response restored the aborted data).
 *
 * The state is kept across fetch responses of one partition read sequentially: an aborted transaction whose
 * marker falls in a later response stays aborted, whether or not the broker lists it again (a listing seen
 * twice is counted once).
 *
 * The same algorithm is patched into @platformatic/kafka 2.12.1's consumer by
 * `scripts/patch-platformatic-kafka.ts` (docs/upstream/platformatic-kafka-aborted-transactions.md).
 */

/** The parts of a record batch the filter reads (a subset of @platformatic/kafka's RecordsBatch). */
export interface BatchHeader {
  firstOffset: bigint
  lastOffsetDelta: number
  attributes: number
  producerId: bigint
  records: readonly { key: Buffer | null | undefined }[]
}

export interface AbortedTransaction {
  producerId: bigint
  firstOffset: bigint
}

/** Record batch attribute bits (Kafka message format v2). */
export const BatchAttributes = { transactional: 0x10, control: 0x20 } as const

/** Control record types (the int16 after the version in a control record's key). */
const ControlTypes = { abort: 0, commit: 1 } as const

export class AbortedTransactionFilter {
  /** Listed aborted transactions not yet reached, ordered by firstOffset. */
  #pending: AbortedTransaction[] = []
  readonly #listed = new Set<string>()
  readonly #aborted = new Set<bigint>()

  /** Adds the aborted transactions of one fetch response. */
  addAborted(transactions: readonly AbortedTransaction[] | null | undefined): void {
    let added = false
    for (const t of transactions ?? []) {
      const id = `${t.producerId}:${t.firstOffset}`
      if (this.#listed.has(id)) continue
      this.#listed.add(id)
      this.#pending.push({ producerId: t.producerId, firstOffset: t.firstOffset })
      added = true
    }
    if (added)
      this.#pending.sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0))
  }

  /** True when the batch carries committed (or non-transactional) data; false for markers and aborted data. */
  isCommittedData(batch: BatchHeader): boolean {
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta)
    while (this.#pending.length > 0 && (this.#pending[0] as AbortedTransaction).firstOffset <= lastOffset) {
      this.#aborted.add((this.#pending.shift() as AbortedTransaction).producerId)
    }
    if (batch.attributes & BatchAttributes.control) {
      if (isAbortMarker(batch)) this.#aborted.delete(batch.producerId)
      return false
    }
    return !(batch.attributes & BatchAttributes.transactional && this.#aborted.has(batch.producerId))
  }

  /** Filters one response's batches of this partition (adds its aborted list first). */
  committedBatches<B extends BatchHeader>(
    batches: readonly B[] | null | undefined,
    aborted: readonly AbortedTransaction[] | null | undefined,
  ): B[] {
    this.addAborted(aborted)
    return (batches ?? []).filter((b) => this.isCommittedData(b))
  }
}

/** A control batch holds one control record; its key is int16 version, int16 type (0 = ABORT, 1 = COMMIT). */
function isAbortMarker(batch: BatchHeader): boolean {
  const key = batch.records[0]?.key
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === ControlTypes.abort
}

/** Builds a control record key (version 0), for tests and tools. */
export function controlKey(type: 'abort' | 'commit'): Buffer {
  const key = Buffer.alloc(4)
  key.writeInt16BE(0, 0)
  key.writeInt16BE(ControlTypes[type], 2)
  return key
}
