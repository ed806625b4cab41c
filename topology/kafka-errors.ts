/**
 * Classifies errors from the Kafka client by the protocol error ids they carry (possibly nested in
 * MultipleErrors / causes), so the runtime can tell a fenced zombie from a rebalance from a transient fault.
 */
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
  return ids.has('ILLEGAL_GENERATION') || ids.has('UNKNOWN_MEMBER_ID') || ids.has('REBALANCE_IN_PROGRESS')
}
