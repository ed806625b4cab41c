import { Producer } from '@platformatic/kafka'
import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { taskDefinition } from '../helpers/scheduler.ts'
import { collect, kafkaBrokers, uniqueName, waitFor } from '../helpers/kafka.ts'
import { workerStack } from '../helpers/workers.ts'
import { createMetrics, type Metrics } from '../../metrics.ts'
import { handlerError, HandlerRegistry } from '../../workers/handler.ts'

/** Waits until the metrics' text exposition has the sample `series value` (the counters move once Kafka acked). */
async function waitForSample(metrics: Metrics, series: string, value: number): Promise<void> {
  await waitFor(`${series} = ${value}`, async () =>
    (await metrics.render()).body.split('\n').includes(`${series} ${value}`) ? true : undefined,
  )
}

describe('worker runtime on a real broker, through the real scheduler', () => {
  it('runs internal functions to SUCCEEDED, retries a failing one until it succeeds, and fails a bad payload for good', async () => {
    const stack = await workerStack(['internal'])
    const calls = new Map<string, number>()
    const handlers = new HandlerRegistry()
      .registerInternal(
        'add',
        (ctx) => {
          const p = ctx.payload as { a: number; b: number }
          ctx.log.info('adding', { a: p.a, b: p.b })
          ctx.progress(0.5)
          return { sum: p.a + p.b, executionId: ctx.executionId }
        },
        Type.Object({ a: Type.Number(), b: Type.Number() }),
      )
      .registerInternal('flaky', (ctx) => {
        const n = (calls.get(ctx.executionId) ?? 0) + 1
        calls.set(ctx.executionId, n)
        if (n <= 2) throw handlerError('DEMO_FLAKY', `failure ${n} of 2`, { retriable: true })
        return { succeededOnAttempt: ctx.attempt }
      })
    const metrics = createMetrics()
    await stack.startWorker(handlers, {}, { metrics })
    const now = Date.now()
    const retry = { maxAttempts: 4, backoffBaseMs: 200, backoffFactor: 1, backoffMaxMs: 200, jitterRatio: 0 }
    await stack.define([
      taskDefinition(
        'add',
        { kind: 'ONE_SHOT', atMs: now + 500 },
        { category: 'internal', type: 'add', payload: '{"a":2,"b":3}' },
      ),
      taskDefinition('flaky', { kind: 'ONE_SHOT', atMs: now + 500 }, { category: 'internal', type: 'flaky', retry }),
      taskDefinition(
        'bad',
        { kind: 'ONE_SHOT', atMs: now + 500 },
        { category: 'internal', type: 'add', payload: '{"a":"x","b":1}', retry },
      ),
    ])
    const results = await stack.waitForResults('three executions to end', (rs) =>
      ['add', 'flaky', 'bad'].every((t) => rs.some((r) => r.taskId === t && ['SUCCEEDED', 'DEAD'].includes(r.status))),
    )
    const of = (taskId: string): string[] =>
      results.filter((r) => r.taskId === taskId).map((r) => `${r.attempt}:${r.status}`)
    expect(of('add')).toEqual(['1:STARTED', '1:SUCCEEDED'])
    const add = results.find((r) => r.taskId === 'add' && r.status === 'SUCCEEDED')!
    expect(JSON.parse(add.output!)).toEqual({ sum: 5, executionId: add.executionId })
    expect(add.workerId).toMatch(/^worker-.*-\d+$/)
    expect(add.durationMs).toBeGreaterThanOrEqual(0)
    expect(of('flaky')).toEqual(['1:STARTED', '1:FAILED', '2:STARTED', '2:FAILED', '3:STARTED', '3:SUCCEEDED'])
    const bad = results.filter((r) => r.taskId === 'bad')
    expect(bad.map((r) => `${r.attempt}:${r.status}`)).toEqual(['1:FAILED', '1:DEAD'])
    expect(bad[0]!.error).toMatchObject({ code: 'FLEXTASK_WORKER_PAYLOAD_INVALID', retriable: false })
    expect(bad[0]!.error!.message).toContain('payload.a')
    const logs = await stack.logs()
    const addLogs = logs.filter((l) => l.taskId === 'add')
    expect(addLogs.map((l) => [l.seq, l.level, l.message])).toEqual([
      [0, 'INFO', 'adding'],
      [1, 'INFO', 'progress 0.5'],
    ])
    expect(JSON.parse(addLogs[0]!.fields!)).toEqual({ a: 2, b: 3 })
    await waitForSample(
      metrics,
      'flextask_worker_executions_total{category="internal",type="add",status="SUCCEEDED"}',
      1,
    )
    await waitForSample(
      metrics,
      'flextask_worker_executions_total{category="internal",type="flaky",status="FAILED"}',
      2,
    )
    await waitForSample(metrics, 'flextask_worker_retries_total{category="internal",type="flaky"}', 2)
    await waitForSample(metrics, 'flextask_worker_executions_total{category="internal",type="add",status="FAILED"}', 1)
  })
})

describe('worker runtime and bad input', () => {
  it('dead-letters an undecodable execution with its reason and keeps running the good ones', async () => {
    const stack = await workerStack(['internal'])
    const handlers = new HandlerRegistry().registerInternal('ok', (ctx) => ({ ran: ctx.executionId }))
    const metrics = createMetrics()
    await stack.startWorker(handlers, {}, { metrics })
    const producer = new Producer({ clientId: uniqueName('wk-garbage'), bootstrapBrokers: kafkaBrokers })
    const deadLetters = await collect([stack.topics.deadLetter])
    try {
      await producer.send({
        messages: [
          {
            topic: stack.topics.executions('internal'),
            partition: 0,
            key: Buffer.from('garbage'),
            value: Buffer.from('not avro'),
          },
        ],
      })
      await stack.define([
        taskDefinition('good', { kind: 'ONE_SHOT', atMs: Date.now() + 300 }, { category: 'internal', type: 'ok' }),
      ])
      await stack.waitForResults('the good execution to succeed', (rs) =>
        rs.some((r) => r.taskId === 'good' && r.status === 'SUCCEEDED'),
      )
      const letters = await waitFor('the dead letter of the undecodable execution', async () => {
        const decoded = []
        for (const r of deadLetters.records)
          if (r.raw !== undefined) decoded.push(await stack.deps.serdes.deadLetter.deserialize(r.raw))
        const mine = decoded.filter((d) => d.sourceTopic === stack.topics.executions('internal'))
        return mine.length > 0 ? mine : undefined
      })
      expect(letters).toHaveLength(1)
      expect(letters[0]).toMatchObject({ reasonCode: 'UNDECODABLE', taskId: 'garbage', sourcePartition: 0 })
      expect(letters[0]!.originalValue?.toString()).toBe('not avro')
      expect(letters[0]!.message).toMatch(/^worker: /)
      await waitForSample(metrics, 'flextask_worker_dead_letters_total{reason="UNDECODABLE"}', 1)
    } finally {
      await deadLetters.close()
      await producer.close()
    }
  })
})
