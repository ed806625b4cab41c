/**
 * Decodes one fetched execution record for the worker runtime. A transient failure (the registry away) is waited
 * out with backoff — good input is never dropped; bad bytes (undecodable, unknown schema id) go to the dead-letter
 * topic with their reason code, and only once that record is acknowledged does the execution count as done
 * (ARCHITECTURE.md guarantee 5). While the worker stops, waiting gives up: the offset stays uncommitted and the
 * record is redelivered to the next owner.
 */
import type { Message } from '@platformatic/kafka'
import { coerceError, ErrorCodes, type FlextaskError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { cappedDeadLetter, type DeadLetter } from '../schemas/dead-letter.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { WorkerSerde } from './worker-producer.ts'

export type WorkerDeadLetterReason = 'UNKNOWN_SCHEMA' | 'UNDECODABLE'

export interface ExecutionDecoderDeps {
  serde: Pick<WorkerSerde<TaskExecution>, 'deserialize'>
  logger: Logger
  /** True once the worker stops: waiting is abandoned. */
  stopping: () => boolean
  /** Produces a dead letter; resolves once Kafka acknowledged it. */
  send: (deadLetter: DeadLetter) => Promise<void>
  /** Hears each dead letter once it is acknowledged (metrics). */
  onDeadLetter?: (reason: WorkerDeadLetterReason) => void
  nowMs?: () => number
}

/** Backoff of the n-th wait (0-based): 200 ms doubling up to 5 s. */
export const waitOutDelayMs = (n: number): number => Math.min(5_000, 200 * 2 ** Math.min(n, 5))

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The execution; 'dead-lettered' once its dead letter is acknowledged; undefined when stopping cut the wait. */
export async function decodeExecution(
  deps: ExecutionDecoderDeps,
  topic: string,
  message: Message<Buffer, Buffer, Buffer, Buffer>,
): Promise<TaskExecution | 'dead-lettered' | undefined> {
  const where = { topic, partition: message.partition, offset: String(message.offset) }
  for (let attempt = 0; ; attempt++) {
    try {
      if (message.value === null || message.value === undefined) throw new Error('null value')
      return await deps.serde.deserialize(message.value)
    } catch (error) {
      const e = coerceError(error, ErrorCodes.serdeDecode)
      if (!e.retriable) {
        deps.logger.error({ ...where, code: e.code }, `worker: dead-lettering an undecodable execution: ${e.message}`)
        return sendDeadLetter(deps, topic, message, e)
      }
      if (deps.stopping()) return undefined
      const delayMs = waitOutDelayMs(attempt)
      deps.logger.warn({ ...where, code: e.code, delayMs }, `worker: decoding waits out: ${e.message}`)
      await sleep(delayMs)
    }
  }
}

async function sendDeadLetter(
  deps: ExecutionDecoderDeps,
  topic: string,
  message: Message<Buffer, Buffer, Buffer, Buffer>,
  error: FlextaskError,
): Promise<'dead-lettered' | undefined> {
  const key = message.key ?? null
  const reasonCode: WorkerDeadLetterReason =
    error.code === ErrorCodes.serdeUnknownSchema ? 'UNKNOWN_SCHEMA' : 'UNDECODABLE'
  // Capped (a prefix, size and SHA-256 of an oversized original), so the broker never refuses it forever.
  const deadLetter: DeadLetter = cappedDeadLetter({
    sourceTopic: topic,
    sourcePartition: message.partition,
    sourceOffset: Number(message.offset),
    key,
    originalValue: message.value ?? null,
    reasonCode,
    message: `worker: ${error.message}`,
    failedAtMs: (deps.nowMs ?? Date.now)(),
    taskId: key?.toString('utf8') ?? null,
    executionId: null,
  })
  for (let attempt = 0; ; attempt++) {
    try {
      await deps.send(deadLetter)
      deps.onDeadLetter?.(reasonCode)
      return 'dead-lettered'
    } catch (sendError) {
      if (deps.stopping()) return undefined
      const delayMs = waitOutDelayMs(attempt)
      deps.logger.warn(
        { topic, partition: message.partition, offset: String(message.offset), delayMs },
        `worker: dead letter not produced yet: ${coerceError(sendError).message}`,
      )
      await sleep(delayMs)
    }
  }
}
