/**
 * History routes: executions (runs with attempts, status, worker, timings, error), one execution with its logs,
 * the occurrence ledger over a window, the next instants of a schedule (computed by the scheduler's own
 * ScheduleCalculator, never a copy), dead letters, and the paths the replaced systems used
 * (`/api/monitor/tasks/{id}/executions`, `/api/monitor/metrics`).
 */
import { ScheduleCalculator } from '../processors/schedule-calculator.ts'
import type { ApiServer, RouteContext } from './api-server.ts'
import {
  DeadLetterPage,
  DeadLettersQuery,
  Execution,
  ExecutionParams,
  MonitorMetrics,
  NextInstants,
  NextQuery,
  Occurrences,
  OccurrencesQuery,
  Problem,
  RunPage,
  RunsQuery,
  TaskParams,
  authProblems,
} from './api-schemas.ts'
import { ApiErrorCodes, apiError } from './problems.ts'
import { waitForMinOffset } from './task-routes.ts'

const tags = ['history']
const hourMs = 3_600_000

export function registerHistoryRoutes(api: ApiServer, ctx: RouteContext): void {
  const { deps } = ctx

  async function requireTask(taskId: string) {
    const task = await deps.readModel.getTask(taskId)
    if (task === null || task.definition === null) {
      throw apiError(ApiErrorCodes.taskNotFound, `no task ${JSON.stringify(taskId)}`, 'id')
    }
    return { ...task, definition: task.definition }
  }

  const runsOptions = (summary: string) => ({
    config: { scope: 'read' as const },
    schema: {
      tags,
      summary,
      params: TaskParams,
      querystring: RunsQuery,
      response: { 200: RunPage, 400: Problem, 404: Problem, ...authProblems },
    },
  })
  const runsHandler = async (request: {
    params: { id: string }
    query: { page?: number; size?: number; minOffset?: string }
  }) => {
    await waitForMinOffset(ctx, request.query.minOffset)
    await requireTask(request.params.id)
    return deps.readModel.listRuns(request.params.id, { page: request.query.page ?? 0, size: request.query.size ?? 50 })
  }
  api.get('/api/tasks/:id/executions', runsOptions('Runs of a task, newest slot first'), runsHandler)
  api.get('/api/monitor/tasks/:id/executions', runsOptions("Runs of a task (the replaced systems' path)"), runsHandler)

  api.get(
    '/api/executions/:executionId',
    {
      config: { scope: 'read' },
      schema: {
        tags,
        summary: 'One execution: every attempt and its logs',
        params: ExecutionParams,
        response: { 200: Execution, 404: Problem, ...authProblems },
      },
    },
    async (request) => {
      const execution = await deps.readModel.getExecution(request.params.executionId)
      if (execution === null) {
        throw apiError(
          ApiErrorCodes.executionNotFound,
          `no execution ${JSON.stringify(request.params.executionId)}`,
          'executionId',
        )
      }
      return execution
    },
  )

  api.get(
    '/api/tasks/:id/occurrences',
    {
      config: { scope: 'read' },
      schema: {
        tags,
        summary: 'Every scheduled instant in [from, to] with its outcome and reason (default: the last hour)',
        params: TaskParams,
        querystring: OccurrencesQuery,
        response: { 200: Occurrences, 400: Problem, 404: Problem, ...authProblems },
      },
    },
    async (request) => {
      const nowMs = ctx.nowMs()
      const toMs = request.query.to === undefined ? nowMs : parseInstant(request.query.to, 'to')
      const fromMs = request.query.from === undefined ? toMs - hourMs : parseInstant(request.query.from, 'from')
      if (fromMs > toMs)
        throw apiError(ApiErrorCodes.requestInvalid, `from: must not be after to (${fromMs} > ${toMs})`, 'from')
      await requireTask(request.params.id)
      const items = await deps.readModel.listOccurrences(request.params.id, fromMs, toMs, request.query.limit ?? 1000)
      return { taskId: request.params.id, fromMs, toMs, items }
    },
  )

  api.get(
    '/api/tasks/:id/next',
    {
      config: { scope: 'read' },
      schema: {
        tags,
        summary: "The next instants the schedule will produce (the scheduler's own calculator)",
        params: TaskParams,
        querystring: NextQuery,
        response: { 200: NextInstants, 400: Problem, 404: Problem, ...authProblems },
      },
    },
    async (request) => {
      const task = await requireTask(request.params.id)
      const { schedule, createdAtMs, paused } = task.definition
      const afterMs = Math.max(ctx.nowMs(), task.lastScheduledForMs ?? -Infinity)
      const remaining = schedule.maxRuns === null ? Infinity : Math.max(0, schedule.maxRuns - task.runs.total)
      const count = Math.min(request.query.count ?? 10, remaining)
      const instants = ScheduleCalculator.occurrencesBetween(
        schedule,
        createdAtMs,
        afterMs,
        Number.MAX_SAFE_INTEGER,
        count,
      )
      return {
        taskId: task.taskId,
        paused,
        instants: instants.map((atMs) => ({ atMs, at: new Date(atMs).toISOString() })),
      }
    },
  )

  api.get(
    '/api/dead-letters',
    {
      config: { scope: 'read' },
      schema: {
        tags,
        summary: 'Dead letters, newest first',
        querystring: DeadLettersQuery,
        response: { 200: DeadLetterPage, 400: Problem, ...authProblems },
      },
    },
    async (request) => {
      const { page = 0, size = 50, taskId, reason } = request.query
      return deps.readModel.listDeadLetters(
        { ...(taskId === undefined ? {} : { taskId }), ...(reason === undefined ? {} : { reasonCode: reason }) },
        { page, size },
      )
    },
  )

  api.get(
    '/api/monitor/metrics',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['monitor'],
        summary: 'A JSON summary: tasks by status, fires and failures in the last hour, lateness percentiles',
        response: { 200: MonitorMetrics, ...authProblems },
      },
    },
    async () => deps.readModel.summary(ctx.nowMs()),
  )
}

/** Epoch milliseconds (digits) or an ISO 8601 instant. */
export function parseInstant(text: string, field: string): number {
  const ms = /^-?\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isSafeInteger(ms)) {
    throw apiError(
      ApiErrorCodes.requestInvalid,
      `${field}: must be epoch milliseconds or an ISO 8601 instant, got ${JSON.stringify(text)}`,
      field,
    )
  }
  return ms
}
