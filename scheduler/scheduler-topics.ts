/**
 * The scheduler's topics: definitions (compacted) and commands, results, occurrences, dead letters and one
 * executions topic per category (7 days), all with the same partition count. Definitions, commands and results are
 * co-partitioned inputs; the outputs are written to the task's own partition, so they must match too.
 */
import type { Admin } from '@platformatic/kafka'
import { compacted, ensureCoPartitionedTopics, retainedFor, type TopicSpec } from '../kafka-topics.ts'
import type { TopicNames } from '../topics.ts'

const retentionDays = 7

export function schedulerTopicSpecs(topics: TopicNames, categories: readonly string[]): TopicSpec[] {
  const events = [
    topics.commands,
    topics.results,
    topics.occurrences,
    topics.deadLetter,
    ...categories.map(topics.executions),
  ]
  return [
    { name: topics.definitions, configs: compacted },
    ...events.map((name) => ({ name, configs: retainedFor(retentionDays) })),
  ]
}

/** Creates the missing scheduler topics; returns their partition count, or refuses when they disagree. */
export function ensureSchedulerTopics(
  admin: Admin,
  topics: TopicNames,
  categories: readonly string[],
  partitions: number,
): Promise<number> {
  return ensureCoPartitionedTopics(admin, schedulerTopicSpecs(topics, categories), {
    partitions,
    coPartitionedBecause:
      'Definitions, commands, results and the scheduler output topics must have equal partition counts.',
  })
}
