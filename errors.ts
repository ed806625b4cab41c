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
  kafkaAuthentication: 'FLEXTASK_KAFKA_AUTHENTICATION_FAILED',
  kafkaTls: 'FLEXTASK_KAFKA_TLS_FAILED',
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

const failCodes: ReadonlySet<string> = new Set([
  ErrorCodes.config,
  ErrorCodes.topicsMismatch,
  ErrorCodes.registry,
  ErrorCodes.kafkaAuthentication,
  ErrorCodes.kafkaTls,
])

/** The one decision for an error met while processing input (see Decisions). */
export function decide(error: unknown): Decision {
  const coerced = coerceError(error)
  if (coerced.retriable) return Decisions.retry
  if (failCodes.has(coerced.code)) return Decisions.fail
  return Decisions.reject
}

export function coerceError(error: unknown, code: string = ErrorCodes.unknown): FlextaskError {
  if (error instanceof FlextaskError) return error
  const security = kafkaSecurityFailure(error)
  if (security !== undefined) return security
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

/** Node's codes for a TLS handshake that failed verification (tls.connect, OpenSSL X509 errors). */
const tlsErrorCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
])

/**
 * A refused SASL login or a failed TLS handshake, found anywhere in a Kafka client's error tree (the client
 * nests them as `cause` and AggregateError `errors` under "metadata failed 4 times" / "Listing topics failed"),
 * as a non-retriable error that names the cause, the broker and the settings to check. Undefined otherwise.
 */
export function kafkaSecurityFailure(error: unknown): FlextaskError | undefined {
  const nodes: unknown[] = []
  const queue = [error]
  while (queue.length > 0 && nodes.length < 200) {
    const node = queue.shift()
    if (typeof node !== 'object' || node === null) continue
    nodes.push(node)
    const { cause, errors } = node as { cause?: unknown; errors?: unknown }
    if (Array.isArray(errors)) queue.push(...(errors as unknown[]))
    if (cause !== undefined) queue.push(cause)
  }
  const field = (node: unknown, name: string): unknown => (node as Record<string, unknown>)[name]
  const broker = nodes
    .map((n) => /Connection to (\S+) failed/.exec(String(field(n, 'message')))?.[1])
    .find((b) => b !== undefined)
  const at = broker === undefined ? '' : ` at ${broker}`
  const during = error instanceof Error ? ` (while: ${error.message})` : ''
  if (nodes.some((n) => field(n, 'code') === 'PLT_KFK_AUTHENTICATION')) {
    const serverMessage = nodes.map((n) => field(n, 'serverErrorMessage')).find((m) => typeof m === 'string')
    return new FlextaskError(
      ErrorCodes.kafkaAuthentication,
      `Kafka refused the SASL login${at}: ${String(serverMessage ?? 'SASL authentication failed')}; check ` +
        `KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD${during}`,
      { cause: error, context: { broker } },
    )
  }
  const tls = nodes.find((n) => tlsErrorCodes.has(String(field(n, 'code'))))
  if (tls !== undefined) {
    return new FlextaskError(
      ErrorCodes.kafkaTls,
      `TLS to Kafka failed${at}: ${String(field(tls, 'message'))} (${String(field(tls, 'code'))}); check ` +
        `KAFKA_TLS, KAFKA_TLS_CA_FILE and KAFKA_TLS_VERIFY_HOSTNAME${during}`,
      { cause: error, context: { broker } },
    )
  }
  return undefined
}
