/**
 * Sample values of every schema, typed with the hand-written TS types: the compiler checks them against the types
 * and the tests check them against the .avsc files, so the two cannot drift apart unnoticed. `full` sets every
 * nullable field, `sparse` leaves every nullable field null.
 */
import type { DeadLetter } from '../../../schemas/dead-letter.ts'
import type { SchemaVersion } from '../../../schemas/load-avsc.ts'
import type { Occurrence } from '../../../schemas/occurrence.ts'
import { deadLetterVersions } from '../../../schemas/dead-letter.ts'
import { OccurrenceOutcomes, occurrenceVersions } from '../../../schemas/occurrence.ts'
import { CommandKinds, taskCommandVersions, type TaskCommand } from '../../../schemas/task-command.ts'
import {
  FallBackRepeats,
  MisfirePolicies,
  OverlapPolicies,
  ScheduleKinds,
  taskDefinitionVersions,
  type TaskDefinition,
} from '../../../schemas/task-definition.ts'
import { emptySchedule } from '../../../schemas/task-definition-builder.ts'
import { ExecutionTriggers, taskExecutionVersions, type TaskExecution } from '../../../schemas/task-execution.ts'
import { ResultStatuses, taskResultVersions, type TaskResult } from '../../../schemas/task-result.ts'
import { LogLevels, taskLogVersions, type TaskLog } from '../../../schemas/task-log.ts'

const atMs = Date.UTC(2026, 0, 15, 9, 30)

export const taskDefinitionFull: TaskDefinition = {
  taskId: 'health-eu-1',
  name: 'EU health check',
  category: 'http',
  type: 'HealthCheck',
  payload: '{"url":"https://example.test/health"}',
  schedule: {
    kind: 'CRON',
    cron: '0 */5 * * * *',
    timezone: 'Europe/Berlin',
    everyMs: 300_000,
    atMs,
    delayMs: 60_000,
    startAtMs: atMs,
    endAtMs: atMs + 86_400_000,
    phaseMs: 1_000,
    maxRuns: 10,
    fallBackRepeat: 'BOTH_PASSES',
  },
  priority: 5,
  misfirePolicy: 'FIRE_ALL',
  maxLatenessMs: 120_000,
  overlapPolicy: 'BUFFER_ONE',
  jitterMs: 2_000,
  timeoutMs: 30_000,
  retry: { maxAttempts: 3, backoffBaseMs: 500, backoffFactor: 1.5, backoffMaxMs: 60_000, jitterRatio: 0.2 },
  paused: true,
  labels: { team: 'sre', region: 'eu' },
  tenant: 'acme',
  createdAtMs: atMs,
  updatedAtMs: atMs + 1,
  version: 4,
}

export const taskDefinitionSparse: TaskDefinition = {
  ...taskDefinitionFull,
  schedule: { ...emptySchedule },
  maxLatenessMs: null,
  timeoutMs: null,
  labels: {},
  tenant: null,
}

const taskCommandFull: TaskCommand = {
  commandId: 'cmd-1',
  taskId: 'health-eu-1',
  kind: 'CANCEL_EXECUTION',
  executionId: `health-eu-1:${atMs}`,
  requestedAtMs: atMs,
  requestedBy: 'alice',
}

const taskExecutionFull: TaskExecution = {
  executionId: `health-eu-1:${atMs}`,
  taskId: 'health-eu-1',
  attempt: 2,
  scheduledForMs: atMs,
  dueAtMs: atMs + 1_500,
  firedAtMs: atMs + 1_510,
  deadlineAtMs: atMs + 31_510,
  priority: 5,
  category: 'http',
  type: 'HealthCheck',
  payload: '{}',
  trigger: 'RETRY',
  definitionVersion: 4,
  labels: { team: 'sre' },
  tenant: 'acme',
}

const taskResultFull: TaskResult = {
  executionId: `health-eu-1:${atMs}`,
  taskId: 'health-eu-1',
  attempt: 2,
  status: 'FAILED',
  workerId: 'worker-7',
  startedAtMs: atMs + 1_600,
  finishedAtMs: atMs + 2_600,
  durationMs: 1_000,
  output: '{"status":503}',
  error: { code: 'HTTP_503', message: 'service unavailable', retriable: true },
}

const deadLetterFull: DeadLetter = {
  sourceTopic: 'flextask.task-definitions',
  sourcePartition: 3,
  sourceOffset: 2 ** 40,
  key: Buffer.from('health-eu-1'),
  originalValue: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
  reasonCode: 'UNDECODABLE',
  message: 'unknown magic byte 222',
  failedAtMs: atMs,
  taskId: 'health-eu-1',
  executionId: `health-eu-1:${atMs}`,
}

const occurrenceFull: Occurrence = {
  taskId: 'health-eu-1',
  scheduledForMs: atMs,
  executionId: `health-eu-1:${atMs}`,
  outcome: 'SKIPPED',
  reason: 'overlap SKIP: previous execution still running',
  recordedAtMs: atMs + 5,
}

export interface SchemaCase {
  name: string
  versions: readonly SchemaVersion[]
  full: object
  sparse: object
  /** Avro enum name → the TS tuple that mirrors it. */
  enums: Record<string, readonly string[]>
}

function nulled<T extends object>(value: T, fields: (keyof T)[]): T {
  return { ...value, ...Object.fromEntries(fields.map((field) => [field, null])) }
}

export const taskLogFull: TaskLog = {
  executionId: 'health-eu-1:1768469400000',
  taskId: 'health-eu-1',
  attempt: 2,
  seq: 0,
  level: 'WARN',
  message: 'upstream answered 503, retrying',
  fields: '{"status":503}',
  loggedAtMs: atMs + 250,
  workerId: 'worker-a',
}

export const schemaCases: SchemaCase[] = [
  {
    name: 'TaskDefinition',
    versions: taskDefinitionVersions,
    full: taskDefinitionFull,
    sparse: taskDefinitionSparse,
    enums: {
      ScheduleKind: ScheduleKinds,
      MisfirePolicy: MisfirePolicies,
      OverlapPolicy: OverlapPolicies,
      FallBackRepeat: FallBackRepeats,
    },
  },
  {
    name: 'TaskCommand',
    versions: taskCommandVersions,
    full: taskCommandFull,
    sparse: nulled(taskCommandFull, ['executionId', 'requestedBy']),
    enums: { CommandKind: CommandKinds },
  },
  {
    name: 'TaskExecution',
    versions: taskExecutionVersions,
    full: taskExecutionFull,
    sparse: nulled(taskExecutionFull, ['deadlineAtMs', 'tenant']),
    enums: { ExecutionTrigger: ExecutionTriggers },
  },
  {
    name: 'TaskResult',
    versions: taskResultVersions,
    full: taskResultFull,
    sparse: nulled(taskResultFull, ['workerId', 'startedAtMs', 'finishedAtMs', 'durationMs', 'output', 'error']),
    enums: { ResultStatus: ResultStatuses },
  },
  {
    name: 'DeadLetter',
    versions: deadLetterVersions,
    full: deadLetterFull,
    sparse: nulled(deadLetterFull, ['key', 'originalValue', 'taskId', 'executionId']),
    enums: {},
  },
  {
    name: 'Occurrence',
    versions: occurrenceVersions,
    full: occurrenceFull,
    sparse: nulled(occurrenceFull, ['executionId', 'reason']),
    enums: { OccurrenceOutcome: OccurrenceOutcomes },
  },
  {
    name: 'TaskLog',
    versions: taskLogVersions,
    full: taskLogFull,
    sparse: nulled(taskLogFull, ['fields', 'workerId']),
    enums: { LogLevel: LogLevels },
  },
]
