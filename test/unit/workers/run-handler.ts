/** Runs one handler attempt directly (no Kafka): the TaskResult and log lines the worker would produce. */
import type { TaskExecution } from '../../../schemas/task-execution.ts'
import type { TaskLog } from '../../../schemas/task-log.ts'
import type { TaskResult } from '../../../schemas/task-result.ts'
import { defaultAttemptLimits, runAttempt, type AttemptLimits } from '../../../workers/attempt-runner.ts'
import type { Handler } from '../../../workers/handler.ts'

export function execution(
  category: string,
  type: string,
  payload: unknown,
  overrides: Partial<TaskExecution> = {},
): TaskExecution {
  const now = Date.now()
  return {
    executionId: `t1:${now}`,
    taskId: 't1',
    attempt: 1,
    scheduledForMs: now,
    dueAtMs: now,
    firedAtMs: now,
    deadlineAtMs: null,
    priority: 0,
    category,
    type,
    payload: JSON.stringify(payload),
    trigger: 'SCHEDULE',
    definitionVersion: 1,
    labels: {},
    tenant: null,
    ...overrides,
  }
}

export async function runHandler(
  handler: Handler | undefined,
  exec: TaskExecution,
  limits: Partial<AttemptLimits> = {},
): Promise<{ result: TaskResult; started: TaskResult[]; logs: TaskLog[] }> {
  const logs: TaskLog[] = []
  const started: TaskResult[] = []
  const attempt = runAttempt(exec, handler, {
    workerId: 'test-worker',
    nowMs: Date.now,
    limits: { ...defaultAttemptLimits, ...limits },
    sinks: { started: (r) => started.push(r), log: (l) => logs.push(l) },
  })
  const result = await attempt.done
  if (result === undefined) throw new Error('no result')
  return { result, started, logs }
}
