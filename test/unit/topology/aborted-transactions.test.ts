import { describe, expect, it } from 'vitest'
import {
  AbortedTransactionFilter,
  BatchAttributes,
  type BatchHeader,
  controlKey,
} from '../../../topology/aborted-transactions.ts'

const P = 7n
const Q = 9n

/** A transactional data batch of `count` records starting at `offset`. */
function data(producerId: bigint, offset: number, count = 1, transactional = true): BatchHeader & { tag: string } {
  return {
    tag: `data ${producerId}@${offset}`,
    firstOffset: BigInt(offset),
    lastOffsetDelta: count - 1,
    attributes: transactional ? BatchAttributes.transactional : 0,
    producerId,
    records: Array.from({ length: count }, () => ({ key: Buffer.from('k') })),
  }
}

function marker(producerId: bigint, offset: number, type: 'abort' | 'commit'): BatchHeader & { tag: string } {
  return {
    tag: `${type} ${producerId}@${offset}`,
    firstOffset: BigInt(offset),
    lastOffsetDelta: 0,
    attributes: BatchAttributes.transactional | BatchAttributes.control,
    producerId,
    records: [{ key: controlKey(type) }],
  }
}

function tags(batches: { tag: string }[]): string[] {
  return batches.map((b) => b.tag)
}

describe('AbortedTransactionFilter (the Java consumer algorithm)', () => {
  it('drops both aborted transactions of one producer in a response and keeps the committed one after them', () => {
    const filter = new AbortedTransactionFilter()
    const batches = [
      data(P, 0, 2),
      marker(P, 2, 'abort'),
      data(P, 3, 2),
      marker(P, 5, 'abort'),
      data(P, 6, 2),
      marker(P, 8, 'commit'),
    ]
    const kept = filter.committedBatches(batches, [
      { producerId: P, firstOffset: 0n },
      { producerId: P, firstOffset: 3n },
    ])
    expect(tags(kept)).toEqual(['data 7@6'])
  })

  it('keeps a producer aborted across a COMMIT marker and across responses until its ABORT marker', () => {
    const filter = new AbortedTransactionFilter()
    // Response 1: a committed transaction, its commit marker, then an aborted transaction whose marker is in
    // the next response. The old restorer cleared P on the commit marker and restored the aborted data.
    const first = filter.committedBatches(
      [data(P, 0), marker(P, 1, 'commit'), data(P, 2, 3)],
      [{ producerId: P, firstOffset: 2n }],
    )
    expect(tags(first)).toEqual(['data 7@0'])
    // Response 2 (the broker lists the same aborted transaction again; it is counted once).
    const second = filter.committedBatches(
      [data(P, 5), marker(P, 6, 'abort'), data(P, 7), marker(P, 8, 'commit')],
      [{ producerId: P, firstOffset: 2n }],
    )
    expect(tags(second)).toEqual(['data 7@7'])
  })

  it('lists given out of order are applied by first offset, per producer', () => {
    const filter = new AbortedTransactionFilter()
    const kept = filter.committedBatches(
      [data(P, 0), data(Q, 1), marker(Q, 2, 'commit'), marker(P, 3, 'abort'), data(Q, 4), marker(Q, 5, 'abort')],
      [
        { producerId: Q, firstOffset: 4n },
        { producerId: P, firstOffset: 0n },
      ],
    )
    expect(tags(kept)).toEqual(['data 9@1'])
  })

  it('never drops non-transactional data, nor data of a producer before its aborted range starts', () => {
    const filter = new AbortedTransactionFilter()
    const kept = filter.committedBatches(
      [data(P, 0), marker(P, 1, 'commit'), data(Q, 2, 1, false), data(P, 3), marker(P, 4, 'abort')],
      [{ producerId: P, firstOffset: 3n }],
    )
    expect(tags(kept)).toEqual(['data 7@0', 'data 9@2'])
  })
})
