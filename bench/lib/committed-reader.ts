/**
 * A read_committed reader for the benches and the stress loop: a consumer group of its own that commits no
 * offsets, so where it starts is only `from` (earliest, or latest for "what fires from now on"). Benches stamp
 * records on receipt, so the fetch wait is short (100 ms unless told).
 */
import {
  Consumer,
  FetchIsolationLevels,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka'

export interface CommittedReaderOptions {
  brokers: string[]
  groupId: string
  /** @default groupId */
  clientId?: string
  /** The broker's fetch wait. @default 100 */
  maxWaitTimeMs?: number
}

export function committedReader(options: CommittedReaderOptions): Consumer {
  return new Consumer({
    clientId: options.clientId ?? options.groupId,
    groupId: options.groupId,
    bootstrapBrokers: options.brokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: options.maxWaitTimeMs ?? 100,
  })
}

/** Streams `topics` from the earliest or the latest offsets (the group commits none). */
export function readFrom(
  consumer: Consumer,
  topics: string[],
  from: 'earliest' | 'latest',
): Promise<MessagesStream<Buffer, Buffer, Buffer, Buffer>> {
  const mode = from === 'earliest' ? MessagesStreamModes.EARLIEST : MessagesStreamModes.LATEST
  const fallbackMode = from === 'earliest' ? MessagesStreamFallbackModes.EARLIEST : MessagesStreamFallbackModes.LATEST
  return consumer.consume({ topics, mode, fallbackMode })
}
