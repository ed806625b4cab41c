/**
 * Every Prometheus metric of flextask, declared once, and the only module that imports prom-client (lint).
 * Components receive the structural `Metrics` port and touch only their own group; topology/ and processors/
 * never see it (the scheduler derives its metrics from the records its topology commits, scheduler/).
 *
 * Naming (STYLE.md): `flextask_<component>_<what>_<unit>`, `_total` on counters, seconds for durations. Label
 * values come from closed sets (categories, outcomes, reason codes), never from task ids.
 *
 * Adding a component's metrics: a `<Component>Metrics` interface with its instruments, built in
 * `createMetrics` under the component's name; the component reads `deps.metrics.<component>`.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface CounterPort<L extends string = never> {
  inc(labels: Partial<Record<L, string>>, value?: number): void
}

export interface HistogramPort<L extends string = never> {
  observe(labels: Partial<Record<L, string>>, value: number): void
}

export interface SchedulerMetrics {
  /** flextask_scheduler_fires_total{category, trigger}: executions emitted (committed). */
  fires: CounterPort<'category' | 'trigger'>
  /** flextask_scheduler_fire_lateness_seconds{category}: firedAtMs − dueAtMs of each committed execution. */
  fireLateness: HistogramPort<'category'>
  /** flextask_scheduler_occurrences_total{outcome, reason}: the occurrence ledger, by outcome and reason. */
  occurrences: CounterPort<'outcome' | 'reason'>
  /** flextask_scheduler_dead_letters_total{reason}: records written to the dead-letter topic, by reason code. */
  deadLetters: CounterPort<'reason'>
  /** flextask_scheduler_transactions_total{outcome}: committed / aborted transactions. */
  transactions: CounterPort<'outcome'>
  /** flextask_scheduler_commit_duration_seconds: time from begin to commit of a committed transaction. */
  commitDuration: HistogramPort
}

export interface SinkMetrics {
  /** flextask_sink_records_total{kind}: records written to Postgres (committed), by what they carry. */
  records: CounterPort<'kind'>
  /** flextask_sink_batches_total{outcome}: Postgres transactions, by outcome (committed, retried, fenced). */
  batches: CounterPort<'outcome'>
  /** flextask_sink_batch_duration_seconds: one committed batch, rows and offsets, begin to commit. */
  batchDuration: HistogramPort
  /** flextask_sink_dead_letters_total{reason}: undecodable records the sink sent to the dead-letter topic. */
  deadLetters: CounterPort<'reason'>
}

export interface WorkerMetrics {
  /** flextask_worker_executions_total{category, status}: terminal results a worker produced (SUCCEEDED, FAILED, TIMED_OUT). */
  executions: CounterPort<'category' | 'status'>
  /** flextask_worker_start_lateness_seconds{category}: handler start − dueAtMs of each attempt. */
  startLateness: HistogramPort<'category'>
  /** flextask_worker_execution_duration_seconds{category}: startedAt → finishedAt of each terminal result. */
  duration: HistogramPort<'category'>
}

export interface Metrics {
  readonly scheduler: SchedulerMetrics
  readonly sink: SinkMetrics
  readonly worker: WorkerMetrics
  /** The Prometheus text exposition of every metric. */
  render(): Promise<{ contentType: string; body: string }>
}

/**
 * Lateness buckets: 1 ms steps up to 5 ms, so a p99 of a few milliseconds is readable, then coarser up to the
 * misfire range (the default maxLateness is 60 s).
 */
export const latenessBucketsSeconds = [
  0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
  60,
]

export const commitBucketsSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** A registry of its own (not prom-client's global one), so tests and several hosts in a process never collide. */
export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registers = [new Registry()]
  const [register] = registers as [Registry]
  if (options.processMetrics === true) collectDefaultMetrics({ register })
  const scheduler: SchedulerMetrics = {
    fires: new Counter({
      name: 'flextask_scheduler_fires_total',
      help: 'Executions the scheduler emitted (committed), by category and trigger.',
      labelNames: ['category', 'trigger'],
      registers,
    }),
    fireLateness: new Histogram({
      name: 'flextask_scheduler_fire_lateness_seconds',
      help: 'firedAtMs - dueAtMs of each committed execution.',
      labelNames: ['category'],
      buckets: latenessBucketsSeconds,
      registers,
    }),
    occurrences: new Counter({
      name: 'flextask_scheduler_occurrences_total',
      help: 'Occurrences recorded (committed), by outcome and reason.',
      labelNames: ['outcome', 'reason'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'flextask_scheduler_dead_letters_total',
      help: 'Records the scheduler wrote to the dead-letter topic (committed), by reason code.',
      labelNames: ['reason'],
      registers,
    }),
    transactions: new Counter({
      name: 'flextask_scheduler_transactions_total',
      help: 'Scheduler transactions, by outcome (committed, aborted).',
      labelNames: ['outcome'],
      registers,
    }),
    commitDuration: new Histogram({
      name: 'flextask_scheduler_commit_duration_seconds',
      help: 'Duration of committed scheduler transactions, begin to commit.',
      buckets: commitBucketsSeconds,
      registers,
    }),
  }
  const sink: SinkMetrics = {
    records: new Counter({
      name: 'flextask_sink_records_total',
      help: 'Records the Postgres sink wrote (committed), by kind (execution, result, log, occurrence, ...).',
      labelNames: ['kind'],
      registers,
    }),
    batches: new Counter({
      name: 'flextask_sink_batches_total',
      help: 'Postgres sink transactions, by outcome (committed, retried, fenced).',
      labelNames: ['outcome'],
      registers,
    }),
    batchDuration: new Histogram({
      name: 'flextask_sink_batch_duration_seconds',
      help: 'Duration of committed Postgres sink batches (rows and offsets), begin to commit.',
      buckets: commitBucketsSeconds,
      registers,
    }),
    deadLetters: new Counter({
      name: 'flextask_sink_dead_letters_total',
      help: 'Undecodable records the Postgres sink sent to the dead-letter topic, by reason code.',
      labelNames: ['reason'],
      registers,
    }),
  }
  const worker: WorkerMetrics = {
    executions: new Counter({
      name: 'flextask_worker_executions_total',
      help: 'Terminal results a worker produced, by category and status.',
      labelNames: ['category', 'status'],
      registers,
    }),
    startLateness: new Histogram({
      name: 'flextask_worker_start_lateness_seconds',
      help: 'Handler start minus dueAtMs of each attempt.',
      labelNames: ['category'],
      buckets: latenessBucketsSeconds,
      registers,
    }),
    duration: new Histogram({
      name: 'flextask_worker_execution_duration_seconds',
      help: 'startedAt to finishedAt of each terminal result, by category.',
      labelNames: ['category'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
  }
  return {
    scheduler,
    sink,
    worker,
    async render() {
      return { contentType: register.contentType, body: await register.metrics() }
    },
  }
}
