/**
 * The Avro serdes of every flextask topic, and the subject naming rule, once:
 *
 * - TopicNameStrategy: the value subject of topic `T` is `T-value` (Confluent's default, what other clients
 *   expect).
 * - Except the executions topics: every `<prefix>.executions.<category>` carries TaskExecution, so they share one
 *   subject, `<prefix>.executions-value`. A new category needs no registration, and all of them evolve together.
 *
 * `init()` registers every schema (BACKWARD_TRANSITIVE, see avro-serde.ts); it is idempotent and safe to call
 * from several components, which all get identical ids.
 */
import { AvroSerde, type SchemaRegistry } from './avro-serde.ts'
import { deadLetterSchema, type DeadLetter } from './dead-letter.ts'
import { occurrenceSchema, type Occurrence } from './occurrence.ts'
import { taskCommandSchema, type TaskCommand } from './task-command.ts'
import { taskDefinitionSchema, type TaskDefinition } from './task-definition.ts'
import { taskExecutionSchema, type TaskExecution } from './task-execution.ts'
import { taskLogSchema, type TaskLog } from './task-log.ts'
import { taskResultSchema, type TaskResult } from './task-result.ts'

/** The topic names the subjects derive from (topics.ts `TopicNames` satisfies it). */
export interface SubjectTopics {
  definitions: string
  commands: string
  results: string
  logs: string
  occurrences: string
  deadLetter: string
  executions: (category: string) => string
}

/** TopicNameStrategy value subject. */
export function valueSubject(topic: string): string {
  return `${topic}-value`
}

/** The one subject of every executions topic: `<prefix>.executions-value`. */
export function executionsSubject(topics: Pick<SubjectTopics, 'executions'>): string {
  const sample = topics.executions('\u0000')
  return valueSubject(sample.slice(0, sample.indexOf('\u0000')).replace(/[.-]$/, ''))
}

export interface SerdeRegistry {
  definition: AvroSerde<TaskDefinition>
  command: AvroSerde<TaskCommand>
  result: AvroSerde<TaskResult>
  execution: AvroSerde<TaskExecution>
  occurrence: AvroSerde<Occurrence>
  deadLetter: AvroSerde<DeadLetter>
  log: AvroSerde<TaskLog>
  /** Registers every schema; idempotent. */
  init(): Promise<void>
}

export function createSerdeRegistry(registry: SchemaRegistry, topics: SubjectTopics): SerdeRegistry {
  const serdes = {
    definition: new AvroSerde<TaskDefinition>(valueSubject(topics.definitions), taskDefinitionSchema, registry),
    command: new AvroSerde<TaskCommand>(valueSubject(topics.commands), taskCommandSchema, registry),
    result: new AvroSerde<TaskResult>(valueSubject(topics.results), taskResultSchema, registry),
    execution: new AvroSerde<TaskExecution>(executionsSubject(topics), taskExecutionSchema, registry),
    occurrence: new AvroSerde<Occurrence>(valueSubject(topics.occurrences), occurrenceSchema, registry),
    deadLetter: new AvroSerde<DeadLetter>(valueSubject(topics.deadLetter), deadLetterSchema, registry),
    log: new AvroSerde<TaskLog>(valueSubject(topics.logs), taskLogSchema, registry),
  }
  return {
    ...serdes,
    async init() {
      // Each AvroSerde memoizes its own registration.
      for (const serde of Object.values(serdes) as AvroSerde<unknown>[]) await serde.init()
    },
  }
}
