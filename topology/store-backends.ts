/**
 * Where a task's stores persist: LevelDB on disk (one database per task, a sublevel per store plus `__meta`), or
 * memory in the TopologyTestDriver. Both keep keys in UTF-8 byte order (`compareKeys`), which range scans and the
 * write-back overlay (state-stores.ts) rely on.
 *
 * LevelDB is written behind: `write` starts the batch and returns, and until LevelDB has applied it, reads are
 * answered from the batch's entries, so the next cycle runs while LevelDB writes (a batch of a few thousand
 * entries took 150–300 ms on the 2-core box, about as long as building the cycle). One batch in flight, applied
 * in order: the next write, a wipe and close wait for it. Safe because the backend may lag Kafka (state-stores.ts
 * invariants): a crash loses at most that batch, which restore replays from the changelog; a failed batch fails
 * every later write, so no later changelog offset is ever stored over a lost batch.
 *
 * A batch is written in the array form (`db.batch(operations)`), never as a chained batch: classic-level 3 frees a
 * chained batch's native memory only when V8 collects its small JS object (classic-level chained-batch.js, `_close`
 * TODO), which a heap of 40 MiB rarely does, so at restore speed native batches pile up in RSS, while the array
 * form's native batch is freed when its write completes. Writing 1.2M values of 450 bytes
 * (bench/leveldb-batch-memory.ts): RssAnon +392 vs +206 MiB in a first probe, +268 vs +204 MiB in the committed one
 * (issue 14; the first 10M restore reached 908 MiB RSS).
 */
import { ClassicLevel } from 'classic-level'
import type { AbstractBatchOperation, AbstractSublevel } from 'abstract-level'
import type { KeyRange } from './api.ts'

export interface StoreWrite {
  store: string
  key: string
  /** null deletes the key. */
  value: Buffer | null
}

/** Where a task's stores persist. One instance per task. */
export interface StoreBackend {
  open(): Promise<void>
  getSync(store: string, key: string): Buffer | undefined
  range(store: string, range: KeyRange): Promise<[string, Buffer][]>
  /** Applies the writes and the meta entries atomically. */
  write(writes: StoreWrite[], meta: ReadonlyMap<string, string>): Promise<void>
  getMeta(key: string): string | undefined
  /** Deletes every store and meta entry (a corrupted or unusable local state). */
  wipe(): Promise<void>
  close(): Promise<void>
}

const META = '__meta'

type Sublevel = AbstractSublevel<ClassicLevel<string, Buffer>, string | Buffer | Uint8Array, string, Buffer>
type BatchOperation = AbstractBatchOperation<ClassicLevel<string, Buffer>, string, Buffer>

export class LevelStoreBackend implements StoreBackend {
  readonly #db: ClassicLevel<string, Buffer>
  readonly #stores = new Map<string, Sublevel>()
  /** The batch in flight: store → key → value (null = deleted), and its meta entries. */
  readonly #unapplied = new Map<string, Map<string, Buffer | null>>()
  readonly #unappliedMeta = new Map<string, string>()
  #applying: Promise<void> = Promise.resolve()
  #failure: Error | undefined

  readonly #storeNames: readonly string[]

  /** `storeNames`: every store of the task; their sublevels are opened with the database. */
  constructor(directory: string, storeNames: readonly string[]) {
    this.#storeNames = storeNames
    this.#db = new ClassicLevel<string, Buffer>(directory, {
      keyEncoding: 'utf8',
      valueEncoding: 'buffer',
      cacheSize: 4 * 1024 * 1024,
      writeBufferSize: 2 * 1024 * 1024,
      maxOpenFiles: 128,
    })
  }

  async open(): Promise<void> {
    await this.#db.open()
    for (const name of [...this.#storeNames, META]) await this.#sub(name).open()
  }

  #sub(store: string): Sublevel {
    let sub = this.#stores.get(store)
    if (sub === undefined) {
      sub = this.#db.sublevel<string, Buffer>(store, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
      this.#stores.set(store, sub)
    }
    return sub
  }

  getSync(store: string, key: string): Buffer | undefined {
    const unapplied = this.#unapplied.get(store)
    if (unapplied?.has(key) === true) return unapplied.get(key) ?? undefined
    return this.#sub(store).getSync(key)
  }

  async range(store: string, range: KeyRange): Promise<[string, Buffer][]> {
    // Taken before the scan: the batch may be applied (and forgotten here) while the scan runs.
    const overlay = entriesInRange(this.#unapplied.get(store), range)
    const limit = range.limit ?? Infinity
    const stored = await this.#sub(store)
      .iterator({ ...range, limit: Number.isFinite(limit) ? limit + overlay.length : -1 })
      .all()
    return overlaid(stored, overlay, limit)
  }

  /** Starts the batch once the previous one is applied, and returns; throws when an earlier batch failed. */
  async write(writes: StoreWrite[], meta: ReadonlyMap<string, string>): Promise<void> {
    await this.#applied()
    const operations: BatchOperation[] = []
    for (const w of writes) {
      let unapplied = this.#unapplied.get(w.store)
      if (unapplied === undefined) this.#unapplied.set(w.store, (unapplied = new Map<string, Buffer | null>()))
      unapplied.set(w.key, w.value)
      const sublevel = this.#sub(w.store)
      operations.push(
        w.value === null
          ? { type: 'del', key: w.key, sublevel }
          : { type: 'put', key: w.key, value: w.value, sublevel },
      )
    }
    for (const [key, value] of meta) {
      this.#unappliedMeta.set(key, value)
      operations.push({ type: 'put', key, value: Buffer.from(value), sublevel: this.#sub(META) })
    }
    this.#applying = this.#db.batch(operations).then(
      () => {
        this.#unapplied.clear()
        this.#unappliedMeta.clear()
      },
      (error: unknown) => {
        this.#failure = error instanceof Error ? error : new Error(String(error))
      },
    )
  }

  /** Waits for the batch in flight; throws when a batch failed (its entries stay readable here). */
  async #applied(): Promise<void> {
    await this.#applying
    if (this.#failure !== undefined) throw this.#failure
  }

  getMeta(key: string): string | undefined {
    return this.#unappliedMeta.get(key) ?? this.#sub(META).getSync(key)?.toString()
  }

  async wipe(): Promise<void> {
    await this.#applying
    this.#failure = undefined
    this.#unapplied.clear()
    this.#unappliedMeta.clear()
    await this.#db.clear()
  }

  async close(): Promise<void> {
    await this.#applying
    await this.#db.close()
  }
}

/** In-memory backend for the TopologyTestDriver. Range scans sort lazily once per batch of writes. */
export class MemoryStoreBackend implements StoreBackend {
  readonly #data = new Map<string, Map<string, Buffer>>()
  readonly #sorted = new Map<string, string[]>()

  async open(): Promise<void> {}

  #map(store: string): Map<string, Buffer> {
    let map = this.#data.get(store)
    if (map === undefined) this.#data.set(store, (map = new Map<string, Buffer>()))
    return map
  }

  getSync(store: string, key: string): Buffer | undefined {
    return this.#data.get(store)?.get(key)
  }

  range(store: string, range: KeyRange): Promise<[string, Buffer][]> {
    const map = this.#map(store)
    let keys = this.#sorted.get(store)
    if (keys === undefined) this.#sorted.set(store, (keys = [...map.keys()].sort(compareKeys)))
    const out: [string, Buffer][] = []
    for (let i = lowerBound(keys, range); i < keys.length && out.length < (range.limit ?? Infinity); i++) {
      const key = keys[i] as string
      if (!inRange(key, range)) break
      out.push([key, map.get(key) as Buffer])
    }
    return Promise.resolve(out)
  }

  write(writes: StoreWrite[], meta: ReadonlyMap<string, string>): Promise<void> {
    for (const w of writes) {
      this.#sorted.delete(w.store)
      if (w.value === null) this.#map(w.store).delete(w.key)
      else this.#map(w.store).set(w.key, w.value)
    }
    for (const [key, value] of meta) this.#map(META).set(key, Buffer.from(value))
    return Promise.resolve()
  }

  getMeta(key: string): string | undefined {
    return this.#data.get(META)?.get(key)?.toString()
  }

  wipe(): Promise<void> {
    this.#data.clear()
    this.#sorted.clear()
    return Promise.resolve()
  }

  async close(): Promise<void> {}
}

/**
 * UTF-8 byte order of two keys, without encoding them. UTF-8 byte order is code point order, which equals UTF-16
 * code unit order unless a surrogate (0xD800–0xDFFF) meets a unit at or above 0xE000 at the first difference:
 * only then does it fall back to comparing the encoded bytes (review C13: this ran two allocations per call).
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    if (x < 0xd800 && y < 0xd800) return x - y
    return Buffer.compare(Buffer.from(a), Buffer.from(b))
  }
  return a.length - b.length
}

function lowerBound(keys: string[], range: KeyRange): number {
  const from = range.gte ?? range.gt
  if (from === undefined) return 0
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareKeys(keys[mid] as string, from) < 0) lo = mid + 1
    else hi = mid
  }
  while (lo < keys.length && range.gt !== undefined && compareKeys(keys[lo] as string, range.gt) <= 0) lo++
  return lo
}

export function inRange(key: string, range: KeyRange): boolean {
  if (range.gt !== undefined && compareKeys(key, range.gt) <= 0) return false
  if (range.gte !== undefined && compareKeys(key, range.gte) < 0) return false
  if (range.lt !== undefined && compareKeys(key, range.lt) >= 0) return false
  if (range.lte !== undefined && compareKeys(key, range.lte) > 0) return false
  return true
}

/** The entries of `map` within the range, in key order (an overlay of pending values; null = deleted). */
export function entriesInRange(
  map: ReadonlyMap<string, Buffer | null> | undefined,
  range: KeyRange,
): [string, Buffer | null][] {
  if (map === undefined || map.size === 0) return []
  const entries: [string, Buffer | null][] = []
  for (const entry of map) if (inRange(entry[0], range)) entries.push(entry)
  return entries.sort((a, b) => compareKeys(a[0], b[0]))
}

/**
 * `stored` (in key order, scanned with the limit raised by overlay.length, since deletes may hide entries) with
 * `overlay` laid over it: an overlay entry replaces or deletes the stored one. At most `limit` entries.
 */
export function overlaid(
  stored: [string, Buffer][],
  overlay: [string, Buffer | null][],
  limit: number,
): [string, Buffer][] {
  if (overlay.length === 0) return stored.length > limit ? stored.slice(0, limit) : stored
  const out: [string, Buffer][] = []
  let i = 0
  let j = 0
  while (out.length < limit && (i < stored.length || j < overlay.length)) {
    const storedEntry = stored[i]
    const overlayEntry = overlay[j]
    const cmp =
      storedEntry === undefined ? 1 : overlayEntry === undefined ? -1 : compareKeys(storedEntry[0], overlayEntry[0])
    if (cmp < 0) {
      out.push(storedEntry as [string, Buffer])
      i++
    } else {
      if (cmp === 0) i++
      const [key, value] = overlayEntry as [string, Buffer | null]
      j++
      if (value !== null) out.push([key, value])
    }
  }
  return out
}
