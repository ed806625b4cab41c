/**
 * The handler module the fault suite's workers load (`flextask worker --handlers test/faults/fault-handlers.ts`):
 * `internal` type `probe` works for `payload.ms` (default 30 ms, honouring its signal), then fails with a retriable
 * FAULTS_PROBE_FAILED while `attempt <= payload.failUntilAttempt` (default 0), so a definition decides how many
 * attempts its executions take. Stateless on purpose: a redelivered attempt behaves exactly like the first delivery.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Type from 'typebox'
import { defineHandler, handlerError } from '../../workers/handler.ts'

export const probe = defineHandler({
  category: 'internal',
  type: 'probe',
  payloadSchema: Type.Object({
    ms: Type.Optional(Type.Integer({ minimum: 0 })),
    failUntilAttempt: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
  async execute(ctx) {
    await sleep(ctx.payload.ms ?? 30, undefined, { signal: ctx.signal })
    if (ctx.attempt <= (ctx.payload.failUntilAttempt ?? 0)) {
      throw handlerError('FAULTS_PROBE_FAILED', `attempt ${ctx.attempt} fails on purpose`, { retriable: true })
    }
    return { attempt: ctx.attempt }
  },
})
