/**
 * What the API route tests share: an app over the in-memory read model and writer (test/helpers/memory-api.ts)
 * per test, closed by the file's afterEach (`closeApps`), and builders of task bodies and projected runs.
 */
import { auth, memoryApi, type MemoryProjection } from '../../helpers/memory-api.ts'

export type App = Awaited<ReturnType<typeof memoryApi>>['app']
export const now = 1_800_000_000_000
export const cron = { kind: 'CRON', cron: '*/5 * * * * *', timezone: 'Europe/Berlin' }
const apps: App[] = []

/** Closes every app `setup` made; the test file registers it: `afterEach(closeApps)`. */
export async function closeApps(): Promise<void> {
  for (const app of apps.splice(0)) await app.close()
}

export async function setup(...args: Parameters<typeof memoryApi>) {
  const made = await memoryApi(...args)
  apps.push(made.app)
  return made
}

export function create(app: App, body: Record<string, unknown>, headers: Record<string, string> = {}, query = '') {
  return app.inject({
    method: 'POST',
    url: `/api/tasks${query}`,
    headers: { ...auth('write'), ...headers },
    payload: body,
  })
}

export const task = (taskId: string, extra: Record<string, unknown> = {}) => ({
  taskId,
  category: 'http',
  type: 'HealthCheck',
  schedule: cron,
  ...extra,
})

export function addRun(store: MemoryProjection, taskId: string, slot: number, status: string, attempt = 1) {
  store.runs.push({
    executionId: `${taskId}:${slot}`,
    attempt,
    taskId,
    trigger: 'SCHEDULE',
    status,
    worker: 'w1',
    scheduledForMs: slot,
    dueAtMs: slot,
    firedAtMs: slot + 2,
    startedAtMs: slot + 3,
    finishedAtMs: status === 'PENDING' ? null : slot + 10,
    durationMs: status === 'PENDING' ? null : 7,
    error: status === 'DEAD' ? { code: 'E', message: 'boom', retriable: true } : null,
    output: null,
  })
}
