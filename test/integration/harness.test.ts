import {
  ConfigResourceTypes,
  Consumer,
  FetchIsolationLevels,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  Producer,
} from '@platformatic/kafka'
import { afterAll, describe, expect, it } from 'vitest'
import { kafkaBrokers, testAdmin, uniqueName, waitFor } from '../helpers/kafka.ts'
import { createTestDatabase } from '../helpers/postgres.ts'

const { admin, createTopic } = testAdmin()
const db = await createTestDatabase()
const closers: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {})
})

describe('test harness against the real broker and Postgres', () => {
  it('creates a compacted topic with its config', async () => {
    const topic = await createTopic('compacted', {
      partitions: 3,
      configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' },
    })
    const [description] = await admin.describeConfigs({
      resources: [
        { resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: ['cleanup.policy'] },
      ],
    })
    expect(description?.configs.find((c) => c.name === 'cleanup.policy')?.value).toBe('compact')
    const metadata = await admin.metadata({ topics: [topic] })
    expect(metadata.topics.get(topic)?.partitionsCount).toBe(3)
  })

  it('shows a read_committed consumer only the committed transaction', async () => {
    const topic = await createTopic('txn')
    const producer = new Producer({
      clientId: uniqueName('txn-producer'),
      bootstrapBrokers: kafkaBrokers,
      idempotent: true,
      transactionalId: uniqueName('txn'),
      timeout: 30_000,
    })
    closers.push(() => producer.close())

    const committed = await producer.beginTransaction()
    await committed.send({ messages: [{ topic, key: Buffer.from('k'), value: Buffer.from('committed-1') }] })
    await committed.send({ messages: [{ topic, key: Buffer.from('k'), value: Buffer.from('committed-2') }] })
    await committed.commit()

    const aborted = await producer.beginTransaction()
    await aborted.send({ messages: [{ topic, key: Buffer.from('k'), value: Buffer.from('aborted') }] })
    await aborted.abort()

    const last = await producer.beginTransaction()
    await last.send({ messages: [{ topic, key: Buffer.from('k'), value: Buffer.from('committed-3') }] })
    await last.commit()

    const consumer = new Consumer({
      clientId: uniqueName('txn-consumer'),
      groupId: uniqueName('txn-group'),
      bootstrapBrokers: kafkaBrokers,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      autocommit: false,
      maxWaitTime: 200,
    })
    closers.push(() => consumer.close(true))
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    const seen: string[] = []
    stream.on('data', (message: { value: Buffer }) => seen.push(message.value.toString()))
    await waitFor('three committed records', () => (seen.length >= 3 ? true : undefined))
    // The stream keeps polling; the aborted record never shows up after the last committed one.
    const [end] = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? []
    expect(end).toBeGreaterThanOrEqual(6n) // 4 data records + 3 markers - LSO counts all
    expect(seen).toEqual(['committed-1', 'committed-2', 'committed-3'])
    await stream.close()
  })

  it('round-trips a row through a fresh Postgres database', async () => {
    await db.pool.query('CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL)')
    await db.pool.query('INSERT INTO t VALUES ($1, $2)', [1, 'hello'])
    const { rows } = await db.pool.query<{ note: string; db: string }>('SELECT note, current_database() AS db FROM t')
    expect(rows).toEqual([{ note: 'hello', db: expect.stringMatching(/^flextask_test_/) }])
  })
})
