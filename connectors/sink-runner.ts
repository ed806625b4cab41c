/**
 * Runs a SinkTask on a Kafka consumer group, the way a Kafka Connect worker runs a SinkTask: one group member per
 * process, read_committed, and the task — not Kafka — keeps the consumed offsets.
 *
 * Loop (all state changes happen here, never in a client callback):
 *   assignment pending → close the task's partitions, open the new ones (offsets read from the task's store),
 *     re-create the fetch stream from exactly those offsets (sink-fetcher.ts: the client has no seek);
 *   else take buffered messages → decode → undecodable ones go to the dead-letter topic (awaited) and are passed to
 *     the task as `skipped`, so their offsets advance with the batch → task.put → flush when the batch is full,
 *     the fetch buffer is empty, or flushIntervalMs passed.
 * A flush that fails transiently is retried with the same batch after a jittered exponential backoff while the
 * stream is paused (nothing is skipped); a fenced flush re-opens every partition; any other error stops the runner.
 *
 * Partition assignment keeps partition number p of every topic on one member (co-partitioned topics, like the
 * scheduler's): an execution, its results, logs and occurrences are written by the same sink.
 */
import { EventEmitter } from 'node:events'
import type { Consumer, Message, Producer } from '@platformatic/kafka'
import { coerceError, type FlextaskError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { silentLogger } from '../logger.ts'
import type { SinkMetrics } from '../metrics.ts'
import type { DeadLetter } from '../schemas/dead-letter.ts'
import { backoffMs, sleepUnless } from '../topology/backoff.ts'
import { decideError } from '../topology/kafka-errors.ts'
import { DeadLetterSender } from './dead-letter-sender.ts'
import type { SinkRecord, SinkValue } from './projection.ts'
import { SinkFetcher } from './sink-fetcher.ts'
import { decodeRecord, nonEmpty, refusedRowDeadLetter } from './record-decoder.ts'
import { SinkErrorCodes } from './sink-errors.ts'
import {
  type ResolvedRunnerOptions,
  resolveRunnerOptions,
  type RunnerStats,
  type SinkRunnerOptions,
  sinkConsumerOptions,
} from './sink-runner-options.ts'
import type { FlushStats, TopicPartition } from './sink-task.ts'

export type { RunnerStats, SinkRunnerOptions } from './sink-runner-options.ts'

export class SinkRunner extends EventEmitter {
  readonly stats: RunnerStats = { flushes: 0, records: 0, deadLettered: 0, retries: 0, fenced: 0 }
  readonly #o: ResolvedRunnerOptions
  readonly #logger: Logger
  readonly #metrics: SinkMetrics | undefined
  readonly #consumer: Consumer
  readonly #producer: Producer
  readonly #deadLetters: DeadLetterSender
  readonly #fetch: SinkFetcher
  #open: TopicPartition[] = []
  #assigned = new Set<string>()
  #pendingAssignment: TopicPartition[] | undefined
  #reopen = false
  #joined = false
  #stopping = false
  #retryStreak = 0
  #firstBufferedAt = 0
  #loop: Promise<void> | undefined
  /** Ends the current #wait early (an AbortController per wait: a #notify with nobody waiting is a no-op). */
  #wake: AbortController | undefined
  #fatal: FlextaskError | undefined
  #closing: Promise<void> | undefined

  constructor(options: SinkRunnerOptions) {
    super()
    const o = (this.#o = resolveRunnerOptions(options))
    this.#logger = options.logger ?? silentLogger
    this.#metrics = options.metrics
    // Through the one client factory (security options, and any client fix made there).
    const consumerOptions = sinkConsumerOptions(o)
    this.#consumer = o.kafka.consumer<Buffer, Buffer, Buffer, Buffer>(consumerOptions)
    this.#producer = o.kafka.producer({
      clientId: `${o.instanceId}-sink-dead-letters`,
      idempotent: true,
      acks: -1,
    })
    this.#deadLetters = new DeadLetterSender(
      this.#producer,
      o.deadLetterTopic,
      o.decoders.deadLetter,
      this.#logger,
      this.#metrics,
    )
    this.#fetch = new SinkFetcher(this.#consumer, [...o.topics.keys()], o.maxBufferedRecords, {
      retrying: () => this.#retryStreak > 0,
      onData: () => this.#notify(),
      onError: (error) => {
        this.#logger.warn({ error: coerceError(error).message }, 'postgres sink: fetch stream failed; re-opening')
        this.#reopen = true
        this.#notify()
      },
    })
    this.#consumer.on('consumer:group:join', (event: { assignments?: { topic: string; partitions: number[] }[] }) => {
      const mine: TopicPartition[] = []
      for (const a of event.assignments ?? []) {
        if (this.#o.topics.has(a.topic)) for (const partition of a.partitions) mine.push({ topic: a.topic, partition })
      }
      this.#pendingAssignment = mine
      this.#notify()
    })
    this.#consumer.on('consumer:group:rebalance', () => {
      this.#joined = false
      this.#notify()
    })
    // A failed rejoin (broker unreachable longer than the client's retries) is emitted as 'error' on the consumer,
    // which then stops heartbeating; unlistened it would crash the process. Waited out like a failed fetch stream.
    this.#consumer.on('error', (error: unknown) => {
      this.#logger.warn({ error: coerceError(error).message }, 'postgres sink: group membership failed; rejoining')
      this.#joined = false
      this.#reopen = true
      this.#notify()
    })
  }

  /** Partitions whose offsets the task has opened (topic:partition). */
  get assigned(): string[] {
    return [...this.#assigned]
  }

  /** Joined, partitions open, and not waiting out a failure. */
  get ready(): boolean {
    return this.#joined && this.#retryStreak === 0 && this.#fatal === undefined
  }

  get fatal(): FlextaskError | undefined {
    return this.#fatal
  }

  /** Joins the group (the first assignment is handled by the loop) and starts the loop. */
  async start(): Promise<void> {
    await this.#fetch.subscribe()
    this.#loop = this.#run().catch((error: unknown) => this.#fail(error))
  }

  /** Resolves once the first assignment is open (or rejects with the fatal error). */
  async waitUntilReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.#joined) {
      if (this.#fatal !== undefined) throw this.#fatal
      if (Date.now() > deadline) throw new Error(`sink ${this.#o.instanceId}: no assignment after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Flushes what is buffered (one attempt), leaves the group and closes the clients. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#stopping = true
    this.#notify()
    const loop = this.#loop
    this.#loop = undefined
    await loop
    await this.#fetch.close()
    await this.#consumer.close(true).catch(() => {})
    await this.#producer.close().catch(() => {})
    await this.#o.task.stop()
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      if (this.#pendingAssignment !== undefined || this.#reopen) {
        await this.#reassign()
        continue
      }
      if (!this.#joined) {
        await this.#wait(50)
        continue
      }
      if (this.#retryStreak > 0 && this.#o.task.buffered() > 0) {
        // Waiting out a failure: the same batch again, nothing new taken in.
        await this.#flush()
        continue
      }
      const taken = await this.#take()
      const buffered = this.#o.task.buffered()
      const due = this.#o.nowMs() - this.#firstBufferedAt >= this.#o.flushIntervalMs
      if (buffered > 0 && (buffered >= this.#o.batchSize || this.#fetch.inboxSize === 0 || due)) await this.#flush()
      else if (taken === 0) await this.#wait(buffered > 0 ? this.#o.flushIntervalMs : 1000)
      this.#fetch.applyBackpressure()
    }
    if (this.#o.task.buffered() > 0 && this.#fatal === undefined) await this.#o.task.flush().catch(() => {})
  }

  /** Moves up to a batch of fetched messages into the task, dead-lettering what does not decode. */
  async #take(): Promise<number> {
    const room = this.#o.batchSize - this.#o.task.buffered()
    if (room <= 0 || this.#fetch.inboxSize === 0) return 0
    const messages = this.#fetch.take(room)
    const records: (SinkRecord & { timestampMs: number })[] = []
    const deadLetters: { message: Message; value: DeadLetter }[] = []
    try {
      for (const message of messages) {
        const decoded = await decodeRecord(message, this.#o.topics, this.#o.decoders, this.#o.nowMs)
        if ('deadLetter' in decoded) {
          deadLetters.push({ message, value: decoded.deadLetter })
          records.push(this.#record(message, { kind: 'skipped', reason: decoded.deadLetter.reasonCode }))
        } else records.push(this.#record(message, decoded.value))
      }
      if (deadLetters.length > 0) await this.#sendDeadLetters(deadLetters)
    } catch (error) {
      // Registry or broker unreachable: nothing of this take is kept; the same messages are retried.
      this.#fetch.putBack(messages)
      await this.#backoff(coerceError(error), 'decoding')
      return 0
    }
    if (this.#o.task.buffered() === 0) this.#firstBufferedAt = this.#o.nowMs()
    this.#o.task.put(records)
    return messages.length
  }

  #record(message: Message, value: SinkValue): SinkRecord & { timestampMs: number } {
    return {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      value,
      timestampMs: Number(message.timestamp),
      source: { key: nonEmpty(message.key), value: nonEmpty(message.value) },
    }
  }

  async #sendDeadLetters(items: { value: DeadLetter }[]): Promise<void> {
    const deadLetters = items.map((i) => i.value)
    await this.#deadLetters.send(deadLetters)
    this.stats.deadLettered += items.length
    this.emit('deadLettered', deadLetters)
  }

  async #flush(): Promise<void> {
    let stats: FlushStats | undefined
    try {
      stats = await this.#o.task.flush()
    } catch (error) {
      const coded = coerceError(error)
      if (coded.code === SinkErrorCodes.fenced) {
        this.stats.fenced++
        this.#metrics?.batches.inc({ outcome: 'fenced' })
        this.#logger.warn({ code: coded.code }, `${coded.message}; re-reading offsets`)
        this.emit('fenced', coded)
        this.#reopen = true
        return
      }
      if (coded.code === SinkErrorCodes.rowRefused) {
        await this.#refused(coded)
        return
      }
      if (!coded.retriable) throw coded
      this.#metrics?.batches.inc({ outcome: 'retried' })
      await this.#backoff(coded, 'flushing')
      return
    }
    if (this.#retryStreak > 0) this.#logger.info({ attempts: this.#retryStreak }, 'postgres sink recovered')
    this.#retryStreak = 0
    if (stats === undefined) return
    this.stats.flushes++
    this.stats.records += stats.records
    this.#metrics?.batches.inc({ outcome: 'committed' })
    this.#metrics?.batchDuration.observe({}, stats.durationMs / 1000)
    for (const [kind, n] of Object.entries(stats.kinds)) this.#metrics?.records.inc({ kind }, n)
    this.emit('flushed', stats)
  }

  /**
   * Postgres refused one record's row (the task isolated it; the records before it are written): dead-letter it
   * with reason PROCESSING_FAILED and let the task skip it, so its partition moves on.
   */
  async #refused(error: FlextaskError): Promise<void> {
    const record = error.context.record as (SinkRecord & { timestampMs: number }) | undefined
    if (record === undefined) throw error
    const deadLetter = refusedRowDeadLetter(record, error.message, this.#o.nowMs())
    try {
      if (record.value.kind === 'deadLetter') {
        this.#logger.error({ topic: record.topic, offset: Number(record.offset) }, deadLetter.message)
      } else {
        await this.#sendDeadLetters([{ value: deadLetter }])
      }
    } catch (sendError) {
      await this.#backoff(coerceError(sendError), 'dead-lettering a refused row')
      return
    }
    this.#o.task.skip(record, 'PROCESSING_FAILED')
  }

  /** Waits out a transient failure with the stream paused: retryBaseMs doubling to retryMaxMs, ±20 % (backoff.ts). */
  async #backoff(error: FlextaskError, what: string): Promise<void> {
    this.#retryStreak++
    this.stats.retries++
    const delayMs = backoffMs(this.#retryStreak, { initialMs: this.#o.retryBaseMs, maxMs: this.#o.retryMaxMs })
    this.#logger.warn(
      { code: error.code, attempt: this.#retryStreak, delayMs },
      `postgres sink: ${what} failed, retrying the same batch: ${error.message}`,
    )
    this.emit('retrying', { error, attempt: this.#retryStreak, delayMs })
    this.#fetch.pause()
    await this.#wait(delayMs)
  }

  /** Closes the task's partitions and opens the current assignment from the offsets the task stored. */
  async #reassign(): Promise<void> {
    const assignment = this.#pendingAssignment ?? this.#open
    this.#pendingAssignment = undefined
    this.#reopen = false
    this.#joined = false
    this.#fetch.reset()
    await this.#o.task.close(this.#open)
    this.#open = []
    this.#assigned = new Set()
    let offsets: Map<string, bigint>
    try {
      offsets = await this.#o.task.open(assignment)
    } catch (error) {
      const coded = coerceError(error)
      if (!coded.retriable) throw coded
      // Try again (unless a newer assignment arrived meanwhile, which replaces this one).
      this.#pendingAssignment ??= assignment
      await this.#backoff(coded, 'reading offsets')
      return
    }
    this.#retryStreak = 0
    this.#open = assignment
    this.#assigned = new Set(assignment.map((tp) => `${tp.topic}:${tp.partition}`))
    try {
      await this.#fetch.restart(assignment, offsets)
    } catch (error) {
      // A broker stopped or restarting fails the (re)join with the client's own errors (ECONNREFUSED, "joinGroup
      // failed 4 times"): wait it out and open the assignment again, as a Postgres outage is (issue 15: the fault
      // suite's broker restart used to stop the connector here).
      const coded = decideError(error, SinkErrorCodes.kafkaTransient)
      if (!coded.retriable) throw coded
      this.#pendingAssignment ??= assignment
      await this.#backoff(coded, 're-opening the fetch stream')
      return
    }
    this.#joined = true
    this.emit('assigned', { partitions: assignment, offsets })
  }

  #notify(): void {
    this.#wake?.abort()
    this.#wake = undefined
  }

  /** Sleeps ms, or until #notify (new data, an assignment, close). */
  async #wait(ms: number): Promise<void> {
    if (this.#stopping) return
    const wake = new AbortController()
    this.#wake = wake
    await sleepUnless(ms, wake.signal)
    if (this.#wake === wake) this.#wake = undefined
  }

  #fail(error: unknown): void {
    if (this.#fatal !== undefined) return
    this.#fatal = coerceError(error)
    this.#stopping = true
    this.#logger.error({ code: this.#fatal.code }, `postgres sink stopped: ${this.#fatal.message}`)
    this.#notify()
    this.emit('error', this.#fatal)
  }
}
