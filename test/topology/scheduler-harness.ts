/**
 * A TopologyTestDriver around the scheduler topology, with Avro serdes over the in-memory registry stand-in,
 * builders for definitions, commands and results, and readers for what the scheduler emitted.
 */
import type { DeadLetter } from '../../schemas/dead-letter.ts'
import type { Occurrence } from '../../schemas/occurrence.ts'
import type { CommandKind } from '../../schemas/task-command.ts'
import type { ScheduleSpec, TaskDefinition } from '../../schemas/task-definition.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import type { ResultStatus, TaskResult } from '../../schemas/task-result.ts'
import { createSerdeRegistry, type SerdeRegistry } from '../../schemas/serde-registry.ts'
import {
  buildSchedulerTopology,
  type SchedulerSerdes,
  type SchedulerTopologyOptions,
} from '../../scheduler/scheduler-topology.ts'
import { topicNames } from '../../topics.ts'
import { TopologyTestDriver } from '../../topology/topology-test-driver.ts'
import { MemoryRegistry } from '../helpers/memory-registry.ts'
import { taskDefinition } from '../helpers/task-definitions.ts'

export const categories = ['http', 'email']

export const topics = topicNames('flextask')

export const startMs = Date.UTC(2026, 0, 1)
export const second = 1000
export const minute = 60 * second
export const hour = 60 * minute

/** The scheduler's serdes (the same subjects as the real app) over the in-memory registry stand-in. */
export async function avroSerdes(registry = new MemoryRegistry()): Promise<SerdeRegistry> {
  const serdes = createSerdeRegistry(registry, topics)
  await serdes.init()
  return serdes
}

/** taskDefinition (test/helpers/task-definitions.ts) created at the harness's start instant unless told. */
export function definition(
  taskId: string,
  schedule: Partial<ScheduleSpec>,
  overrides: Partial<TaskDefinition> = {},
): TaskDefinition {
  return taskDefinition(taskId, schedule, overrides, startMs)
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
