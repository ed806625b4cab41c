/**
 * Consumer lag on the real broker: the worker and sink groups' committed offsets behind the end of their topics,
 * per partition, as the process's /metrics reports them (host/consumer-lag-collector.ts over kafka-lag.ts).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { createKafkaClientFactory } from '../../kafka-clients.ts'
import { createMetrics } from '../../metrics.ts'
import { collectConsumerLag, laggingGroups } from '../../host/consumer-lag-collector.ts'
import { sinkGroupId, topicNames, workerGroupId } from '../../topics.ts'
import { kafkaBrokers, testAdmin, testProducer, uniqueName } from '../helpers/kafka.ts'

const { admin } = testAdmin()
const producer = testProducer()
const prefix = uniqueName('lag')
const topics = topicNames(prefix)
const created = [topics.executions('http'), topics.results]

afterAll(async () => {
  await admin.deleteTopics({ topics: created }).catch(() => {})
  for (const group of [workerGroupId('http', prefix), sinkGroupId(prefix)]) {
    await admin.deleteGroups({ groups: [group] }).catch(() => {})
  }
})

async function produce(topic: string, partition: number, count: number): Promise<void> {
  const messages = Array.from({ length: count }, (_, i) => ({
    topic,
    partition,
    key: Buffer.from(`k${i}`),
    value: Buffer.from('v'),
  }))
  await producer.send({ messages })
}

describe('consumer lag of the worker and sink groups', () => {
  it('reports each partition’s records past the committed offset, only for the components the process hosts', async () => {
    await admin.createTopics({ topics: created, partitions: 2, replicas: 1 })
    await produce(topics.executions('http'), 0, 5)
    await produce(topics.executions('http'), 1, 2)
    await produce(topics.results, 1, 4)
    await admin.alterConsumerGroupOffsets({
      groupId: workerGroupId('http', prefix),
      topics: [
        {
          name: topics.executions('http'),
          partitionOffsets: [
            { partition: 0, offset: 2n },
            { partition: 1, offset: 2n },
          ],
        },
      ],
    })
    await admin.alterConsumerGroupOffsets({
      groupId: sinkGroupId(prefix),
      topics: [{ name: topics.results, partitionOffsets: [{ partition: 1, offset: 1n }] }],
    })

    const metrics = createMetrics()
    const config = { topics: { prefix, partitions: 2, categories: ['http', 'email'] } }
    const groups = laggingGroups(['scheduler', 'worker', 'connector'], config)
    expect(groups).toEqual({ workerCategories: ['http', 'email'], sink: true })
    expect(laggingGroups(['scheduler'], config)).toEqual({ workerCategories: [], sink: false })
    metrics.addCollector(
      collectConsumerLag({
        groups,
        metrics: metrics.consumerLag,
        kafka: createKafkaClientFactory({ bootstrapBrokers: kafkaBrokers }),
        topicPrefix: prefix,
        clientId: uniqueName('lag-collector'),
      }),
    )
    const { body } = await metrics.render()
    expect(body).toContain(`flextask_worker_consumer_lag_records{category="http",partition="0"} 3`)
    expect(body).toContain(`flextask_worker_consumer_lag_records{category="http",partition="1"} 0`)
    expect(body).toContain(`flextask_sink_consumer_lag_records{topic="${topics.results}",partition="1"} 3`)
    // No committed offset yet (the email group, results partition 0): left out rather than guessed.
    expect(body).not.toContain('category="email"')
    expect(body).not.toContain(`topic="${topics.results}",partition="0"`)
  })
})
