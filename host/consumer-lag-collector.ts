/**
 * Scrape-time consumer lag of the worker and sink groups (the scheduler reports its own, scheduler.ts): for each
 * component this process hosts, the lag of its consumer group per partition (kafka-lag.ts), as
 * flextask_worker_consumer_lag_records{category, partition} and flextask_sink_consumer_lag_records{topic,
 * partition}. An admin client is opened for each scrape and closed after it: a few requests every scrape
 * interval, and nothing to close when the process stops.
 */
import type { ResolvedConfig } from '../config.ts'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import { consumerGroupLag } from '../kafka-lag.ts'
import type { ConsumerLagMetrics } from '../metrics.ts'
import { sinkGroupId, topicNames, workerGroupId } from '../topics.ts'

export interface LaggingGroups {
  /** Categories whose worker groups this process runs. */
  workerCategories: readonly string[]
  /** Whether this process runs the Postgres sink. */
  sink: boolean
}

/** Which groups a process hosting `components` consumes with (component names of host/flextask-process.ts). */
export function laggingGroups(components: readonly string[], config: Pick<ResolvedConfig, 'topics'>): LaggingGroups {
  return {
    workerCategories: components.includes('worker') ? config.topics.categories : [],
    sink: components.includes('connector'),
  }
}

export function collectConsumerLag(options: {
  groups: LaggingGroups
  metrics: ConsumerLagMetrics
  kafka: KafkaClientFactory
  topicPrefix: string
  clientId: string
}): () => Promise<void> {
  const { groups, metrics, kafka, topicPrefix } = options
  const executionsPrefix = topicNames(topicPrefix).executions('')
  return async () => {
    if (groups.workerCategories.length === 0 && !groups.sink) return
    const admin = kafka.admin(options.clientId)
    try {
      const workers = await Promise.all(
        groups.workerCategories.map(async (category) => ({
          category,
          lags: await consumerGroupLag(
            admin,
            workerGroupId(category, topicPrefix),
            (t) => t === executionsPrefix + category,
          ),
        })),
      )
      const sink = groups.sink ? await consumerGroupLag(admin, sinkGroupId(topicPrefix)) : []
      metrics.worker.reset()
      for (const { category, lags } of workers) {
        for (const { partition, lag } of lags) metrics.worker.set({ category, partition: String(partition) }, lag)
      }
      metrics.sink.reset()
      for (const { topic, partition, lag } of sink) metrics.sink.set({ topic, partition: String(partition) }, lag)
    } finally {
      await admin.close()
    }
  }
}
