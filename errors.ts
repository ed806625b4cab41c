/**
 * The one error type of flextask. Classify by `code`, never by `instanceof`; call `coerceError` at every
 * catch boundary so what travels on is always a FlextaskError with a code.
 *
 * Codes are `FLEXTASK_<AREA>_<WHAT>`. Dead-letter reason codes are the short names in `ReasonCodes`.
 */
export interface ErrorContext {
  taskId?: string
  executionId?: string
  topic?: string
  partition?: number
  offset?: bigint | string
  field?: string
  [key: string]: unknown
}

export class FlextaskError extends Error {
  readonly code: string
  readonly retriable: boolean
  readonly context: ErrorContext

  constructor(
    code: string,
    message: string,
    options: { retriable?: boolean; cause?: unknown; context?: ErrorContext } = {},
  ) {
    super(message, { cause: options.cause })
    this.name = 'FlextaskError'
    this.code = code
    this.retriable = options.retriable ?? false
    this.context = options.context ?? {}
  }
}

export const ErrorCodes = {
  unknown: 'FLEXTASK_UNKNOWN',
  config: 'FLEXTASK_CONFIG_INVALID',
  serdeDecode: 'FLEXTASK_SERDE_DECODE_FAILED',
  serdeUnknownSchema: 'FLEXTASK_SERDE_UNKNOWN_SCHEMA',
  serdeEncode: 'FLEXTASK_SERDE_ENCODE_FAILED',
  registry: 'FLEXTASK_REGISTRY_REQUEST_FAILED',
  validation: 'FLEXTASK_SCHEDULE_INVALID',
  wrongPartition: 'FLEXTASK_INGEST_WRONG_PARTITION',
  topicsMismatch: 'FLEXTASK_TOPICS_PARTITION_MISMATCH',
  storeRestore: 'FLEXTASK_STORE_RESTORE_FAILED',
  commitFailed: 'FLEXTASK_TOPOLOGY_COMMIT_FAILED',
  fenced: 'FLEXTASK_TOPOLOGY_FENCED',
  processing: 'FLEXTASK_TOPOLOGY_PROCESSING_FAILED',
  /** An output or store value over the topology's record limit: the broker would refuse it. */
  recordTooLarge: 'FLEXTASK_TOPOLOGY_RECORD_TOO_LARGE',
} as const

/**
 * What a catch site does with an error, decided by `code` and `retriable` only:
 * - `retry`: transient (registry down, broker timeout, anything thrown with `retriable: true`). The input is good:
 *   abort the cycle, back off and process it again. Never dead-letter it.
 * - `reject`: this input (or this one task) cannot be processed: dead-letter it with a reason and carry on.
 *   Bad input has a coded error; a bug (an uncoded error) is rejected too, so it stays isolated to one task.
 * - `fail`: the process is misconfigured (config, topics, a registry that refuses our credentials or schema):
 *   stop loudly, since every input would fail the same way.
 */
export const Decisions = { retry: 'retry', reject: 'reject', fail: 'fail' } as const
export type Decision = (typeof Decisions)[keyof typeof Decisions]

const failCodes: ReadonlySet<string> = new Set([ErrorCodes.config, ErrorCodes.topicsMismatch, ErrorCodes.registry])

/** The one decision for an error met while processing input (see Decisions). */
export function decide(error: unknown): Decision {
  const coerced = coerceError(error)
  if (coerced.retriable) return Decisions.retry
  if (failCodes.has(coerced.code)) return Decisions.fail
  return Decisions.reject
}

export function coerceError(error: unknown, code: string = ErrorCodes.unknown): FlextaskError {
  if (error instanceof FlextaskError) return error
  if (error instanceof Error) {
    const coded = error as Error & { code?: unknown; retriable?: unknown }
    return new FlextaskError(
      typeof coded.code === 'string' && coded.code.startsWith('FLEXTASK_') ? coded.code : code,
      error.message,
      // A FlextaskError from another copy of this module, or a client error that says so, keeps its retriability.
      { cause: error, retriable: coded.retriable === true },
    )
  }
  return new FlextaskError(code, String(error))
}
