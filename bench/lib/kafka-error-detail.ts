/**
 * A one-line description of a Kafka client error for a bench's failure report: the message plus every non-zero
 * per-partition error code found in the (possibly nested, AggregateError) responses, by protocol name.
 */
import { protocolErrorsCodesById } from '@platformatic/kafka'

export /** The error's message plus every non-zero per-partition error code in nested Kafka responses. */
function describeKafkaError(error: unknown): string {
  const codes = new Set<string>()
  const visit = (value: unknown, depth: number): void => {
    if (typeof value !== 'object' || value === null || depth > 6) return
    const v = value as { errors?: unknown[]; response?: { responses?: unknown[] } }
    for (const topic of (v.response?.responses ?? []) as { name?: string; partitionResponses?: unknown[] }[]) {
      for (const p of (topic.partitionResponses ?? []) as { index: number; errorCode: number }[]) {
        if (p.errorCode !== 0) {
          const name = protocolErrorsCodesById[p.errorCode] ?? 'UNKNOWN'
          codes.add(`${topic.name}[${p.index}]: ${name} (${p.errorCode})`)
        }
      }
    }
    for (const inner of v.errors ?? []) visit(inner, depth + 1)
  }
  visit(error, 0)
  const message = error instanceof Error ? error.message : String(error)
  return codes.size === 0 ? message : `${message} ${[...codes].join(', ')}`
}
