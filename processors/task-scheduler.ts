/**
 * TaskScheduler: the scheduling engine of one partition. Consumes validated definitions, commands and results;
 * owns the stores `tasks` (taskId → TaskState) and `timers` (the due index, see task-state.ts); emits
 * executions, occurrences, TIMED_OUT / DEAD results and RETRIES_EXHAUSTED dead letters.
 *
 * Time: wall clock only. A wake-up handles every timer due up to its due horizon (the range [ , pad(horizon + 1)),
 * never a forward window; the horizon is now, or behind it while the runtime reads an input backlog, api.ts),
 * and judges lateness on the real clock (scheduler-core.ts), at most maxFiresPerWake entries: when the scan
 * hits that bound it wakes again at once, so the runtime commits and other partitions run between batches (camunda/camunda#8991); otherwise it
 * wakes at the exact due instant of the first remaining key. Nothing lives in memory that the stores do not
 * hold: init() arms the wake-up from the first key of the restored index.
 *
 * Bounded cycles: a wake-up also stops when the partition's cycle holds maxRecordsPerWake records or
 * maxBytesPerWake output bytes (`context.pendingLoad()`), and a late timer's ledger is written in chunks of what
 * is left (misfire-engine), so a one-day outage becomes many small transactions, never one huge one (review C4).
 * It also stops when the runtime asks it to yield (`context.shouldYield()`: this partition drains a backlog
 * while another partition's timers are due, topology/timer-fairness.ts), so a herd here delays no other
 * partition by more than a slice (issue 14).
 *
 * Isolation: each timer is one unit of work (`context.isolate`). A transient error aborts the cycle (retried);
 * any other error undoes that timer's effects and quarantines its task: a dead letter with the taskId and the
 * reason, its timers removed, `quarantined` set in its state, so it cannot come back due every cycle and every
 * other task keeps firing (review C6). A new definition of the taskId releases it.
 */
import type { TaskCommand } from '../schemas/task-command.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import type { FlextaskError } from '../errors.ts'
import { ErrorDecisions, type Processor, type ProcessorContext, type StreamRecord } from '../topology/api.ts'
import { applyCommand, applyDefinition } from './command-handler.ts'
import { checkOwnerPartition, type OwnerPartition } from './definition-validator.ts'
import { handleFireTimer, type WakeBudget } from './misfire-engine.ts'
import { applyResult, handleRetryTimer, handleTimeoutTimer } from './result-handler.ts'
import { SchedulerCore, type SchedulerOutput } from './scheduler-core.ts'
import { SchedulerErrorCodes, invalidField, reasonCodeFor, schedulerDecision } from './scheduler-errors.ts'
import { TimerKinds, dueOfTimerKey, padDueMs, type SchedulerConfig, type TimerEntry } from './task-state.ts'

/** The source topics, to tell the three inputs apart. */
export interface SchedulerInputTopics {
  definitions: string
  commands: string
  results: string
}

type SchedulerInput = TaskDefinition | TaskCommand | TaskResult | null

/** Records one timer writes besides its ledger: timer keys (deleted, armed, timeout), task state, execution, … */
const recordsPerTimer = 8

export class TaskScheduler implements Processor<string, SchedulerInput, string, SchedulerOutput> {
  readonly #config: SchedulerConfig
  readonly #topics: SchedulerInputTopics
  readonly #ownerPartition: OwnerPartition
  #core!: SchedulerCore

  constructor(config: SchedulerConfig, topics: SchedulerInputTopics, ownerPartition: OwnerPartition) {
    this.#config = config
    this.#topics = topics
    this.#ownerPartition = ownerPartition
  }

  async init(context: ProcessorContext<string, SchedulerOutput>): Promise<void> {
    this.#core = new SchedulerCore(context, this.#config, this.#topics.results)
    await this.#armFromIndex()
  }

  process(record: StreamRecord<string, SchedulerInput>): void {
    const topic = this.#core.context.recordMetadata?.topic
    if (topic === this.#topics.definitions) {
      applyDefinition(this.#core, record.key, record.value as TaskDefinition | null)
    } else if (topic === this.#topics.commands) {
      // Commands skip the definition validator: check the partition here, before "no such task" could mislead.
      this.#checkEvent(record, SchedulerErrorCodes.commandInvalid, 'command')
      applyCommand(this.#core, record.key, record.value as TaskCommand)
    } else if (topic === this.#topics.results) {
      // A result on another partition would otherwise look like one for an unknown task and be ignored silently.
      this.#checkEvent(record, SchedulerErrorCodes.resultInvalid, 'result')
      applyResult(this.#core, record.key, record.value as TaskResult)
    }
  }

  /** A command or result needs a taskId key on its owner partition and a value: a tombstone is not an event. */
  #checkEvent(record: StreamRecord<string, SchedulerInput>, code: string, what: string): void {
    if (typeof record.key !== 'string' || record.key === '') {
      throw invalidField(code, 'taskId', `the record key of a ${what} must be the taskId`)
    }
    checkOwnerPartition(record.key, this.#core.context, this.#ownerPartition)
    if (record.value === null) {
      throw invalidField(code, 'value', `a ${what} cannot be null (a tombstone is not a ${what})`, record.key)
    }
  }

  async wake(dueUpToMs: number): Promise<void> {
    await this.#core.withDueHorizon(dueUpToMs, () => this.#wake(dueUpToMs))
  }

  async #wake(dueUpToMs: number): Promise<void> {
    const core = this.#core
    const limit = this.#config.maxFiresPerWake
    const due = await core.timers.range({ lt: padDueMs(dueUpToMs + 1), limit })
    const budget: WakeBudget = { catchUp: this.#config.maxCatchUpPerWake, records: 0 }
    let deferred = false
    for (const [key, entry] of due) {
      budget.records = this.#recordsLeft()
      if (budget.records <= 0 || core.context.shouldYield()) {
        deferred = true
        break
      }
      let done = true
      const error = await core.context.isolate(() => {
        done = this.#handleTimer(key, entry, budget)
      })
      if (error !== undefined) await this.#quarantine(key, entry, error)
      else deferred = !done || deferred
    }
    // A full batch, a spent budget, a yield or a deferred catch-up: more is due now; yield (the runtime
    // commits) and come back at once.
    if (due.length >= limit || deferred) core.wakeAt(dueUpToMs)
    else await this.#armFromIndex()
  }

  /** Handles one due timer; false when it left work for the next wake-up. */
  #handleTimer(key: string, entry: TimerEntry, budget: WakeBudget): boolean {
    if (entry.kind === TimerKinds.fire) return handleFireTimer(this.#core, key, entry, budget)
    if (entry.kind === TimerKinds.retry) handleRetryTimer(this.#core, key, entry)
    else handleTimeoutTimer(this.#core, key, entry)
    return true
  }

  /**
   * Records the next timer may produce: what is left of the cycle's budget, less what any timer writes besides
   * its ledger (its timer keys, the task state, one execution and its occurrence). Zero when the output bytes
   * are spent.
   */
  #recordsLeft(): number {
    const load = this.#core.context.pendingLoad()
    if (load.bytes >= this.#config.maxBytesPerWake) return 0
    return this.#config.maxRecordsPerWake - load.records - recordsPerTimer
  }

  /**
   * A timer failed. Transient → rethrow (the cycle aborts and is retried); misconfiguration → rethrow (fail);
   * anything else → quarantine its task. When even the quarantine cannot be written (the state cannot be
   * loaded or saved), the task's state is removed with the timer: a new definition re-creates it.
   */
  async #quarantine(key: string, entry: TimerEntry, error: FlextaskError): Promise<void> {
    if (schedulerDecision(error) !== ErrorDecisions.deadLetter) throw error
    const core = this.#core
    const reasonCode = reasonCodeFor(error)
    const message = `timer ${key} failed: ${error.message}; task ${entry.taskId} is quarantined (nothing fires) until its definition is updated`
    const failed = await core.context.isolate(() => quarantineTask(core, key, entry, reasonCode, message))
    if (failed === undefined) return
    const removed = await core.context.isolate(() => {
      core.deleteTimer(key)
      core.tasks.delete(entry.taskId)
      const why = `${message}; its state could not be kept (${failed.message}) and was removed`
      core.emitDeadLetter(entry.taskId, entry.executionId, reasonCode, why)
    })
    if (removed !== undefined) throw removed
  }

  async #armFromIndex(): Promise<void> {
    const [first] = await this.#core.timers.range({ limit: 1 })
    this.#core.wakeAt(first === undefined ? undefined : dueOfTimerKey(first[0]))
  }
}

/** Removes the task's timers, stops tracking its in-flight executions and marks it quarantined. */
function quarantineTask(
  core: SchedulerCore,
  key: string,
  entry: TimerEntry,
  reasonCode: string,
  message: string,
): void {
  core.deleteTimer(key)
  const state = core.load(entry.taskId)
  if (state === undefined) {
    core.emitDeadLetter(entry.taskId, entry.executionId, reasonCode, message)
    return
  }
  const untracked = Object.keys(state.inFlight).length
  core.deleteAllTimers(state)
  state.inFlight = {}
  state.buffered = null
  const detail = untracked === 0 ? message : `${message}; its ${untracked} in-flight executions are no longer tracked`
  state.quarantined = { reasonCode, message: detail, atMs: core.nowMs() }
  core.emitDeadLetter(entry.taskId, entry.executionId, reasonCode, detail)
  core.save(state)
}
