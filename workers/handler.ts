/**
 * The handler API: what a worker runs for one (category, type).
 *
 *   export default defineHandler({
 *     category: 'internal', type: 'resize-image',
 *     payloadSchema: Type.Object({ url: Type.String() }),
 *     async execute(ctx) { ctx.log.info('resizing'); return { ok: true } },
 *   })
 *
 * Contract:
 * - `execute` receives the payload already validated against `payloadSchema` (typebox / JSON Schema). A payload
 *   that does not match never reaches `execute`: the attempt is reported FAILED, not retriable, with the field path.
 * - `ctx.signal` fires when the attempt's deadline passes (reason: a `TimeoutError` DOMException), when the worker
 *   shuts down, or when its partition moved to another worker in a rebalance. A handler passes it to every I/O
 *   call; work that ignores it keeps its concurrency slot until it settles.
 * - The value returned is the attempt's output (JSON text, size-capped by the worker). Throwing fails the attempt;
 *   `handlerError(code, message, { retriable })` says whether another attempt may succeed. Anything else thrown
 *   is FAILED with code FLEXTASK_HANDLER_FAILED and retriable (a bug or a transient fault looks the same from here).
 * - `ctx.executionId` is stable across redeliveries and retries of one fire: use it as the idempotency key of any
 *   side effect (workers are at-least-once).
 * - `ctx.log` lines become the attempt's TaskLog records (flextask.task-logs); `ctx.progress()` is a log line with
 *   a `progress` field. `ctx.redact(secret)` removes a string from the attempt's output, error and log lines.
 */
import Type, { type Static, type TSchema } from 'typebox'
import { FlextaskError } from '../errors.ts'
import type { ExecutionTrigger } from '../schemas/task-execution.ts'

export interface HandlerLogger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface HandlerContext<P = unknown> {
  executionId: string
  taskId: string
  /** 1-based; the same on a redelivery of this attempt. */
  attempt: number
  /** The schedule slot this execution belongs to (before jitter). */
  scheduledFor: Date
  dueAtMs: number
  /** null: no deadline. */
  deadlineAtMs: number | null
  priority: number
  tenant: string | null
  labels: Readonly<Record<string, string>>
  trigger: ExecutionTrigger
  category: string
  type: string
  /** The payload, validated against the handler's payloadSchema. */
  payload: P
  /** Fires on the deadline, on shutdown and when the partition is revoked. */
  signal: AbortSignal
  log: HandlerLogger
  /** Reports progress as a log line (`fields.progress`, 0..1 or any number the handler documents). */
  progress(value: number, message?: string): void
  /** Every later output, error message and log line of this attempt has `secret` replaced by `[REDACTED]`. */
  redact(secret: string): void
  /** The id of the worker process running it. */
  workerId: string
}

export interface HandlerDefinition<S extends TSchema = TSchema> {
  category: string
  type: string
  payloadSchema: S
  /** One line for `flextask worker --list` and the README. */
  description?: string
  execute(ctx: HandlerContext<Static<S>>): unknown
}

/** A handler as the runtime stores it (the payload type erased). */
export interface Handler {
  readonly category: string
  readonly type: string
  readonly payloadSchema: TSchema
  readonly description: string | undefined
  execute(ctx: HandlerContext<unknown>): unknown
}

export function defineHandler<S extends TSchema>(definition: HandlerDefinition<S>): Handler {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(definition.category)) {
    throw new TypeError(`handler category must match [a-z0-9][a-z0-9_-]*, got ${JSON.stringify(definition.category)}`)
  }
  if (definition.type.length === 0) throw new TypeError('handler type must not be empty')
  return {
    category: definition.category,
    type: definition.type,
    payloadSchema: definition.payloadSchema,
    description: definition.description,
    execute: (ctx) => definition.execute(ctx as HandlerContext<Static<S>>),
  }
}

/** Error codes the worker itself reports. Handlers use their own `FLEXTASK_<AREA>_<WHAT>` or any code. */
export const WorkerErrorCodes = {
  payloadInvalid: 'FLEXTASK_WORKER_PAYLOAD_INVALID',
  noHandler: 'FLEXTASK_WORKER_NO_HANDLER',
  deadlinePassed: 'FLEXTASK_WORKER_DEADLINE_PASSED',
  timedOut: 'FLEXTASK_WORKER_TIMED_OUT',
  shutdown: 'FLEXTASK_WORKER_SHUTDOWN',
  handlerFailed: 'FLEXTASK_HANDLER_FAILED',
} as const

/** A coded handler failure; `retriable` says whether another attempt may succeed (default false). */
export function handlerError(
  code: string,
  message: string,
  options: { retriable?: boolean; cause?: unknown } = {},
): FlextaskError {
  return new FlextaskError(code, message, { retriable: options.retriable ?? false, cause: options.cause })
}

/** The handlers of one worker process, by `category/type`. */
export class HandlerRegistry {
  readonly #handlers = new Map<string, Handler>()

  constructor(handlers: Iterable<Handler> = []) {
    for (const h of handlers) this.register(h)
  }

  register(handler: Handler): this {
    const key = `${handler.category}/${handler.type}`
    if (this.#handlers.has(key)) throw new TypeError(`a handler for ${key} is already registered`)
    this.#handlers.set(key, handler)
    return this
  }

  /**
   * Registers an `internal` handler named `name` (the task definition's type): a function of this codebase,
   * e.g. `registry.registerInternal('purge-cache', async (ctx) => cache.clear())`.
   */
  registerInternal(
    name: string,
    fn: (ctx: HandlerContext<unknown>) => unknown,
    payloadSchema: TSchema = Type.Unknown(),
  ): this {
    return this.register(defineHandler({ category: 'internal', type: name, payloadSchema, execute: fn }))
  }

  get(category: string, type: string): Handler | undefined {
    return this.#handlers.get(`${category}/${type}`)
  }

  categories(): string[] {
    return [...new Set([...this.#handlers.values()].map((h) => h.category))]
  }

  list(): Handler[] {
    return [...this.#handlers.values()]
  }
}
