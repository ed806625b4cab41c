/**
 * The README's example of another system consuming flextask.task-results (examples/results-consumer.ts, kafkajs +
 * @kafkajs/confluent-schema-registry, read_committed) runs against the real broker and registry: it sees the
 * SUCCEEDED of one task and the DEAD of another, both produced by the real scheduler and worker. The README shows
 * this file verbatim (checked here too).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { consumeResults, type FlextaskResult } from '../../examples/results-consumer.ts'
import { handlerError, HandlerRegistry } from '../../workers/handler.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { kafkaBrokers, uniqueName, waitFor } from '../helpers/kafka.ts'
import { taskDefinition } from '../helpers/scheduler.ts'
import { workerStack } from '../helpers/workers.ts'

describe('the results-consumer example', () => {
  it('is in the README verbatim', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const example = readFileSync(new URL('../../examples/results-consumer.ts', import.meta.url), 'utf8')
    expect(readme).toContain(example.trim())
  })

  it('acts on SUCCEEDED and DEAD results from the real scheduler and worker', async () => {
    const stack = await workerStack(['internal'])
    const handlers = new HandlerRegistry()
      .registerInternal('invoice', () => ({ invoice: 'INV-1' }))
      .registerInternal('broken', () => {
        throw handlerError('BILLING_REJECTED', 'customer is closed', { retriable: false })
      })
    await stack.startWorker(handlers)
    const succeeded: FlextaskResult[] = []
    const dead: FlextaskResult[] = []
    const stop = await consumeResults({
      brokers: kafkaBrokers,
      registryUrl: schemaRegistryUrl,
      topic: stack.topics.results,
      groupId: uniqueName('billing'),
      onSucceeded: (r) => void succeeded.push(r),
      onDead: (r) => void dead.push(r),
    })
    try {
      const at = Date.now() + 300
      await stack.define([
        taskDefinition('invoice-1', { kind: 'ONE_SHOT', atMs: at }, { category: 'internal', type: 'invoice' }),
        taskDefinition('broken-1', { kind: 'ONE_SHOT', atMs: at }, { category: 'internal', type: 'broken' }),
      ])
      await waitFor(
        'the example to see both outcomes',
        () => (succeeded.length === 1 && dead.length === 1 ? true : undefined),
        60_000,
      )
      expect(succeeded[0]).toMatchObject({
        taskId: 'invoice-1',
        attempt: 1,
        status: 'SUCCEEDED',
        output: '{"invoice":"INV-1"}',
      })
      expect(dead[0]).toMatchObject({ taskId: 'broken-1', status: 'DEAD' })
    } finally {
      await stop()
    }
  })
})
