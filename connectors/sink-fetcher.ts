/**
 * The fetch side of a SinkRunner (sink-runner.ts): one MANUAL-mode stream positioned at exactly the offsets the
 * task stored (the client has no seek), an inbox of fetched messages that the runner's loop takes from, and
 * backpressure: fetching pauses when the inbox reaches maxBufferedRecords and resumes below half of it, and stays
 * paused while the runner waits out a failure. Every `reset` starts a new epoch: messages and errors of an older
 * stream, or of partitions that are not open, are ignored.
 */
import {
  type Consumer,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type MessagesStream,
} from '@platformatic/kafka'
import type { TopicPartition } from './sink-task.ts'

export interface SinkFetcherHooks {
  /** The runner is waiting out a failure: stay paused, and new data must not cut its backoff short. */
  retrying(): boolean
  /** New data arrived (not called while retrying). */
  onData(): void
  /** The current stream failed; the runner re-opens its assignment. */
  onError(error: unknown): void
}

export class SinkFetcher {
  readonly #consumer: Consumer
  readonly #topics: string[]
  readonly #maxBufferedRecords: number
  readonly #hooks: SinkFetcherHooks
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  #epoch = 0
  #inbox: Message[] = []
  #accepted = new Set<string>()
  #paused = false

  constructor(consumer: Consumer, topics: string[], maxBufferedRecords: number, hooks: SinkFetcherHooks) {
    this.#consumer = consumer
    this.#topics = topics
    this.#maxBufferedRecords = maxBufferedRecords
    this.#hooks = hooks
  }

  /** Messages fetched and not yet taken. */
  get inboxSize(): number {
    return this.#inbox.length
  }

  /** Joins the group with a paused stream; the runner replaces it with one positioned at the task's offsets. */
  async subscribe(): Promise<void> {
    const initial = await this.#consumer.consume({
      topics: this.#topics,
      mode: MessagesStreamModes.MANUAL,
      offsets: [],
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    initial.pause()
    this.#stream = initial
  }

  /** Up to `count` messages, oldest first. */
  take(count: number): Message[] {
    return this.#inbox.splice(0, count)
  }

  /** Returns messages taken but not kept, ahead of the rest. */
  putBack(messages: Message[]): void {
    this.#inbox.unshift(...messages)
  }

  /** Drops the inbox and ignores the current stream from now on (an assignment is being re-opened). */
  reset(): void {
    this.#epoch++
    this.#inbox = []
    this.#accepted = new Set()
  }

  /** Replaces the stream with one reading `open` from `offsets` (topic:partition → offset, 0 when absent). */
  async restart(open: TopicPartition[], offsets: Map<string, bigint>): Promise<void> {
    const epoch = this.#epoch
    const old = this.#stream
    // Created before the old one closes: the subscription never drops to zero topics, so no rejoin is triggered.
    const stream = await this.#consumer.consume({
      topics: this.#topics,
      mode: MessagesStreamModes.MANUAL,
      offsets: open.map((tp) => ({ ...tp, offset: offsets.get(`${tp.topic}:${tp.partition}`) ?? 0n })),
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    this.#stream = stream
    this.#accepted = new Set(open.map((tp) => `${tp.topic}:${tp.partition}`))
    this.#paused = false
    await old?.close().catch(() => {})
    stream.on('data', (message: Message) => {
      if (epoch !== this.#epoch || !this.#accepted.has(`${message.topic}:${message.partition}`)) return
      this.#inbox.push(message)
      this.applyBackpressure()
      if (!this.#hooks.retrying()) this.#hooks.onData()
    })
    stream.on('error', (error: unknown) => {
      if (epoch !== this.#epoch) return
      this.#hooks.onError(error)
    })
  }

  applyBackpressure(): void {
    if (this.#hooks.retrying()) return this.pause()
    if (!this.#paused && this.#inbox.length >= this.#maxBufferedRecords) this.pause()
    else if (this.#paused && this.#inbox.length < this.#maxBufferedRecords / 2) {
      this.#paused = false
      this.#stream?.resume()
    }
  }

  pause(): void {
    if (this.#paused) return
    this.#paused = true
    this.#stream?.pause()
  }

  async close(): Promise<void> {
    await this.#stream?.close().catch(() => {})
  }
}
