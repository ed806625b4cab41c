/**
 * The due workload (due-workload.ts) on flextask: pending and measured ONE_SHOT definitions are produced to the
 * definitions topic, the scheduler (a child process) ingests them, and each measured execution is observed
 * either by a read_committed consumer on `<prefix>.executions.internal` (receipt time: the fire's transaction
 * committed and fetched; scenarios a and b) or by a flextask worker running a no-op handler (handler start;
 * scenario f). Every execution also carries the scheduler's own fire stamp, firedAtMs.
 */
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { workerGroupId } from '../../topics.ts'
import { HandlerRegistry } from '../../workers/handler.ts'
import { createWorker } from '../../workers/worker.ts'
import { type DueRecorder, driveDueRun, type DueRun, type DueWorkload } from '../lib/due-workload.ts'
import {
  CATEGORY,
  closeRun,
  type FlextaskRun,
  observeExecutions,
  forkScheduler,
  ingested,
  oneShot,
  openRun,
  produce,
  type SchedulerChild,
  TASK_TYPE,
} from '../lib/flextask-harness.ts'

export type FlextaskObserver = 'consumer' | 'worker'

/** Ingestion rate assumed when placing the window; the run reports the real slack. */
const ASSUMED_INGEST_PER_S = 10_000
const MEASURED_PREFIX = 'm-'
const LOAD_TIMEOUT_MS = 15 * 60_000

export const flextaskConfig =
  'flextask defaults (3 partitions, exactly-once, commitIntervalMs 100, maxFiresPerWake 1000); scheduler in a ' +
  'child process; worker concurrency 64'

/** Observes executions with a read_committed consumer; resolves with its close function once subscribed. */
async function consumeExecutions(run: FlextaskRun, recorder: DueRecorder): Promise<() => Promise<void>> {
  return observeExecutions(run, (e, receivedMs) =>
    recorder.record(measuredIndex(e.taskId), e.dueAtMs, receivedMs, e.firedAtMs),
  )
}

/** Observes executions with a flextask worker (no-op handler); resolves with its close function once started. */
async function workExecutions(run: FlextaskRun, recorder: DueRecorder): Promise<() => Promise<void>> {
  const handlers = new HandlerRegistry().registerInternal(TASK_TYPE, () => null)
  const worker = createWorker({ ...run.deps, handlers })
  run.groups.push(workerGroupId(CATEGORY, run.prefix))
  await worker.start()
  worker.runtime?.on('started', (e: TaskExecution, startedAtMs: number) =>
    recorder.record(measuredIndex(e.taskId), e.dueAtMs, startedAtMs, e.firedAtMs),
  )
  return () => worker.close()
}

function measuredIndex(taskId: string): number {
  return taskId.startsWith(MEASURED_PREFIX) ? Number(taskId.slice(MEASURED_PREFIX.length)) : -1
}

export async function runFlextaskDue(
  workload: DueWorkload,
  observer: FlextaskObserver,
  progress: (line: string) => void,
): Promise<DueRun> {
  const run = await openRun(workload.scenario)
  let child: SchedulerChild | undefined
  let closeObserver: (() => Promise<void>) | undefined
  const scheduler = (): SchedulerChild => {
    if (child === undefined) throw new Error('the scheduler process was not started')
    return child
  }
  try {
    return await driveDueRun(
      {
        name: 'flextask',
        observed: observer === 'consumer' ? 'consumer receipt' : 'worker start',
        config: flextaskConfig,
        assumedLoadPerS: ASSUMED_INGEST_PER_S,
        loadPending: async (count, dueMs) => {
          const createdAtMs = Date.now()
          await produce(run, count, (i) => oneShot(`p-${i}`, dueMs, createdAtMs))
          child = forkScheduler(run, () => {})
          await child.serving
          await ingested(run, child, Date.now() + LOAD_TIMEOUT_MS)
        },
        observe: async (recorder) => {
          closeObserver = await (observer === 'consumer' ? consumeExecutions : workExecutions)(run, recorder)
        },
        loadMeasured: async (count, dueMs, deadlineMs) => {
          const createdAtMs = Date.now()
          await produce(run, count, (i) => oneShot(`${MEASURED_PREFIX}${i}`, dueMs(i), createdAtMs))
          await ingested(run, scheduler(), deadlineMs)
        },
        check: () => child?.throwIfFailed(),
      },
      workload,
      progress,
    )
  } finally {
    await closeObserver?.().catch(() => {})
    await closeRun(run)
  }
}
