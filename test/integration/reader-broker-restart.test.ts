/**
 * A read_committed reader across a broker restart, on a broker of its own (two free ports, a fresh data
 * directory). Before the stream patch (scripts/patch-platformatic-kafka.ts, retriable-fetch), the client's
 * MessagesStream destroyed itself once a fetch had failed through its few retries, and a reader that kept the
 * stream (the stress loop's audit, a test's `collect`) read nothing more: 382 of 2,000 records while kafkajs
 * read them all. Committed and aborted transactions of one producer surround the restart, so the aborted
 * transaction filter is checked across it too.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin, Producer, stringSerializers } from '@platformatic/kafka'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createKafkaClientFactory } from '../../kafka-clients.ts'
import { freePorts } from '../helpers/free-port.ts'
import { collect, uniqueName, waitFor } from '../helpers/kafka.ts'
import { ownBroker } from '../helpers/own-broker.ts'

const fixedPort = process.env.FLEXTASK_READER_KAFKA_PORT
const [port, controllerPort] = fixedPort === undefined ? await freePorts(2) : [Number(fixedPort), Number(fixedPort) + 1]
const broker = ownBroker(port!, 'reader', controllerPort)
const brokers = broker.brokers
const cleanups: (() => Promise<unknown>)[] = []

beforeAll(() => broker.startFresh(), 180_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  broker.remove()
}, 120_000)

it('a read_committed stream keeps reading after the broker restarts, committed records once, aborted never', async () => {
  const admin = new Admin({ clientId: uniqueName('reader-admin'), bootstrapBrokers: brokers })
  cleanups.push(() => admin.close())
  const topic = uniqueName('reader-in')
  await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 })
  const producer = new Producer({
    clientId: uniqueName('reader-producer'),
    bootstrapBrokers: brokers,
    idempotent: true,
    transactionalId: uniqueName('reader-txn'),
    serializers: stringSerializers,
  })
  cleanups.push(() => producer.close())
  /** One transaction of 30 records over the 3 partitions, keys `<label>-<i>`, retried while the broker loads. */
  const transaction = async (label: string, end: 'commit' | 'abort'): Promise<void> => {
    await waitFor(
      `transaction ${label}`,
      async () => {
        // -1/-1: see topology/eos-producer.ts, workaround 1.
        const tx = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
        try {
          await tx.send({
            messages: Array.from({ length: 30 }, (_, i) => ({
              topic,
              partition: i % 3,
              key: `${label}-${i}`,
              value: end,
            })),
          })
          await (end === 'commit' ? tx.commit() : tx.abort())
          return true
        } catch (error) {
          await tx.abort().catch(() => {})
          throw error
        }
      },
      60_000,
    )
  }
  const reader = await collect([topic], createKafkaClientFactory({ bootstrapBrokers: brokers }))
  cleanups.push(reader.close)
  await transaction('a', 'commit')
  await transaction('b', 'abort')
  await waitFor('the first committed transaction', () => (reader.records.length >= 30 ? true : undefined))

  broker.command('stop')
  await sleep(8_000) // past the client's retries (3 × 1 s), which used to end the stream
  broker.command('start')
  await transaction('c', 'abort')
  await transaction('d', 'commit')
  await transaction('e', 'commit')

  const keys = await waitFor(
    'the reader to read past the restart',
    () => (reader.records.length >= 90 ? reader.records.map((r) => r.key ?? '') : undefined),
    60_000,
  )
  await sleep(1_000) // anything aborted or repeated would arrive meanwhile
  const all = reader.records.map((r) => r.key ?? '')
  expect(all.filter((k) => !/^[ade]-/.test(k)).slice(0, 10), 'aborted records delivered').toEqual([])
  expect(all.length - new Set(all).size, 'records delivered twice').toBe(0)
  expect(new Set(keys).size).toBe(90)
}, 300_000)
