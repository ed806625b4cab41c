/**
 * Task-local state: a backend (LevelDB per task, or memory in the test driver) plus a write-back overlay
 * that holds this cycle's writes until the cycle's Kafka transaction commits.
 *
 * Invariants
 * - The backend never runs ahead of Kafka: pending writes are applied only after the transaction that
 *   carried their changelog records committed, in ONE atomic batch that also records, per changelog
 *   partition, the offset restore may resume from (KIP-1035 style). A crash between the Kafka commit and
 *   that batch leaves the store behind its changelog, which restore repairs by replaying the tail.
 * - Replaying a changelog record is idempotent (it carries the full value or a tombstone), so a stored
 *   offset that is lower than the truth costs time, never correctness.
 */
import { ClassicLevel } from 'classic-level'
import type { AbstractSublevel } from 'abstract-level'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import type { KeyRange, KeyValueStore, StoreSerde } from './api.ts'

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

export class LevelStoreBackend implements StoreBackend {
  readonly #db: ClassicLevel<string, Buffer>
  readonly #stores = new Map<string, Sublevel>()

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
    return this.#sub(store).getSync(key)
  }

  async range(store: string, range: KeyRange): Promise<[string, Buffer][]> {
    return this.#sub(store)
      .iterator({ ...range, limit: range.limit ?? -1 })
      .all()
  }

  async write(writes: StoreWrite[], meta: ReadonlyMap<string, string>): Promise<void> {
    const batch = this.#db.batch()
    for (const w of writes) {
      if (w.value === null) batch.del(w.key, { sublevel: this.#sub(w.store) })
      else batch.put(w.key, w.value, { sublevel: this.#sub(w.store) })
    }
    for (const [key, value] of meta) batch.put(key, Buffer.from(value), { sublevel: this.#sub(META) })
    await batch.write()
  }

  getMeta(key: string): string | undefined {
    return this.#sub(META).getSync(key)?.toString()
  }

  async wipe(): Promise<void> {
    await this.#db.clear()
  }

  async close(): Promise<void> {
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

export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
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

function inRange(key: string, range: KeyRange): boolean {
  if (range.gt !== undefined && compareKeys(key, range.gt) <= 0) return false
  if (range.gte !== undefined && compareKeys(key, range.gte) < 0) return false
  if (range.lt !== undefined && compareKeys(key, range.lt) >= 0) return false
  if (range.lte !== undefined && compareKeys(key, range.lte) > 0) return false
  return true
}

/** A changelog record produced by a cycle's store writes. */
export interface ChangelogRecord {
  topic: string
  partition: number
  key: Buffer
  value: Buffer | null
}

/**
 * The stores of one task, with the overlay of this cycle's uncommitted writes.
 * Owner of: the pending writes, the changelog records they imply, and the changelog offsets in `__meta`.
 */
export class TaskStores {
  readonly #backend: StoreBackend
  readonly #serdes: ReadonlyMap<string, StoreSerde<unknown>>
  readonly #changelogTopic: (store: string) => string
  readonly #partition: number
  /** store → key → pending value (null = delete). */
  readonly #pending = new Map<string, Map<string, unknown>>()
  /** store → key → the serialized pending value, so the size check, the changelog and LevelDB serialize once. */
  readonly #encoded = new Map<string, Map<string, Buffer>>()
  /**
   * Undo logs of the units of work in progress, innermost last (a unit isolated inside a record or a wake):
   * store → key → previous pending value (ABSENT if none).
   */
  readonly #journals: Map<string, Map<string, unknown>>[] = []

  constructor(
    backend: StoreBackend,
    serdes: ReadonlyMap<string, StoreSerde<unknown>>,
    changelogTopic: (store: string) => string,
    partition: number,
  ) {
    this.#backend = backend
    this.#serdes = serdes
    this.#changelogTopic = changelogTopic
    this.#partition = partition
  }

  get backend(): StoreBackend {
    return this.#backend
  }

  store<V>(name: string): KeyValueStore<V> {
    const serde = this.#serdes.get(name) as StoreSerde<V> | undefined
    if (serde === undefined) throw new Error(`no state store named '${name}'`)
    const pending = this.#pendingOf(name)
    return new OverlayStore<V>(name, serde, this.#backend, pending as Map<string, V | null>, (key) =>
      this.#remember(name, key),
    )
  }

  #pendingOf(store: string): Map<string, unknown> {
    let pending = this.#pending.get(store)
    if (pending === undefined) this.#pending.set(store, (pending = new Map<string, unknown>()))
    return pending
  }

  /** Starts journaling writes so that `rollbackRecord` can undo one unit's partial effects. Units nest. */
  beginRecord(): void {
    this.#journals.push(new Map())
  }

  /** Ends the innermost unit; an enclosing unit takes over its undo log (its rollback undoes both). */
  endRecord(): void {
    const journal = this.#journals.pop()
    const parent = this.#journals.at(-1)
    if (journal === undefined || parent === undefined) return
    for (const [store, keys] of journal) {
      let into = parent.get(store)
      if (into === undefined) parent.set(store, (into = new Map<string, unknown>()))
      for (const [key, previous] of keys) if (!into.has(key)) into.set(key, previous)
    }
  }

  rollbackRecord(): void {
    for (const [store, keys] of this.#journals.pop() ?? []) {
      const map = this.#pendingOf(store)
      for (const [key, previous] of keys) {
        this.#encoded.get(store)?.delete(key)
        if (previous === ABSENT) map.delete(key)
        else map.set(key, previous)
      }
    }
  }

  /**
   * Throws FLEXTASK_TOPOLOGY_RECORD_TOO_LARGE when a value the innermost unit wrote would make a changelog record
   * (key + value) over `maxBytes`: the unit is then undone instead of the cycle carrying a record the broker
   * refuses, which would abort every cycle of the instance.
   */
  checkRecordSizes(maxBytes: number): void {
    for (const [store, keys] of this.#journals.at(-1) ?? []) {
      for (const key of keys.keys()) {
        const value = this.#pending.get(store)?.get(key)
        if (value === null || value === undefined) continue
        const bytes = Buffer.byteLength(key) + this.#encode(store, key, value).length
        if (bytes > maxBytes) {
          throw new FlextaskError(
            ErrorCodes.recordTooLarge,
            `state store '${store}' value for key '${key}' is ${bytes} bytes, over maxRecordBytes ${maxBytes}`,
            { context: { store, key, bytes, maxBytes } },
          )
        }
      }
    }
  }

  #encode(store: string, key: string, value: unknown): Buffer {
    let encoded = this.#encoded.get(store)
    if (encoded === undefined) this.#encoded.set(store, (encoded = new Map<string, Buffer>()))
    let bytes = encoded.get(key)
    if (bytes === undefined) {
      bytes = (this.#serdes.get(store) as StoreSerde<unknown>).serialize(value)
      encoded.set(key, bytes)
    }
    return bytes
  }

  #remember(store: string, key: string): void {
    this.#encoded.get(store)?.delete(key)
    const journal = this.#journals.at(-1)
    if (journal === undefined) return
    let keys = journal.get(store)
    if (keys === undefined) journal.set(store, (keys = new Map<string, unknown>()))
    const map = this.#pendingOf(store)
    if (!keys.has(key)) keys.set(key, map.has(key) ? map.get(key) : ABSENT)
  }

  /** Store writes pending for this cycle (one per key). */
  pendingWriteCount(): number {
    let n = 0
    for (const pending of this.#pending.values()) n += pending.size
    return n
  }

  hasPendingWrites(): boolean {
    for (const pending of this.#pending.values()) if (pending.size > 0) return true
    return false
  }

  /** The changelog records for this cycle's writes: the last write per key. */
  changelogRecords(): ChangelogRecord[] {
    const records: ChangelogRecord[] = []
    for (const [store, pending] of this.#pending) {
      const topic = this.#changelogTopic(store)
      for (const [key, value] of pending) {
        records.push({
          topic,
          partition: this.#partition,
          key: Buffer.from(key),
          value: value === null ? null : this.#encode(store, key, value),
        })
      }
    }
    return records
  }

  /** After the transaction committed: persist the writes and the changelog offsets reached, atomically. */
  async commit(changelogOffsets: ReadonlyMap<string, bigint>): Promise<void> {
    const writes: StoreWrite[] = []
    for (const [store, pending] of this.#pending) {
      for (const [key, value] of pending)
        writes.push({ store, key, value: value === null ? null : this.#encode(store, key, value) })
    }
    const meta = new Map<string, string>()
    for (const [topic, offset] of changelogOffsets)
      meta.set(changelogOffsetKey(topic, this.#partition), offset.toString())
    if (writes.length > 0 || meta.size > 0) await this.#backend.write(writes, meta)
    this.discard()
  }

  discard(): void {
    for (const pending of this.#pending.values()) pending.clear()
    this.#encoded.clear()
    this.#journals.length = 0
  }

  /** The changelog offset restore resumes from, as stored with the data; undefined when none. */
  storedChangelogOffset(topic: string): bigint | undefined {
    const value = this.#backend.getMeta(changelogOffsetKey(topic, this.#partition))
    return value === undefined ? undefined : BigInt(value)
  }
}

const ABSENT = Symbol('absent')

export function changelogOffsetKey(topic: string, partition: number): string {
  return `changelog:${topic}:${partition}`
}

class OverlayStore<V> implements KeyValueStore<V> {
  readonly name: string
  readonly #serde: StoreSerde<V>
  readonly #backend: StoreBackend
  readonly #pending: Map<string, V | null>
  readonly #beforeWrite: (key: string) => void

  constructor(
    name: string,
    serde: StoreSerde<V>,
    backend: StoreBackend,
    pending: Map<string, V | null>,
    beforeWrite: (key: string) => void,
  ) {
    this.name = name
    this.#serde = serde
    this.#backend = backend
    this.#pending = pending
    this.#beforeWrite = beforeWrite
  }

  get(key: string): V | undefined {
    const pending = this.#pending.get(key)
    if (pending !== undefined) return pending === null ? undefined : pending
    const stored = this.#backend.getSync(this.name, key)
    return stored === undefined ? undefined : this.#serde.deserialize(stored)
  }

  put(key: string, value: V): void {
    this.#beforeWrite(key)
    this.#pending.set(key, value)
  }

  delete(key: string): void {
    this.#beforeWrite(key)
    this.#pending.set(key, null)
  }

  async range(range: KeyRange): Promise<[string, V][]> {
    const limit = range.limit ?? Infinity
    const overlay = [...this.#pending.keys()].filter((k) => inRange(k, range)).sort(compareKeys)
    // Pending deletes may hide stored entries: over-fetch by the number of pending keys in range.
    const stored = await this.#backend.range(this.name, {
      ...range,
      limit: Number.isFinite(limit) ? limit + overlay.length : undefined,
    })
    const out: [string, V][] = []
    let i = 0
    let j = 0
    while (out.length < limit && (i < stored.length || j < overlay.length)) {
      const storedKey = stored[i]?.[0]
      const overlayKey = overlay[j]
      const cmp = storedKey === undefined ? 1 : overlayKey === undefined ? -1 : compareKeys(storedKey, overlayKey)
      if (cmp < 0) {
        const entry = stored[i++] as [string, Buffer]
        out.push([entry[0], this.#serde.deserialize(entry[1])])
      } else {
        if (cmp === 0) i++
        const key = overlayKey as string
        const value = this.#pending.get(key) as V | null
        j++
        if (value !== null) out.push([key, value])
      }
    }
    return out
  }
}
