import type { Consumer } from '@platformatic/kafka'
import { describe, expect, it, vi } from 'vitest'
import { ChangelogRestorer, type RestoreProgress } from '../../../topology/changelog-restorer.ts'
import { MemoryStoreBackend, type StoreWrite, TaskStores } from '../../../topology/state-stores.ts'

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

interface LogRecord {
  key: string
  value: string | null
}

/**
 * A fake consumer over an in-memory changelog per topic (non-transactional batches of `perFetch` records): it
 * counts metadata calls and logs every fetch (topic, offset), and `gate` makes fetches wait until released.
 */
function logConsumer(logs: Map<string, LogRecord[]>, perFetch: number) {
  const calls = { metadata: 0, fetches: [] as { topic: string; offset: bigint }[] }
  const ids = new Map([...logs.keys()].map((topic, i) => [`id-${i}`, topic]))
  const consumer = {
    metadata: ({ topics }: { topics: string[] }) => {
      calls.metadata++
      const entries = topics.map((t) => [t, { id: `id-${[...logs.keys()].indexOf(t)}`, partitions: [{ leader: 1 }] }])
      return Promise.resolve({ topics: new Map(entries as [string, unknown][]) })
    },
    listOffsets: ({ topics }: { topics: string[] }) => Promise.resolve(new Map(topics.map((t) => [t, [0n]]))),
    fetch: (options: { topics: { topicId: string; partitions: { fetchOffset: bigint }[] }[] }) => {
      const request = options.topics[0]!
      const topic = ids.get(request.topicId)!
      const offset = request.partitions[0]!.fetchOffset
      calls.fetches.push({ topic, offset })
      const log = logs.get(topic)!
      const slice = log.slice(Number(offset), Number(offset) + perFetch)
      const records =
        slice.length === 0
          ? []
          : [
              {
                firstOffset: offset,
                lastOffsetDelta: slice.length - 1,
                attributes: 0,
                producerId: -1n,
                records: slice.map((r, i) => ({
                  offsetDelta: i,
                  key: Buffer.from(r.key),
                  value: r.value === null ? null : Buffer.from(r.value),
                })),
              },
            ]
      const partition = { errorCode: 0, records, abortedTransactions: [], lastStableOffset: BigInt(log.length) }
      return Promise.resolve({ responses: [{ partitions: [partition] }] })
    },
  }
  return { consumer: consumer as unknown as Consumer, calls }
}

function records(prefix: string, n: number): LogRecord[] {
  return Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value: `"${prefix}${i}"` }))
}

function taskStores(backend: MemoryStoreBackend, stores: string[]): TaskStores {
  const serde = { serialize: (v: unknown) => Buffer.from(JSON.stringify(v)), deserialize: (b: Buffer) => b }
  return new TaskStores(backend, new Map(stores.map((s) => [s, serde])), (s) => `cl-${s}`, 0)
}

/** A memory backend whose writes wait until `release()`; `writes` counts the writes started. */
class GatedBackend extends MemoryStoreBackend {
  writes = 0
  #open = Promise.withResolvers<void>()
  release(): void {
    this.#open.resolve()
  }
  override async write(writes: StoreWrite[], meta: ReadonlyMap<string, string>): Promise<void> {
    this.writes++
    await this.#open.promise
    return super.write(writes, meta)
  }
}

/** Stores `a` and `b` with `a` and `b` records in their changelogs `cl-a`, `cl-b`, restored up to their ends. */
function twoStores(a: number, b: number) {
  const logs = new Map([
    ['cl-a', records('a', a)],
    ['cl-b', records('b', b)],
  ])
  const targets = [
    { store: 'a', topic: 'cl-a' },
    { store: 'b', topic: 'cl-b' },
  ]
  const ends = new Map([
    ['cl-a', BigInt(a)],
    ['cl-b', BigInt(b)],
  ])
  return { logs, targets, ends }
}

describe('ChangelogRestorer reading (issue 14)', () => {
  it('restores every record of two stores, asking for metadata once per store, not once per fetch', async () => {
    const { logs, targets, ends } = twoStores(25, 7)
    const { consumer, calls } = logConsumer(logs, 4)
    const backend = new MemoryStoreBackend()
    const restorer = new ChangelogRestorer({ consumer })
    const progress = await restorer.restoreTask(taskStores(backend, ['a', 'b']), 0, targets, ends)
    expect(progress.map((p) => [p.store, p.records, p.position, p.done])).toEqual([
      ['a', 25, 25n, true],
      ['b', 7, 7n, true],
    ])
    expect(backend.getSync('a', 'a24')?.toString()).toBe('"a24"')
    expect(backend.getSync('b', 'b6')?.toString()).toBe('"b6"')
    expect(backend.getMeta('changelog:cl-a:0')).toBe('25')
    expect(backend.getMeta('changelog:cl-b:0')).toBe('7')
    expect(calls.fetches.filter((f) => f.topic === 'cl-a')).toHaveLength(7) // 25 records, 4 a fetch
    expect(calls.metadata).toBe(2)
  })

  it('fetches the next position while LevelDB still writes the previous batch', async () => {
    const { consumer, calls } = logConsumer(new Map([['cl-a', records('a', 10)]]), 4)
    const backend = new GatedBackend()
    const restorer = new ChangelogRestorer({ consumer })
    const restore = restorer.restoreTask(
      taskStores(backend, ['a']),
      0,
      [{ store: 'a', topic: 'cl-a' }],
      new Map([['cl-a', 10n]]),
    )
    await vi.waitFor(() => expect(backend.writes).toBe(1))
    // The first batch (offsets 0–3) is not written yet; the fetch of offset 4 is already out.
    expect(calls.fetches.map((f) => f.offset)).toEqual([0n, 4n])
    backend.release()
    const [done] = await restore
    expect(done?.records).toBe(10)
    expect(calls.fetches.map((f) => f.offset)).toEqual([0n, 4n, 8n])
  })

  it('restores the stores of a task concurrently', async () => {
    const { logs, targets, ends } = twoStores(8, 8)
    const { consumer, calls } = logConsumer(logs, 4)
    const backend = new GatedBackend()
    const restorer = new ChangelogRestorer({ consumer })
    const restore = restorer.restoreTask(taskStores(backend, ['a', 'b']), 0, targets, ends)
    // Store b is read while store a's first batch waits for the backend.
    await vi.waitFor(() => expect(calls.fetches.filter((f) => f.topic === 'cl-b').length).toBeGreaterThan(0))
    expect(backend.writes).toBe(1) // batches go to the backend one at a time
    backend.release()
    expect((await restore).map((p) => p.records)).toEqual([8, 8])
  })

  it('reports progress per store while it restores: records, position against the end, rate; then done', async () => {
    const { consumer } = logConsumer(new Map([['cl-a', records('a', 12)]]), 4)
    const restorer = new ChangelogRestorer({ consumer, progressIntervalMs: 0 })
    const reports: RestoreProgress[] = []
    const stores = taskStores(new MemoryStoreBackend(), ['a'])
    const targets = [{ store: 'a', topic: 'cl-a' }]
    await restorer.restoreTask(stores, 0, targets, new Map([['cl-a', 12n]]), undefined, (p) => reports.push(p))
    expect(Object.keys(reports[0] ?? {}).sort()).toEqual(
      [
        'partition',
        'store',
        'topic',
        'fromOffset',
        'endOffset',
        'position',
        'records',
        'durationMs',
        'recordsPerS',
        'retriedFetches',
        'wiped',
        'done',
      ].sort(),
    )
    expect(reports.map((r) => [r.records, r.position, r.endOffset, r.done])).toEqual([
      [4, 4n, 12n, false],
      [8, 8n, 12n, false],
      [12, 12n, 12n, true],
    ])
    for (const r of reports) expect(r.recordsPerS).toBeGreaterThan(0)
  })

  it('stops the other stores and leaves no fetch unhandled when one store fails', async () => {
    const { logs, targets, ends } = twoStores(40, 40)
    const { consumer } = logConsumer(logs, 4)
    const failing = new (class extends MemoryStoreBackend {
      writes = 0
      override write(writes: StoreWrite[], meta: ReadonlyMap<string, string>): Promise<void> {
        if (++this.writes === 3) return Promise.reject(new Error('disk full'))
        return super.write(writes, meta)
      }
    })()
    const restorer = new ChangelogRestorer({ consumer })
    await expect(restorer.restoreTask(taskStores(failing, ['a', 'b']), 0, targets, ends)).rejects.toThrow('disk full')
    const writesAtFailure = failing.writes
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(failing.writes).toBe(writesAtFailure) // nothing written after restoreTask settled
  })
})

describe('ChangelogRestorer fetch failures (issue 14)', () => {
  it('asks a failed fetch again from the same position, with the leader looked up anew, instead of failing', async () => {
    const { consumer, calls } = logConsumer(new Map([['cl-a', records('a', 10)]]), 4)
    const fetch = consumer.fetch.bind(consumer) as (options: unknown) => Promise<unknown>
    let failures = 1
    Object.assign(consumer, {
      fetch: (options: { topics: { partitions: { fetchOffset: bigint }[] }[] }) => {
        if (options.topics[0]?.partitions[0]?.fetchOffset === 4n && failures-- > 0)
          return Promise.reject(Object.assign(new Error('Request timed out'), { code: 'PLT_KFK_TIMEOUT' }))
        return fetch(options)
      },
    })
    const backend = new MemoryStoreBackend()
    const restorer = new ChangelogRestorer({ consumer })
    const targets = [{ store: 'a', topic: 'cl-a' }]
    const [done] = await restorer.restoreTask(taskStores(backend, ['a']), 0, targets, new Map([['cl-a', 10n]]))
    expect(done).toMatchObject({ records: 10, position: 10n, retriedFetches: 1, done: true })
    expect(done?.lastFetchError).toContain('Request timed out')
    expect(backend.getSync('a', 'a9')?.toString()).toBe('"a9"')
    expect(calls.metadata).toBe(2)
  })

  it('fails the restore on an error that is not retriable', async () => {
    const { consumer } = logConsumer(new Map([['cl-a', records('a', 10)]]), 4)
    Object.assign(consumer, { fetch: () => Promise.reject(new TypeError('a bug')) })
    const restorer = new ChangelogRestorer({ consumer })
    const stores = taskStores(new MemoryStoreBackend(), ['a'])
    const restore = restorer.restoreTask(stores, 0, [{ store: 'a', topic: 'cl-a' }], new Map([['cl-a', 10n]]))
    await expect(restore).rejects.toMatchObject({ retriable: false })
  })
})
