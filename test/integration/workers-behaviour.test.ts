/**
 * Worker behaviour on the real broker, through the real scheduler: a timeout really stops the handler and the
 * attempt is retried; a rate limit holds under load (nothing dropped or failed); priorities order a backlog;
 * a graceful shutdown loses nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { HandlerRegistry } from '../../workers/handler.ts'
import { waitFor } from '../helpers/kafka.ts'
import { taskDefinition } from '../helpers/scheduler.ts'
import { workerStack } from '../helpers/workers.ts'

const retry = (maxAttempts: number) => ({
  maxAttempts,
  backoffBaseMs: 200,
  backoffFactor: 1,
  backoffMaxMs: 200,
  jitterRatio: 0,
})

describe('worker behaviour', () => {
  it('stops a handler at its deadline (signal fires, work stops), reports TIMED_OUT and runs the retry', async () => {
    const stack = await workerStack(['internal'])
    const steps = new Map<number, number>()
    const abortedAt = new Map<number, number>()
    const handlers = new HandlerRegistry().registerInternal('slow-on-first', async (ctx) => {
      if (ctx.attempt > 1) return { attempt: ctx.attempt }
      ctx.signal.addEventListener('abort', () => abortedAt.set(ctx.attempt, steps.get(ctx.attempt) ?? 0))
      for (;;) {
        ctx.signal.throwIfAborted()
        steps.set(ctx.attempt, (steps.get(ctx.attempt) ?? 0) + 1)
        await sleep(20, undefined, { signal: ctx.signal })
      }
    })
    await stack.startWorker(handlers)
    await stack.define([
      taskDefinition(
        'timeout-1',
        { kind: 'ONE_SHOT', atMs: Date.now() + 300 },
        {
          category: 'internal',
          type: 'slow-on-first',
          timeoutMs: 1500,
          retry: retry(2),
        },
      ),
    ])
    const results = await stack.waitForResults('the retry to succeed', (rs) => rs.some((r) => r.status === 'SUCCEEDED'))
    const statuses = results.map((r) => `${r.attempt}:${r.status}:${r.workerId === null ? 'scheduler' : 'worker'}`)
    expect(statuses.filter((s) => s.startsWith('1:'))).toContain('1:TIMED_OUT:worker')
    expect(statuses.at(-1)).toBe('2:SUCCEEDED:worker')
    const timedOut = results.find((r) => r.status === 'TIMED_OUT' && r.workerId !== null)!
    expect(timedOut.error).toMatchObject({ code: 'FLEXTASK_WORKER_TIMED_OUT', retriable: true })
    // The work stopped when the signal fired: no step after the abort.
    expect(abortedAt.get(1)).toBeDefined()
    await sleep(300)
    expect(steps.get(1)).toBe(abortedAt.get(1))
  })

  it('holds a rate limit under load: every execution runs, none faster than the bucket allows', async () => {
    const stack = await workerStack(['internal'])
    const starts: number[] = []
    const handlers = new HandlerRegistry().registerInternal('ping', () => {
      starts.push(Date.now())
      return null
    })
    await stack.startWorker(handlers, {
      concurrency: 50,
      limits: { perCategory: {}, perType: { 'internal/ping': { ratePerSecond: 10, burst: 2 } }, perTenant: {} },
    })
    const at = Date.now() + 500
    const defs = Array.from({ length: 30 }, (_, i) =>
      taskDefinition(
        `rate-${i}`,
        { kind: 'ONE_SHOT', atMs: at },
        { category: 'internal', type: 'ping', tenant: 'acme' },
      ),
    )
    await stack.define(defs)
    const results = await stack.waitForResults(
      'all 30 to succeed',
      (rs) => rs.filter((r) => r.status === 'SUCCEEDED').length === 30,
    )
    expect(results.filter((r) => r.status === 'FAILED' || r.status === 'DEAD')).toEqual([])
    starts.sort((a, b) => a - b)
    // Token bucket, 10/s with a burst of 2: any window of w ms holds at most 2 + 10·w/1000 starts.
    for (let i = 0; i < starts.length; i++) {
      for (let j = i; j < starts.length; j++) {
        const window = starts[j]! - starts[i]!
        expect(j - i + 1, `starts ${i}..${j} within ${window} ms`).toBeLessThanOrEqual(
          2 + Math.floor((10 * window) / 1000) + 1,
        )
      }
    }
    const spanMs = starts.at(-1)! - starts[0]!
    console.log(`rate limit 10/s burst 2: 30 starts over ${spanMs} ms`)
    expect(spanMs).toBeGreaterThanOrEqual(2500)
  })

  it('starts higher-priority executions first when a backlog of lower-priority ones waits', async () => {
    const stack = await workerStack(['internal'])
    let open: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (open = resolve))
    const order: string[] = []
    const handlers = new HandlerRegistry()
      .registerInternal('gate', () => gate)
      .registerInternal('work', (ctx) => {
        order.push(ctx.taskId)
        return null
      })
    const { runtime } = await stack.startWorker(handlers, { concurrency: 1 })
    await stack.define([
      taskDefinition('gate', { kind: 'ONE_SHOT', atMs: Date.now() + 200 }, { category: 'internal', type: 'gate' }),
    ])
    await waitFor('the gate to occupy the only slot', () => (runtime.runningCount === 1 ? true : undefined))
    const at = Date.now() + 300
    const low = Array.from({ length: 20 }, (_, i) =>
      taskDefinition(`low-${i}`, { kind: 'ONE_SHOT', atMs: at }, { category: 'internal', type: 'work', priority: 0 }),
    )
    const high = Array.from({ length: 3 }, (_, i) =>
      taskDefinition(
        `high-${i}`,
        { kind: 'ONE_SHOT', atMs: at + 50 },
        { category: 'internal', type: 'work', priority: 9 },
      ),
    )
    await stack.define([...low, ...high])
    await waitFor('the backlog to be fetched', () => (runtime.queued === 23 ? true : undefined))
    open()
    await waitFor('all 23 to run', () => (order.length === 23 ? true : undefined))
    expect(order.slice(0, 3).sort()).toEqual(['high-0', 'high-1', 'high-2'])
  })

  it('loses nothing on a graceful shutdown: finished ones commit, aborted ones are retried, queued ones are redelivered', async () => {
    const stack = await workerStack(['internal'])
    const runs: { taskId: string; attempt: number; worker: string; outcome: string }[] = []
    const handlers = (name: string, ms: number): HandlerRegistry =>
      new HandlerRegistry().registerInternal('job', async (ctx) => {
        try {
          await sleep(ctx.taskId.startsWith('long') ? ms * 4 : ms, undefined, { signal: ctx.signal })
          runs.push({ taskId: ctx.taskId, attempt: ctx.attempt, worker: name, outcome: 'done' })
        } catch (error) {
          runs.push({ taskId: ctx.taskId, attempt: ctx.attempt, worker: name, outcome: 'aborted' })
          throw error
        }
        return null
      })
    const a = await stack.startWorker(handlers('a', 400), { concurrency: 4, shutdownGraceMs: 600 })
    const at = Date.now() + 300
    const defs = [
      ...Array.from({ length: 2 }, (_, i) =>
        taskDefinition(
          `long-${i}`,
          { kind: 'ONE_SHOT', atMs: at },
          { category: 'internal', type: 'job', retry: retry(3) },
        ),
      ),
      ...Array.from({ length: 10 }, (_, i) =>
        taskDefinition(
          `short-${i}`,
          { kind: 'ONE_SHOT', atMs: at },
          { category: 'internal', type: 'job', retry: retry(3) },
        ),
      ),
    ]
    await stack.define(defs)
    await waitFor('a to run 4 at once with a backlog', () =>
      a.runtime.runningCount === 4 && a.runtime.queued > 0 ? true : undefined,
    )
    await a.worker.close()
    expect(
      runs
        .filter((r) => r.worker === 'a' && r.outcome === 'aborted')
        .map((r) => r.taskId)
        .sort(),
    ).toEqual(['long-0', 'long-1'])
    await stack.startWorker(handlers('b', 100), { concurrency: 4 })
    const results = await stack.waitForResults('every task to succeed', (rs) =>
      defs.every((d) => rs.some((r) => r.taskId === d.taskId && r.status === 'SUCCEEDED')),
    )
    const shutdownFailures = results.filter((r) => r.status === 'FAILED')
    expect(shutdownFailures.map((r) => r.taskId).sort()).toEqual(['long-0', 'long-1'])
    for (const f of shutdownFailures)
      expect(f.error).toMatchObject({ code: 'FLEXTASK_WORKER_SHUTDOWN', retriable: true })
    expect(results.filter((r) => r.status === 'DEAD')).toEqual([])
    // Every task ran to completion exactly once: a finished attempt is never run again.
    const done = runs
      .filter((r) => r.outcome === 'done')
      .map((r) => r.taskId)
      .sort()
    expect(done).toEqual(defs.map((d) => d.taskId).sort())
  })
})
