/**
 * The scheduler's error codes and how each maps to a dead-letter reason code. Processors throw a coded
 * FlextaskError; the task's dead-letter handler writes the original record with the reason mapped here.
 *
 * The codes not (yet) in errors.ts live here: an oversized payload, an invalid definition field outside the
 * schedule, an invalid command, an invalid result (no key, or a tombstone).
 */
import { Decisions, ErrorCodes, FlextaskError, decide } from '../errors.ts'
import { ErrorDecisions, type ErrorDecision, type FailedRecord } from '../topology/api.ts'

export const SchedulerErrorCodes = {
  definitionInvalid: 'FLEXTASK_DEFINITION_INVALID',
  oversized: 'FLEXTASK_DEFINITION_OVERSIZED',
  commandInvalid: 'FLEXTASK_COMMAND_INVALID',
  resultInvalid: 'FLEXTASK_RESULT_INVALID',
} as const

/** Dead-letter reason codes the scheduler writes: DeadLetterReasons plus the open codes INVALID_COMMAND and INVALID_RESULT. */
export const SchedulerReasons = {
  undecodable: 'UNDECODABLE',
  unknownSchema: 'UNKNOWN_SCHEMA',
  invalidDefinition: 'INVALID_DEFINITION',
  wrongPartition: 'WRONG_PARTITION',
  oversized: 'OVERSIZED',
  invalidCommand: 'INVALID_COMMAND',
  invalidResult: 'INVALID_RESULT',
  retriesExhausted: 'RETRIES_EXHAUSTED',
  processingFailed: 'PROCESSING_FAILED',
  abandoned: 'ABANDONED',
} as const

const reasonByCode: Readonly<Record<string, string>> = {
  [ErrorCodes.serdeDecode]: SchedulerReasons.undecodable,
  [ErrorCodes.serdeUnknownSchema]: SchedulerReasons.unknownSchema,
  [ErrorCodes.validation]: SchedulerReasons.invalidDefinition,
  [SchedulerErrorCodes.definitionInvalid]: SchedulerReasons.invalidDefinition,
  [ErrorCodes.wrongPartition]: SchedulerReasons.wrongPartition,
  [SchedulerErrorCodes.oversized]: SchedulerReasons.oversized,
  [SchedulerErrorCodes.commandInvalid]: SchedulerReasons.invalidCommand,
  [SchedulerErrorCodes.resultInvalid]: SchedulerReasons.invalidResult,
  [ErrorCodes.recordTooLarge]: SchedulerReasons.oversized,
}

/** The dead-letter reason for an error thrown while decoding or processing a record. */
export function reasonCodeFor(error: unknown): string {
  const code = (error as { code?: unknown } | null | undefined)?.code
  return (typeof code === 'string' ? reasonByCode[code] : undefined) ?? SchedulerReasons.processingFailed
}

/**
 * The scheduler's decision for an input record that failed (errors.ts `decide`): bad input and bugs are
 * dead-lettered with their reason; a transient error (registry down, a broker timeout, `retriable: true`) is
 * retried by aborting the cycle, never dead-lettered; a misconfiguration fails the instance.
 */
export function decideFailedRecord(failed: FailedRecord): ErrorDecision {
  return schedulerDecision(failed.error)
}

export function schedulerDecision(error: unknown): ErrorDecision {
  const decision = decide(error)
  if (decision === Decisions.retry) return ErrorDecisions.retry
  if (decision === Decisions.fail) return ErrorDecisions.fail
  return ErrorDecisions.deadLetter
}

/** An invalid input field; the message starts with the field path. */
export function invalidField(code: string, field: string, message: string, taskId?: string): FlextaskError {
  return new FlextaskError(code, `${field}: ${message}`, { context: { field, taskId } })
}
