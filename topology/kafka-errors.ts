/**
 * Classifies errors from the Kafka client by the protocol error ids they carry (possibly nested in
 * MultipleErrors / causes), so the runtime can tell a fenced zombie from a rebalance from a transient fault.
 */
import { coerceError, ErrorCodes, FlextaskError } from '../errors.ts'

export function kafkaErrorIds(error: unknown, seen = new Set<unknown>()): Set<string> {
  const ids = new Set<string>()
  if (error === null || typeof error !== 'object' || seen.has(error)) return ids
  seen.add(error)
  const e = error as { apiId?: unknown; errors?: unknown; cause?: unknown }
  if (typeof e.apiId === 'string') ids.add(e.apiId)
  if (Array.isArray(e.errors)) for (const inner of e.errors) for (const id of kafkaErrorIds(inner, seen)) ids.add(id)
  for (const id of kafkaErrorIds(e.cause, seen)) ids.add(id)
  return ids
}

/** Another instance took over this producer's transactional id or the group moved on: never retry. */
export function isFencing(error: unknown): boolean {
  const ids = kafkaErrorIds(error)
  return ids.has('PRODUCER_FENCED') || ids.has('INVALID_PRODUCER_EPOCH') || ids.has('FENCED_INSTANCE_ID')
}

/** The consumer group generation changed under a transaction: abort, rejoin, resume from committed offsets. */
export function isRebalance(error: unknown): boolean {
  const ids = kafkaErrorIds(error)
  return (
    ids.has('ILLEGAL_GENERATION') ||
    ids.has('UNKNOWN_MEMBER_ID') ||
    ids.has('REBALANCE_IN_PROGRESS') ||
    ids.has('NOT_COORDINATOR') ||
    ids.has('COORDINATOR_NOT_AVAILABLE')
  )
}

/**
 * A failure that passes by itself within moments, not an outage: the group is rebalancing (the commit carried a
 * generation being replaced) or the coordinator is still writing the markers of a transaction that just ended.
 * Its aborts are backed off briefly and never escalate (outage-policy.ts).
 */
export function isMomentary(error: unknown): boolean {
  const ids = kafkaErrorIds(error)
  return ids.has('ILLEGAL_GENERATION') || ids.has('REBALANCE_IN_PROGRESS') || ids.has('CONCURRENT_TRANSACTIONS')
}

/** Codes of the client's own errors, collected through MultipleErrors and causes. */
function clientCodes(error: unknown, seen = new Set<unknown>()): Set<string> {
  const codes = new Set<string>()
  if (error === null || typeof error !== 'object' || seen.has(error)) return codes
  seen.add(error)
  const e = error as { code?: unknown; errors?: unknown; cause?: unknown }
  if (typeof e.code === 'string') codes.add(e.code)
  if (Array.isArray(e.errors)) for (const inner of e.errors) for (const c of clientCodes(inner, seen)) codes.add(c)
  for (const c of clientCodes(e.cause, seen)) codes.add(c)
  return codes
}

/**
 * The runtime's one error decision (STYLE.md "errors decide"), made where a cycle, a task open or a startup
 * step fails:
 * - a FlextaskError keeps its code and `retriable` (a processor or serde stated it where it threw);
 * - FENCED_INSTANCE_ID: another process runs with our static instance id: fatal;
 * - PRODUCER_FENCED / INVALID_PRODUCER_EPOCH: our transaction was fenced (timed out while we were frozen, or
 *   a new incarnation took the id): retriable, tasks are treated as migrated (code FLEXTASK_TOPOLOGY_FENCED);
 * - any other error of the Kafka client (network, timeout, protocol: coordinator loading, not coordinator,
 *   concurrent transactions, rebalance, a record the broker refuses): retriable, with `fallbackCode`;
 * - anything else (a TypeError in a processor, a bug): not retriable.
 */
export function decideError(error: unknown, fallbackCode: string): FlextaskError {
  if (error instanceof FlextaskError) return error
  const message = error instanceof Error ? error.message : String(error)
  const ids = kafkaErrorIds(error)
  if (ids.has('FENCED_INSTANCE_ID'))
    return new FlextaskError(ErrorCodes.fenced, `another process uses this static instance id: ${message}`, {
      cause: error,
    })
  if (ids.has('PRODUCER_FENCED') || ids.has('INVALID_PRODUCER_EPOCH'))
    return new FlextaskError(ErrorCodes.fenced, message, { retriable: true, cause: error })
  const codes = clientCodes(error)
  const fromClient = [...codes].some((c) => c.startsWith('PLT_KFK_') && c !== 'PLT_KFK_USER')
  const detail = ids.size > 0 ? ` [${[...ids].join(', ')}]` : ''
  if (fromClient || ids.size > 0)
    return new FlextaskError(fallbackCode, `${message}${detail}`, { retriable: true, cause: error })
  return coerceError(error, fallbackCode)
}
