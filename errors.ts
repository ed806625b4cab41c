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
} as const

export function coerceError(error: unknown, code: string = ErrorCodes.unknown): FlextaskError {
  if (error instanceof FlextaskError) return error
  if (error instanceof Error) {
    const coded = error as Error & { code?: unknown }
    return new FlextaskError(
      typeof coded.code === 'string' && coded.code.startsWith('FLEXTASK_') ? coded.code : code,
      error.message,
      {
        cause: error,
      },
    )
  }
  return new FlextaskError(code, String(error))
}
