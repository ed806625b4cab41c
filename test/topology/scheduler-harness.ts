/**
 * A TopologyTestDriver around the scheduler topology, with Avro serdes over the in-memory registry stand-in,
 * builders for definitions, commands and results, and readers for what the scheduler emitted.
 */
import { AvroSerde } from '../../schemas/avro-serde.ts'
import { deadLetterSchema, type DeadLetter } from '../../schemas/dead-letter.ts'
import { occurrenceSchema, type Occurrence } from '../../schemas/occurrence.ts'
import { taskCommandSchema, type CommandKind, type TaskCommand } from '../../schemas/task-command.ts'
import { taskDefinitionSchema, type ScheduleSpec, type TaskDefinition } from '../../schemas/task-definition.ts'
import { buildTaskDefinition, emptySchedule } from '../../schemas/task-definition-builder.ts'
import { taskExecutionSchema, type TaskExecution } from '../../schemas/task-execution.ts'
import { taskResultSchema, type ResultStatus, type TaskResult } from '../../schemas/task-result.ts'
import {
  buildSchedulerTopology,
  type SchedulerSerdes,
  type SchedulerTopologyOptions,
} from '../../processors/scheduler-topology.ts'
import { TopologyTestDriver } from '../../topology/topology-test-driver.ts'
import { MemoryRegistry } from '../helpers/memory-registry.ts'

export const categories = ['http', 'email']

export const topics = {
  definitions: 'flextask.task-definitions',
  commands: 'flextask.task-commands',
  results: 'flextask.task-results',
  executions: (category: string) => `flextask.executions.${category}`,
  occurrences: 'flextask.occurrences',
  deadLetter: 'flextask.dead-letter',
}

export const startMs = Date.UTC(2026, 0, 1)
export const second = 1000
export const minute = 60 * second
export const hour = 60 * minute

export async function avroSerdes(registry = new MemoryRegistry()): Promise<SchedulerSerdes> {
  const serdes = {
    definition: new AvroSerde<TaskDefinition>(`${topics.definitions}-value`, taskDefinitionSchema, registry),
    command: new AvroSerde<TaskCommand>(`${topics.commands}-value`, taskCommandSchema, registry),
    result: new AvroSerde<TaskResult>(`${topics.results}-value`, taskResultSchema, registry),
    execution: new AvroSerde<TaskExecution>('flextask.executions-value', taskExecutionSchema, registry),
    occurrence: new AvroSerde<Occurrence>(`${topics.occurrences}-value`, occurrenceSchema, registry),
    deadLetter: new AvroSerde<DeadLetter>(`${topics.deadLetter}-value`, deadLetterSchema, registry),
  }
  for (const serde of Object.values(serdes)) await serde.init()
  return serdes
}

export function definition(
  taskId: string,
  schedule: Partial<ScheduleSpec>,
  overrides: Partial<TaskDefinition> = {},
): TaskDefinition {
  return buildTaskDefinition({
    taskId,
    name: taskId,
    category: 'http',
    type: 'HealthCheck',
    createdAtMs: overrides.createdAtMs ?? startMs,
    ...overrides,
    schedule: overrides.schedule ?? { ...emptySchedule, ...schedule },
  })
}

export class SchedulerHarness {
  readonly driver: TopologyTestDriver
  readonly serdes: SchedulerSerdes
  #commands = 0

  private constructor(driver: TopologyTestDriver, serdes: SchedulerSerdes) {
    this.driver = driver
    this.serdes = serdes
  }

  static async create(
    options: {
      partitions?: number
      startMs?: number
      config?: Partial<SchedulerTopologyOptions['config']>
      serdes?: SchedulerSerdes
    } = {},
  ): Promise<SchedulerHarness> {
    const serdes = options.serdes ?? (await avroSerdes())
    const topology = buildSchedulerTopology({ topics, serdes, config: { categories, ...options.config } })
    const driver = new TopologyTestDriver(topology, {
      partitions: options.partitions ?? 1,
      startMs: options.startMs ?? startMs,
    })
    await driver.init()
    return new SchedulerHarness(driver, serdes)
  }

  nowMs(): number {
    return this.driver.clock.nowMs()
  }

  async define(value: TaskDefinition, options: { partition?: number } = {}): Promise<void> {
    await this.driver.pipeInput(topics.definitions, value.taskId, value, options)
  }

  async remove(taskId: string): Promise<void> {
    await this.driver.pipeInput<string, TaskDefinition>(topics.definitions, taskId, null)
  }

  async command(taskId: string, kind: CommandKind, executionId: string | null = null): Promise<void> {
    const value = {
      commandId: `cmd-${++this.#commands}`,
      taskId,
      kind,
      executionId,
      requestedAtMs: this.nowMs(),
      requestedBy: 'test',
    }
    await this.driver.pipeInput(topics.commands, taskId, value)
  }

  async result(
    execution: Pick<TaskExecution, 'executionId' | 'taskId' | 'attempt'>,
    status: ResultStatus,
    retriable = true,
  ): Promise<void> {
    const failed = status === 'FAILED'
    const value: TaskResult = {
      executionId: execution.executionId,
      taskId: execution.taskId,
      attempt: execution.attempt,
      status,
      workerId: 'worker-1',
      startedAtMs: this.nowMs(),
      finishedAtMs: status === 'STARTED' ? null : this.nowMs(),
      durationMs: null,
      output: null,
      error: failed ? { code: 'E_TEST', message: 'boom', retriable } : null,
    }
    await this.driver.pipeInput(topics.results, execution.taskId, value)
  }

  async advance(ms: number): Promise<void> {
    await this.driver.advanceWallClock(ms)
  }

  /** Steps the clock in `stepMs` increments up to `totalMs`, so each due instant is handled exactly on time. */
  async step(totalMs: number, stepMs: number): Promise<void> {
    for (let t = 0; t < totalMs; t += stepMs) await this.driver.advanceWallClock(Math.min(stepMs, totalMs - t))
  }

  async executions(category = 'http'): Promise<TaskExecution[]> {
    return (await this.driver.readValues(topics.executions(category), this.serdes.execution)) as TaskExecution[]
  }

  async occurrences(): Promise<Occurrence[]> {
    return (await this.driver.readValues(topics.occurrences, this.serdes.occurrence)) as Occurrence[]
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return (await this.driver.readValues(topics.deadLetter, this.serdes.deadLetter)) as DeadLetter[]
  }

  /** Results the scheduler wrote (TIMED_OUT, DEAD), without the ones the test piped in. */
  async schedulerResults(): Promise<TaskResult[]> {
    const all = (await this.driver.readValues(topics.results, this.serdes.result)) as TaskResult[]
    return all.filter((r) => r.workerId === null)
  }
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1
  return counts
}
