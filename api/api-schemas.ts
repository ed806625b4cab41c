/**
 * Every request and response schema of the REST API, in one place (TypeBox, so the same objects validate requests
 * with Fastify's AJV, type the handlers and document the API in OpenAPI at /docs).
 *
 * Request schemas check shapes and types (400 naming the field: `schedule.everyMs: must be integer`); the rules
 * of a valid definition (cron, zone, categories, payload size, retry numbers) are the scheduler's own validator
 * (processors/definition-validator.ts), applied by the route, never repeated here.
 */
import { Type, type Static, type TSchema } from 'typebox'
import { MisfirePolicies, OverlapPolicies, ScheduleKinds } from '../schemas/task-definition.ts'

const Nullable = <T extends TSchema>(schema: T, options: { description?: string } = {}) =>
  Type.Union([schema, Type.Null()], options)

export const TaskId = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._~-]*$',
  description: 'Letters, digits, `.`, `_`, `~`, `-`; unique per cluster.',
})

export const ScheduleInput = Type.Object(
  {
    kind: Type.Union(ScheduleKinds.map((k) => Type.Literal(k))),
    cron: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    timezone: Type.Optional(Type.String({ maxLength: 64, description: 'IANA zone, default UTC' })),
    everyMs: Type.Optional(Nullable(Type.Integer())),
    atMs: Type.Optional(Nullable(Type.Integer())),
    delayMs: Type.Optional(Nullable(Type.Integer())),
    startAtMs: Type.Optional(Nullable(Type.Integer())),
    endAtMs: Type.Optional(Nullable(Type.Integer())),
    phaseMs: Type.Optional(Type.Integer()),
    maxRuns: Type.Optional(Nullable(Type.Integer())),
  },
  { additionalProperties: false },
)

export const RetryInput = Type.Object(
  {
    maxAttempts: Type.Optional(Type.Integer()),
    backoffBaseMs: Type.Optional(Type.Integer()),
    backoffFactor: Type.Optional(Type.Number()),
    backoffMaxMs: Type.Optional(Type.Integer()),
    jitterRatio: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
)

const taskFields = {
  name: Type.Optional(Type.String({ maxLength: 500 })),
  category: Type.String({ minLength: 1, maxLength: 100 }),
  type: Type.String({ minLength: 1, maxLength: 200 }),
  payload: Type.Optional(
    Type.Unknown({
      description:
        'Any JSON value, handed to the worker. Values of keys that look secret (password, token, authorization, ' +
        'api key, …) and of the paths listed in the label `flextask.secret-paths` are never returned by reads.',
    }),
  ),
  schedule: ScheduleInput,
  priority: Type.Optional(Type.Integer()),
  misfirePolicy: Type.Optional(Type.Union(MisfirePolicies.map((p) => Type.Literal(p)))),
  maxLatenessMs: Type.Optional(Nullable(Type.Integer())),
  overlapPolicy: Type.Optional(Type.Union(OverlapPolicies.map((p) => Type.Literal(p)))),
  jitterMs: Type.Optional(Type.Integer()),
  timeoutMs: Type.Optional(Nullable(Type.Integer())),
  retry: Type.Optional(RetryInput),
  paused: Type.Optional(Type.Boolean()),
  labels: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 500 }))),
  tenant: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
}

export const CreateTaskBody = Type.Object(
  { taskId: Type.Optional(TaskId), ...taskFields },
  { additionalProperties: false },
)
export type CreateTaskBody = Static<typeof CreateTaskBody>

export const UpdateTaskBody = Type.Object(taskFields, { additionalProperties: false })
export type UpdateTaskBody = Static<typeof UpdateTaskBody>

export const StatusBody = Type.Object(
  { status: Type.Union([Type.Literal('PAUSED'), Type.Literal('ACTIVE')]) },
  { additionalProperties: false },
)

export const ExecutionRefBody = Type.Object(
  { executionId: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })) },
  { additionalProperties: false },
)

export const TaskParams = Type.Object({ id: TaskId })
export const ExecutionParams = Type.Object({ executionId: Type.String({ minLength: 1, maxLength: 300 }) })

export const WriteQuery = Type.Object({
  wait: Type.Optional(
    Type.Boolean({
      description: 'Wait until the read model shows the write (default true); false answers 202 at once.',
    }),
  ),
})

export const ReadQuery = Type.Object({
  minOffset: Type.Optional(
    Type.String({
      pattern: '^[0-9]+:[0-9]+$',
      description: '`<partition>:<offset>` of the definitions topic, from a write answer: wait until it is projected.',
    }),
  ),
})

export const PageQuery = {
  page: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: '0-based' })),
  size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
}

export const ListTasksQuery = Type.Object({
  ...PageQuery,
  category: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  status: Type.Optional(
    Type.Union(
      ['ACTIVE', 'PAUSED', 'INVALID', 'UNKNOWN'].map((s) => Type.Literal(s)),
      {
        description: 'ACTIVE | PAUSED | INVALID | UNKNOWN',
      },
    ),
  ),
  label: Type.Optional(Type.String({ description: '`key=value`, or `key` for any value' })),
  tenant: Type.Optional(Type.String()),
  q: Type.Optional(Type.String({ maxLength: 200, description: 'substring of the task id or name' })),
  minOffset: ReadQuery.properties.minOffset,
})

export const RunsQuery = Type.Object({ ...PageQuery, minOffset: ReadQuery.properties.minOffset })

const Instant = Type.String({ description: 'UTC epoch milliseconds, or an ISO 8601 instant' })
export const OccurrencesQuery = Type.Object({
  from: Type.Optional(Instant),
  to: Type.Optional(Instant),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
})

export const NextQuery = Type.Object({ count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 10 })) })

export const DeadLettersQuery = Type.Object({
  ...PageQuery,
  taskId: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
})

// ---- responses -------------------------------------------------------------------------------------------------

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    instance: Type.Optional(Type.String()),
    field: Type.Optional(Type.String()),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
)

const RunCounts = Type.Object({
  total: Type.Integer(),
  pending: Type.Integer(),
  processing: Type.Integer(),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
  timedOut: Type.Integer(),
  dead: Type.Integer(),
  cancelled: Type.Integer(),
})

export const Task = Type.Object({
  taskId: Type.String(),
  name: Nullable(Type.String()),
  category: Nullable(Type.String()),
  type: Nullable(Type.String()),
  tenant: Nullable(Type.String()),
  labels: Type.Record(Type.String(), Type.String()),
  status: Type.String(),
  version: Nullable(Type.Integer()),
  definition: Nullable(
    Type.Object(
      {},
      { additionalProperties: true, description: 'The TaskDefinition; payload as JSON, secrets redacted' },
    ),
  ),
  createdAtMs: Nullable(Type.Number()),
  updatedAtMs: Nullable(Type.Number()),
  nextFireAtMs: Nullable(Type.Number()),
  lastScheduledForMs: Nullable(Type.Number()),
  runs: RunCounts,
  lastRun: Nullable(
    Type.Object({
      executionId: Type.String(),
      attempt: Type.Integer(),
      status: Type.String(),
      finishedAtMs: Nullable(Type.Number()),
    }),
  ),
})

export const Position = Type.Object({
  topic: Type.String(),
  partition: Type.Integer(),
  offset: Type.String(),
  token: Type.String({ description: '`<partition>:<offset>`, for `minOffset` on reads' }),
})

export const WriteAnswer = Type.Object({
  taskId: Type.String(),
  position: Nullable(Position, { description: 'null when nothing was written (a repeat, or no change)' }),
  projected: Type.Boolean({ description: 'true when the read model already shows this write' }),
  task: Type.Optional(Nullable(Task)),
})

export const CommandAnswer = Type.Object({
  taskId: Type.String(),
  commands: Type.Array(
    Type.Object({
      commandId: Type.String(),
      kind: Type.String(),
      executionId: Nullable(Type.String()),
      position: Position,
    }),
  ),
})

const Run = Type.Object({
  executionId: Type.String(),
  attempt: Type.Integer(),
  taskId: Type.String(),
  trigger: Nullable(Type.String()),
  status: Type.String(),
  worker: Nullable(Type.String()),
  scheduledForMs: Nullable(Type.Number()),
  dueAtMs: Nullable(Type.Number()),
  firedAtMs: Nullable(Type.Number()),
  startedAtMs: Nullable(Type.Number()),
  finishedAtMs: Nullable(Type.Number()),
  durationMs: Nullable(Type.Number()),
  error: Nullable(
    Type.Object({
      code: Nullable(Type.String()),
      message: Nullable(Type.String()),
      retriable: Nullable(Type.Boolean()),
    }),
  ),
  output: Nullable(Type.String()),
})

const pageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), page: Type.Integer(), size: Type.Integer(), total: Type.Integer() })

export const TaskPage = pageOf(Task)
export const RunPage = pageOf(Run)

export const Execution = Type.Object({
  executionId: Type.String(),
  taskId: Type.String(),
  attempts: Type.Array(Run),
  logs: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      seq: Type.Integer(),
      level: Type.String(),
      message: Type.String(),
      fields: Nullable(Type.Object({}, { additionalProperties: true })),
      loggedAtMs: Type.Number(),
      worker: Nullable(Type.String()),
    }),
  ),
})

export const Occurrences = Type.Object({
  taskId: Type.String(),
  fromMs: Type.Number(),
  toMs: Type.Number(),
  items: Type.Array(
    Type.Object({
      scheduledForMs: Type.Number(),
      outcome: Type.String(),
      reason: Nullable(Type.String()),
      executionId: Nullable(Type.String()),
      recordedAtMs: Type.Number(),
    }),
  ),
})

export const NextInstants = Type.Object({
  taskId: Type.String(),
  paused: Type.Boolean(),
  instants: Type.Array(Type.Object({ atMs: Type.Number(), at: Type.String() })),
})

export const DeadLetterPage = pageOf(
  Type.Object({
    topic: Type.String(),
    partition: Type.Integer(),
    offset: Type.String(),
    sourceTopic: Type.String(),
    sourcePartition: Type.Integer(),
    sourceOffset: Type.String(),
    reasonCode: Type.String(),
    message: Type.String(),
    taskId: Nullable(Type.String()),
    executionId: Nullable(Type.String()),
    failedAtMs: Type.Number(),
  }),
)

export const MonitorMetrics = Type.Object({
  tasksByStatus: Type.Record(Type.String(), Type.Integer()),
  runsByStatus: Type.Record(Type.String(), Type.Integer()),
  firesLastHour: Type.Integer(),
  failuresLastHour: Type.Integer(),
  latenessMs: Nullable(Type.Object({ p50: Type.Number(), p95: Type.Number(), p99: Type.Number(), max: Type.Number() })),
})

export const HealthAnswer = Type.Object({
  live: Type.Boolean(),
  ready: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), reasons: Type.Array(Type.String()) })),
})

/** The error answers every authenticated route may give, for the OpenAPI document. */
export const authProblems = { 401: Problem, 403: Problem, 429: Problem, 500: Problem, 503: Problem }
