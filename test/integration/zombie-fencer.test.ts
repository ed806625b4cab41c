/**
 * The zombie fencer on the real broker (topology/zombie-fencer.ts): an instance that left the group with a
 * transaction open holds the committed offsets of its partitions (require_stable answers
 * UNSTABLE_OFFSET_COMMIT) until its transaction times out. Here that timeout is 60 s, so without fencing the
 * new owner would wait a minute; the fencer must release the partition at once (also when its first attempt
 * fails: a task open asks only once), and must leave an instance that is still a member alone.
 */
import {
  Admin,
  Consumer,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  Producer,
} from '@platformatic/kafka'
import { afterAll, expect, it } from 'vitest'
import { kafkaErrorIds } from '../../topology/kafka-errors.ts'
import { offsetsAdminOptions, resolveRuntimeOptions } from '../../topology/runtime-options.ts'
import { ZombieFencer } from '../../topology/zombie-fencer.ts'
import { kafkaBrokers, testAdmin, uniqueName, waitFor } from '../helpers/kafka.ts'

const { admin, createTopic } = testAdmin()
const clients: { close: (force?: boolean) => Promise<unknown> }[] = []
afterAll(async () => {
  for (const c of clients.reverse()) await c.close(true).catch(() => {})
})

/** A static member of `groupId` that consumes `topic` and remembers the last record of each partition. */
async function member(groupId: string, instanceId: string, topic: string) {
  const consumer = new Consumer({
    clientId: uniqueName(`zf-${instanceId}`),
    groupId,
    groupInstanceId: instanceId,
    bootstrapBrokers: kafkaBrokers,
    autocommit: false,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
  })
  clients.push(consumer)
  const last = new Map<number, Message>()
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
  })
  stream.on('data', (m: Message) => void last.set(m.partition, m))
  stream.on('error', () => undefined)
  return { consumer, last }
}

/** A transaction of `<groupId>-<instanceId>` (the runtime's transactional id) that commits `message`'s offset. */
async function openTransaction(groupId: string, instanceId: string, consumer: Consumer, message: Message) {
  const producer = new Producer({
    clientId: uniqueName(`zf-${instanceId}-producer`),
    bootstrapBrokers: kafkaBrokers,
    idempotent: true,
    transactionalId: `${groupId}-${instanceId}`,
    timeout: 60_000,
  })
  clients.push(producer)
  // -1/-1: see topology/eos-producer.ts, workaround 1.
  const transaction = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
  await transaction.addConsumer(consumer)
  await transaction.addOffset(message)
  return transaction
}

/** The group's committed offset of topic/partition with require_stable, or the Kafka error ids it failed with. */
async function stableOffset(
  groupId: string,
  topic: string,
  partition: number,
  client: Admin = admin,
): Promise<bigint | Set<string>> {
  try {
    const groups = await client.listConsumerGroupOffsets({
      groups: [{ groupId, topics: [{ name: topic, partitionIndexes: [partition] }] }],
      requireStable: true,
    })
    return groups[0]?.topics[0]?.partitions[0]?.committedOffset ?? -1n
  } catch (error) {
    return kafkaErrorIds(error)
  }
}

it('aborts at once the open transaction of an instance that left the group, and only that one, retrying a failed attempt', async () => {
  const topic = await createTopic('zf-in', { partitions: 2 })
  const groupId = uniqueName('zf-app')
  const dead = await member(groupId, 'dead', topic)
  const alive = await member(groupId, 'alive', topic)
  await waitFor('both members in a stable group', async () => {
    const group = (await admin.describeGroups({ groups: [groupId] })).get(groupId)
    return String(group?.state).toLowerCase() === 'stable' && group?.members.size === 2 ? true : undefined
  })
  // One record per partition, sent once the group is stable: each member receives the record of its own.
  const seed = new Producer({ clientId: uniqueName('zf-seed'), bootstrapBrokers: kafkaBrokers })
  clients.push(seed)
  await seed.send({
    messages: [0, 1].map((partition) => ({ topic, partition, key: Buffer.from('k'), value: Buffer.from('v') })),
  })
  // Each member's record of the partition it owns now (a stream may still deliver one of an earlier assignment).
  const own = (m: Awaited<ReturnType<typeof member>>): Message | undefined => {
    const partition = m.consumer.assignments?.[0]?.partitions[0]
    const message = partition === undefined ? undefined : m.last.get(partition)
    const generation = (message?.metadata.consumer as { generationId?: number } | undefined)?.generationId
    return generation === m.consumer.generationId ? message : undefined
  }
  const [deadMessage, aliveMessage] = await waitFor('each member to receive the record of its partition', () => {
    const [d, a] = [own(dead), own(alive)]
    return d !== undefined && a !== undefined && d.partition !== a.partition ? ([d, a] as const) : undefined
  })
  const deadTransaction = await openTransaction(groupId, 'dead', dead.consumer, deadMessage)
  const aliveTransaction = await openTransaction(groupId, 'alive', alive.consumer, aliveMessage)

  // The group lookup fails once while fencing, as a loaded coordinator's can: the fencer must try again.
  let failNextLookup = false
  const flakyAdmin = new Proxy(admin, {
    get(target, property) {
      if (property !== 'describeGroups') return Reflect.get(target, property, target) as unknown
      return (...args: Parameters<typeof admin.describeGroups>) => {
        if (failNextLookup) {
          failNextLookup = false
          return Promise.reject(new Error('describeGroups timed out (injected)'))
        }
        return target.describeGroups(...args)
      }
    },
  })
  const fencer = new ZombieFencer({
    admin: flakyAdmin,
    applicationId: groupId,
    bootstrapBrokers: kafkaBrokers,
    instanceId: 'survivor',
    transactionTimeoutMs: 10_000,
  })
  await fencer.observeMembers()
  // The dead instance goes away with its transaction open (its producer is never used again).
  await dead.consumer.close(true)
  await waitFor('the dead instance to leave the group', async () => {
    const groups = await admin.describeGroups({ groups: [groupId] })
    const ids = [...(groups.get(groupId)?.members.values() ?? [])].map((m) => m.groupInstanceId)
    return ids.includes('dead') ? undefined : true
  })
  let askedAt = performance.now()
  const held = await stableOffset(groupId, topic, deadMessage.partition)
  const hiddenMs = performance.now() - askedAt
  expect(
    held instanceof Set && held.has('UNSTABLE_OFFSET_COMMIT'),
    `require_stable answered ${held instanceof Set ? [...held].join(',') : held}`,
  ).toBe(true)
  // A client with its default retries hides the answer for seconds (nested retries of 1 s); the task opens'
  // admin (runtime-options.ts offsetsAdminOptions) sees it at once, so the open can have the zombie fenced
  // (issue 7: the hidden answer left a 19.7 s failover gap).
  const offsetsAdmin = new Admin(
    offsetsAdminOptions(
      resolveRuntimeOptions({ applicationId: groupId, bootstrapBrokers: kafkaBrokers, stateDir: '/tmp' }),
    ),
  )
  clients.push({ close: () => offsetsAdmin.close() })
  askedAt = performance.now()
  const seen = await stableOffset(groupId, topic, deadMessage.partition, offsetsAdmin)
  const seenMs = performance.now() - askedAt
  expect(seen instanceof Set && seen.has('UNSTABLE_OFFSET_COMMIT')).toBe(true)
  expect(hiddenMs).toBeGreaterThan(2_500)
  expect(seenMs).toBeLessThan(1_000)
  console.log(
    `UNSTABLE_OFFSET_COMMIT seen after ${Math.round(hiddenMs)} ms with client retries, ${Math.round(seenMs)} ms without`,
  )

  const startedAt = Date.now()
  failNextLookup = true
  expect(await fencer.fenceDeparted()).toEqual(['dead'])
  expect(failNextLookup, 'the injected failure happened').toBe(false)
  // The aborted transaction's offset is discarded: the partition has no committed offset, and it is stable.
  const released = await waitFor(
    'the dead instance partition to be stable',
    async () => {
      const offset = await stableOffset(groupId, topic, deadMessage.partition)
      return typeof offset === 'bigint' ? offset : undefined
    },
    10_000,
  )
  expect(released).toBe(-1n)
  expect(Date.now() - startedAt).toBeLessThan(10_000) // the dead producer's transaction timeout is 60 s

  // The member that is still in the group was not fenced: its transaction commits.
  await aliveTransaction.commit()
  expect(await stableOffset(groupId, topic, aliveMessage.partition)).toBe(aliveMessage.offset + 1n)
  // And the dead instance, were it a zombie, is fenced.
  await expect(deadTransaction.commit()).rejects.toThrow()
  // Nothing is left to fence.
  expect(await fencer.fenceDeparted()).toEqual([])
}, 90_000)
