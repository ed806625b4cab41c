import type { Consumer } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { ChangelogRestorer } from '../../../topology/changelog-restorer.ts'
import { MemoryStoreBackend, TaskStores } from '../../../topology/state-stores.ts'

/** A fake consumer: the first fetch returns one record at offset 0, every later fetch returns nothing. */
function stallingConsumer(): Consumer {
  let fetches = 0
  return {
    metadata: () => Promise.resolve({ topics: new Map([['cl', { id: 'id', partitions: [{ leader: 1 }] }]]) }),
    listOffsets: () => Promise.resolve(new Map([['cl', [0n]]])),
    fetch: () => {
      const records =
        fetches++ === 0
          ? [
              {
                firstOffset: 0n,
                lastOffsetDelta: 0,
                attributes: 0,
                producerId: -1n,
                records: [{ offsetDelta: 0, key: Buffer.from('k'), value: Buffer.from('"v"') }],
              },
            ]
          : []
      return Promise.resolve({
        responses: [{ partitions: [{ errorCode: 0, records, abortedTransactions: [], lastStableOffset: 10n }] }],
      })
    },
  } as unknown as Consumer
}

describe('ChangelogRestorer stall detection (review C12)', () => {
  it('fails a restore that stops progressing after having made progress', async () => {
    const restorer = new ChangelogRestorer({ consumer: stallingConsumer(), stallTimeoutMs: 100 })
    const backend = new MemoryStoreBackend()
    const stores = new TaskStores(
      backend,
      new Map([['s', { serialize: (v: unknown) => Buffer.from(JSON.stringify(v)), deserialize: (b: Buffer) => b }]]),
      () => 'cl',
      0,
    )
    const restore = restorer.restoreTask(stores, 0, [{ store: 's', topic: 'cl' }], new Map([['cl', 5n]]))
    await expect(restore).rejects.toMatchObject({ code: 'FLEXTASK_STORE_RESTORE_FAILED', retriable: true })
    // The record before the stall was applied with its offset.
    expect(backend.getSync('s', 'k')?.toString()).toBe('"v"')
  })
})
