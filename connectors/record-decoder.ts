/**
 * Decoding of the records the sink consumes, by topic kind, and the dead letters it writes: an undecodable record
 * (bad framing, unknown schema id, a null value where one is required) becomes a DeadLetter with reason
 * UNDECODABLE or UNKNOWN_SCHEMA; a registry that cannot be reached is thrown (retriable), never dead-lettered.
 * A definition's taskId is the record key, as for its tombstone.
 */
import type { Message } from '@platformatic/kafka'
import { coerceError, ErrorCodes } from '../errors.ts'
import { cappedDeadLetter, type DeadLetter } from '../schemas/dead-letter.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { SinkRecord, SinkValue } from './projection.ts'

/** What the sink decodes, by kind; `deserialize` may be async (a registry lookup). */
export interface SinkDecoders {
  definition: { deserialize(data: Buffer): unknown }
  execution: { deserialize(data: Buffer): unknown }
  result: { deserialize(data: Buffer): unknown }
  log: { deserialize(data: Buffer): unknown }
  occurrence: { deserialize(data: Buffer): unknown }
  deadLetter: { deserialize(data: Buffer): unknown; serialize(value: DeadLetter): Buffer }
}

export type SinkKind = Exclude<SinkValue['kind'], 'skipped'>

export async function decodeRecord(
  message: Message,
  topics: ReadonlyMap<string, SinkKind>,
  decoders: SinkDecoders,
  nowMs: () => number,
): Promise<{ value: SinkValue } | { deadLetter: DeadLetter }> {
  const kind = topics.get(message.topic)
  const bytes =
    message.value === null || message.value === undefined || message.value.length === 0 ? null : message.value
  const key = message.key === null || message.key === undefined || message.key.length === 0 ? null : message.key
  if (kind === 'definition' && bytes === null) {
    return { value: { kind: 'definition', taskId: key?.toString('utf8') ?? '', definition: null } }
  }
  try {
    if (kind === undefined) throw new Error(`no decoder for topic ${message.topic}`)
    if (bytes === null) throw new Error('null value')
    const value = await decoders[kind].deserialize(bytes)
    if (kind === 'definition') {
      const definition = value as TaskDefinition
      return { value: { kind, taskId: key?.toString('utf8') ?? definition.taskId, definition } }
    }
    return { value: { kind, value } as SinkValue }
  } catch (error) {
    const coded = coerceError(error, ErrorCodes.serdeDecode)
    if (coded.retriable || coded.code === ErrorCodes.registry) throw coded
    // Capped (a prefix, size and SHA-256 of an oversized original), so the broker never refuses it forever.
    const deadLetter: DeadLetter = cappedDeadLetter({
      sourceTopic: message.topic,
      sourcePartition: message.partition,
      sourceOffset: Number(message.offset),
      key,
      originalValue: bytes,
      reasonCode: coded.code === ErrorCodes.serdeUnknownSchema ? 'UNKNOWN_SCHEMA' : 'UNDECODABLE',
      message: `postgres sink: ${coded.message}`,
      failedAtMs: nowMs(),
      taskId: key?.toString('utf8') ?? null,
      executionId: null,
    })
    // A dead letter that does not decode is recorded in place, not sent to its own topic again.
    if (kind === 'deadLetter') return { value: { kind: 'deadLetter', value: deadLetter } }
    return { deadLetter }
  }
}

/** The dead letter of a record whose row Postgres refused (reason PROCESSING_FAILED). */
export function refusedRowDeadLetter(record: SinkRecord, why: string, failedAtMs: number): DeadLetter {
  const key = record.source?.key ?? null
  return cappedDeadLetter({
    sourceTopic: record.topic,
    sourcePartition: record.partition,
    sourceOffset: Number(record.offset),
    key,
    originalValue: record.source?.value ?? null,
    reasonCode: 'PROCESSING_FAILED',
    message: `postgres sink: postgres refused the row: ${why}`,
    failedAtMs,
    taskId: key?.toString('utf8') ?? null,
    executionId: null,
  })
}

export function nonEmpty(bytes: Buffer | null | undefined): Buffer | null {
  return bytes === null || bytes === undefined || bytes.length === 0 ? null : bytes
}
