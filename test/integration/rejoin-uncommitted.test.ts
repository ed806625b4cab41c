/**
 * Review C7 on the real broker: after a rejoin, records could be skipped on a partition that has no committed
 * offset yet. The client refreshes a MessagesStream's fetch positions from the committed offsets on a join; a
 * partition without one keeps the position the stream had reached, so records fetched before the join but
 * never committed (the runtime drops its inbox on a join) would not be delivered again.
 *
 * The control half shows that mechanism on this client (a stream kept across the join stays where it was);
 * the other half shows why it cannot bite the runtime any more: every applied join restarts the input with a
 * new stream (RecordBuffer.restart, called from StreamRuntime's join handling), whose positions start empty
 * and are seeded from the committed offset or, without one, the log start.
 */
import { Consumer, FetchIsolationLevels, MessagesStreamFallbackModes, MessagesStreamModes } from '@platformatic/kafka'
import { afterAll, describe, expect, it } from 'vitest'
import { RecordBuffer } from '../../topology/record-buffer.ts'
import { kafkaBrokers, testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'

const { createTopic } = testAdmin()
const closers: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {})
})

function groupConsumer(groupId: string): Consumer {
  const consumer = new Consumer({
    clientId: uniqueName('c7'),
    groupId,
    bootstrapBrokers: kafkaBrokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 100,
    sessionTimeout: 6_000,
    heartbeatInterval: 500,
  })
  closers.push(() => consumer.close(true))
  return consumer
}

interface Join {
  generation: number
  partitions: Set<number>
}

describe('a rejoin never skips records of a partition without a committed offset (review C7)', () => {
  it('restarts the input from the log start after a join; a stream kept across it would resume where it was', async () => {
    const topic = await createTopic('c7-in', { partitions: 2 })
    await testProducer().send({
      messages: [0, 1].flatMap((partition) =>
        Array.from({ length: 10 }, (_, i) => ({
          topic,
          partition,
          key: Buffer.from(`k${i}`),
          value: Buffer.from('v'),
        })),
      ),
    })
    const groupId = uniqueName('c7-group')
    const a = groupConsumer(groupId)
    // What the log holds per partition (a producer that saw the new topic's metadata late may place differently).
    const ends = (await a.listOffsets({ topics: [topic] })).get(topic) as bigint[]
    expect(ends.every((end) => end > 0n)).toBe(true)
    const all = (p: number) => Array.from({ length: Number(ends[p]) }, (_, i) => BigInt(i))
    const joins: Join[] = []
    a.on('consumer:group:join', (e: { generationId: number; assignments?: { partitions: number[] }[] }) =>
      joins.push({ generation: e.generationId, partitions: new Set(e.assignments?.flatMap((x) => x.partitions)) }),
    )
    const buffer = new RecordBuffer({
      consumer: a,
      topics: [topic],
      maxBufferedRecords: 1_000,
      maxBufferedBytes: 1024 * 1024,
      onRecords: () => {},
      onError: () => {},
    })
    closers.push(() => buffer.stop())
    await buffer.restart(-1, new Set())
    const first = await waitFor('A to join', () => joins[0])
    await buffer.restart(first.generation, first.partitions)
    // A takes (processes) every record of both partitions and never commits: the group has no offsets.
    const taken = new Map<number, bigint[]>([
      [0, []],
      [1, []],
    ])
    await waitFor('A to read both partitions', () => {
      for (const [p, offsets] of taken) offsets.push(...buffer.take(p, 100).map((m) => m.offset))
      return [...taken].every(([p, o]) => o.length >= all(p).length) ? true : undefined
    })
    for (const [p, offsets] of taken) expect(offsets).toEqual(all(p))

    // B joins the group: a rebalance; A keeps one partition, still without a committed offset.
    const b = groupConsumer(groupId)
    const bStream = await b.consume({
      topics: [topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    closers.push(() => bStream.close())
    const second = await waitFor('A to join the next generation', () =>
      joins.find((j) => j.generation > first.generation && j.partitions.size === 1),
    )
    const [kept] = [...second.partitions] as [number]

    // Control: the stream A had before the join is still at the end of the kept partition once the client has
    // refreshed its positions — the mechanism of C7 (records fetched but not committed are not redelivered).
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(buffer.fetchedUpTo(topic, kept)).toBe(ends[kept])

    // What the runtime does on every join: a new stream, which starts at the log start (no committed offset).
    await buffer.restart(second.generation, second.partitions)
    const again: bigint[] = []
    await waitFor('the kept partition to be read again from its start', () => {
      again.push(...buffer.take(kept, 100).map((m) => m.offset))
      return again.length >= all(kept).length ? true : undefined
    })
    expect(again).toEqual(all(kept))
  })
})
