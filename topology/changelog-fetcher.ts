/**
 * Reads one changelog partition for restore: `Consumer.fetch` on the partition's leader, read_committed, one
 * fetch ahead. The restorer takes the response at its position, decodes it, asks for the next position at once
 * (`prefetch`) and only then waits for LevelDB to take the previous batch, so the broker reads and sends the next
 * response while this process decodes and writes (the 1M restore profile was 40 % idle with one fetch at a time:
 * bench/results/full-state-1m/profile-restore.md).
 *
 * The leader and the topic id are looked up once per reader (review C13: the first restorer asked for metadata
 * before every fetch). A fetch that fails (a timeout, a leader moved, the broker restarted) throws; a response
 * with an error code throws FLEXTASK_STORE_RESTORE_FAILED, retriable. The restorer then calls `reset` and asks
 * again: the leader is looked up anew, and the fetch ahead is dropped.
 */
import { FetchIsolationLevels, type Consumer } from '@platformatic/kafka'
import { ErrorCodes, FlextaskError } from '../errors.ts'

/** One partition of a fetch response, as the restorer reads it. */
export type FetchedPartition = Awaited<ReturnType<Consumer['fetch']>>['responses'][number]['partitions'][number]

export interface ChangelogFetcherOptions {
  consumer: Consumer
  topic: string
  partition: number
  /** Max bytes of one fetch response (and of the partition in it). */
  maxBytes: number
}

export class ChangelogFetcher {
  readonly #o: ChangelogFetcherOptions
  #route: Promise<{ node: number; topicId: string }> | undefined
  /** The fetch started ahead, and the position it reads from. */
  #ahead: { position: bigint; response: Promise<FetchedPartition> } | undefined

  constructor(options: ChangelogFetcherOptions) {
    this.#o = options
  }

  /** The response at `position`: the one fetched ahead if it is for that position, else a new fetch. */
  take(position: bigint): Promise<FetchedPartition> {
    const ahead = this.#ahead
    this.#ahead = undefined
    return ahead?.position === position ? ahead.response : this.#fetch(position)
  }

  /** Forgets the leader and the fetch ahead (after a failed fetch). */
  reset(): void {
    this.#route = undefined
    this.#ahead = undefined
  }

  /** Starts fetching `position` now; `take(position)` returns it. Its failure surfaces there, never unhandled. */
  prefetch(position: bigint): void {
    const response = this.#fetch(position)
    response.catch(() => {})
    this.#ahead = { position, response }
  }

  async #fetch(position: bigint): Promise<FetchedPartition> {
    const { topic, partition, maxBytes } = this.#o
    const { node, topicId } = await this.#leader()
    const response = await this.#o.consumer.fetch({
      node,
      topics: [
        {
          topicId,
          partitions: [
            {
              partition,
              fetchOffset: position,
              partitionMaxBytes: maxBytes,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            },
          ],
        },
      ],
      // read_committed: the broker bounds the response by the last stable offset and lists the aborted
      // transactions in it; the restorer's filter decides what is committed.
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 200,
      minBytes: 1,
      maxBytes,
    })
    const result = response.responses[0]?.partitions[0]
    if (result === undefined) throw restoreError(`empty fetch response for ${topic}[${partition}]`, topic, partition)
    if (result.errorCode !== 0)
      throw restoreError(`fetch ${topic}[${partition}] failed with error code ${result.errorCode}`, topic, partition)
    return result
  }

  #leader(): Promise<{ node: number; topicId: string }> {
    this.#route ??= this.#lookUp()
    return this.#route
  }

  async #lookUp(): Promise<{ node: number; topicId: string }> {
    const { topic, partition } = this.#o
    const metadata = await this.#o.consumer.metadata({ topics: [topic] })
    const topicMetadata = metadata.topics.get(topic)
    const node = topicMetadata?.partitions[partition]?.leader
    if (topicMetadata === undefined || node === undefined || node < 0) {
      this.#route = undefined // asked again by the next fetch
      throw restoreError(`no leader for ${topic}[${partition}]`, topic, partition)
    }
    return { node, topicId: topicMetadata.id }
  }
}

function restoreError(message: string, topic: string, partition: number): FlextaskError {
  return new FlextaskError(ErrorCodes.storeRestore, message, { retriable: true, context: { topic, partition } })
}
