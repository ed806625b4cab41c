/**
 * How a task classifies a failed record when the topology's dead-letter spec leaves it open (stream-task.ts):
 * the decision errors.ts `decide` makes, and the reason code the thrower gave.
 */
import { decide, Decisions, type FlextaskError } from '../errors.ts'
import { ErrorDecisions, type ErrorDecision } from './api.ts'

/** Without a `decide` of the topology's own: errors.ts `decide`. */
export function defaultDecision(error: FlextaskError): ErrorDecision {
  switch (decide(error)) {
    case Decisions.retry:
      return ErrorDecisions.retry
    case Decisions.fail:
      return ErrorDecisions.fail
    case Decisions.reject:
      return ErrorDecisions.deadLetter
  }
}

/** The code the thrower gave (also an uncoded library's, e.g. 'POISON'), else the coerced one. */
export function ownCode(error: FlextaskError): string {
  const own = (error.cause as { code?: unknown } | undefined)?.code
  return typeof own === 'string' ? own : error.code
}
