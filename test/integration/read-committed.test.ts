/**
 * read_committed on the real broker: one producer aborts two transactions in a row (what the runtime does
 * when it retries a refused cycle with the same producer id) and then commits. Every read_committed reader
 * of the project must see only the committed records: the patched client (scripts/patch-platformatic-kafka.ts)
 * in one fetch and in a MessagesStream, and the changelog restorer.
 */
import { Consumer, FetchIsolationLevels, Producer, stringSerializers } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChangelogRestorer } from '../../topology/changelog-restorer.ts'
import { MemoryStoreBackend, TaskStores } from '../../topology/state-stores.ts'
import { collect, kafkaBrokers, testAdmin, uniqueName, waitFor } from '../helpers/kafka.ts'

const { createTopic } = testAdmin()
const clients: { close: () => Promise<unknown> }[] = []
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {})
})

/**
 * committed(a), aborted(b), aborted(c), committed(d) by ONE transactional producer. Committed cycles write
 * keys k1..k3, aborted ones their own keys (b1.., c1..), so an aborted record that leaks shows in the state.
 */
async function writeAbortedPattern(topic: string): Promise<void> {
  const producer = new Producer({
    clientId: uniqueName('rc-producer'),
    bootstrapBrokers: kafkaBrokers,
    idempotent: true,
    transactionalId: uniqueName('rc-txn'),
    serializers: stringSerializers,
  })
  clients.push(producer)
  const cycles: [string, 'commit' | 'abort'][] = [
    ['a', 'commit'],
    ['b', 'abort'],
    ['c', 'abort'],
    ['d', 'commit'],
  ]
  for (const [value, end] of cycles) {
    // -1/-1: see topology/eos-producer.ts (the client otherwise sends producer 0 / epoch 0).
    const tx = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
    await tx.send({
      messages: [1, 2, 3].map((i) => {
        const key = end === 'commit' ? `k${i}` : `${value}${i}`
        return { topic, partition: 0, key, value: `${value}-${key}` }
      }),
    })
    if (end === 'commit') await tx.commit()
    else await tx.abort()
  }
}

function consumer(): Consumer {
  const c = new Consumer({
    clientId: uniqueName('rc-reader'),
    groupId: uniqueName('rc-group'),
    bootstrapBrokers: kafkaBrokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  })
  clients.push(c)
  return c
}

describe('read_committed readers after two aborted transactions of one producer', () => {
  let topic = ''
  beforeAll(async () => {
    topic = await createTopic('rc-aborts')
    await writeAbortedPattern(topic)
  })

  it('a single read_committed fetch of the client returns only the committed records', async () => {
    const reader = consumer()
    const metadata = await reader.metadata({ topics: [topic] })
    const t = metadata.topics.get(topic)!
    const response = await reader.fetch({
      node: t.partitions[0]!.leader,
      topics: [
        {
          topicId: t.id,
          partitions: [
            { partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 },
          ],
        },
      ],
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 200,
      minBytes: 1,
      maxBytes: 1 << 20,
    })
    const partition = response.responses[0]!.partitions[0]!
    expect(partition.abortedTransactions?.length).toBe(2)
    const values = (partition.records ?? [])
      .filter((b) => (b.attributes & 0x20) === 0)
      .flatMap((b) => b.records.map((r) => r.value?.toString()))
    expect(values).toEqual(['a-k1', 'a-k2', 'a-k3', 'd-k1', 'd-k2', 'd-k3'])
  })

  it('a read_committed MessagesStream delivers only the committed records', async () => {
    const collected = await collect([topic])
    clients.push(collected)
    const values = await waitFor('the committed records', () =>
      collected.records.length >= 6 ? collected.records.map((r) => r.value) : undefined,
    )
    // Give a wrongly delivered aborted record time to show up.
    await new Promise((r) => setTimeout(r, 500))
    expect(collected.records.map((r) => r.value)).toEqual(values)
    expect(values).toEqual(['a-k1', 'a-k2', 'a-k3', 'd-k1', 'd-k2', 'd-k3'])
  })

  it('the changelog restorer restores exactly the committed state', async () => {
    const reader = consumer()
    const restorer = new ChangelogRestorer({ consumer: reader })
    const backend = new MemoryStoreBackend()
    const stores = new TaskStores(
      backend,
      new Map([['s', { serialize: (v: unknown) => Buffer.from(String(v)), deserialize: (b: Buffer) => b.toString() }]]),
      () => topic,
      0,
    )
    const ends = await restorer.endOffsets([topic], 0)
    await restorer.restoreTask(stores, 0, [{ store: 's', topic }], ends)
    const restored = await backend.range('s', {})
    expect(restored.map(([k, v]) => `${k}=${v.toString()}`)).toEqual(['k1=d-k1', 'k2=d-k2', 'k3=d-k3'])
  })
})
