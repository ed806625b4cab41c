/**
 * Topic names: the contract other systems depend on (ARCHITECTURE.md). Change only on purpose, with a
 * migration note. Definitions, commands and results are co-partitioned by taskId (murmur2, the Java
 * client's default partitioner).
 */
export interface TopicNames {
  definitions: string
  commands: string
  results: string
  occurrences: string
  deadLetter: string
  executions: (category: string) => string
}

export function topicNames(prefix = 'flextask'): TopicNames {
  return {
    definitions: `${prefix}.task-definitions`,
    commands: `${prefix}.task-commands`,
    results: `${prefix}.task-results`,
    occurrences: `${prefix}.task-occurrences`,
    deadLetter: `${prefix}.dead-letter`,
    executions: (category) => `${prefix}.executions.${category}`,
  }
}

/** The scheduler's consumer group and changelog prefix. */
export function schedulerApplicationId(prefix = 'flextask'): string {
  return `${prefix}-scheduler`
}
