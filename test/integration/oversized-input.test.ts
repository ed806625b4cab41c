/**
 * An input too large to carry whole in a dead letter (a 2 MB definition on a definitions topic whose
 * max.message.bytes lets it in) is dead-lettered OVERSIZED with a capped prefix of its bytes, its size and its
 * SHA-256, and every other task keeps firing. On a9380b7 the dead letter carried the whole 2 MB original, the
 * broker refused it, and every cycle of the instance aborted: nothing fired anywhere (issue 7).
 */
import { createHash } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { SerdeRegistry } from '../../schemas/serde-registry.ts'
import { topicNames } from '../../topics.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { type CollectedRecord, testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import { decodeAll, produceDefinitions, startTestScheduler, taskDefinition, testSerdes } from '../helpers/scheduler.ts'

const partitions = 2
const prefix = uniqueName('ft-lv-oversized')
const topics = topicNames(prefix)
const { admin } = testAdmin()
const producer = testProducer()
let serdes: SerdeRegistry
let out: { records: CollectedRecord[]; close: () => Promise<void> }

beforeAll(async () => {
  // The definitions topic accepts 4 MB records; the scheduler's own topics keep the broker's 1 MiB default.
  await admin.createTopics({
    topics: [topics.definitions],
    partitions,
    replicas: 1,
    configs: [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'max.message.bytes', value: String(4 * 1024 * 1024) },
    ],
  })
  // The scheduler runs until the file ends (closed by startTestScheduler's cleanup).
  const running = await startTestScheduler({
    admin,
    prefix,
    partitions,
    instanceId: uniqueName('oversized-scheduler'),
    collectTopics: [topics.executions('http'), topics.deadLetter],
  })
  serdes = await testSerdes(schemaRegistryUrl, topics)
  out = running.out
})

describe('an input too large to dead-letter whole', () => {
  it('is dead-lettered OVERSIZED with a capped prefix, its size and hash; other tasks keep firing', async () => {
    const healthy = taskDefinition('healthy', { kind: 'INTERVAL', everyMs: 1000 })
    const huge = taskDefinition(
      'huge',
      { kind: 'INTERVAL', everyMs: 1000 },
      { payload: JSON.stringify('x'.repeat(2_000_000)) },
    )
    const hugeBytes = serdes.definition.serialize(huge)
    await produceDefinitions(producer, serdes.definition, topics.definitions, [healthy], partitions)
    await produceDefinitions(producer, serdes.definition, topics.definitions, [huge], partitions)
    const [dead] = await waitFor(
      'the dead letter of the huge definition',
      async () => {
        const found = await decodeAll(serdes.deadLetter, out.records, topics.deadLetter)
        return found.length > 0 ? found : undefined
      },
      60_000,
    )
    expect([dead?.reasonCode, dead?.taskId]).toEqual(['OVERSIZED', 'huge'])
    const sha256 = createHash('sha256').update(hugeBytes).digest('hex')
    expect(dead?.message).toContain(`[originalValue truncated: ${hugeBytes.length} bytes, sha256 ${sha256}`)
    expect(dead?.originalValue?.length).toBeLessThan(1_000_000)
    expect(dead?.originalValue?.equals(hugeBytes.subarray(0, dead.originalValue.length))).toBe(true)
    // Fires of the healthy task after the dead letter prove the instance was not stopped by it.
    const deadAtMs = dead?.failedAtMs ?? 0
    await waitFor(
      'three fires of the healthy task after the dead letter',
      async () => {
        const fired = await decodeAll(serdes.execution, out.records, topics.executions('http'))
        return fired.filter((e) => e.taskId === 'healthy' && e.firedAtMs > deadAtMs).length >= 3 ? true : undefined
      },
      30_000,
    )
    const fired = await decodeAll(serdes.execution, out.records, topics.executions('http'))
    expect(fired.some((e) => e.taskId === 'huge')).toBe(false)
  })
})
