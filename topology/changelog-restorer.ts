/**
 * Restores a task's stores from their changelog partitions, from the offset stored with the data up to the
 * end offset captured when the task was assigned.
 *
 * Completion is judged by the fetch POSITION (the offset after the last batch seen, control batches
 * included) reaching the captured end offset (the last stable offset under read_committed), never by
 * comparing the last record's offset with the high watermark. That is robust to a transaction marker at the
 * tail, an empty partition, compaction gaps, and a log start above the stored offset (which wipes the store
 * and restores from the log start). See anchors-kafka.md §3.1–3.2 (faust #47/#155/#597, quix #1017).
 *
 * It reads with `Consumer.fetch` on a dedicated consumer that never joins a group (the client has no
 * `assign()`), and filters aborted transactions itself with the Java consumer's algorithm, its state kept
 * across the fetch responses of a partition (aborted-transactions.ts): the pinned client's own filter keeps
 * one aborted range per producer per response and leaves ranges whose abort marker is in the next response
 * unfiltered (docs/upstream/platformatic-kafka-aborted-transactions.md).
 *
 * Stall detection: a restore that makes no progress (its fetch position does not move) for stallTimeoutMs
 * fails with FLEXTASK_STORE_RESTORE_FAILED (retriable: the runtime reopens the task). Within that time a fetch
 * that fails with a retriable error (a request timeout, a moved leader) is asked again from the same position,
 * with backoff: the 10M restore of issue 14 lost its progress counters to task reopens (each backing off up to
 * 10 s and repeating its offset lookups) while its fetches queued behind each other on a loaded box.
 *
 * Speed (issue 14: a cold restore of 1M definitions in 30 s, 10M pending): the stores of a task restore
 * concurrently, each one fetch ahead of its LevelDB writes (changelog-fetcher.ts), with the leader looked up once
 * per store. Values are copied into LevelDB as fetched: restore never decodes them, so it does not depend on
 * the stores' value format. Progress (records, position against the end offset, records/s) is reported per
 * store every progressIntervalMs.
 */
import { FetchIsolationLevels, ListOffsetTimestamps, type Consumer } from '@platformatic/kafka'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import { AbortedTransactionFilter } from './aborted-transactions.ts'
import { backoffMs, sleepUnless } from './backoff.ts'
import { ChangelogFetcher, type FetchedPartition } from './changelog-fetcher.ts'
import { decideError } from './kafka-errors.ts'
import type { StoreWrite, TaskStores } from './state-stores.ts'
import { changelogOffsetKey } from './state-stores.ts'

export interface RestoreTarget {
  store: string
  topic: string
}

/** Where one store's restore stands (while it runs) or ended (once done). */
export interface RestoreProgress {
  partition: number
  store: string
  topic: string
  fromOffset: bigint
  endOffset: bigint
  /** The next offset to read: done when it reaches endOffset. */
  position: bigint
  /** Changelog records applied so far. */
  records: number
  durationMs: number
  recordsPerS: number
  /** Fetches that failed with a retriable error and were asked again, and the last such error. */
  retriedFetches: number
  lastFetchError?: string
  wiped: boolean
  /** The store is restored (the last report of its restore). */
  done: boolean
}

export interface ChangelogRestorerOptions {
  consumer: Consumer
  /**
   * Max bytes per fetch (one partition per fetch). A store's restore holds up to two responses (the one being
   * written and the next), and every store of every opening task restores at once, so the decoded records in the
   * heap grow with this: 8 MiB took the heap to 175 MiB committed in a 1M restore. @default 4 MiB
   */
  maxBytes?: number
  /** Gives up if no progress is made for this long. @default 60000 */
  stallTimeoutMs?: number
  /** How often a store's restore reports its progress. @default 5000 */
  progressIntervalMs?: number
  /** Stops restoring (revocation, shutdown). */
  signal?: AbortSignal
}

export class ChangelogRestorer {
  readonly #consumer: Consumer
  readonly #maxBytes: number
  readonly #stallTimeoutMs: number
  readonly #progressIntervalMs: number

  constructor(options: ChangelogRestorerOptions) {
    this.#consumer = options.consumer
    this.#maxBytes = options.maxBytes ?? 4 * 1024 * 1024
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 60_000
    this.#progressIntervalMs = options.progressIntervalMs ?? 5_000
  }

  /** The end offsets (read_committed LSO) of the given changelog partitions, captured now. */
  async endOffsets(topics: string[], partition: number): Promise<Map<string, bigint>> {
    return this.#offsets(topics, partition, ListOffsetTimestamps.LATEST)
  }

  /**
   * End offsets once the partitions have no open transaction (last stable offset = high watermark), waiting
   * at most maxWaitMs (a zombie's transaction is aborted by its timeout); then the LSO as it is.
   */
  async stableEndOffsets(
    topics: string[],
    partition: number,
    maxWaitMs: number,
    onUnstable?: () => void,
  ): Promise<Map<string, bigint>> {
    const deadline = Date.now() + maxWaitMs
    for (let pass = 0; ; pass++) {
      const stable = await this.#offsets(topics, partition, ListOffsetTimestamps.LATEST)
      const high = await this.#offsets(
        topics,
        partition,
        ListOffsetTimestamps.LATEST,
        FetchIsolationLevels.READ_UNCOMMITTED,
      )
      if (topics.every((t) => stable.get(t) === high.get(t)) || Date.now() > deadline) return stable
      if (pass % 20 === 0) onUnstable?.() // every second of the wait (50 ms a pass)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /**
   * Restores every store of a task, the stores concurrently (one changelog reader each, their LevelDB batches
   * taken one after the other). When any store's stored offset is missing (with data present), below the log
   * start or above the end, the whole task state is wiped and every store is restored from the start.
   * `onProgress` is called every progressIntervalMs per store while it restores, and once when it is done.
   */
  async restoreTask(
    stores: TaskStores,
    partition: number,
    targets: RestoreTarget[],
    ends: ReadonlyMap<string, bigint>,
    signal?: AbortSignal,
    onProgress?: (progress: RestoreProgress) => void,
  ): Promise<RestoreProgress[]> {
    const topics = targets.map((t) => t.topic)
    const starts = await this.#offsets(topics, partition, ListOffsetTimestamps.EARLIEST)
    const stored = new Map(topics.map((t) => [t, stores.storedChangelogOffset(t)]))
    const unusable = targets.some(({ topic }) => {
      const offset = stored.get(topic)
      const start = starts.get(topic) ?? 0n
      const end = ends.get(topic) ?? 0n
      return offset === undefined ? end > start : offset < start || offset > end
    })
    if (unusable) await stores.backend.wipe()
    // One batch at a time into the task's LevelDB (the backend applies one batch behind the caller).
    let writing: Promise<void> = Promise.resolve()
    const write = (writes: StoreWrite[], meta: ReadonlyMap<string, string>): Promise<void> =>
      (writing = writing.then(() => stores.backend.write(writes, meta)))
    // A store that fails stops the others before the failure is thrown: no write outlives this call.
    const stop = new AbortController()
    const forward = (): void => stop.abort(signal?.reason)
    signal?.addEventListener('abort', forward, { once: true })
    if (signal?.aborted === true) forward()
    try {
      const settled = await Promise.allSettled(
        targets.map((target) => {
          const from = unusable
            ? (starts.get(target.topic) ?? 0n)
            : (stored.get(target.topic) ?? starts.get(target.topic) ?? 0n)
          const run = { partition, target, from, end: ends.get(target.topic) ?? 0n, wiped: unusable }
          return this.#restoreOne(run, write, stop.signal, onProgress).catch((error: unknown) => {
            stop.abort(error)
            throw error
          })
        }),
      )
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (failed !== undefined) throw signal?.aborted === true ? signal.reason : failed.reason
      return settled.map((s) => (s as PromiseFulfilledResult<RestoreProgress>).value)
    } finally {
      signal?.removeEventListener('abort', forward)
    }
  }

  async #restoreOne(
    run: { partition: number; target: RestoreTarget; from: bigint; end: bigint; wiped: boolean },
    write: (writes: StoreWrite[], meta: ReadonlyMap<string, string>) => Promise<void>,
    signal: AbortSignal,
    onProgress: ((progress: RestoreProgress) => void) | undefined,
  ): Promise<RestoreProgress> {
    const { partition, target, from, end } = run
    const startedAt = performance.now()
    let position = from
    let records = 0
    let lastProgressAt = Date.now()
    let reportedAt = startedAt
    let retriedFetches = 0
    let failuresInARow = 0
    let lastFetchError: string | undefined
    const progress = (done: boolean): RestoreProgress => {
      const durationMs = performance.now() - startedAt
      const recordsPerS = durationMs > 0 ? (records * 1000) / durationMs : 0
      return {
        partition,
        store: target.store,
        topic: target.topic,
        fromOffset: from,
        endOffset: end,
        position,
        records,
        durationMs,
        recordsPerS,
        retriedFetches,
        ...(lastFetchError === undefined ? {} : { lastFetchError }),
        wiped: run.wiped,
        done,
      }
    }
    const filter = new AbortedTransactionFilter()
    const metaKey = changelogOffsetKey(target.topic, partition)
    const fetcher = new ChangelogFetcher({
      consumer: this.#consumer,
      topic: target.topic,
      partition,
      maxBytes: this.#maxBytes,
    })
    while (position < end) {
      signal.throwIfAborted()
      let result: FetchedPartition
      try {
        result = await fetcher.take(position)
        failuresInARow = 0
      } catch (error) {
        const failure = decideError(error, ErrorCodes.storeRestore)
        if (!failure.retriable || Date.now() - lastProgressAt > this.#stallTimeoutMs) throw failure
        retriedFetches++
        lastFetchError = failure.message
        fetcher.reset()
        await sleepUnless(backoffMs(++failuresInARow, { initialMs: 100, maxMs: 2_000 }), signal)
        continue
      }
      signal.throwIfAborted()
      const decoded = committedWrites(result, position, target.store, filter)
      // Nothing more to read below the last stable offset the broker reports (e.g. compacted tail).
      const drained = (result.records ?? []).length === 0 && result.lastStableOffset <= position
      if (decoded.position < end && !drained) fetcher.prefetch(decoded.position)
      if (decoded.position > position) {
        await write(decoded.writes, new Map([[metaKey, decoded.position.toString()]]))
        position = decoded.position
        records += decoded.writes.length
        lastProgressAt = Date.now()
      }
      if (drained) break
      if (Date.now() - lastProgressAt > this.#stallTimeoutMs) {
        throw new FlextaskError(
          ErrorCodes.storeRestore,
          `restore of ${target.topic}[${partition}] stalled at offset ${position} (end ${end}) for ${this.#stallTimeoutMs} ms`,
          { retriable: true, context: { topic: target.topic, partition, offset: position } },
        )
      }
      if (onProgress !== undefined && position < end && performance.now() - reportedAt >= this.#progressIntervalMs) {
        reportedAt = performance.now()
        onProgress(progress(false))
      }
    }
    const done = progress(true)
    onProgress?.(done)
    return done
  }

  async #offsets(
    topics: string[],
    partition: number,
    timestamp: bigint,
    isolationLevel: number = FetchIsolationLevels.READ_COMMITTED,
  ): Promise<Map<string, bigint>> {
    const result = await this.#consumer.listOffsets({
      topics,
      partitions: Object.fromEntries(topics.map((t) => [t, [partition]])),
      timestamp,
      isolationLevel,
    })
    return new Map(topics.map((t) => [t, result.get(t)?.[partition] ?? 0n]))
  }
}

/**
 * The store writes of one fetch response from `position` on: committed data records only (control batches and
 * aborted transactions skipped, records below `position` of a batch read again skipped), and the position
 * after the last batch (control batches included).
 */
function committedWrites(
  result: FetchedPartition,
  from: bigint,
  store: string,
  filter: AbortedTransactionFilter,
): { writes: StoreWrite[]; position: bigint } {
  let position = from
  const writes: StoreWrite[] = []
  filter.addAborted(result.abortedTransactions)
  for (const batch of result.records ?? []) {
    const batchEnd = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n
    if (filter.isCommittedData(batch)) {
      for (const record of batch.records) {
        if (record.key === null) continue
        if (batch.firstOffset + BigInt(record.offsetDelta) < from) continue
        writes.push({ store, key: record.key.toString(), value: record.value })
      }
    }
    if (batchEnd > position) position = batchEnd
  }
  return { writes, position }
}
