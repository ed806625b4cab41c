/**
 * The worker's Prometheus instruments (metrics.ts WorkerMetrics) fed from the runtime's events: start lateness
 * (handler start − dueAtMs) and retries when an attempt starts, executions by category / type / status and their
 * duration when its terminal result is acknowledged, dead letters by reason. A type no handler is registered for
 * is counted as `unregistered`, so label values stay a closed set whatever definitions say.
 */
import type { WorkerMetrics } from '../metrics.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import type { HandlerRegistry } from './handler.ts'
import type { WorkerRuntime } from './worker-runtime.ts'

type Executed = Pick<TaskExecution, 'category' | 'type' | 'attempt' | 'dueAtMs'>

export function observeWorker(runtime: WorkerRuntime, metrics: WorkerMetrics, handlers: HandlerRegistry): void {
  const typeLabel = (e: Executed): string => (handlers.get(e.category, e.type) === undefined ? 'unregistered' : e.type)
  runtime.on('started', (execution: Executed, startedAtMs: number) => {
    metrics.startLateness.observe({ category: execution.category }, Math.max(0, startedAtMs - execution.dueAtMs) / 1000)
    if (execution.attempt > 1) metrics.retries.inc({ category: execution.category, type: typeLabel(execution) })
  })
  runtime.on('result', (result: Pick<TaskResult, 'status' | 'durationMs'>, execution: Executed) => {
    const { category } = execution
    metrics.executions.inc({ category, type: typeLabel(execution), status: result.status })
    if (result.durationMs !== null) metrics.duration.observe({ category }, result.durationMs / 1000)
  })
  runtime.on('dead-letter', (reason: string) => metrics.deadLetters.inc({ reason }))
}
