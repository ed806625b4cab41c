/**
 * Issue 15 (fault suite, seed 4): a TRIGGER_NOW execution and a cron slot, committed by the scheduler on the same
 * partition, were never run: their task_runs rows stayed PENDING. The worker that kept the partition across a
 * rebalance dropped its queued records at the join (to re-fetch them from the committed offset), but a fetch in
 * flight at the join landed after the client's offset refresh and moved the stream past them; the next commit of
 * a higher offset skipped them for good. Here: executions produced without pause while workers join and leave the
 * group around a busy one; every execution must get its terminal result.
 */
import { Producer } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { HandlerRegistry } from '../../workers/handler.ts'
import { kafkaBrokers, uniqueName } from '../helpers/kafka.ts'
import { workerStack } from '../helpers/workers.ts'

const partitions = 6

function execution(taskId: string, n: number, nowMs: number): TaskExecution {
  return {
    executionId: `${taskId}:${n}`,
    taskId,
    attempt: 1,
    scheduledForMs: n,
    dueAtMs: nowMs,
    firedAtMs: nowMs,
    deadlineAtMs: null,
    priority: 0,
    category: 'internal',
    type: 'busy',
    payload: '{}',
    trigger: 'SCHEDULE',
    definitionVersion: 1,
    labels: {},
    tenant: null,
  }
}

describe('a worker across rebalances', () => {
  it('runs every execution it held when the group rebalanced, none skipped by a later commit', async () => {
    const stack = await workerStack(['internal'], partitions)
    const handlers = new HandlerRegistry().registerInternal('busy', async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 15))
      return { ran: ctx.executionId }
    })
    // Concurrency 2 keeps a queue of fetched, not yet started records on the busy worker: the ones a join drops.
    await stack.startWorker(handlers, { concurrency: 2, rebalanceHandoverMs: 100 })
    const producer = new Producer({ clientId: uniqueName('rejoin-load'), bootstrapBrokers: kafkaBrokers })
    const topic = stack.topics.executions('internal')
    const sent: string[] = []
    let producing = true
    const load = (async () => {
      for (let n = 0; producing; n++) {
        const messages = Array.from({ length: partitions * 2 }, (_, i) => {
          const e = execution(`rejoin-${i}`, n, Date.now())
          sent.push(e.executionId)
          return {
            topic,
            partition: partitionForKey(e.taskId, partitions),
            key: Buffer.from(e.taskId),
            value: stack.scheduler.serdes.execution.serialize(e),
          }
        })
        await producer.send({ messages })
        await new Promise((resolve) => setTimeout(resolve, 40))
      }
    })()
    try {
      // Each start and close of a second member rebalances the group while the first one holds a queue.
      for (let round = 0; round < 3; round++) {
        await new Promise((resolve) => setTimeout(resolve, 1_500))
        const { worker } = await stack.startWorker(handlers, { concurrency: 2, rebalanceHandoverMs: 100 })
        await new Promise((resolve) => setTimeout(resolve, 1_500))
        await worker.close()
      }
    } finally {
      producing = false
      await load
      await producer.close()
    }
    const results = await stack
      .waitForResults(
        `a terminal result for each of the ${sent.length} executions`,
        (rs) => new Set(rs.filter((r) => r.status === 'SUCCEEDED').map((r) => r.executionId)).size >= sent.length,
        90_000,
      )
      .catch(() => stack.results())
    const succeeded = new Set(results.filter((r) => r.status === 'SUCCEEDED').map((r) => r.executionId))
    const missing = sent.filter((id) => !succeeded.has(id))
    expect(missing, `executions without a result, of ${sent.length}`).toEqual([])
  }, 180_000)
})
