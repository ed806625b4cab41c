/**
 * Task definition routes: create, read, list, update, pause/resume, delete. Writes produce to Kafka
 * (task-writer.ts) and, unless `?wait=false`, wait until the projection shows them (201/200), else answer 202 with
 * the position to pass as `minOffset` on a later read. Pause and resume are definition updates (`paused`), so they
 * are as durable and as visible in the read model as any update; trigger, cancel and retry are commands
 * (task-command-routes.ts).
 */
import { randomUUID } from 'node:crypto'
import type { Static, TSchema } from 'typebox'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { ApiServer, RouteContext } from './api-server.ts'
import {
  CreateTaskBody,
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

export const writeProblems = { 400: Problem, 404: Problem, 409: Problem, 413: Problem, ...authProblems }
export const tags = ['tasks']

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
      status: projected ? (200 as const) : (202 as const),
      body: {
        taskId,
        position: { ...position, token: `${position.partition}:${position.offset}` },
        projected,
        task: task === null ? null : publicTask(task),
      },
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
      return publicTask(await existingTask(ctx, request.params.id))
    },
  )

  /**
   * Replaces a task's definition: If-Match is checked against the stored version, then `change` builds the new
   * definition, or returns null when it would change nothing (200 with the task as it is, nothing produced).
   */
  async function updateDefinition(
    taskId: string,
    ifMatch: string | undefined,
    wait: boolean | undefined,
    change: (current: TaskDefinition) => TaskDefinition | null,
  ): Promise<{ status: 200 | 202; body: Static<typeof WriteAnswer> }> {
    const existing = await existingTask(ctx, taskId)
    checkIfMatch(ifMatch, existing.definition.version)
    const definition = change(existing.definition)
    if (definition === null) {
      return {
        status: 200,
        body: { taskId: existing.taskId, position: null, projected: true, task: publicTask(existing) },
      }
    }
    return answerWrite(existing.taskId, await deps.writer.putDefinition(definition), wait)
  }

  const updateSchema = <Body extends TSchema>(summary: string, body: Body) => ({
    config: { scope: 'write' as const },
    schema: {
      tags,
      summary,
      params: TaskParams,
      body,
      querystring: WriteQuery,
      response: { 200: WriteAnswer, 202: WriteAnswer, ...writeProblems },
    },
  })

  api.put(
    '/api/tasks/:id',
    updateSchema('Replace a task definition (If-Match: "<version>" guards against lost updates)', UpdateTaskBody),
    async (request, reply) => {
      const answer = await updateDefinition(
        request.params.id,
        request.headers['if-match'],
        request.query.wait,
        (current) => {
          const definition = definitionFromInput(current.taskId, request.body, ctx.nowMs(), current)
          assertValidDefinition(definition, limits)
          return definition
        },
      )
      return reply.code(answer.status).send(answer.body)
    },
  )

  api.put('/api/tasks/:id/status', updateSchema('Pause or resume a task', StatusBody), async (request, reply) => {
    const paused = request.body.status === 'PAUSED'
    const answer = await updateDefinition(
      request.params.id,
      request.headers['if-match'],
      request.query.wait,
      (current) =>
        current.paused === paused
          ? null
          : { ...current, paused, updatedAtMs: ctx.nowMs(), version: current.version + 1 },
    )
    return reply.code(answer.status).send(answer.body)
  })

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
      const existing = await existingTask(ctx, request.params.id)
      const answer = await answerWrite(
        existing.taskId,
        await deps.writer.deleteDefinition(existing.taskId),
        request.query.wait,
      )
      return reply.code(answer.status).send({ ...answer.body, task: null })
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

/** The task with a live definition, or 404 (TASK_NOT_FOUND). */
export async function existingTask(
  ctx: RouteContext,
  taskId: string,
): Promise<TaskView & { definition: TaskDefinition }> {
  const task = await ctx.deps.readModel.getTask(taskId)
  if (task === null || task.definition === null) {
    throw apiError(ApiErrorCodes.taskNotFound, `no task ${JSON.stringify(taskId)}`, 'id')
  }
  return task as TaskView & { definition: TaskDefinition }
}
