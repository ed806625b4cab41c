/**
 * A stand-in for the REST API (api/ on the wt-api branch, README "The REST API"), for browser tests of the
 * dashboard before that API is on main: the same routes, shapes, problem details and WebSocket event messages,
 * over in-memory tasks. Schedules are checked and computed by the scheduler's own ScheduleCalculator (so an
 * invalid cron is refused with the real message and field), and an ACTIVE INTERVAL task "fires" on a real timer
 * and "succeeds" 100 ms later, as fire + result events. /metrics is a real metrics registry fed by those fires.
 *
 * It is no substitute for the end-to-end test against the real stack (scheduler, workers, sink, API), which
 * needs the API on main.
 */
import websocket, { type WebSocket } from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import { createMetrics } from '../../metrics.ts'
import { ScheduleCalculator } from '../../processors/schedule-calculator.ts'
import { emptySchedule } from '../../schemas/task-definition-builder.ts'
import type { ScheduleSpec } from '../../schemas/task-definition.ts'
import { uiPlugin } from '../../ui/ui-plugin.ts'

interface Run {
  executionId: string
  attempt: number
  taskId: string
  trigger: string
  status: string
  worker: string | null
  scheduledForMs: number
  dueAtMs: number
  firedAtMs: number
  startedAtMs: number | null
  finishedAtMs: number | null
  durationMs: number | null
  error: null
  output: string | null
}

interface StandInTask {
  taskId: string
  name: string | null
  category: string
  type: string
  status: 'ACTIVE' | 'PAUSED'
  version: number
  definition: Record<string, unknown> & { schedule: ScheduleSpec }
  createdAtMs: number
  runs: Run[]
  occurrences: { scheduledForMs: number; outcome: string; reason: string | null; executionId: string | null }[]
  timer?: NodeJS.Timeout
}

export interface StandInApi {
  app: FastifyInstance
  url: string
  apiKey: string
  close(): Promise<void>
}

function problem(status: number, code: string, title: string, detail: string, field?: string) {
  return { type: `https://flextask.dev/problems/${code.toLowerCase()}`, title, status, detail, code, field }
}

export async function startStandInApi(): Promise<StandInApi> {
  const apiKey = 'ftk_stand_in_key'
  const metrics = createMetrics({ processMetrics: false })
  const tasks = new Map<string, StandInTask>()
  const sockets = new Set<WebSocket>()
  let offset = 0
  const app = Fastify({ logger: false })
  await app.register(websocket)
  await app.register(uiPlugin, { prefix: '/ui' })

  const publish = (kind: string, task: StandInTask, data: unknown): void => {
    offset++
    const message = JSON.stringify({
      type: 'event',
      kind,
      taskId: task.taskId,
      category: task.category,
      tenant: null,
      topic: `stand-in.${kind}`,
      partition: 0,
      offset: String(offset),
      timestampMs: Date.now(),
      data,
      resume: `stand-in:0:${offset}`,
    })
    for (const socket of sockets) socket.send(message)
  }

  const view = (t: StandInTask) => {
    const count = (status: string) => t.runs.filter((r) => r.status === status).length
    const last = t.runs[0]
    const next =
      t.status === 'PAUSED'
        ? null
        : ScheduleCalculator.occurrenceAfter(t.definition.schedule, t.createdAtMs, Date.now())
    return {
      taskId: t.taskId,
      name: t.name,
      category: t.category,
      type: t.type,
      tenant: null,
      labels: {},
      status: t.status,
      version: t.version,
      definition: t.definition,
      createdAtMs: t.createdAtMs,
      updatedAtMs: t.createdAtMs,
      nextFireAtMs: next,
      lastScheduledForMs: last?.scheduledForMs ?? null,
      runs: {
        total: t.runs.length,
        pending: 0,
        processing: count('STARTED'),
        succeeded: count('SUCCEEDED'),
        failed: count('FAILED'),
        skipped: 0,
        timedOut: 0,
        dead: count('DEAD'),
        cancelled: 0,
      },
      lastRun:
        last === undefined
          ? null
          : { executionId: last.executionId, attempt: 1, status: last.status, finishedAtMs: last.finishedAtMs },
    }
  }

  const fire = (task: StandInTask, trigger: string): void => {
    const now = Date.now()
    const run: Run = {
      executionId: `${task.taskId}:${now}`,
      attempt: 1,
      taskId: task.taskId,
      trigger,
      status: 'STARTED',
      worker: 'stand-in-worker',
      scheduledForMs: now,
      dueAtMs: now,
      firedAtMs: now,
      startedAtMs: now,
      finishedAtMs: null,
      durationMs: null,
      error: null,
      output: null,
    }
    task.runs.unshift(run)
    task.occurrences.unshift({
      scheduledForMs: now,
      outcome: 'FIRED',
      reason: trigger.toLowerCase(),
      executionId: run.executionId,
    })
    metrics.scheduler.fires.inc({ category: task.category, trigger })
    metrics.scheduler.fireLateness.observe({ category: task.category }, 0.002)
    publish('fire', task, { executionId: run.executionId, attempt: 1, trigger, dueAtMs: now, firedAtMs: now })
    setTimeout(() => {
      run.status = 'SUCCEEDED'
      run.finishedAtMs = Date.now()
      run.durationMs = run.finishedAtMs - now
      run.output = '{"ok":true}'
      publish('result', task, {
        executionId: run.executionId,
        attempt: 1,
        status: 'SUCCEEDED',
        durationMs: run.durationMs,
      })
    }, 100)
  }

  const arm = (task: StandInTask): void => {
    clearInterval(task.timer)
    const { schedule } = task.definition
    if (task.status === 'ACTIVE' && schedule.kind === 'INTERVAL' && schedule.everyMs !== null) {
      task.timer = setInterval(() => fire(task, 'SCHEDULE'), schedule.everyMs)
    }
  }

  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await metrics.render()
    return reply.type(contentType).send(body)
  })

  await app.register((api, _options, registered) => {
    api.addHook('onRequest', (request, reply, done) => {
      const query = request.query as { access_token?: string }
      const key = request.headers.authorization?.replace(/^Bearer /, '') ?? query.access_token
      if (key === apiKey) return done()
      void reply.code(401).send(problem(401, 'FLEXTASK_API_UNAUTHORIZED', 'Unauthorized', 'no or unknown API key'))
    })

    api.get('/api/events', { websocket: true }, (socket) => {
      sockets.add(socket)
      socket.send(JSON.stringify({ type: 'ready', resume: `stand-in:0:${offset}` }))
      socket.on('close', () => sockets.delete(socket))
    })

    api.get('/api/tasks', (request) => {
      const q = request.query as Record<string, string | undefined>
      const page = Number(q.page ?? 0)
      const size = Number(q.size ?? 20)
      const all = [...tasks.values()]
        .filter((t) => q.q === undefined || t.taskId.includes(q.q) || (t.name ?? '').includes(q.q))
        .filter((t) => q.category === undefined || t.category === q.category)
        .filter((t) => q.status === undefined || t.status === q.status)
        .sort((a, b) => a.taskId.localeCompare(b.taskId))
      return { items: all.slice(page * size, (page + 1) * size).map(view), page, size, total: all.length }
    })

    api.post('/api/tasks', (request, reply) => {
      const body = request.body as Record<string, unknown> & { schedule: Partial<ScheduleSpec> }
      const schedule: ScheduleSpec = { ...emptySchedule, ...body.schedule }
      const violation = ScheduleCalculator.validate(schedule)
      if (violation !== null) {
        return reply
          .code(400)
          .type('application/problem+json')
          .send(problem(400, 'FLEXTASK_SCHEDULE_INVALID', 'Invalid schedule', violation.message, violation.field))
      }
      const taskId = typeof body.taskId === 'string' && body.taskId !== '' ? body.taskId : `task-${tasks.size + 1}`
      const task: StandInTask = {
        taskId,
        name: typeof body.name === 'string' ? body.name : null,
        category: String(body.category),
        type: String(body.type),
        status: 'ACTIVE',
        version: 1,
        definition: { ...body, taskId, schedule },
        createdAtMs: Date.now(),
        runs: [],
        occurrences: [],
      }
      tasks.set(taskId, task)
      arm(task)
      return reply.code(201).send({ taskId, position: null, projected: true, task: view(task) })
    })

    const find = (id: string) => tasks.get(id)
    api.get('/api/tasks/:id', (request, reply) => {
      const task = find((request.params as { id: string }).id)
      return task === undefined
        ? reply.code(404).send(problem(404, 'FLEXTASK_API_TASK_NOT_FOUND', 'Not found', 'no such task'))
        : view(task)
    })
    api.put('/api/tasks/:id/status', (request, reply) => {
      const task = find((request.params as { id: string }).id)
      if (task === undefined)
        return reply.code(404).send(problem(404, 'FLEXTASK_API_TASK_NOT_FOUND', 'Not found', 'no such task'))
      task.status = (request.body as { status: 'ACTIVE' | 'PAUSED' }).status
      task.version++
      arm(task)
      return { taskId: task.taskId, position: null, projected: true, task: view(task) }
    })
    api.post('/api/tasks/:id/trigger', (request, reply) => {
      const task = find((request.params as { id: string }).id)
      if (task === undefined)
        return reply.code(404).send(problem(404, 'FLEXTASK_API_TASK_NOT_FOUND', 'Not found', 'no such task'))
      fire(task, 'MANUAL')
      return reply.code(202).send({ taskId: task.taskId, commands: [] })
    })
    api.get('/api/tasks/:id/executions', (request) => {
      const items = find((request.params as { id: string }).id)?.runs ?? []
      return { items, page: 0, size: items.length, total: items.length }
    })
    api.get('/api/executions/:executionId', (request) => {
      const id = (request.params as { executionId: string }).executionId
      const run = [...tasks.values()].flatMap((t) => t.runs).find((r) => r.executionId === id)
      return {
        executionId: id,
        taskId: run?.taskId,
        attempts: run === undefined ? [] : [run],
        logs:
          run === undefined
            ? []
            : [
                {
                  attempt: 1,
                  seq: 1,
                  level: 'info',
                  message: 'stand-in handler ran',
                  fields: null,
                  loggedAtMs: run.firedAtMs,
                  worker: run.worker,
                },
              ],
      }
    })
    api.get('/api/tasks/:id/occurrences', (request) => {
      const task = find((request.params as { id: string }).id)
      return { taskId: task?.taskId, fromMs: Date.now() - 3_600_000, toMs: Date.now(), items: task?.occurrences ?? [] }
    })
    api.get('/api/tasks/:id/next', (request) => {
      const task = find((request.params as { id: string }).id)
      const instants: { atMs: number; at: string }[] = []
      if (task !== undefined && task.status === 'ACTIVE') {
        let after = Date.now()
        for (let i = 0; i < 5; i++) {
          const next = ScheduleCalculator.occurrenceAfter(task.definition.schedule, task.createdAtMs, after)
          if (next === null) break
          instants.push({ atMs: next, at: new Date(next).toISOString() })
          after = next
        }
      }
      return { taskId: task?.taskId, paused: task?.status === 'PAUSED', instants }
    })
    api.get('/api/dead-letters', () => ({ items: [], page: 0, size: 50, total: 0 }))
    registered()
  })

  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    url: address,
    apiKey,
    close: async () => {
      for (const task of tasks.values()) clearInterval(task.timer)
      for (const socket of sockets) socket.terminate()
      await app.close()
    },
  }
}
