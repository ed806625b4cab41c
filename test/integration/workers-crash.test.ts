/**
 * kill -9 of a worker mid-execution: the execution is redelivered to another worker of the group with the same
 * executionId and attempt, and the scheduler counts exactly one terminal result (no retry attempt, no DEAD).
 * The first worker is the real CLI (`flextask worker --categories internal --handlers …`) as a child process.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFailed } from 'vitest'
import { HandlerRegistry } from '../../workers/handler.ts'
import { waitFor } from '../helpers/kafka.ts'
import { taskDefinition } from '../helpers/scheduler.ts'
import { workerStack } from '../helpers/workers.ts'

const cli = fileURLToPath(new URL('../../cli/flextask.ts', import.meta.url))
const fixture = fileURLToPath(new URL('../fixtures/worker-handlers.ts', import.meta.url))

describe('a worker killed mid-execution', () => {
  it('redelivers the execution to another worker with the same executionId and attempt; one terminal result', async () => {
    const stack = await workerStack(['internal'])
    const child = spawn(process.execPath, [cli, 'worker', '--categories', 'internal', '--handlers', fixture], {
      env: { ...process.env, ...stack.env, FLEXTASK_INSTANCE_ID: 'crash-a', METRICS_PORT: '0', LOG_PRETTY: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const lines: string[] = []
    onTestFailed(() => console.log(`worker a:\n  ${lines.join('\n  ')}`))
    child.stdout.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)))
    child.stderr.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)))
    try {
      await waitFor(
        'worker a to serve',
        () => (lines.some((l) => l.includes('"msg":"worker serving"')) ? true : undefined),
        60_000,
      )
      await stack.define([
        taskDefinition(
          'crash-1',
          { kind: 'ONE_SHOT', atMs: Date.now() + 300 },
          {
            category: 'internal',
            type: 'slow',
            payload: '{"ms":4000}',
            retry: { maxAttempts: 3, backoffBaseMs: 200, backoffFactor: 1, backoffMaxMs: 200, jitterRatio: 0 },
          },
        ),
      ])
      const started = await waitFor('worker a to start the execution', () =>
        lines.find((l) => l.startsWith('started ')),
      )
      // Kill it once its STARTED is on Kafka (it is produced concurrently with the handler's start).
      await stack.waitForResults('worker a to report STARTED', (rs) => rs.some((r) => r.status === 'STARTED'))
      const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGKILL')
      await exit
      const [, executionId, attempt] = started.split(' ')

      const seen: { executionId: string; attempt: number }[] = []
      const registry = new HandlerRegistry().registerInternal('slow', (ctx) => {
        seen.push({ executionId: ctx.executionId, attempt: ctx.attempt })
        return { by: 'b' }
      })
      await stack.startWorker(registry)
      const results = await stack.waitForResults(
        'the redelivered execution to succeed',
        (rs) => rs.some((r) => r.status === 'SUCCEEDED'),
        60_000,
      )
      expect(seen).toEqual([{ executionId, attempt: Number(attempt) }])
      // Let the scheduler see the result, then count: one terminal result, attempt 1 only, no DEAD.
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const all = await stack.results()
      expect(all.filter((r) => r.status !== 'STARTED').map((r) => `${r.attempt}:${r.status}`)).toEqual(['1:SUCCEEDED'])
      expect(all.every((r) => r.executionId === executionId && r.attempt === 1)).toBe(true)
      expect(all.filter((r) => r.status === 'STARTED').map((r) => r.workerId?.startsWith('crash-a'))).toEqual([
        true,
        false,
      ])
      expect(results.length).toBeGreaterThanOrEqual(3)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })
})
