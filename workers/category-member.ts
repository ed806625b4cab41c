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
  /** The stream re-openings of this member, one after the other (worker-runtime.ts #reopen). */
  reopening: Promise<void>
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
    reopening: Promise.resolve(),
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
  // A rejoin that fails (broker unreachable longer than the client's retries) is emitted as 'error' on the
  // consumer, which then stops heartbeating. Unlistened, it crashed the process: the 20-minute fault run saw every
  // worker exit on a broker restart. It is waited out like a failed fetch stream: the new stream joins again.
  consumer.on('error', (error: unknown) => listener.onError(error, member, member.stream))
  await reopenStream(member, listener)
  return member
}

/**
 * (Re)opens the member's fetch stream from the committed offsets (earliest when none). Only the member's current
 * stream delivers: a record of a stream that was replaced (set aside by a rejoin) is ignored.
 */
export async function reopenStream(
  member: CategoryMember,
  listener: MemberListener,
): Promise<MessagesStream<Buffer, Buffer, Buffer, Buffer>> {
  const stream = await member.consumer.consume({
    topics: [member.topic],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
  })
  member.stream = stream
  stream.on('data', (message: Message<Buffer, Buffer, Buffer, Buffer>) => {
    if (member.stream === stream) listener.onRecord(member, message)
  })
  stream.on('error', (error: unknown) => listener.onError(error, member, stream))
  return stream
}

/** What a stream re-opening asks of the runtime that owns the member. */
export interface StreamOwner {
  logger: Logger
  /** Closing, or already failed: stop trying. */
  cancelled(): boolean
  /** Fetching is paused (queue full, or closing): a new stream starts paused. */
  paused(): boolean
  fail(error: FlextaskError): void
}

/**
 * The member's fetch stream failed with `error`. A transient Kafka failure (the broker stopped or restarting: "fetch
 * failed 4 times", connection closed) is waited out: the stream is replaced (replaceStream), and a redelivered
 * execution runs again (at-least-once). Anything else is fatal and returned. Issue 15: the fault suite's broker
 * restart used to stop every worker here.
 */
export function recoverStream(
  member: CategoryMember,
  listener: MemberListener,
  error: unknown,
  owner: StreamOwner,
): FlextaskError | undefined {
  const coded = decideError(error, ErrorCodes.unknown)
  if (!coded.retriable) return coded
  owner.logger.warn({ category: member.category, error: coded.message }, 'worker: fetch stream failed; re-opening it')
  void replaceStream(member, listener, owner)
  return undefined
}

/**
 * Sets the member's stream aside (its records are ignored from now on) and opens a new one from the committed
 * offsets, retrying a transient failure with a backoff of 200 ms doubling to 5 s; one re-opening at a time per
 * member, so the last one always starts after the last call.
 */
export function replaceStream(member: CategoryMember, listener: MemberListener, owner: StreamOwner): Promise<void> {
  const old = member.stream
  member.stream = undefined
  member.reopening = member.reopening.then(() => reopenWithBackoff(member, listener, owner, old))
  return member.reopening
}

async function reopenWithBackoff(
  member: CategoryMember,
  listener: MemberListener,
  owner: StreamOwner,
  old: CategoryMember['stream'],
): Promise<void> {
  const stale = [old, member.stream]
  member.stream = undefined
  for (let attempt = 1; !owner.cancelled(); attempt++) {
    try {
      const stream = await reopenStream(member, listener)
      if (owner.paused()) stream.pause()
      if (attempt > 1)
        owner.logger.info({ category: member.category, attempts: attempt }, 'worker: fetch stream re-opened')
      break
    } catch (error) {
      const coded = decideError(error, ErrorCodes.unknown)
      if (!coded.retriable) {
        owner.fail(coded)
        break
      }
      const delayMs = Math.min(5_000, 200 * 2 ** Math.min(attempt - 1, 10))
      owner.logger.warn(
        { category: member.category, attempt, delayMs, error: coded.message },
        'worker: re-opening the fetch stream failed; retrying',
      )
      await sleep(delayMs)
    }
  }
  // Closed after the new one opened: closing a member's only stream un-tracks its topic, and the next consume()
  // then rejoins the group (a rebalance per re-opening, which would re-open again, for ever).
  for (const stream of stale) await stream?.close().catch(() => undefined)
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
