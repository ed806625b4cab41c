/**
 * The registry away while a record needs a schema lookup (issue 15; guarantee 8): a command with a schema id the
 * scheduler has never seen arrives on one partition while the registry refuses every connection for 10 s. The
 * record is waited out, not dead-lettered, until the registry answers (then UNKNOWN_SCHEMA, once), and only its own
 * partition's input waits: every-second crons on the other partitions fire on time throughout (no slot later than
 * 3 s, lateness from the broker's LogAppendTime), and every slot of every cron fires exactly once. Before, the
 * lookup failure aborted the cycle of every partition, so nothing fired anywhere until the registry was back.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DeadLetter } from '../../schemas/dead-letter.ts'
import type { SerdeRegistry } from '../../schemas/serde-registry.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { topicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { collect, testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import {
  decodeAll,
  firstAppendTimes,
  deletePrefixTopics,
  killHard,
  produceDefinitions,
  spawnScheduler,
  taskDefinition,
  testSerdes,
  waitForCronsPast,
} from '../helpers/scheduler.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'

const partitions = 3
const outageMs = 10_000
const maxLatenessMs = 3_000
const prefix = uniqueName('ft-reg-outage')
const topics = topicNames(prefix)
const stateDir = mkdtempSync(join(tmpdir(), 'flextask-reg-outage-'))
const { admin } = testAdmin()
const producer = testProducer()
const cleanups: (() => Promise<unknown>)[] = []
let proxy: TcpProxy
let serdes: SerdeRegistry

/** One every-second cron per partition. */
const crons: string[] = []
for (let i = 0; crons.length < partitions; i++) {
  const id = `outage-cron-${i}`
  if (!crons.some((c) => partitionForKey(c, partitions) === partitionForKey(id, partitions))) crons.push(id)
}

beforeAll(async () => {
  cleanups.push(() => deletePrefixTopics(admin, prefix))
  await admin.createTopics({
    topics: [topics.executions('internal')],
    partitions,
    replicas: 1,
    configs: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
  })
  const registry = new URL(schemaRegistryUrl)
  proxy = await startTcpProxy(registry.hostname, Number(registry.port))
  cleanups.push(() => proxy.close())
  serdes = await testSerdes(schemaRegistryUrl, topics)
})

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  rmSync(stateDir, { recursive: true, force: true })
})

describe('the registry away while a record needs a schema lookup', () => {
  it('waits out only that partition; crons on the others fire on time; the record is dead-lettered after', async () => {
    const proxied = new URL(schemaRegistryUrl)
    proxied.port = String(proxy.port)
    const scheduler = spawnScheduler('registry-outage', {
      FLEXTASK_TOPIC_PREFIX: prefix,
      FLEXTASK_PARTITIONS: String(partitions),
      FLEXTASK_CATEGORIES: 'internal',
      FLEXTASK_STATE_DIR: stateDir,
      FLEXTASK_INSTANCE_ID: uniqueName('outage-scheduler'),
      SCHEMA_REGISTRY_URL: proxied.toString(),
    })
    cleanups.push(() => killHard(scheduler))
    await scheduler.running(120_000)
    const out = await collect([topics.executions('internal'), topics.deadLetter])
    cleanups.push(out.close)
    const definitions = crons.map((id) =>
      taskDefinition(id, { kind: 'CRON', cron: '* * * * * *' }, { category: 'internal', type: 'tick' }),
    )
    await produceDefinitions(producer, serdes.definition, topics.definitions, definitions, partitions)
    const executions = (): Promise<TaskExecution[]> =>
      decodeAll<TaskExecution>(serdes.execution, out.records, topics.executions('internal'))
    await waitFor('every cron to fire three times', async () => {
      const all = await executions()
      return crons.every((id) => all.filter((e) => e.taskId === id).length >= 3) ? true : undefined
    })

    const badKey = 'outage-bad-command'
    const badPartition = partitionForKey(badKey, partitions)
    const value = Buffer.from(
      serdes.command.serialize({
        commandId: 'c',
        taskId: badKey,
        kind: 'TRIGGER_NOW',
        executionId: null,
        requestedAtMs: Date.now(),
        requestedBy: null,
      }),
    )
    value.writeInt32BE(1_987_654_321, 1) // never registered, never looked up before
    proxy.setMode('refuse')
    const outageStartMs = Date.now()
    await producer.send({
      messages: [{ topic: topics.commands, partition: badPartition, key: Buffer.from(badKey), value }],
    })
    await sleep(outageMs) // the fault itself: the registry refuses connections this long
    const deadDuringOutage = out.records.filter((r) => r.topic === topics.deadLetter).length
    proxy.setMode('up')
    const outageEndMs = Date.now()
    const [letter] = await waitFor('the dead letter of the bad command', async () => {
      const d = await decodeAll<DeadLetter>(serdes.deadLetter, out.records, topics.deadLetter)
      return d.length > 0 ? d : undefined
    })
    const lastSlotMs = Math.floor(Date.now() / 1000) * 1000 + 2000
    const all = await waitForCronsPast('the crons to fire past the outage', crons, lastSlotMs, executions)

    const appendedAt = await firstAppendTimes(serdes.execution, out.records, topics.executions('internal'))
    const lateness = (onBadPartition: boolean): number[] =>
      all
        .filter((e) => e.attempt === 1 && e.scheduledForMs >= outageStartMs && e.scheduledForMs <= outageEndMs)
        .filter((e) => (partitionForKey(e.taskId, partitions) === badPartition) === onBadPartition)
        .map((e) => (appendedAt.get(e.executionId) ?? Infinity) - e.scheduledForMs)
        .sort((a, b) => a - b)
    const others = lateness(false)
    const same = lateness(true)
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
    console.log(
      `registry-outage: ${outageMs} ms outage; other partitions ${others.length} slots, lateness max ` +
        `${others.at(-1)} ms; the waiting partition ${same.length} slots, lateness max ${same.at(-1)} ms; ` +
        `dead letter ${Date.now() - outageEndMs} ms after; load ${load}`,
    )

    expect(deadDuringOutage).toBe(0) // good or bad, nothing is dead-lettered while the registry cannot answer
    expect(letter).toMatchObject({
      sourceTopic: topics.commands,
      sourcePartition: badPartition,
      reasonCode: 'UNKNOWN_SCHEMA',
    })
    expect(out.records.filter((r) => r.topic === topics.deadLetter)).toHaveLength(1)
    expect(others.length).toBeGreaterThanOrEqual(2 * Math.floor(outageMs / 1000) - 2)
    expect(others.at(-1)).toBeLessThanOrEqual(maxLatenessMs)
    const counts = new Map<string, number>()
    for (const e of all.filter((x) => x.attempt === 1)) counts.set(e.executionId, (counts.get(e.executionId) ?? 0) + 1)
    expect([...counts].filter(([, n]) => n > 1)).toEqual([])
    for (const id of crons) {
      const mine = [...new Set(all.filter((e) => e.taskId === id).map((e) => e.scheduledForMs))].sort((a, b) => a - b)
      expect([id, mine.slice(1).filter((s, i) => s - (mine[i] as number) !== 1000)]).toEqual([id, []])
    }
    expect(scheduler.exited()).toBe(false)
  }, 240_000)
})
