/**
 * Topic names: the contract other systems depend on (ARCHITECTURE.md). Change only on purpose, with a
 * migration note. Definitions, commands and results are co-partitioned by taskId (murmur2, the Java
 * client's default partitioner).
 */
export interface TopicNames {
  definitions: string
  commands: string
  results: string
  logs: string
  occurrences: string
  deadLetter: string
  executions: (category: string) => string
}

export function topicNames(prefix = 'flextask'): TopicNames {
  return {
    definitions: `${prefix}.task-definitions`,
    commands: `${prefix}.task-commands`,
    results: `${prefix}.task-results`,
    logs: `${prefix}.task-logs`,
    occurrences: `${prefix}.task-occurrences`,
    deadLetter: `${prefix}.dead-letter`,
    executions: (category) => `${prefix}.executions.${category}`,
  }
}

/** The scheduler's consumer group and changelog prefix. */
export function schedulerApplicationId(prefix = 'flextask'): string {
  return `${prefix}-scheduler`
}

/** The consumer group of the workers of one category (ARCHITECTURE.md: a consumer group per category). */
export function workerGroupId(category: string, prefix = 'flextask'): string {
  return `${prefix}-workers-${category}`
}

/** The Postgres sink's consumer group. */
export function sinkGroupId(prefix = 'flextask'): string {
  return `${prefix}-sink`
}
