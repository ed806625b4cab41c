/**
 * SchedulerCore: the TaskScheduler's access to its context, stores and children, shared by the handlers
 * (schedule-driver, misfire-engine, execution-lifecycle, result-handler, command-handler). It keeps no state of
 * its own except the wake-up it armed, which is only a hint: a wake-up that finds nothing due re-arms from the
 * index, and init() re-arms from the first key of the index.
 *
 * Time: wall clock only (`context.clock.nowMs()`), never record timestamps. Records it creates carry the wall
 * clock as their timestamp, and lateness is judged on it (`nowMs`). What is due is bounded by `dueUpToMs`: the
 * due horizon of the current wake-up (topology/api.ts glossary; behind the clock during an input backlog),
 * else the clock: a slot after it is never fired or recorded before the input up to its instant was read.
 */
import type { DeadLetter } from '../schemas/dead-letter.ts'
import type { Occurrence, OccurrenceOutcome } from '../schemas/occurrence.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import type { KeyValueStore, ProcessorContext } from '../topology/api.ts'
import {
  SchedulerChildren,
  StoreNames,
  timerKey,
  type InFlight,
  type SchedulerConfig,
  type TaskState,
  type TimerEntry,
} from './task-state.ts'

export type SchedulerOutput = TaskExecution | Occurrence | TaskResult | DeadLetter

export class SchedulerCore {
  readonly config: SchedulerConfig
  readonly context: ProcessorContext<string, SchedulerOutput>
  readonly tasks: KeyValueStore<TaskState>
  readonly timers: KeyValueStore<TimerEntry>
  /** The topic results come from (and DEAD results go to), named in RETRIES_EXHAUSTED dead letters. */
  readonly resultsTopic: string
  #armedAtMs: number | undefined
  #wakeDueUpToMs: number | undefined

  constructor(context: ProcessorContext<string, SchedulerOutput>, config: SchedulerConfig, resultsTopic: string) {
    this.context = context
    this.config = config
    this.resultsTopic = resultsTopic
    this.tasks = context.getStateStore<TaskState>(StoreNames.tasks)
    this.timers = context.getStateStore<TimerEntry>(StoreNames.timers)
  }

  /** The real instant: for timestamps (firedAtMs, recordedAtMs, deadlines) and for judging lateness. */
  nowMs(): number {
    return this.context.clock.nowMs()
  }

  /** Up to which instant slots are due: the wake-up's due horizon inside `wake()`, else the clock. */
  dueUpToMs(): number {
    return this.#wakeDueUpToMs ?? this.nowMs()
  }

  /** Runs one wake-up's work with its due horizon. */
  async withDueHorizon(dueUpToMs: number, work: () => Promise<void>): Promise<void> {
    this.#wakeDueUpToMs = dueUpToMs
    try {
      await work()
    } finally {
      this.#wakeDueUpToMs = undefined
    }
  }

  /** A private copy (the store decodes one per get), free to change before `save`. */
  load(taskId: string): TaskState | undefined {
    return this.tasks.get(taskId)
  }

  save(state: TaskState): void {
    this.tasks.put(state.definition.taskId, state)
  }

  maxLatenessMs(state: TaskState): number {
    return state.definition.maxLatenessMs ?? this.config.defaultMaxLatenessMs
  }

  /** Sets the wake-up exactly (after a scan of the index). */
  wakeAt(atMs: number | undefined): void {
    this.#armedAtMs = atMs
    this.context.wakeAt(atMs)
  }

  putTimer(entry: TimerEntry, dueMs: number): string {
    const key = timerKey(dueMs, entry)
    this.timers.put(key, entry)
    if (this.#armedAtMs === undefined || dueMs < this.#armedAtMs) this.wakeAt(dueMs)
    return key
  }

  deleteTimer(key: string | null): void {
    if (key !== null) this.timers.delete(key)
  }

  /** Deletes every timer the task armed (FIRE, and RETRY/TIMEOUT of its in-flight executions). */
  deleteAllTimers(state: TaskState): void {
    this.deleteTimer(state.fireKey)
    state.fireKey = null
    state.nextSlotMs = null
    for (const f of Object.values(state.inFlight)) {
      this.deleteTimer(f.timerKey)
      f.timerKey = null
    }
  }

  occurrence(
    taskId: string,
    scheduledForMs: number,
    outcome: OccurrenceOutcome,
    reason: string,
    executionId: string | null = null,
  ): void {
    const nowMs = this.nowMs()
    const value: Occurrence = { taskId, scheduledForMs, executionId, outcome, reason, recordedAtMs: nowMs }
    this.context.forward({ key: taskId, value, timestampMs: nowMs }, SchedulerChildren.occurrences)
  }

  /** Emits the TaskExecution for the current attempt of `f`; returns the deadline (null without timeout). */
  emitExecution(state: TaskState, f: InFlight, dueAtMs: number): number | null {
    const d = state.definition
    const nowMs = this.nowMs()
    const deadlineAtMs = d.timeoutMs === null ? null : nowMs + d.timeoutMs
    const value: TaskExecution = {
      executionId: f.executionId,
      taskId: d.taskId,
      attempt: f.attempt,
      scheduledForMs: f.scheduledForMs,
      dueAtMs,
      firedAtMs: nowMs,
      deadlineAtMs,
      priority: d.priority,
      category: d.category,
      type: d.type,
      payload: d.payload,
      trigger: f.trigger,
      definitionVersion: d.version,
      labels: d.labels,
      tenant: d.tenant,
    }
    this.context.forward({ key: d.taskId, value, timestampMs: nowMs }, SchedulerChildren.executions)
    return deadlineAtMs
  }

  emitResult(value: TaskResult): void {
    this.context.forward({ key: value.taskId, value, timestampMs: this.nowMs() }, SchedulerChildren.results)
  }

  emitDeadLetter(taskId: string, executionId: string, reasonCode: string, message: string): void {
    const nowMs = this.nowMs()
    const source = this.context.recordMetadata
    const value: DeadLetter = {
      sourceTopic: source?.topic ?? this.resultsTopic,
      sourcePartition: this.context.partition,
      sourceOffset: source === undefined ? -1 : Number(source.offset),
      key: Buffer.from(taskId, 'utf8'),
      originalValue: null,
      reasonCode,
      message,
      failedAtMs: nowMs,
      taskId,
      executionId,
    }
    this.context.forward({ key: taskId, value, timestampMs: nowMs }, SchedulerChildren.deadLetters)
  }
}
