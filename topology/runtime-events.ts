/**
 * The runtime's typed observer port (review §1.5): what a component maps to its logger and metrics. It
 * replaces the untyped EventEmitter strings and the mutable stats object of the first runtime.
 *
 * Observers are called synchronously on the runtime's loop; they must not block. An observer that throws is
 * ignored for that event (it can never stop the runtime).
 */
import type { FlextaskError } from '../errors.ts'
import type { RestoreProgress } from './changelog-restorer.ts'
import type { OutputRecord } from './stream-task.ts'

export interface AssignedEvent {
  generation: number
  /** Every partition assigned to this process in that generation. */
  partitions: number[]
  /** Partitions whose tasks carried over from the previous join (held in every generation in between). */
  kept: number[]
}

export interface RevokedEvent {
  generation: number
  /** Partitions whose tasks were closed: no longer assigned, or not held in every generation (task-manager.ts). */
  partitions: number[]
}

export interface RestoredEvent {
  partition: number
  /** Changelog records applied. */
  records: number
  /** From the task's open (committed offsets, stable end offsets, restore) to running. */
  durationMs: number
  progress: RestoreProgress[]
}

/**
 * One store of a partition's task while it restores, every progressIntervalMs, and once when that store is done
 * (changelog-restorer.ts): records applied, the position against the end offset, records/s.
 */
export type RestoreProgressEvent = RestoreProgress

export interface CommittedEvent {
  /** Records produced in the transaction (outputs and changelog). */
  records: number
  /** Source records consumed in it. */
  consumed: number
  /** Wake-ups and punctuations that ran in it. */
  timers: number
  tasks: number
  durationMs: number
  /** The sink records of the transaction (changelogs excluded), for observers that derive metrics from them. */
  outputs: readonly OutputRecord[]
}

export interface AbortedEvent {
  code: string
  retriable: boolean
  message: string
  error: FlextaskError
  /** Consecutive aborted cycles, this one included. */
  streak: number
  /** How long the runtime waits before retrying. */
  backoffMs: number
}

/** A step that waits out an outage (broker unreachable, coordinator loading) and will retry by itself. */
export interface RetryingEvent {
  step: string
  code: string
  message: string
  attempt: number
  backoffMs: number
  /** Since when this step has been failing. */
  failingForMs: number
  /** When the runtime gives up (outageGiveUpMs), in ms from now. */
  giveUpInMs: number
}

export interface TaskFailedEvent {
  partition: number
  code: string
  retriable: boolean
  message: string
}

/** Timers fired without their input read up to the instant: a transaction stayed open on an input. */
export interface InputLateEvent {
  partition: number
  waitedMs: number
}

/**
 * One task's wake-up in a pass (task-executor.ts), for latency breakdowns: when its earliest timer was due,
 * how long it waited at the input barrier, when it ran and what it fired. Instants are the tasks' wall clock.
 */
export interface TimersRanEvent {
  partition: number
  /** The task's earliest due timer (its next wake-up) when the pass reached it. */
  dueMs: number
  /** From the first pass that found it due and asked the input barrier, to the barrier letting it fire. */
  barrierWaitMs: number
  startedAtMs: number
  endedAtMs: number
  /** Wake-ups and punctuations that ran. */
  ran: number
  /** It was draining a backlog (timer-fairness.ts) when it ran. */
  catchingUp: boolean
}

/** Departed instances whose open transactions were aborted (zombie-fencer.ts), or the fence that failed. */
export interface FencedEvent {
  /** The task open that waited on an open transaction: its partition, and on what (offsets, changelog end). */
  partition: number
  waitingOn: 'offsets' | 'changelog'
  instances: readonly string[]
  durationMs: number
  /** The instances the fencer knew, the group's members it read, its attempts and their errors. */
  report?: { known: string[]; members: string[]; attempts: number; errors: string[] }
  error?: unknown
}

export interface RuntimeObserver {
  onAssigned?(event: AssignedEvent): void
  onRevoked?(event: RevokedEvent): void
  onRestoreProgress?(event: RestoreProgressEvent): void
  onRestored?(event: RestoredEvent): void
  onCommitted?(event: CommittedEvent): void
  onAborted?(event: AbortedEvent): void
  onRetrying?(event: RetryingEvent): void
  /** A task could not be opened (it is retried with backoff while its partition stays assigned). */
  onTaskFailed?(event: TaskFailedEvent): void
  onInputLate?(event: InputLateEvent): void
  onTimersRan?(event: TimersRanEvent): void
  onFenced?(event: FencedEvent): void
  /** The runtime stopped on an error it does not retry; `close()` still releases everything. */
  onFatal?(error: FlextaskError): void
}

type EventName = keyof RuntimeObserver
type EventOf<K extends EventName> = Parameters<NonNullable<RuntimeObserver[K]>>[0]

/** Fans events out to the registered observers. */
export class RuntimeEvents {
  readonly #observers = new Set<RuntimeObserver>()

  /** Registers an observer; returns a function that removes it. */
  add(observer: RuntimeObserver): () => void {
    this.#observers.add(observer)
    return () => this.#observers.delete(observer)
  }

  emit<K extends EventName>(name: K, event: EventOf<K>): void {
    for (const observer of this.#observers) {
      try {
        ;(observer[name] as ((e: EventOf<K>) => void) | undefined)?.call(observer, event)
      } catch {
        // An observer never stops the runtime.
      }
    }
  }
}

/** Running totals of a runtime's events (benchmarks, health). */
export interface RuntimeCounters {
  cyclesCommitted: number
  cyclesAborted: number
  recordsProcessed: number
  timersRun: number
  restoredRecords: number
}

/** An observer that keeps RuntimeCounters. */
export function countingObserver(): RuntimeObserver & { readonly counters: RuntimeCounters } {
  const counters: RuntimeCounters = {
    cyclesCommitted: 0,
    cyclesAborted: 0,
    recordsProcessed: 0,
    timersRun: 0,
    restoredRecords: 0,
  }
  return {
    counters,
    onCommitted: (e) => {
      counters.cyclesCommitted++
      counters.recordsProcessed += e.consumed
      counters.timersRun += e.timers
    },
    onAborted: () => void counters.cyclesAborted++,
    onRestored: (e) => void (counters.restoredRecords += e.records),
  }
}
