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
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface CounterPort<L extends string = never> {
  inc(labels: Partial<Record<L, string>>, value?: number): void
}

export interface HistogramPort<L extends string = never> {
  observe(labels: Partial<Record<L, string>>, value: number): void
}

export interface GaugePort<L extends string = never> {
  set(labels: Partial<Record<L, string>>, value: number): void
  /** Forgets every label set (a collector resets, then sets what exists now). */
  reset(): void
}

/** Refreshes gauges just before a scrape renders them; bounded by `collectTimeoutMs`, failures are logged. */
export type Collector = () => Promise<void>

export interface SchedulerMetrics {
  /** flextask_scheduler_fires_total{category, trigger}: executions emitted (committed). */
  fires: CounterPort<'category' | 'trigger'>
  /** flextask_scheduler_fire_lateness_seconds{category}: firedAtMs − dueAtMs of each committed execution. */
  fireLateness: HistogramPort<'category'>
  /**
   * flextask_scheduler_fire_lateness_max_seconds{category}: the largest lateness of the last minute (a histogram
   * cannot say), set at scrape time.
   */
  fireLatenessMax: GaugePort<'category'>
  /** flextask_scheduler_occurrences_total{outcome, reason}: the occurrence ledger, by outcome and reason. */
  occurrences: CounterPort<'outcome' | 'reason'>
  /** flextask_scheduler_dead_letters_total{reason}: records written to the dead-letter topic, by reason code. */
  deadLetters: CounterPort<'reason'>
  /** flextask_scheduler_transactions_total{outcome}: committed / aborted transactions. */
  transactions: CounterPort<'outcome'>
  /** flextask_scheduler_commit_duration_seconds: time from begin to commit of a committed transaction. */
  commitDuration: HistogramPort
  /** flextask_scheduler_restore_duration_seconds: a partition's task, from open to running (changelog restore). */
  restoreDuration: HistogramPort
  /** flextask_scheduler_restore_records_total: changelog records applied while restoring (restore progress). */
  restoreRecords: CounterPort
  /** flextask_scheduler_partitions{state}: partitions assigned to this process, and running (restored) among them. */
  partitions: GaugePort<'state'>
  /** flextask_scheduler_timers_pending{partition}: wake-up timers in the timer store of each running partition. */
  timersPending: GaugePort<'partition'>
  /**
   * flextask_scheduler_timer_overdue_seconds{partition}: now − due time of the earliest timer of each running
   * partition, 0 when it is not yet due. Above a few seconds, something that should have fired has not.
   */
  timerOverdue: GaugePort<'partition'>
  /** flextask_scheduler_consumer_lag_records{topic, partition}: committed offset behind the end (read_committed). */
  consumerLag: GaugePort<'topic' | 'partition'>
}

export interface ApiMetrics {
  /** flextask_api_requests_total{method, route, status}: answered HTTP requests (route = the route's template). */
  requests: CounterPort<'method' | 'route' | 'status'>
  /** flextask_api_request_duration_seconds{method, route}: request received → response sent. */
  requestDuration: HistogramPort<'method' | 'route'>
}

/** Consumer lag of the worker and sink groups, read at scrape time by host/consumer-lag-collector.ts. */
export interface ConsumerLagMetrics {
  /** flextask_worker_consumer_lag_records{category, partition}: the category's worker group behind its executions topic. */
  worker: GaugePort<'category' | 'partition'>
  /** flextask_sink_consumer_lag_records{topic, partition}: the sink group behind each topic it projects. */
  sink: GaugePort<'topic' | 'partition'>
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
  /**
   * flextask_worker_executions_total{category, type, status}: terminal results a worker produced (SUCCEEDED, FAILED,
   * TIMED_OUT); type is the handler's type, or `unregistered` when no handler has it (labels stay a closed set).
   */
  executions: CounterPort<'category' | 'type' | 'status'>
  /** flextask_worker_retries_total{category, type}: attempts started after the first (attempt > 1). */
  retries: CounterPort<'category' | 'type'>
  /** flextask_worker_dead_letters_total{reason}: undecodable executions a worker sent to the dead-letter topic. */
  deadLetters: CounterPort<'reason'>
  /** flextask_worker_start_lateness_seconds{category}: handler start − dueAtMs of each attempt. */
  startLateness: HistogramPort<'category'>
  /** flextask_worker_execution_duration_seconds{category}: startedAt → finishedAt of each terminal result. */
  duration: HistogramPort<'category'>
}

export interface Metrics {
  readonly scheduler: SchedulerMetrics
  readonly sink: SinkMetrics
  readonly worker: WorkerMetrics
  readonly api: ApiMetrics
  readonly consumerLag: ConsumerLagMetrics
  /** Registers a collector run before every render; returns a function that removes it. */
  addCollector(collector: Collector): () => void
  /** The Prometheus text exposition of every metric (collectors run first). */
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

/** A restore takes milliseconds for an empty store and minutes for a large one. */
export const restoreBucketsSeconds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

/** A collector slower than this is abandoned for that scrape (its gauges keep their previous values). */
export const collectTimeoutMs = 2_000

/**
 * A registry of its own (not prom-client's global one), so tests and several hosts in a process never collide.
 * `onCollectError` hears a collector that failed or timed out (the host logs it); the scrape still answers.
 */
export function createMetrics(
  options: { processMetrics?: boolean; onCollectError?: (error: unknown) => void } = {},
): Metrics {
  const registers = [new Registry()]
  const [register] = registers as [Registry]
  if (options.processMetrics === true) collectDefaultMetrics({ register })
  // One registry for every instrument; labels typed from the label names (prom-client's own generics).
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers })
  const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers })
  const histogram = <L extends string = never>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly L[] = [],
  ) => new Histogram<L>({ name, help, labelNames, buckets, registers })
  const scheduler: SchedulerMetrics = {
    fires: counter(
      'flextask_scheduler_fires_total',
      'Executions the scheduler emitted (committed), by category and trigger.',
      ['category', 'trigger'],
    ),
    fireLateness: histogram(
      'flextask_scheduler_fire_lateness_seconds',
      'firedAtMs - dueAtMs of each committed execution.',
      latenessBucketsSeconds,
      ['category'],
    ),
    fireLatenessMax: gauge(
      'flextask_scheduler_fire_lateness_max_seconds',
      'Largest firedAtMs - dueAtMs of the executions committed in the last 60 s, by category.',
      ['category'],
    ),
    occurrences: counter(
      'flextask_scheduler_occurrences_total',
      'Occurrences recorded (committed), by outcome and reason.',
      ['outcome', 'reason'],
    ),
    deadLetters: counter(
      'flextask_scheduler_dead_letters_total',
      'Records the scheduler wrote to the dead-letter topic (committed), by reason code.',
      ['reason'],
    ),
    transactions: counter(
      'flextask_scheduler_transactions_total',
      'Scheduler transactions, by outcome (committed, aborted).',
      ['outcome'],
    ),
    commitDuration: histogram(
      'flextask_scheduler_commit_duration_seconds',
      'Duration of committed scheduler transactions, begin to commit.',
      commitBucketsSeconds,
    ),
    restoreDuration: histogram(
      'flextask_scheduler_restore_duration_seconds',
      "Time from a partition task's open to running: committed offsets, stable end offsets, changelog restore.",
      restoreBucketsSeconds,
    ),
    restoreRecords: counter(
      'flextask_scheduler_restore_records_total',
      'Changelog records applied while restoring partition tasks.',
    ),
    partitions: gauge(
      'flextask_scheduler_partitions',
      'Scheduler partitions of this process, by state (assigned; running = restored and serving).',
      ['state'],
    ),
    timersPending: gauge(
      'flextask_scheduler_timers_pending',
      'Wake-up timers in the timer store of each running scheduler partition (read at scrape time).',
      ['partition'],
    ),
    timerOverdue: gauge(
      'flextask_scheduler_timer_overdue_seconds',
      'Now minus the due time of the earliest timer of each running scheduler partition (0 if not yet due).',
      ['partition'],
    ),
    consumerLag: gauge(
      'flextask_scheduler_consumer_lag_records',
      "Records between the scheduler group's committed offset and the end of each input partition.",
      ['topic', 'partition'],
    ),
  }
  const api: ApiMetrics = {
    requests: counter(
      'flextask_api_requests_total',
      'HTTP requests the API answered, by method, route template and status code.',
      ['method', 'route', 'status'],
    ),
    requestDuration: histogram(
      'flextask_api_request_duration_seconds',
      'HTTP request duration in the API, received to response sent, by method and route template.',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ['method', 'route'],
    ),
  }
  const consumerLag: ConsumerLagMetrics = {
    worker: gauge(
      'flextask_worker_consumer_lag_records',
      "Records between a category's worker group committed offset and the end of its executions topic.",
      ['category', 'partition'],
    ),
    sink: gauge(
      'flextask_sink_consumer_lag_records',
      "Records between the sink group's committed offset and the end of each topic it projects.",
      ['topic', 'partition'],
    ),
  }
  const collectors = new Set<Collector>()
  const runCollector = async (collector: Collector): Promise<void> => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`metrics collector took over ${collectTimeoutMs} ms`)),
        collectTimeoutMs,
      )
    })
    try {
      await Promise.race([collector(), timeout])
    } catch (error) {
      options.onCollectError?.(error)
    } finally {
      clearTimeout(timer)
    }
  }
  const sink: SinkMetrics = {
    records: counter(
      'flextask_sink_records_total',
      'Records the Postgres sink wrote (committed), by kind (execution, result, log, occurrence, ...).',
      ['kind'],
    ),
    batches: counter(
      'flextask_sink_batches_total',
      'Postgres sink transactions, by outcome (committed, retried, fenced).',
      ['outcome'],
    ),
    batchDuration: histogram(
      'flextask_sink_batch_duration_seconds',
      'Duration of committed Postgres sink batches (rows and offsets), begin to commit.',
      commitBucketsSeconds,
    ),
    deadLetters: counter(
      'flextask_sink_dead_letters_total',
      'Undecodable records the Postgres sink sent to the dead-letter topic, by reason code.',
      ['reason'],
    ),
  }
  const worker: WorkerMetrics = {
    executions: counter(
      'flextask_worker_executions_total',
      'Terminal results a worker produced, by category, handler type and status.',
      ['category', 'type', 'status'],
    ),
    retries: counter(
      'flextask_worker_retries_total',
      'Attempts a worker started after the first one of their execution (attempt > 1).',
      ['category', 'type'],
    ),
    deadLetters: counter(
      'flextask_worker_dead_letters_total',
      'Undecodable executions a worker sent to the dead-letter topic, by reason code.',
      ['reason'],
    ),
    startLateness: histogram(
      'flextask_worker_start_lateness_seconds',
      'Handler start minus dueAtMs of each attempt.',
      latenessBucketsSeconds,
      ['category'],
    ),
    duration: histogram(
      'flextask_worker_execution_duration_seconds',
      'startedAt to finishedAt of each terminal result, by category.',
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      ['category'],
    ),
  }
  return {
    scheduler,
    sink,
    worker,
    api,
    consumerLag,
    addCollector(collector) {
      collectors.add(collector)
      return () => void collectors.delete(collector)
    },
    async render() {
      await Promise.all([...collectors].map(runCollector))
      return { contentType: register.contentType, body: await register.metrics() }
    },
  }
}
