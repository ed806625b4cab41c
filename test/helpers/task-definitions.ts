/**
 * The TaskDefinition most tests start from: valid, category http, type HealthCheck, no retry, no jitter, with the
 * schedule fields given. Shared by the real-broker helpers (scheduler.ts) and the topology-driver harness.
 */
import type { ScheduleSpec, TaskDefinition } from '../../schemas/task-definition.ts'
import { buildTaskDefinition, emptySchedule } from '../../schemas/task-definition-builder.ts'

/** Created at `overrides.createdAtMs`, else at `nowMs` (the wall clock by default). */
export function taskDefinition(
  taskId: string,
  schedule: Partial<ScheduleSpec>,
  overrides: Partial<TaskDefinition> = {},
  nowMs: number = Date.now(),
): TaskDefinition {
  return buildTaskDefinition({
    taskId,
    name: taskId,
    category: 'http',
    type: 'HealthCheck',
    createdAtMs: overrides.createdAtMs ?? nowMs,
    ...overrides,
    schedule: overrides.schedule ?? { ...emptySchedule, ...schedule },
  })
}
