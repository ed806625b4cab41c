/**
 * Task routes: create, read, list, update, pause/resume, trigger, cancel, retry, delete. Writes produce to Kafka
 * (task-writer.ts) and, unless `?wait=false`, wait until the projection shows them (201/200), else answer 202 with
 * the position to pass as `minOffset` on a later read. Pause and resume are definition updates (`paused`), so they
 * are as durable and as visible in the read model as any update; trigger, cancel and retry are commands.
 */
import { randomUUID } from 'node:crypto'
import type { CommandKind } from '../schemas/task-command.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { ApiServer, RouteContext } from './api-server.ts'
import {
  CommandAnswer,
  CreateTaskBody,
  ExecutionRefBody,
  ListTasksQuery,
  Problem,
  ReadQuery,
  StatusBody,
  TaskPage,
  Task,
  TaskParams,
  UpdateTaskBody,
  WriteAnswer,
  WriteQuery,
  authProblems,
} from './api-schemas.ts'
import { fingerprint } from './idempotency.ts'
import { ApiErrorCodes, apiError } from './problems.ts'
import { parseOffsetToken, waitForProjection } from './projection-wait.ts'
import type { TaskView } from './read-model.ts'
import {
  assertValidDefinition,
  checkPayloadDepth,
  definitionFromInput,
  publicTask,
  sameDefinition,
} from './task-input.ts'
import type { WritePosition } from './task-writer.ts'

const writeProblems = { 400: Problem, 404: Problem, 409: Problem, 413: Problem, ...authProblems }
const tags = ['tasks']

export function registerTaskRoutes(api: ApiServer, ctx: RouteContext): void {
  const { deps } = ctx
  const limits = { categories: deps.options.categories, maxPayloadBytes: deps.options.maxPayloadBytes }

  /** Waits for the projection (unless told not to) and builds the write answer. */
  async function answerWrite(taskId: string, position: WritePosition, wait: boolean | undefined) {
    const projected =
      wait !== false &&
      (await waitForProjection(deps.readModel, position, { timeoutMs: deps.options.readYourWritesTimeoutMs }))
    const task = projected ? await deps.readModel.getTask(taskId) : null
    return {
      status: projected ? 200 : 202,
      body: {
        taskId,
        position: { ...position, token: `${position.partition}:${position.offset}` },
        projected,
        task: task === null ? null : publicTask(task),
      },
    }
  }

  async function existingTask(taskId: string): Promise<TaskView & { definition: TaskDefinition }> {
    const task = await deps.readModel.getTask(taskId)
    if (task === null || task.definition === null) {
      throw apiError(ApiErrorCodes.taskNotFound, `no task ${JSON.stringify(taskId)}`, 'id')
    }
    return task as TaskView & { definition: TaskDefinition }
  }

  async function sendCommand(taskId: string, kind: CommandKind, executionId: string | null, by: string | undefined) {
    const commandId = randomUUID()
    const position = await deps.writer.sendCommand({
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

  api.post(
    '/api/tasks',
    {
      config: { scope: 'write' },
      schema: {
        tags,
        summary: 'Create a task (idempotent with a client taskId or an Idempotency-Key header)',
        body: CreateTaskBody,
        querystring: WriteQuery,
        response: { 200: WriteAnswer, 201: WriteAnswer, 202: WriteAnswer, ...writeProblems },
      },
    },
    async (request, reply) => {
      const body = request.body
      const header = request.headers['idempotency-key']
      const idemKey =
        typeof header === 'string' && header !== ''
          ? `key:${request.apiKey?.id}:${header}`
          : body.taskId === undefined
            ? undefined
            : `task:${body.taskId}`
      checkPayloadDepth(body.payload) // before anything walks it recursively (the fingerprint does)
      const print = fingerprint(body)
      if (idemKey !== undefined) {
        const first = ctx.idempotency.get(idemKey, ctx.nowMs())
        if (first !== undefined) {
          if (first.fingerprint !== print) {
            throw apiError(
              ApiErrorCodes.conflict,
              `${idemKey.startsWith('key:') ? 'Idempotency-Key' : 'taskId'} was used with a different body`,
            )
          }
          return reply
            .code(first.statusCode)
            .header('idempotent-replayed', 'true')
            .send(first.body as never)
        }
      }
      const taskId = body.taskId ?? randomUUID()
      const definition = definitionFromInput(taskId, body, ctx.nowMs())
      assertValidDefinition(definition, limits)
      if (body.taskId !== undefined) {
        const existing = await deps.readModel.getTask(taskId)
        if (existing?.definition != null) {
          if (!sameDefinition(existing.definition, definition)) {
            throw apiError(
              ApiErrorCodes.conflict,
              `task ${JSON.stringify(taskId)} exists with another definition; PUT /api/tasks/${taskId} changes it`,
              'taskId',
            )
          }
          return reply
            .code(200)
            .header('idempotent-replayed', 'true')
            .send({ taskId, position: null, projected: true, task: publicTask(existing) })
        }
      }
      const position = await deps.writer.putDefinition(definition)
      const answer = await answerWrite(taskId, position, request.query.wait)
      const status = answer.status === 200 ? 201 : 202
      if (idemKey !== undefined)
        ctx.idempotency.set(idemKey, {
          fingerprint: print,
          statusCode: status,
          body: answer.body,
          storedAtMs: ctx.nowMs(),
        })
      return reply
        .code(status)
        .header('location', `/api/tasks/${encodeURIComponent(taskId)}`)
        .send(answer.body)
    },
  )

  api.get(
    '/api/tasks',
    {
      config: { scope: 'read' },
      schema: {
        tags,
        summary: 'List tasks (stable order by taskId)',
        querystring: ListTasksQuery,
        response: { 200: TaskPage, 400: Problem, ...authProblems },
      },
    },
    async (request) => {
      const { page = 0, size = 50, minOffset, ...filter } = request.query
      await waitForMinOffset(ctx, minOffset)
      const result = await deps.readModel.listTasks(filter, { page, size })
      return { ...result, items: result.items.map(publicTask) }
    },
  )

  api.get(
    '/api/tasks/:id',
    {
      config: { scope: 'read' },
      schema: {
        tags,
        summary: 'One task',
        params: TaskParams,
        querystring: ReadQuery,
        response: { 200: Task, 400: Problem, 404: Problem, ...authProblems },
      },
    },
    async (request) => {
      await waitForMinOffset(ctx, request.query.minOffset)
      return publicTask(await existingTask(request.params.id))
    },
  )

  api.put(
    '/api/tasks/:id',
    {
      config: { scope: 'write' },
      schema: {
        tags,
        summary: 'Replace a task definition (If-Match: "<version>" guards against lost updates)',
        params: TaskParams,
        body: UpdateTaskBody,
        querystring: WriteQuery,
        response: { 200: WriteAnswer, 202: WriteAnswer, ...writeProblems },
      },
    },
    async (request, reply) => {
      const existing = await existingTask(request.params.id)
      checkIfMatch(request.headers['if-match'], existing.definition.version)
      const definition = definitionFromInput(existing.taskId, request.body, ctx.nowMs(), existing.definition)
      assertValidDefinition(definition, limits)
      const answer = await answerWrite(existing.taskId, await deps.writer.putDefinition(definition), request.query.wait)
      return reply.code(answer.status).send(answer.body)
    },
  )

  api.put(
    '/api/tasks/:id/status',
    {
      config: { scope: 'write' },
      schema: {
        tags,
        summary: 'Pause or resume a task',
        params: TaskParams,
        body: StatusBody,
        querystring: WriteQuery,
        response: { 200: WriteAnswer, 202: WriteAnswer, ...writeProblems },
      },
    },
    async (request, reply) => {
      const existing = await existingTask(request.params.id)
      checkIfMatch(request.headers['if-match'], existing.definition.version)
      const paused = request.body.status === 'PAUSED'
      if (existing.definition.paused === paused) {
        return reply
          .code(200)
          .send({ taskId: existing.taskId, position: null, projected: true, task: publicTask(existing) })
      }
      const definition: TaskDefinition = {
        ...existing.definition,
        paused,
        updatedAtMs: ctx.nowMs(),
        version: existing.definition.version + 1,
      }
      const answer = await answerWrite(existing.taskId, await deps.writer.putDefinition(definition), request.query.wait)
      return reply.code(answer.status).send(answer.body)
    },
  )

  api.delete(
    '/api/tasks/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Delete a task (a tombstone)',
        params: TaskParams,
        querystring: WriteQuery,
        response: { 200: WriteAnswer, 202: WriteAnswer, ...writeProblems },
      },
    },
    async (request, reply) => {
      const existing = await existingTask(request.params.id)
      const answer = await answerWrite(
        existing.taskId,
        await deps.writer.deleteDefinition(existing.taskId),
        request.query.wait,
      )
      return reply.code(answer.status).send({ ...answer.body, task: null })
    },
  )

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
      const task = await existingTask(request.params.id)
      const command = await sendCommand(task.taskId, 'TRIGGER_NOW', null, request.apiKey?.id)
      return reply.code(202).send({ taskId: task.taskId, commands: [command] })
    },
  )

  api.post(
    '/api/tasks/:id/cancel',
    commandSchema('Cancel one execution by id, or (without one) every execution in flight, or else the next slot'),
    async (request, reply) => {
      const task = await existingTask(request.params.id)
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
      const task = await existingTask(request.params.id)
      const executionId = await retryTarget(ctx, task.taskId, request.body?.executionId)
      const command = await sendCommand(task.taskId, 'RETRY_EXECUTION', executionId, request.apiKey?.id)
      return reply.code(202).send({ taskId: task.taskId, commands: [command] })
    },
  )
}

function checkIfMatch(header: string | undefined, version: number): void {
  if (header === undefined) return
  const wanted = header.replace(/^W\//, '').replaceAll('"', '').trim()
  if (wanted !== '*' && wanted !== String(version)) {
    throw apiError(
      ApiErrorCodes.versionMismatch,
      `If-Match asks for version ${wanted}, the task is at version ${version}`,
    )
  }
}

/** Waits for a `<partition>:<offset>` of the definitions topic to be projected; 503 when it is not in time. */
export async function waitForMinOffset(ctx: RouteContext, token: string | undefined): Promise<void> {
  if (token === undefined) return
  const { partition, offset } = parseOffsetToken(token)
  const position = { topic: ctx.deps.topics.definitions, partition, offset }
  if (
    !(await waitForProjection(ctx.deps.readModel, position, { timeoutMs: ctx.deps.options.readYourWritesTimeoutMs }))
  ) {
    throw apiError(
      ApiErrorCodes.projectionBehind,
      `the read model has not reached ${token} of ${position.topic} yet; retry`,
    )
  }
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
