/**
 * TaskScheduler: the scheduling engine of one partition. Consumes validated definitions, commands and results;
 * owns the stores `tasks` (taskId → TaskState) and `timers` (the due index, see task-state.ts); emits
 * executions, occurrences, TIMED_OUT / DEAD results and RETRIES_EXHAUSTED dead letters.
 *
 * Time: wall clock only. A wake-up at `now` handles every timer due up to now (the range [ , pad(now + 1)),
 * never a forward window), at most maxFiresPerWake entries: when the scan hits that bound it wakes again at
 * once, so the runtime commits and other partitions run between batches (camunda/camunda#8991); otherwise it
 * wakes at the exact due instant of the first remaining key. Nothing lives in memory that the stores do not
 * hold: init() arms the wake-up from the first key of the restored index.
 */
import type { TaskCommand } from '../schemas/task-command.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import type { Processor, ProcessorContext, StreamRecord } from '../topology/api.ts'
import { applyCommand, applyDefinition } from './command-handler.ts'
import { checkOwnerPartition, type OwnerPartition } from './definition-validator.ts'
import { handleFireTimer, type WakeBudget } from './misfire-engine.ts'
import { applyResult, handleRetryTimer, handleTimeoutTimer } from './result-handler.ts'
import { SchedulerCore, type SchedulerOutput } from './scheduler-core.ts'
import { TimerKinds, dueOfTimerKey, padDueMs, type SchedulerConfig } from './task-state.ts'

/** The source topics, to tell the three inputs apart. */
export interface SchedulerInputTopics {
  definitions: string
  commands: string
  results: string
}

type SchedulerInput = TaskDefinition | TaskCommand | TaskResult | null

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
      if (typeof record.key === 'string' && record.key !== '') {
        checkOwnerPartition(record.key, this.#core.context, this.#ownerPartition)
      }
      if (record.value !== null) applyCommand(this.#core, record.key, record.value as TaskCommand)
    } else if (topic === this.#topics.results) {
      if (record.value !== null) applyResult(this.#core, record.key, record.value as TaskResult)
    }
  }

  async wake(nowMs: number): Promise<void> {
    const core = this.#core
    const limit = this.#config.maxFiresPerWake
    const due = await core.timers.range({ lt: padDueMs(nowMs + 1), limit })
    const budget: WakeBudget = { catchUp: this.#config.maxCatchUpPerWake }
    let deferred = false
    for (const [key, entry] of due) {
      if (entry.kind === TimerKinds.fire) deferred = !handleFireTimer(core, key, entry, budget) || deferred
      else if (entry.kind === TimerKinds.retry) handleRetryTimer(core, key, entry)
      else handleTimeoutTimer(core, key, entry)
    }
    // A full batch or a deferred catch-up: more is due now; yield (the runtime commits) and come back at once.
    if (due.length >= limit || deferred) core.wakeAt(nowMs)
    else await this.#armFromIndex()
  }

  async #armFromIndex(): Promise<void> {
    const [first] = await this.#core.timers.range({ limit: 1 })
    this.#core.wakeAt(first === undefined ? undefined : dueOfTimerKey(first[0]))
  }
}
