/**
 * The scheduler topology, wired by name:
 *
 *   definitions-source ──▶ definition-validator ──┐
 *   commands-source ──────────────────────────────┼──▶ task-scheduler ──▶ executions   (flextask.executions.<category>)
 *   results-source ───────────────────────────────┘   [tasks, timers]  ├─▶ occurrences
 *                                                                       ├─▶ results      (TIMED_OUT, DEAD)
 *                                                                       └─▶ dead-letters (RETRIES_EXHAUSTED)
 *   any record that fails to decode or validate ──▶ dead letter (the original bytes, with a reason code)
 *
 * Sources are co-partitioned by taskId; sinks write to the task's own partition. The processors stay in
 * processors/ (pure, topology API only); this wiring uses the runtime's builder, partitioner and serdes.
 */
import { cappedDeadLetter, type DeadLetter } from '../schemas/dead-letter.ts'
import type { Occurrence } from '../schemas/occurrence.ts'
import type { TaskCommand } from '../schemas/task-command.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import type { FailedRecord, Serde } from '../topology/api.ts'
import { partitionForKey } from '../topology/partitioner.ts'
import { stringSerde } from '../topology/serdes.ts'
import { TopologyBuilder, type Topology } from '../topology/topology-builder.ts'
import { DefinitionValidator } from '../processors/definition-validator.ts'
import { decideFailedRecord, reasonCodeFor } from '../processors/scheduler-errors.ts'
import { TaskScheduler } from '../processors/task-scheduler.ts'
import {
  SchedulerChildren,
  StoreNames,
  defaultSchedulerConfig,
  type SchedulerConfig,
} from '../processors/task-state.ts'
import { taskStateSerde, timerEntrySerde } from '../processors/task-state-serde.ts'

export interface SchedulerTopics {
  definitions: string
  commands: string
  results: string
  /** The executions topic of a category, e.g. `flextask.executions.http`. */
  executions: (category: string) => string
  occurrences: string
  deadLetter: string
}

/** Value serdes per record type (AvroSerde in the app; jsonSerde or AvroSerde over a stand-in registry in tests). */
export interface SchedulerSerdes {
  definition: Serde<TaskDefinition>
  command: Serde<TaskCommand>
  result: Serde<TaskResult>
  execution: Serde<TaskExecution>
  occurrence: Serde<Occurrence>
  deadLetter: Serde<DeadLetter>
}

export interface SchedulerTopologyOptions {
  topics: SchedulerTopics
  serdes: SchedulerSerdes
  /** `categories` is required; every other field has the default documented on SchedulerConfig. */
  config: Partial<SchedulerConfig> & Pick<SchedulerConfig, 'categories'>
}

export function resolveSchedulerConfig(config: SchedulerTopologyOptions['config']): SchedulerConfig {
  const resolved = { ...defaultSchedulerConfig, ...config }
  for (const field of [
    'maxPayloadBytes',
    'maxFiresPerWake',
    'maxCatchUpPerWake',
    'maxOccurrencesPerCatchUp',
    'maxInFlightPerTask',
    'maxRecordsPerWake',
    'maxBytesPerWake',
    'maxRecordBytes',
  ] as const) {
    const value = resolved[field]
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`scheduler.${field} must be a positive integer, got ${value}`)
    }
  }
  if (resolved.maxRecordBytes < 65_536) {
    throw new RangeError(`scheduler.maxRecordBytes must be at least 65536, got ${resolved.maxRecordBytes}`)
  }
  if (!Number.isSafeInteger(resolved.defaultMaxLatenessMs) || resolved.defaultMaxLatenessMs < 0) {
    throw new RangeError(`scheduler.defaultMaxLatenessMs must be a non-negative integer`)
  }
  return resolved
}

/**
 * The dead letter for a failed input record, capped so that it can always be produced (schemas/dead-letter.ts
 * cappedDeadLetter: a prefix of an oversized original, with its size and SHA-256 in the message).
 */
function deadLetterRecord(
  failed: FailedRecord,
  serde: Serde<DeadLetter>,
  maxRecordBytes: number,
): { key: Buffer | null; value: Buffer } {
  const value = cappedDeadLetter(
    {
      sourceTopic: failed.topic,
      sourcePartition: failed.partition,
      sourceOffset: Number(failed.offset),
      key: failed.key,
      originalValue: failed.value,
      reasonCode: failed.reasonCode,
      message: failed.message,
      failedAtMs: failed.failedAtMs,
      taskId: null,
      executionId: null,
    },
    maxRecordBytes,
  )
  return { key: value.key, value: serde.serialize({ ...value, taskId: value.key?.toString('utf8') ?? null }) }
}

export function buildSchedulerTopology(options: SchedulerTopologyOptions): Topology {
  const { topics, serdes } = options
  const config = resolveSchedulerConfig(options.config)
  const inputs = { definitions: topics.definitions, commands: topics.commands, results: topics.results }
  const key = stringSerde
  return new TopologyBuilder()
    .setLimits({ maxRecordBytes: config.maxRecordBytes })
    .addSource('definitions-source', { topic: topics.definitions, keySerde: key, valueSerde: serdes.definition })
    .addSource('commands-source', { topic: topics.commands, keySerde: key, valueSerde: serdes.command })
    .addSource('results-source', { topic: topics.results, keySerde: key, valueSerde: serdes.result })
    .addProcessor('definition-validator', () => new DefinitionValidator(config, partitionForKey), 'definitions-source')
    .addProcessor(
      'task-scheduler',
      () => new TaskScheduler(config, inputs, partitionForKey),
      'definition-validator',
      'commands-source',
      'results-source',
    )
    .addStateStore({ name: StoreNames.tasks, valueSerde: taskStateSerde }, 'task-scheduler')
    .addStateStore({ name: StoreNames.timers, valueSerde: timerEntrySerde }, 'task-scheduler')
    .addSink<string, TaskExecution>(
      SchedulerChildren.executions,
      { topic: (record) => topics.executions(record.value.category), keySerde: key, valueSerde: serdes.execution },
      'task-scheduler',
    )
    .addSink(
      SchedulerChildren.occurrences,
      { topic: topics.occurrences, keySerde: key, valueSerde: serdes.occurrence },
      'task-scheduler',
    )
    .addSink(
      SchedulerChildren.results,
      { topic: topics.results, keySerde: key, valueSerde: serdes.result },
      'task-scheduler',
    )
    .addSink(
      SchedulerChildren.deadLetters,
      { topic: topics.deadLetter, keySerde: key, valueSerde: serdes.deadLetter },
      'task-scheduler',
    )
    .setDeadLetter({
      topic: topics.deadLetter,
      toRecord: (failed) => deadLetterRecord(failed, serdes.deadLetter, config.maxRecordBytes),
      reasonCode: reasonCodeFor,
      decide: decideFailedRecord,
    })
    .build()
}
