/**
 * Operator commands that talk to Kafka rather than the API: `flextask topics create` (every topic the scheduler
 * needs, co-partitioned) and `flextask api-key` (a new API key and the configuration entry that grants it).
 */
import type { ResolvedConfig } from '../config.ts'
import { newApiKey, ApiScopes, type ApiScope } from '../api/api-keys.ts'
import { createKafkaClientFactory } from '../kafka-clients.ts'
import { ensureSchedulerTopics, schedulerTopicSpecs } from '../scheduler/scheduler-topics.ts'
import { topicNames } from '../topics.ts'
import { ApiClientError } from './api-client.ts'
import type { ClientIo } from './client-commands.ts'

export async function createTopics(config: ResolvedConfig, io: ClientIo): Promise<void> {
  const topics = topicNames(config.topics.prefix)
  const admin = createKafkaClientFactory(config.kafka).admin('flextask-topics-create')
  try {
    io.err(`flextask: creating topics on ${config.kafka.brokers.join(',')} …`)
    const partitions = await ensureSchedulerTopics(admin, topics, config.topics.categories, config.topics.partitions)
    for (const spec of schedulerTopicSpecs(topics, config.topics.categories))
      io.out(`${spec.name}  ${partitions} partitions`)
  } finally {
    await admin.close()
  }
}

export function printNewApiKey(id: string, scope: string, io: ClientIo): void {
  if (!(ApiScopes as readonly string[]).includes(scope)) {
    throw new ApiClientError({
      status: 400,
      code: 'FLEXTASK_CLIENT_USAGE',
      detail: `scope must be read, write or admin, got ${scope}`,
    })
  }
  const { key, entry } = newApiKey(id, scope as ApiScope)
  io.out(`key (give it to the client, it is shown once):  ${key}`)
  io.out(`entry for FLEXTASK_API_KEYS (the server keeps only the hash):  ${entry}`)
}
