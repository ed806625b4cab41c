/**
 * The input side of the loop (≈ Kafka Streams' PartitionGroup): one MessagesStream over the source topics,
 * re-created on every join and after every abort (the client has no seek; a new stream starts from the
 * committed offsets), and an inbox per partition of the records fetched under the current generation.
 *
 * Owner of: the stream, its epoch, the inbox and backpressure (by records and by bytes: a paused stream starts no
 * new fetch, so memory stays within the inbox's limits plus one fetch response). Records of an older stream (epoch), of
 * another generation or of a partition not assigned are dropped: they are fetched again from the committed
 * offsets by the new stream.
 *
 * `fetchedUpTo` tells the input barrier (input-barrier.ts) how far the stream has fetched a partition, counting
 * control batches and aborted data (the stream's own fetch position), once the records below it have all
 * been handed to the inbox.
 */
import type { EventEmitter } from 'node:events'
import {
  type Consumer,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type MessagesStream,
} from '@platformatic/kafka'
import type { RawRecord } from './stream-task.ts'

export interface RecordBufferOptions {
  consumer: Consumer
  topics: readonly string[]
  /** Buffered records above which fetching pauses (resumes below half). */
  maxBufferedRecords: number
  /** Buffered bytes (keys and values) above which fetching pauses (resumes below half). */
  maxBufferedBytes: number
  /** Called when records arrive. */
  onRecords: () => void
  /** Called when the stream fails (the runtime decides: restart with backoff, or fatal). */
  onError: (error: unknown) => void
}

export class RecordBuffer {
  readonly #options: RecordBufferOptions
  /** partition → records fetched under the current generation, in offset order per topic. */
  readonly #inbox = new Map<number, Message[]>()
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  #epoch = 0
  #generation = -1
  #assigned: ReadonlySet<number> = new Set()
  /** Bytes of the keys and values in the inbox. */
  #bytes = 0
  #paused = false
  #suspended = false

  constructor(options: RecordBufferOptions) {
    this.#options = options
  }

  /**
   * Starts a new stream from the committed offsets, then closes the current one and clears the inbox.
   * In that order on purpose: the client counts the streams that track a topic, and a consume() while no
   * stream tracks the source topics makes the consumer rejoin the group, i.e. every restart would cause
   * a rebalance (and a restart per join, an endless one).
   */
  async restart(generation: number, assigned: ReadonlySet<number>): Promise<void> {
    const epoch = ++this.#epoch
    this.#generation = generation
    this.#assigned = assigned
    this.#clearInbox()
    const stream = await this.#options.consumer.consume({
      topics: [...this.#options.topics],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    if (epoch !== this.#epoch) {
      // A newer restart or stop began while this one waited: this stream is already stale.
      await stream.close().catch(() => {})
      return
    }
    const old = this.#stream
    this.#stream = stream
    this.#paused = false
    this.#suspended = false
    this.#clearInbox()
    stream.on('data', (message: Message) => this.#accept(epoch, message))
    stream.on('fetch', () => {
      if (epoch === this.#epoch) this.#options.onRecords()
    })
    stream.on('error', (error: unknown) => {
      if (epoch === this.#epoch) this.#options.onError(error)
    })
    // The patched client waits out a failing fetch inside the stream (scripts/patch-platformatic-kafka.ts); the
    // runtime keeps its own rule instead: a failing stream aborts the cycle and restarts from committed offsets.
    ;(stream as unknown as EventEmitter).on('fetch:retry', (retry: { error: unknown }) => {
      if (epoch === this.#epoch) this.#options.onError(retry.error)
    })
    await old?.close().catch(() => {})
  }

  /**
   * Drops the inbox and stops delivering (an aborted cycle, during its backoff). The stream is paused, not
   * closed, so the next restart() does not rejoin the group; it is closed by that restart.
   */
  suspend(): void {
    this.#epoch++
    this.#clearInbox()
    this.#suspended = true
    this.#stream?.pause()
  }

  /** Whether a stream delivers records of the current epoch (false after suspend() or before the first start). */
  get streaming(): boolean {
    return this.#stream !== undefined && !this.#suspended && !this.#stream.destroyed
  }

  /** Closes the stream for good (close()). */
  async stop(): Promise<void> {
    this.#epoch++
    const old = this.#stream
    this.#stream = undefined
    this.#clearInbox()
    await old?.close().catch(() => {})
  }

  #accept(epoch: number, message: Message): void {
    if (epoch !== this.#epoch) return
    const generation = (message.metadata.consumer as { generationId?: number } | undefined)?.generationId
    if (generation !== this.#generation || !this.#assigned.has(message.partition)) return
    let queue = this.#inbox.get(message.partition)
    if (queue === undefined) this.#inbox.set(message.partition, (queue = []))
    queue.push(message)
    this.#bytes += messageBytes(message)
    this.applyBackpressure()
    this.#options.onRecords()
  }

  /** Removes and returns up to `max` records of a partition. */
  take(partition: number, max: number): Message[] {
    const queue = this.#inbox.get(partition)
    if (queue === undefined || queue.length === 0 || max <= 0) return []
    const taken = queue.splice(0, max)
    for (const m of taken) this.#bytes -= messageBytes(m)
    return taken
  }

  /** Puts records taken but not processed back at the head of their partition's queue, in their order. */
  putBack(partition: number, messages: readonly Message[]): void {
    if (messages.length === 0) return
    let queue = this.#inbox.get(partition)
    if (queue === undefined) this.#inbox.set(partition, (queue = []))
    queue.unshift(...messages)
    for (const m of messages) this.#bytes += messageBytes(m)
  }

  /** Bytes of the keys and values buffered in the inbox. */
  bytes(): number {
    return this.#bytes
  }

  #clearInbox(): void {
    this.#inbox.clear()
    this.#bytes = 0
  }

  size(): number {
    let n = 0
    for (const queue of this.#inbox.values()) n += queue.length
    return n
  }

  /** True when the inbox holds a record of the partition below the topic's target offset. */
  holdsBelow(partition: number, targets: ReadonlyMap<string, bigint>): boolean {
    for (const m of this.#inbox.get(partition) ?? []) if (m.offset < (targets.get(m.topic) ?? -1n)) return true
    return false
  }

  /**
   * The stream's fetch position of topic/partition, if every record fetched below it has been delivered to
   * the inbox (the stream's own buffer is empty); undefined otherwise.
   */
  fetchedUpTo(topic: string, partition: number): bigint | undefined {
    const stream = this.#stream
    if (stream === undefined || stream.readableLength > 0) return undefined
    return stream.offsetsToFetch.get(`${topic}:${partition}`)
  }

  /** Pauses fetching at maxBufferedRecords or maxBufferedBytes; resumes once both are below half. */
  applyBackpressure(): void {
    const buffered = this.size()
    const max = this.#options.maxBufferedRecords
    const maxBytes = this.#options.maxBufferedBytes
    if (!this.#paused && (buffered >= max || this.#bytes >= maxBytes)) {
      this.#paused = true
      this.#stream?.pause()
    } else if (this.#paused && buffered < max / 2 && this.#bytes < maxBytes / 2) {
      this.#paused = false
      this.#stream?.resume()
    }
  }
}

/** Bytes of a record's key and value, what the buffer and the cycle count against their byte limits. */
export function messageBytes(message: Pick<Message, 'key' | 'value'>): number {
  return (message.key?.length ?? 0) + (message.value?.length ?? 0)
}

export function toRawRecord(message: Message): RawRecord {
  const headers = new Map<string, Buffer>()
  for (const [k, v] of message.headers) headers.set(k.toString(), v)
  const bytes = (b: Buffer | null | undefined): Buffer | null =>
    b === undefined || b === null || b.length === 0 ? null : b
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: bytes(message.key),
    value: bytes(message.value),
    timestampMs: Number(message.timestamp),
    headers,
  }
}
