/**
 * One category's consumer-group membership (`<prefix>-workers-<category>`, read_committed, offsets committed by
 * hand): the consumer, the partitions it owns in its current generation, the offset tracker of that generation,
 * and the handover deadlines of partitions it gained; re-opening its fetch stream after a transient failure. The runtime (worker-runtime.ts) decides what a rebalance
 * does to queued and running attempts; this module joins, and commits what the tracker allows.
 */
import {
  Consumer,
  FetchIsolationLevels,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka'
import { setTimeout as sleep } from 'node:timers/promises'
import { coerceError, ErrorCodes, type FlextaskError } from '../errors.ts'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { Logger } from '../logger.ts'
import { workerGroupId } from '../topics.ts'
import { decideError } from '../topology/kafka-errors.ts'
import { OffsetTracker } from './offset-tracker.ts'

export interface CategoryMember {
  category: string
  topic: string
  consumer: Consumer
  stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  /** -1 until the first join. */
  generation: number
  tracker: OffsetTracker
  assigned: Set<number>
  rebalancing: boolean
  /** partition → wall-clock ms before which its records are not started (handover after a rebalance). */
  handoverUntil: Map<number, number>
}

/** Where one delivery of an attempt sits: a tracker of one generation. */
export interface Delivery {
  member: CategoryMember
  generation: number
  partition: number
  offset: bigint
}

export interface JoinOptions {
  kafka: KafkaClientFactory
  workerId: string
  topicPrefix: string
  topic: string
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
}

export interface MemberListener {
  onJoin(member: CategoryMember, generation: number, partitions: Set<number>): void
  onRecord(member: CategoryMember, message: Message<Buffer, Buffer, Buffer, Buffer>): void
  /** The member's fetch stream `failed` with `error` (reopenStream opens it again). */
  onError(error: unknown, member: CategoryMember, failed: unknown): void
}

/** Joins the category's group and starts fetching from the committed offsets (earliest when none). */
export async function joinCategory(
  category: string,
  options: JoinOptions,
  listener: MemberListener,
): Promise<CategoryMember> {
  // Built from the factory's connection: the factory's consumer() type drops the group options (Omit on a union).
  const consumer = new Consumer({
    ...options.kafka.connection,
    clientId: `${options.workerId}-worker-${category}`,
    groupId: workerGroupId(category, options.topicPrefix),
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: options.heartbeatIntervalMs,
    rebalanceTimeout: Math.max(options.sessionTimeoutMs, 10_000),
    maxWaitTime: 100,
    highWaterMark: 256,
    maxBytes: 4 * 1024 * 1024,
  })
  const member: CategoryMember = {
    category,
    topic: options.topic,
    consumer,
    stream: undefined,
    generation: -1,
    tracker: new OffsetTracker(),
    assigned: new Set(),
    rebalancing: true,
    handoverUntil: new Map(),
  }
  consumer.on('consumer:group:rebalance', () => {
    member.rebalancing = true
  })
  consumer.on(
    'consumer:group:join',
    (event: { generationId?: number; assignments?: { topic: string; partitions: number[] }[] }) => {
      const mine = event.assignments?.find((a) => a.topic === member.topic)?.partitions ?? []
      listener.onJoin(member, event.generationId ?? -1, new Set(mine))
    },
  )
  await reopenStream(member, listener)
  return member
}

/** (Re)opens the member's fetch stream from the committed offsets (earliest when none). */
export async function reopenStream(member: CategoryMember, listener: MemberListener): Promise<void> {
  const stream = await member.consumer.consume({
    topics: [member.topic],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
  })
  member.stream = stream
  stream.on('data', (message: Message<Buffer, Buffer, Buffer, Buffer>) => listener.onRecord(member, message))
  stream.on('error', (error: unknown) => listener.onError(error, member, stream))
}

/**
 * The member's fetch stream failed with `error`. A transient Kafka failure (the broker stopped or restarting: "fetch
 * failed 4 times", connection closed) is waited out: the stream is re-opened from the committed offsets with a
 * backoff of 200 ms doubling to 5 s, and a redelivered execution runs again (at-least-once). Anything else is fatal
 * and returned. Issue 15: the fault suite's broker restart used to stop every worker here. Returns undefined once
 * re-opened, or when `cancelled()` (closing, or already failed) says to give up.
 */
export async function recoverStream(
  member: CategoryMember,
  listener: MemberListener,
  error: unknown,
  logger: Logger,
  cancelled: () => boolean,
): Promise<FlextaskError | undefined> {
  let coded = decideError(error, ErrorCodes.unknown)
  await member.stream?.close().catch(() => undefined)
  for (let attempt = 1; coded.retriable; attempt++) {
    const delayMs = Math.min(5_000, 200 * 2 ** Math.min(attempt - 1, 10))
    logger.warn(
      { category: member.category, attempt, delayMs, error: coded.message },
      'worker: fetch stream failed; re-opening it',
    )
    await sleep(delayMs)
    if (cancelled()) return undefined
    try {
      await reopenStream(member, listener)
      logger.info({ category: member.category, attempts: attempt }, 'worker: fetch stream re-opened')
      return undefined
    } catch (reopenError) {
      coded = decideError(reopenError, ErrorCodes.unknown)
    }
  }
  return coded
}

/**
 * Commits the offsets the tracker allows, for partitions the member still owns (never another owner's offset).
 * A failed commit puts them back when the generation is unchanged; returns whether it should be tried again.
 */
export async function commitMember(member: CategoryMember, logger: Logger): Promise<'committed' | 'retry' | 'idle'> {
  const generation = member.generation
  const tracker = member.tracker
  const ready = tracker.takeReady().filter((e) => member.assigned.has(e.partition))
  if (ready.length === 0) return 'idle'
  try {
    await member.consumer.commit({
      offsets: ready.map((e) => ({
        topic: member.topic,
        partition: e.partition,
        offset: e.offset,
        leaderEpoch: e.leaderEpoch,
      })),
    })
    return 'committed'
  } catch (error) {
    logger.warn(
      { category: member.category, error: coerceError(error).message },
      'worker: offset commit failed; retrying with the next commit',
    )
    if (member.generation !== generation) return 'idle'
    tracker.restore(ready)
    return 'retry'
  }
}

/** Stops fetching and leaves the group. */
export async function leaveCategory(member: CategoryMember): Promise<void> {
  await member.stream?.close().catch(() => undefined)
  await member.consumer.close(true).catch(() => undefined)
}
