/**
 * Issue 8, "a change committed before the instant wins": a PAUSE or CANCEL_EXECUTION whose transaction
 * committed before a slot's instant T always wins over that slot, however close to T it committed. The
 * scheduler reads its inputs up to their end as observed at or after T before firing the slots due at T
 * (topology/input-barrier.ts). Commands are committed ≈200 ms, ≈50 ms and ≈5 ms before their slot, many
 * times; each command's commit completion is timed, and every one that completed before T must have won.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Producer } from '@platformatic/kafka'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Scheduler } from '../../scheduler/scheduler.ts'
import type { TaskCommand } from '../../schemas/task-command.ts'
import { topicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { onCleanup } from '../helpers/cleanup.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { type CollectedRecord, kafkaBrokers, testAdmin, testProducer, uniqueName } from '../helpers/kafka.ts'
import { decodeAll, produceDefinitions, startTestScheduler, taskDefinition, testSerdes } from '../helpers/scheduler.ts'

const partitions = 3
const prefix = uniqueName('committed-before')
const topics = topicNames(prefix)
const { admin } = testAdmin()
const definitionsProducer = testProducer()
let app: Scheduler
let out: { records: CollectedRecord[]; close: () => Promise<void> }

beforeAll(async () => {
  ;({ app, out } = await startTestScheduler({
    admin,
    prefix,
    partitions,
    instanceId: uniqueName('committed-before'),
    collectTopics: [topics.executions('http')],
  }))
}, 120_000)

const leadsMs = [200, 50, 5] as const
const perLead = 30
const spacingMs = 250

interface Trial {
  taskId: string
  slotMs: number
  leadMs: number
  kind: 'PAUSE' | 'CANCEL_EXECUTION'
  committedAtMs?: number
}

describe('a command committed before a slot’s instant wins (real broker)', () => {
  it('PAUSE and CANCEL committed 200, 50 and 5 ms before the slot always win', { timeout: 180_000 }, async () => {
    const firstSlotMs = Date.now() + 8_000
    const trials: Trial[] = Array.from({ length: leadsMs.length * perLead }, (_, i) => ({
      taskId: `${prefix}-t${i}`,
      slotMs: firstSlotMs + i * spacingMs,
      leadMs: leadsMs[i % leadsMs.length] as number,
      kind: i % 2 === 0 ? 'PAUSE' : 'CANCEL_EXECUTION',
    }))
    const definitions = trials.map((t) =>
      taskDefinition(t.taskId, { kind: 'ONE_SHOT', atMs: t.slotMs }, { maxLatenessMs: 600_000 }),
    )
    const serdes = await testSerdes(schemaRegistryUrl, topics)
    await produceDefinitions(definitionsProducer, serdes.definition, topics.definitions, definitions, partitions)

    const producer = new Producer({
      clientId: uniqueName('commands'),
      bootstrapBrokers: kafkaBrokers,
      idempotent: true,
      transactionalId: uniqueName('commands-txn'),
      retryDelay: 20,
    })
    onCleanup(() => producer.close().catch(() => {}))
    // Warm up the transactional producer (InitProducerId, coordinator lookup) and measure a commit.
    const warm = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
    await warm.cancel()
    let commitMs = 15
    for (const trial of trials) {
      const command: TaskCommand = {
        commandId: `${trial.taskId}-cmd`,
        taskId: trial.taskId,
        kind: trial.kind,
        executionId: trial.kind === 'CANCEL_EXECUTION' ? `${trial.taskId}:${trial.slotMs}` : null,
        requestedAtMs: Date.now(),
        requestedBy: 'committed-before.test',
      }
      const value = app.serdes.command.serialize(command)
      // Aim the commit's completion at slot − lead, from the commit durations seen so far.
      const startAt = trial.slotMs - trial.leadMs - commitMs
      const wait = startAt - Date.now()
      if (wait > 0) await sleep(wait)
      const startedAt = Date.now()
      const tx = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
      await tx.send({
        messages: [
          {
            topic: topics.commands,
            partition: partitionForKey(trial.taskId, partitions),
            key: Buffer.from(trial.taskId),
            value,
          },
        ],
      })
      await tx.commit()
      trial.committedAtMs = Date.now()
      commitMs = Math.round(0.7 * commitMs + 0.3 * (trial.committedAtMs - startedAt))
    }
    await sleep(3_000)
    const executions = await decodeAll(app.serdes.execution, out.records, topics.executions('http'))
    const fired = new Set(executions.map((e) => e.executionId))
    const rows = leadsMs.map((lead) => {
      const of = trials.filter((t) => t.leadMs === lead)
      const before = of.filter((t) => (t.committedAtMs ?? Infinity) < t.slotMs)
      const lost = before.filter((t) => fired.has(`${t.taskId}:${t.slotMs}`))
      const margins = before.map((t) => t.slotMs - (t.committedAtMs as number)).sort((a, b) => a - b)
      return { lead, trials: of.length, committedBefore: before.length, lost: lost.map((t) => t.taskId), margins }
    })
    console.log(
      'committed-before:\n' +
        rows
          .map(
            (r) =>
              `  lead ${r.lead} ms: ${r.committedBefore}/${r.trials} committed before the slot ` +
              `(closest ${r.margins[0] ?? '-'} ms), lost ${r.lost.length}`,
          )
          .join('\n'),
    )
    for (const r of rows) expect(r.lost, `lead ${r.lead} ms: committed before T but the slot fired`).toEqual([])
    // The test means something only if close calls happened.
    const close = rows.find((r) => r.lead === 5)
    expect(close?.committedBefore ?? 0).toBeGreaterThan(perLead / 3)
    // Slots whose command committed after T may fire; none fired twice.
    expect(executions.length).toBe(fired.size)
  })
})
