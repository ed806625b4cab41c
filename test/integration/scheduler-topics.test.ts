import { describe, expect, it } from 'vitest'
import { ensureSchedulerTopics } from '../../scheduler/scheduler-topics.ts'
import { topicNames } from '../../topics.ts'
import { testAdmin, uniqueName } from '../helpers/kafka.ts'

const { admin } = testAdmin()

describe('scheduler topic setup', () => {
  it('creates the co-partitioned topics with their configs, and is idempotent', async () => {
    const topics = topicNames(uniqueName('setup'))
    try {
      expect(await ensureSchedulerTopics(admin, topics, ['http'], 4)).toBe(4)
      expect(await ensureSchedulerTopics(admin, topics, ['http'], 4)).toBe(4)
      const [definitions] = await admin.describeConfigs({
        resources: [{ resourceType: 2, resourceName: topics.definitions, configurationKeys: ['cleanup.policy'] }],
      })
      expect(definitions?.configs.find((c) => c.name === 'cleanup.policy')?.value).toBe('compact')
      const metadata = await admin.metadata({ topics: [topics.commands, topics.executions('http')] })
      expect(metadata.topics.get(topics.executions('http'))?.partitionsCount).toBe(4)
    } finally {
      await admin.deleteTopics({
        topics: (await admin.listTopics()).filter((t) => t.startsWith(topics.definitions.split('.')[0] ?? '-')),
      })
    }
  })

  it('refuses to start, naming the topics, when definitions and commands are not co-partitioned', async () => {
    const topics = topicNames(uniqueName('mismatch'))
    try {
      await admin.createTopics({ topics: [topics.definitions], partitions: 3, replicas: 1 })
      await admin.createTopics({ topics: [topics.commands], partitions: 2, replicas: 1 })
      await expect(ensureSchedulerTopics(admin, topics, ['http'], 3)).rejects.toThrow(
        `refusing to start: ${topics.definitions} has 3 partitions but ${topics.commands} has 2`,
      )
    } finally {
      await admin.deleteTopics({
        topics: (await admin.listTopics()).filter((t) => t.startsWith(topics.definitions.split('.')[0] ?? '-')),
      })
    }
  })
})
