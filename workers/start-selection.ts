/**
 * Which queued executions a worker starts now: walking the dispatch queue in start order (dispatch-queue.ts),
 * while the process is under its concurrency, it skips an execution whose member is rebalancing or whose
 * partition is still in its handover window (see worker-runtime.ts), lets one past its deadline through without a
 * slot (the attempt runner reports it TIMED_OUT at once), and takes a limiter slot for the rest (limits.ts: type,
 * tenant and rate limits, the high-priority reserve). Returns what to start, each with the release of its slot,
 * and the earliest instant worth walking again (a handover ending, a rate bucket refilling).
 */
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { CategoryMember } from './category-member.ts'
import type { Limiter } from './limits.ts'

export interface Startable {
  execution: Pick<TaskExecution, 'category' | 'type' | 'tenant' | 'deadlineAtMs'>
  priority: number
  /** The first delivery decides the member and partition it waits on. */
  deliveries: readonly { member: Pick<CategoryMember, 'rebalancing' | 'handoverUntil'>; partition: number }[]
}

export interface StartSelection<T> {
  toStart: [T, release: () => void][]
  /** Infinity when nothing waits on time. */
  nextAtMs: number
}

export function selectStartable<T extends Startable>(
  queued: Iterable<T>,
  limiter: Limiter,
  concurrency: number,
  nowMs: number,
): StartSelection<T> {
  let nextAtMs = Infinity
  const toStart: [T, () => void][] = []
  for (const p of queued) {
    if (limiter.running >= concurrency) break
    const delivery = p.deliveries[0]
    if (delivery === undefined || delivery.member.rebalancing) continue
    const handover = delivery.member.handoverUntil.get(delivery.partition) ?? 0
    if (handover > nowMs) {
      nextAtMs = Math.min(nextAtMs, handover)
      continue
    }
    if (p.execution.deadlineAtMs !== null && p.execution.deadlineAtMs <= nowMs) {
      toStart.push([p, () => undefined])
      continue
    }
    const { category, type, tenant } = p.execution
    const acquired = limiter.tryAcquire({ category, type, tenant, priority: p.priority }, nowMs)
    if (!acquired.ok) {
      if (acquired.retryAtMs !== undefined) nextAtMs = Math.min(nextAtMs, acquired.retryAtMs)
      continue
    }
    toStart.push([p, acquired.release])
  }
  return { toStart, nextAtMs }
}
