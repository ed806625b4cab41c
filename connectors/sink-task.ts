/**
 * The port every sink implements, in the shape of Kafka Connect's `SinkTask`: the runner (sink-runner.ts) owns the
 * consumer group, decoding, dead letters, retries and backoff; a SinkTask owns where records go and where the
 * consumed offsets are kept.
 *
 * Lifecycle, driven by the runner on its loop (never from a client callback):
 *   open(partitions)  on every assignment: returns the offset to resume each partition from, read from the
 *                     task's own store — the runner fetches from there, not from Kafka's committed offsets.
 *   put(records)      buffers decoded records (offset order per partition); records below the resume offset are
 *                     already written and are dropped.
 *   flush()           writes everything buffered and the next offsets atomically. Rejects with a coded error:
 *                     retriable → the runner backs off and calls flush() again with the same buffer; fenced → the
 *                     runner re-opens its partitions (another sink wrote them); row refused → the runner
 *                     dead-letters that record and calls skip(record); anything else stops the runner.
 *   close(partitions) on revocation: drops what was buffered for them.
 *   stop()            releases connections.
 */
import type { SinkRecord } from './projection.ts'

export interface TopicPartition {
  topic: string
  partition: number
}

export interface FlushStats {
  /** Records written (including skipped ones whose offsets advanced). */
  records: number
  /** The partitions whose offsets advanced (topic:partition). */
  partitions: string[]
  /** Records per kind (definition, execution, result, log, occurrence, deadLetter, skipped). */
  kinds: Record<string, number>
  /** Rows upserted per table. */
  rows: Record<string, number>
  durationMs: number
}

export interface SinkTask {
  open(partitions: TopicPartition[]): Promise<Map<string, bigint>>
  put(records: (SinkRecord & { timestampMs: number })[]): void
  /** Records buffered and not yet flushed. */
  buffered(): number
  flush(): Promise<FlushStats | undefined>
  /** Turns a buffered record the store refused (FLEXTASK_SINK_ROW_REFUSED) into a skipped one. */
  skip(record: TopicPartition & { offset: bigint }, reason: string): void
  close(partitions: TopicPartition[]): Promise<void>
  stop(): Promise<void>
}

export function topicPartitionKey(tp: TopicPartition): string {
  return `${tp.topic}:${tp.partition}`
}
