/**
 * One exactly-once cycle's bookkeeping and commit (≈ Kafka Streams' TaskExecutor + RecordCollector): what the
 * running tasks consumed since the last commit, the records they want produced, and the transaction that
 * carries both (eos-producer.ts).
 *
 * Fencing: every transaction commits at least one offset with the generation this process applied, even
 * when only timers fired, so a zombie that lost its partitions in a rebalance cannot commit (its
 * TxnOffsetCommit fails with ILLEGAL_GENERATION). The consumed messages carry the generation they were
 * fetched under; they are dropped on every join and abort (review C10), so a commit never sends offsets of an
 * older generation.
 *
 * After a commit each task applies its store writes to its backend with the changelog offsets written; after
 * an abort each task drops its cycle and re-initialises its processors from committed state.
 */
import type { Consumer, Message } from '@platformatic/kafka'
import type { Clock } from './api.ts'
import type { EosProducer, TransactionRecord } from './eos-producer.ts'
import { messageBytes } from './record-buffer.ts'
import type { CommittedEvent } from './runtime-events.ts'
import type { OutputRecord } from './stream-task.ts'
import type { TaskEntry } from './task-manager.ts'

export class CommitCycle {
  readonly #producer: EosProducer
  readonly #consumer: Consumer
  readonly #clock: Clock
  /** topic\0partition → the last message processed since the last commit. */
  readonly #lastMessages = new Map<string, Message>()
  #records = 0
  #bytes = 0
  #timers = 0

  constructor(options: { producer: EosProducer; consumer: Consumer; clock: Clock }) {
    this.#producer = options.producer
    this.#consumer = options.consumer
    this.#clock = options.clock
  }

  /** Source records processed since the last commit. */
  get uncommittedRecords(): number {
    return this.#records
  }

  /** Bytes (keys and values) of the source records processed since the last commit. */
  get uncommittedBytes(): number {
    return this.#bytes
  }

  consumed(message: Message): void {
    this.#lastMessages.set(`${message.topic}\u0000${message.partition}`, message)
    this.#records++
    this.#bytes += messageBytes(message)
  }

  timersRan(count: number): void {
    this.#timers += count
  }

  /** Forgets what was consumed (a join or an abort: the stream restarts from the committed offsets). */
  reset(): void {
    this.#lastMessages.clear()
    this.#records = 0
    this.#bytes = 0
    this.#timers = 0
  }

  /** Commits the work of the running tasks that have any, under `generation`. Throws a FlextaskError. */
  async commit(running: readonly TaskEntry[], generation: number): Promise<CommittedEvent> {
    const entries = running.filter((e) => e.task?.hasWork())
    const records: TransactionRecord[] = []
    const outputs: OutputRecord[] = []
    const nowMs = this.#clock.nowMs()
    for (const entry of entries) {
      const pending = (entry.task as NonNullable<TaskEntry['task']>).pendingRecords()
      outputs.push(...pending.outputs)
      records.push(...pending.outputs)
      const { changelog } = pending
      for (const r of changelog) records.push({ ...r, timestampMs: nowMs })
    }
    const startedAt = performance.now()
    const offsets = this.#offsetsToCommit(entries.length > 0 ? entries : running, generation)
    const written = await this.#producer.commit(records, this.#consumer, offsets)
    for (const entry of entries) {
      const task = entry.task as NonNullable<TaskEntry['task']>
      for (const [topic, offset] of task.consumedOffsets()) entry.committed.set(topic, offset + 1n)
      const mine = new Map<string, bigint>()
      for (const [key, offset] of written) {
        const [topic, partition] = key.split('\u0000') as [string, string]
        if (Number(partition) === entry.partition) mine.set(topic, offset)
      }
      await task.committed(mine)
    }
    const event = {
      records: records.length,
      consumed: this.#records,
      timers: this.#timers,
      tasks: entries.length,
      durationMs: performance.now() - startedAt,
      outputs,
    }
    this.reset()
    return event
  }

  /** After an aborted transaction: every running task drops its cycle and re-initialises. */
  async aborted(running: readonly TaskEntry[]): Promise<void> {
    this.reset()
    for (const entry of running) await entry.task?.aborted()
  }

  /**
   * A join kept these tasks: their uncommitted work is dropped (each re-initialises from committed state) and
   * so is every consumed offset (C10). Their records are read again by the stream the join restarts from the
   * committed offsets, and their timers fire again; nothing of the old generation is committed under the new
   * one. A task with no uncommitted work is left as it is.
   */
  async rollBack(kept: readonly TaskEntry[]): Promise<void> {
    this.reset()
    for (const entry of kept) if (entry.task?.hasWork()) await entry.task.aborted()
  }

  /** Real consumed offsets, plus one fencing offset when nothing was consumed (see the header). */
  #offsetsToCommit(entries: readonly TaskEntry[], generation: number): Message[] {
    const offsets = [...this.#lastMessages.values()]
    if (offsets.length > 0) return offsets
    for (const entry of entries) {
      const first = [...entry.committed][0]
      if (first === undefined) continue
      const [topic, next] = first
      return [fencingOffset(this.#consumer, topic, entry.partition, next - 1n, generation)]
    }
    return []
  }
}

/**
 * A message-shaped offset for TxnOffsetCommit: the client's addOffset takes a Message and commits offset + 1
 * with the consumer metadata it carries (group, member, generation).
 */
export function fencingOffset(
  consumer: Consumer,
  topic: string,
  partition: number,
  offset: bigint,
  generation: number,
): Message {
  const metadata = {
    consumer: {
      groupId: consumer.groupId,
      generationId: generation,
      memberId: consumer.memberId,
      coordinatorId: consumer.coordinatorId,
    },
  }
  return { topic, partition, offset, metadata } as unknown as Message
}
