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
import { ErrorCodes, FlextaskError } from '../errors.ts'
import type { KeyRange, KeyValueStore, StoreSerde } from './api.ts'
import { entriesInRange, overlaid, type StoreBackend, type StoreWrite } from './store-backends.ts'

export {
  LevelStoreBackend,
  MemoryStoreBackend,
  compareKeys,
  type StoreBackend,
  type StoreWrite,
} from './store-backends.ts'

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
  /**
   * store → key → pending value, serialized by `put` (null = delete). Serialized once: the size check, the
   * changelog record and the LevelDB batch share the bytes (review C13), and a `get` decodes a private copy, so
   * a caller mutating what it read can never change a pending write or what a rollback restores.
   */
  readonly #pending = new Map<string, Map<string, Buffer | null>>()
  /**
   * Undo logs of the units of work in progress, innermost last (a unit isolated inside a record or a wake):
   * store → key → previous pending value (ABSENT if none).
   */
  readonly #journals: Map<string, Map<string, Pending>>[] = []

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
    return new OverlayStore<V>(name, serde, this.#backend, this.#pendingOf(name), (key) => this.#remember(name, key))
  }

  #pendingOf(store: string): Map<string, Buffer | null> {
    let pending = this.#pending.get(store)
    if (pending === undefined) this.#pending.set(store, (pending = new Map<string, Buffer | null>()))
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
      if (into === undefined) parent.set(store, (into = new Map<string, Pending>()))
      for (const [key, previous] of keys) if (!into.has(key)) into.set(key, previous)
    }
  }

  rollbackRecord(): void {
    for (const [store, keys] of this.#journals.pop() ?? []) {
      const map = this.#pendingOf(store)
      for (const [key, previous] of keys) {
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
        const bytes = Buffer.byteLength(key) + value.length
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

  #remember(store: string, key: string): void {
    const journal = this.#journals.at(-1)
    if (journal === undefined) return
    let keys = journal.get(store)
    if (keys === undefined) journal.set(store, (keys = new Map<string, Pending>()))
    if (keys.has(key)) return
    const previous = this.#pendingOf(store).get(key)
    keys.set(key, previous === undefined ? ABSENT : previous)
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
          value,
        })
      }
    }
    return records
  }

  /** After the transaction committed: persist the writes and the changelog offsets reached, atomically. */
  async commit(changelogOffsets: ReadonlyMap<string, bigint>): Promise<void> {
    const writes: StoreWrite[] = []
    for (const [store, pending] of this.#pending) {
      for (const [key, value] of pending) writes.push({ store, key, value })
    }
    const meta = new Map<string, string>()
    for (const [topic, offset] of changelogOffsets)
      meta.set(changelogOffsetKey(topic, this.#partition), offset.toString())
    if (writes.length > 0 || meta.size > 0) await this.#backend.write(writes, meta)
    this.discard()
  }

  discard(): void {
    for (const pending of this.#pending.values()) pending.clear()
    this.#journals.length = 0
  }

  /** The changelog offset restore resumes from, as stored with the data; undefined when none. */
  storedChangelogOffset(topic: string): bigint | undefined {
    const value = this.#backend.getMeta(changelogOffsetKey(topic, this.#partition))
    return value === undefined ? undefined : BigInt(value)
  }
}

const ABSENT = Symbol('absent')
/** A journaled previous pending value: bytes, a delete (null), or no pending write (ABSENT). */
type Pending = Buffer | null | typeof ABSENT

export function changelogOffsetKey(topic: string, partition: number): string {
  return `changelog:${topic}:${partition}`
}

class OverlayStore<V> implements KeyValueStore<V> {
  readonly name: string
  readonly #serde: StoreSerde<V>
  readonly #backend: StoreBackend
  readonly #pending: Map<string, Buffer | null>
  readonly #beforeWrite: (key: string) => void

  constructor(
    name: string,
    serde: StoreSerde<V>,
    backend: StoreBackend,
    pending: Map<string, Buffer | null>,
    beforeWrite: (key: string) => void,
  ) {
    this.name = name
    this.#serde = serde
    this.#backend = backend
    this.#pending = pending
    this.#beforeWrite = beforeWrite
  }

  /** A private copy, decoded from the pending bytes or the backend. */
  get(key: string): V | undefined {
    const pending = this.#pending.get(key)
    const bytes = pending === undefined ? this.#backend.getSync(this.name, key) : pending
    return bytes === null || bytes === undefined ? undefined : this.#serde.deserialize(bytes)
  }

  /** Serializes now: later changes to `value` are not written. A serializer error throws here, in the unit. */
  put(key: string, value: V): void {
    const bytes = this.#serde.serialize(value)
    this.#beforeWrite(key)
    this.#pending.set(key, bytes)
  }

  delete(key: string): void {
    this.#beforeWrite(key)
    this.#pending.set(key, null)
  }

  async range(range: KeyRange): Promise<[string, V][]> {
    const limit = range.limit ?? Infinity
    const overlay = entriesInRange(this.#pending, range)
    // Pending deletes may hide stored entries: over-fetch by the number of pending keys in range.
    const stored = await this.#backend.range(this.name, {
      ...range,
      limit: Number.isFinite(limit) ? limit + overlay.length : undefined,
    })
    return overlaid(stored, overlay, limit).map(([key, bytes]) => [key, this.#serde.deserialize(bytes)])
  }
}
