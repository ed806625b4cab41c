/**
 * The sink's error codes and the table that decides which Postgres errors are transient. A transient error
 * retries the same batch after a jittered backoff (the sink pauses, it never skips); a fenced write re-reads the
 * partition's offsets; anything else stops the connector loudly.
 */
import { coerceError, FlextaskError } from '../errors.ts'

export const SinkErrorCodes = {
  /** Postgres unreachable or a retryable SQLSTATE: retry the same batch. */
  postgresTransient: 'FLEXTASK_SINK_POSTGRES_TRANSIENT',
  /** Any other Postgres error: the connector stops. */
  postgres: 'FLEXTASK_SINK_POSTGRES_FAILED',
  /** Postgres refused one record's row (data error, limit exceeded): it is dead-lettered and skipped. */
  rowRefused: 'FLEXTASK_SINK_ROW_REFUSED',
  /** The offsets row moved under us: another sink owns the partition now. */
  fenced: 'FLEXTASK_SINK_FENCED',
  migration: 'FLEXTASK_SINK_MIGRATION_INVALID',
  migrationChanged: 'FLEXTASK_SINK_MIGRATION_CHANGED',
  /** The broker is away or the group is moving while the fetch stream is (re)opened: waited out, then opened again. */
  kafkaTransient: 'FLEXTASK_SINK_KAFKA_TRANSIENT',
  /** The dead-letter topic refused a record; retried like a transient error. */
  deadLetter: 'FLEXTASK_SINK_DEAD_LETTER_FAILED',
  /** Rebuild asked for a database that already holds projected rows. */
  rebuildNotEmpty: 'FLEXTASK_SINK_REBUILD_NOT_EMPTY',
} as const

/**
 * SQLSTATEs worth retrying: class 08 (connection exception), 40001 serialization failure, 40P01 deadlock,
 * 53xxx insufficient resources (too many connections, out of memory, disk full), 57014 query cancelled
 * (statement_timeout), 57P01..57P05 admin/crash shutdown, cannot connect now, idle session timeout,
 * 55P03 lock not available. https://www.postgresql.org/docs/15/errcodes-appendix.html
 */
const transientSqlStates = new Set(['40001', '40P01', '57014', '57P01', '57P02', '57P03', '57P04', '57P05', '55P03'])
const transientSqlClasses = ['08', '53']

/** Socket-level errors from node:net and the messages pg raises when the connection is gone or hangs. */
const transientSystemCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
])
const transientMessages = [
  'Connection terminated',
  'Query read timeout',
  'timeout expired',
  'is not queryable',
  'connection timeout',
  'Connection ended unexpectedly',
]

/**
 * A Postgres error about the data of a row rather than the server: class 22 (data exception, e.g. invalid JSON or
 * text), 23 (integrity constraint) and 54 (program limit exceeded, e.g. an index entry over the btree maximum).
 * Retrying cannot help; the record is isolated and dead-lettered.
 */
export function isRowRefused(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause ?? error
  const code = (cause as { code?: unknown }).code
  return typeof code === 'string' && code.length === 5 && ['22', '23', '54'].some((c) => code.startsWith(c))
}

export function isTransientPostgresError(error: unknown): boolean {
  const coded = error as { code?: unknown; message?: unknown; cause?: unknown }
  if (typeof coded?.code === 'string') {
    const code = coded.code
    if (transientSqlStates.has(code) || transientSystemCodes.has(code)) return true
    if (code.length === 5 && transientSqlClasses.some((c) => code.startsWith(c))) return true
  }
  const message = typeof coded?.message === 'string' ? coded.message : ''
  if (transientMessages.some((m) => message.includes(m))) return true
  return coded?.cause !== undefined && coded.cause !== error ? isTransientPostgresError(coded.cause) : false
}

/** Coerces a Postgres-side failure into a coded error that says whether to retry. */
export function postgresError(error: unknown, what: string): FlextaskError {
  if (error instanceof FlextaskError && error.code.startsWith('FLEXTASK_SINK_')) return error
  const transient = isTransientPostgresError(error)
  const cause = coerceError(error)
  const sqlState = (error as { code?: unknown }).code
  return new FlextaskError(
    transient ? SinkErrorCodes.postgresTransient : SinkErrorCodes.postgres,
    `${what}: ${cause.message}${typeof sqlState === 'string' ? ` (${sqlState})` : ''}`,
    { retriable: transient, cause: error },
  )
}
