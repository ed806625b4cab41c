/**
 * Runs one attempt of one execution and turns what happened into its terminal TaskResult and its log lines.
 * No Kafka here: the runtime (worker-runtime.ts) passes in where STARTED, log lines and the result go.
 *
 * Outcomes, in order of precedence:
 *   deadline already passed before start → TIMED_OUT (FLEXTASK_WORKER_DEADLINE_PASSED), the handler never runs
 *   no handler for category/type        → FAILED, not retriable (FLEXTASK_WORKER_NO_HANDLER)
 *   payload not JSON / not the schema   → FAILED, not retriable (FLEXTASK_WORKER_PAYLOAD_INVALID, names the field)
 *   deadline passes while running       → signal fires (TimeoutError); TIMED_OUT (FLEXTASK_WORKER_TIMED_OUT)
 *   shutdown aborts it                  → FAILED, retriable (FLEXTASK_WORKER_SHUTDOWN), unless it still succeeded
 *   partition revoked                   → no result (the new owner runs the same attempt), unless it succeeded
 *   returns                             → SUCCEEDED with the value as JSON output (size-capped)
 *   throws                              → FAILED with the error's code and retriable flag (coded errors), else
 *                                         FLEXTASK_HANDLER_FAILED retriable
 * After an abort the handler gets `abortGraceMs` to settle; the result is reported then even if it has not (its
 * slot stays taken until it does: JavaScript cannot kill a promise).
 */
import { Value } from 'typebox/value'
import type { FlextaskError } from '../errors.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { LogLevel, TaskLog } from '../schemas/task-log.ts'
import type { ResultError, TaskResult } from '../schemas/task-result.ts'
import { type Handler, type HandlerContext, WorkerErrorCodes } from './handler.ts'

export interface AttemptLimits {
  /** Bytes of output JSON kept; a longer output becomes `{"truncated":true,...}` with its head. @default 65536 */
  maxOutputBytes: number
  /** Characters per log message (and per fields JSON). @default 4096 */
  maxLogLineChars: number
  /** Log lines per attempt; later lines are counted and reported in one last line. @default 200 */
  maxLogLinesPerAttempt: number
  /** How long an aborted handler may take to settle before its result is reported anyway. @default 1000 */
  abortGraceMs: number
}

export const defaultAttemptLimits: AttemptLimits = {
  maxOutputBytes: 65_536,
  maxLogLineChars: 4096,
  maxLogLinesPerAttempt: 200,
  abortGraceMs: 1000,
}

export type AbortKind = 'timeout' | 'shutdown' | 'revoked'

export interface AttemptSinks {
  started(result: TaskResult): void
  log(line: TaskLog): void
}

/** One running attempt: `abort()` from outside, `done` settles with the result to report (undefined: none). */
export interface RunningAttempt {
  readonly execution: TaskExecution
  readonly startedAtMs: number
  abort(kind: AbortKind): void
  readonly done: Promise<TaskResult | undefined>
  /** Settles when the handler itself has settled (may be later than `done`). */
  readonly settled: Promise<void>
}

const redacted = '[REDACTED]'

export function runAttempt(
  execution: TaskExecution,
  handler: Handler | undefined,
  options: { workerId: string; nowMs: () => number; limits: AttemptLimits; sinks: AttemptSinks },
): RunningAttempt {
  const { workerId, nowMs, limits, sinks } = options
  const startedAtMs = nowMs()
  const secrets: string[] = []
  const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join(redacted), text)
  const base = { executionId: execution.executionId, taskId: execution.taskId, attempt: execution.attempt, workerId }
  const finish = (status: TaskResult['status'], output: string | null, error: ResultError | null): TaskResult => {
    const finishedAtMs = nowMs()
    return {
      ...base,
      status,
      startedAtMs: status === 'TIMED_OUT' && error?.code === WorkerErrorCodes.deadlinePassed ? null : startedAtMs,
      finishedAtMs,
      durationMs: finishedAtMs - startedAtMs,
      output: output === null ? null : capOutput(scrub(output), limits.maxOutputBytes),
      error: error === null ? null : { ...error, message: scrub(error.message).slice(0, 4096) },
    }
  }
  const immediate = (result: TaskResult): RunningAttempt => ({
    execution,
    startedAtMs,
    abort: () => undefined,
    done: Promise.resolve(result),
    settled: Promise.resolve(),
  })

  if (execution.deadlineAtMs !== null && startedAtMs >= execution.deadlineAtMs) {
    const late = startedAtMs - execution.deadlineAtMs
    return immediate(
      finish('TIMED_OUT', null, {
        code: WorkerErrorCodes.deadlinePassed,
        message: `not started: its deadline ${new Date(execution.deadlineAtMs).toISOString()} passed ${late} ms before a worker could start it (due ${new Date(execution.dueAtMs).toISOString()})`,
        retriable: true,
      }),
    )
  }
  if (handler === undefined) {
    return immediate(
      finish('FAILED', null, {
        code: WorkerErrorCodes.noHandler,
        message: `this worker has no handler for ${execution.category}/${execution.type}`,
        retriable: false,
      }),
    )
  }
  const payload = parsePayload(execution.payload, handler)
  if ('error' in payload) return immediate(finish('FAILED', null, payload.error))

  // Log lines of this attempt.
  let seq = 0
  let dropped = 0
  const write = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (seq >= limits.maxLogLinesPerAttempt - 1) {
      dropped++
      return
    }
    emit(level, message, fields)
  }
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    const json = fields === undefined ? null : safeJson(fields)
    sinks.log({
      ...base,
      seq: seq++,
      level,
      message: scrub(message).slice(0, limits.maxLogLineChars),
      fields: json === null ? null : scrub(json).slice(0, limits.maxLogLineChars),
      loggedAtMs: nowMs(),
    })
  }

  const controller = new AbortController()
  let abortKind: AbortKind | undefined
  const abort = (kind: AbortKind): void => {
    if (abortKind !== undefined) return
    abortKind = kind
    const reason =
      kind === 'timeout'
        ? new DOMException(`deadline ${new Date(execution.deadlineAtMs ?? 0).toISOString()} passed`, 'TimeoutError')
        : new DOMException(kind === 'shutdown' ? 'worker shutting down' : 'partition revoked', 'AbortError')
    controller.abort(reason)
  }
  const deadlineTimer =
    execution.deadlineAtMs === null
      ? undefined
      : setTimeout(() => abort('timeout'), execution.deadlineAtMs - startedAtMs)

  const ctx: HandlerContext<unknown> = {
    executionId: execution.executionId,
    taskId: execution.taskId,
    attempt: execution.attempt,
    scheduledFor: new Date(execution.scheduledForMs),
    dueAtMs: execution.dueAtMs,
    deadlineAtMs: execution.deadlineAtMs,
    priority: execution.priority,
    tenant: execution.tenant,
    labels: execution.labels,
    trigger: execution.trigger,
    category: execution.category,
    type: execution.type,
    payload: payload.value,
    signal: controller.signal,
    workerId,
    log: {
      debug: (m, f) => write('DEBUG', m, f),
      info: (m, f) => write('INFO', m, f),
      warn: (m, f) => write('WARN', m, f),
      error: (m, f) => write('ERROR', m, f),
    },
    progress: (value, message) => write('INFO', message ?? `progress ${value}`, { progress: value }),
    redact: (secret) => {
      if (secret.length >= 3 && !secrets.includes(secret)) secrets.push(secret)
    },
  }

  sinks.started({
    ...base,
    status: 'STARTED',
    startedAtMs,
    finishedAtMs: null,
    durationMs: null,
    output: null,
    error: null,
  })

  type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }
  const settled: Promise<Outcome> = (async () => {
    try {
      return { ok: true, value: await handler.execute(ctx) }
    } catch (error) {
      return { ok: false, error }
    }
  })()
  const aborted = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve()))
  const outcome: Promise<Outcome | undefined> = Promise.race([
    settled,
    aborted.then(() => Promise.race([settled, sleep(limits.abortGraceMs).then(() => undefined)])),
  ])

  const done = outcome.then((o) => {
    clearTimeout(deadlineTimer)
    if (dropped > 0)
      emit('WARN', `${dropped} more log lines of this attempt were dropped (limit ${limits.maxLogLinesPerAttempt})`)
    const kind = abortKind
    if (o?.ok === true && kind !== 'timeout') return finish('SUCCEEDED', safeJson(o.value ?? null), null)
    if (kind === 'revoked') return undefined
    if (kind === 'timeout') {
      return finish('TIMED_OUT', null, {
        code: WorkerErrorCodes.timedOut,
        message: `deadline ${new Date(execution.deadlineAtMs ?? 0).toISOString()} passed after ${nowMs() - startedAtMs} ms; the handler was aborted${o === undefined ? ' and had not stopped ' + limits.abortGraceMs + ' ms later' : ''}`,
        retriable: true,
      })
    }
    if (kind === 'shutdown') {
      return finish('FAILED', null, {
        code: WorkerErrorCodes.shutdown,
        message: 'the worker shut down before the handler finished; aborted',
        retriable: true,
      })
    }
    return finish('FAILED', null, describeFailure(o?.ok === false ? o.error : undefined))
  })
  return {
    execution,
    startedAtMs,
    abort,
    done,
    settled: settled.then(() => clearTimeout(deadlineTimer)),
  }
}

function parsePayload(text: string, handler: Handler): { value: unknown } | { error: ResultError } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return {
      error: {
        code: WorkerErrorCodes.payloadInvalid,
        message: `payload is not JSON: ${error instanceof Error ? error.message : String(error)}`,
        retriable: false,
      },
    }
  }
  const withDefaults = Value.Default(handler.payloadSchema, value)
  if (Value.Check(handler.payloadSchema, withDefaults)) return { value: withDefaults }
  const errors = [...Value.Errors(handler.payloadSchema, withDefaults)].slice(0, 5)
  const described = errors.map((e) => `${pathOf(e.instancePath)} ${e.message}`).join('; ')
  return {
    error: {
      code: WorkerErrorCodes.payloadInvalid,
      message: `payload for ${handler.category}/${handler.type} is invalid: ${described}`,
      retriable: false,
    },
  }
}

/** `/headers/x` → `payload.headers.x`. */
function pathOf(instancePath: string): string {
  return instancePath === '' ? 'payload' : `payload${instancePath.replaceAll('/', '.')}`
}

function describeFailure(error: unknown): ResultError {
  if (error instanceof Error) {
    const coded = error as Partial<FlextaskError>
    if (typeof coded.code === 'string' && typeof coded.retriable === 'boolean') {
      return { code: coded.code, message: error.message, retriable: coded.retriable }
    }
    return { code: WorkerErrorCodes.handlerFailed, message: `${error.name}: ${error.message}`, retriable: true }
  }
  return { code: WorkerErrorCodes.handlerFailed, message: String(error), retriable: true }
}

function capOutput(json: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(json)
  if (bytes <= maxBytes) return json
  const head = Buffer.from(json)
    .subarray(0, Math.max(0, maxBytes - 100))
    .toString('utf8')
  return JSON.stringify({ truncated: true, bytes, head })
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null'
  } catch (error) {
    return JSON.stringify({ unserializable: error instanceof Error ? error.message : String(error) })
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
