/**
 * Command routes: trigger now, cancel and retry. Each produces TaskCommand records to the commands topic
 * (task-writer.ts) and answers 202 with the commands sent: a command's effect shows in the task's runs once the
 * scheduler has applied it, so these routes never wait for the projection. Which execution a cancel or retry
 * without an executionId targets is decided here, from the read model.
 */
import { randomUUID } from 'node:crypto'
import type { CommandKind } from '../schemas/task-command.ts'
import type { ApiServer, RouteContext } from './api-server.ts'
import { CommandAnswer, ExecutionRefBody, TaskParams } from './api-schemas.ts'
import { ApiErrorCodes, apiError } from './problems.ts'
import type { TaskView } from './read-model.ts'
import { existingTask, tags, writeProblems } from './task-routes.ts'

export function registerTaskCommandRoutes(api: ApiServer, ctx: RouteContext): void {
  async function sendCommand(taskId: string, kind: CommandKind, executionId: string | null, by: string | undefined) {
    const commandId = randomUUID()
    const position = await ctx.deps.writer.sendCommand({
      commandId,
      taskId,
      kind,
      executionId,
      requestedAtMs: ctx.nowMs(),
      requestedBy: by === undefined ? null : `api-key:${by}`,
    })
    // A manual run's execution id derives from the command (README, Commands): tell the caller which it is.
    return {
      commandId,
      kind,
      executionId: kind === 'TRIGGER_NOW' ? `${taskId}:manual:${commandId}` : executionId,
      position: { ...position, token: `${position.partition}:${position.offset}` },
    }
  }

  const commandSchema = (summary: string) => ({
    config: { scope: 'write' as const },
    schema: {
      tags,
      summary,
      params: TaskParams,
      body: ExecutionRefBody,
      response: { 202: CommandAnswer, ...writeProblems },
    },
  })

  api.post(
    '/api/tasks/:id/trigger',
    {
      config: { scope: 'write' },
      schema: {
        tags,
        summary: 'Fire the task now (TRIGGER_NOW); no body',
        params: TaskParams,
        response: { 202: CommandAnswer, ...writeProblems },
      },
    },
    async (request, reply) => {
      const task = await existingTask(ctx, request.params.id)
      const command = await sendCommand(task.taskId, 'TRIGGER_NOW', null, request.apiKey?.id)
      return reply.code(202).send({ taskId: task.taskId, commands: [command] })
    },
  )

  api.post(
    '/api/tasks/:id/cancel',
    commandSchema('Cancel one execution by id, or (without one) every execution in flight, or else the next slot'),
    async (request, reply) => {
      const task = await existingTask(ctx, request.params.id)
      const targets = await cancelTargets(ctx, task, request.body?.executionId)
      const commands = []
      for (const executionId of targets)
        commands.push(await sendCommand(task.taskId, 'CANCEL_EXECUTION', executionId, request.apiKey?.id))
      return reply.code(202).send({ taskId: task.taskId, commands })
    },
  )

  api.post(
    '/api/tasks/:id/retry',
    commandSchema('Retry a DEAD or FAILED execution by id, or the latest one'),
    async (request, reply) => {
      const task = await existingTask(ctx, request.params.id)
      const executionId = await retryTarget(ctx, task.taskId, request.body?.executionId)
      const command = await sendCommand(task.taskId, 'RETRY_EXECUTION', executionId, request.apiKey?.id)
      return reply.code(202).send({ taskId: task.taskId, commands: [command] })
    },
  )
}

function assertOwnExecution(taskId: string, executionId: string): void {
  if (!executionId.startsWith(`${taskId}:`)) {
    throw apiError(
      ApiErrorCodes.requestInvalid,
      `executionId: ${JSON.stringify(executionId)} is not an execution of ${taskId} (<taskId>:<slot ms>)`,
      'executionId',
    )
  }
}

async function cancelTargets(ctx: RouteContext, task: TaskView, executionId: string | undefined): Promise<string[]> {
  if (executionId !== undefined) {
    assertOwnExecution(task.taskId, executionId)
    return [executionId]
  }
  const runs = await ctx.deps.readModel.listRuns(task.taskId, { page: 0, size: 200 })
  const inFlight = [
    ...new Set(runs.items.filter((r) => r.status === 'PENDING' || r.status === 'PROCESSING').map((r) => r.executionId)),
  ]
  if (inFlight.length > 0) return inFlight
  if (task.nextFireAtMs !== null) return [`${task.taskId}:${task.nextFireAtMs}`]
  throw apiError(ApiErrorCodes.conflict, `task ${task.taskId} has no execution in flight and no next slot to cancel`)
}

async function retryTarget(ctx: RouteContext, taskId: string, executionId: string | undefined): Promise<string> {
  const retriable = new Set(['DEAD', 'FAILED'])
  if (executionId !== undefined) {
    assertOwnExecution(taskId, executionId)
    const execution = await ctx.deps.readModel.getExecution(executionId)
    if (execution === null)
      throw apiError(ApiErrorCodes.executionNotFound, `no execution ${JSON.stringify(executionId)}`, 'executionId')
    const latest = execution.attempts.at(-1)!
    if (!retriable.has(latest.status)) {
      throw apiError(
        ApiErrorCodes.conflict,
        `execution ${executionId} is ${latest.status}; only DEAD or FAILED executions can be retried`,
      )
    }
    return executionId
  }
  const runs = await ctx.deps.readModel.listRuns(taskId, { page: 0, size: 200 })
  const latestAttempt = new Map<string, string>()
  for (const run of runs.items) if (!latestAttempt.has(run.executionId)) latestAttempt.set(run.executionId, run.status)
  for (const [id, status] of latestAttempt) if (retriable.has(status)) return id
  throw apiError(ApiErrorCodes.conflict, `task ${taskId} has no DEAD or FAILED execution to retry`)
}
