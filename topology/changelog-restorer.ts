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
 * fails with FLEXTASK_STORE_RESTORE_FAILED (retriable: the runtime reopens the task).
 */
import { FetchIsolationLevels, ListOffsetTimestamps, type Consumer } from '@platformatic/kafka'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import { AbortedTransactionFilter } from './aborted-transactions.ts'
import type { StoreWrite, TaskStores } from './state-stores.ts'
import { changelogOffsetKey } from './state-stores.ts'

export interface RestoreTarget {
  store: string
  topic: string
}

export interface RestoreProgress {
  partition: number
  store: string
  topic: string
  fromOffset: bigint
  endOffset: bigint
  records: number
  durationMs: number
  wiped: boolean
}

export interface ChangelogRestorerOptions {
  consumer: Consumer
  /** Max bytes per fetch. @default 8 MiB */
  maxBytes?: number
  /** Gives up if no progress is made for this long. @default 60000 */
  stallTimeoutMs?: number
  /** Stops restoring (revocation, shutdown). */
  signal?: AbortSignal
}

export class ChangelogRestorer {
  readonly #consumer: Consumer
  readonly #maxBytes: number
  readonly #stallTimeoutMs: number

  constructor(options: ChangelogRestorerOptions) {
    this.#consumer = options.consumer
    this.#maxBytes = options.maxBytes ?? 8 * 1024 * 1024
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 60_000
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
   * Restores every store of a task. When any store's stored offset is missing (with data present), below the
   * log start or above the end, the whole task state is wiped and every store is restored from the start.
   */
  async restoreTask(
    stores: TaskStores,
    partition: number,
    targets: RestoreTarget[],
    ends: ReadonlyMap<string, bigint>,
    signal?: AbortSignal,
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
    const progress: RestoreProgress[] = []
    for (const target of targets) {
      const from = unusable
        ? (starts.get(target.topic) ?? 0n)
        : (stored.get(target.topic) ?? starts.get(target.topic) ?? 0n)
      const end = ends.get(target.topic) ?? 0n
      const startedAt = performance.now()
      const records = await this.#restoreOne(stores, partition, target, from, end, signal)
      progress.push({
        partition,
        store: target.store,
        topic: target.topic,
        fromOffset: from,
        endOffset: end,
        records,
        durationMs: performance.now() - startedAt,
        wiped: unusable,
      })
    }
    return progress
  }

  async #restoreOne(
    stores: TaskStores,
    partition: number,
    target: RestoreTarget,
    from: bigint,
    end: bigint,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    let position = from
    let records = 0
    let lastProgressAt = Date.now()
    const filter = new AbortedTransactionFilter()
    const metaKey = changelogOffsetKey(target.topic, partition)
    while (position < end) {
      signal?.throwIfAborted()
      const result = await this.#fetch(target.topic, partition, position)
      const before = position
      const writes: StoreWrite[] = []
      filter.addAborted(result.abortedTransactions)
      for (const batch of result.records ?? []) {
        const batchEnd = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n
        if (filter.isCommittedData(batch)) {
          for (const record of batch.records) {
            const offset = batch.firstOffset + BigInt(record.offsetDelta)
            if (offset < position || record.key === null) continue
            writes.push({ store: target.store, key: record.key.toString(), value: record.value })
            records++
          }
        }
        if (batchEnd > position) position = batchEnd
      }
      if (position > before) {
        await stores.backend.write(writes, new Map([[metaKey, position.toString()]]))
        lastProgressAt = Date.now()
      }
      // Nothing more to read below the last stable offset the broker reports (e.g. compacted tail).
      if ((result.records ?? []).length === 0 && result.lastStableOffset <= position) break
      if (Date.now() - lastProgressAt > this.#stallTimeoutMs) {
        throw new FlextaskError(
          ErrorCodes.storeRestore,
          `restore of ${target.topic}[${partition}] stalled at offset ${position} (end ${end}) for ${this.#stallTimeoutMs} ms`,
          { retriable: true, context: { topic: target.topic, partition, offset: position } },
        )
      }
    }
    return records
  }

  async #fetch(topic: string, partition: number, position: bigint) {
    const metadata = await this.#consumer.metadata({ topics: [topic] })
    const topicMetadata = metadata.topics.get(topic)
    const leader = topicMetadata?.partitions[partition]?.leader
    if (topicMetadata === undefined || leader === undefined)
      throw new FlextaskError(ErrorCodes.storeRestore, `no leader for ${topic}[${partition}]`, { retriable: true })
    const response = await this.#consumer.fetch({
      node: leader,
      topics: [
        {
          topicId: topicMetadata.id,
          partitions: [
            {
              partition,
              fetchOffset: position,
              partitionMaxBytes: this.#maxBytes,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            },
          ],
        },
      ],
      // read_committed: the broker bounds the response by the last stable offset and lists the aborted
      // transactions in it; the filter above decides what is committed.
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 200,
      minBytes: 1,
      maxBytes: this.#maxBytes,
    })
    const result = response.responses[0]?.partitions[0]
    if (result === undefined)
      throw new FlextaskError(ErrorCodes.storeRestore, `empty fetch response for ${topic}[${partition}]`, {
        retriable: true,
      })
    if (result.errorCode !== 0)
      throw new FlextaskError(
        ErrorCodes.storeRestore,
        `fetch ${topic}[${partition}] failed with error code ${result.errorCode}`,
        { retriable: true, context: { topic, partition } },
      )
    return result
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
