/**
 * Scenarios (c), (d) and (e) on flextask, in one run per N: N ONE_SHOT definitions due a day ahead are produced
 * before the scheduler starts; the scheduler process then ingests them (c: definitions per second, from start()
 * resolving to the group's committed offsets reaching the end offsets, which commit in the same transaction
 * as the state changelogs); its resident memory is read once ingestion settled (e: RSS with N pending, and the
 * peak); then it is closed, its state directory deleted, and a new scheduler process restores the state from
 * the changelog topics (d: cold restore, from fork to start() resolving, progress printed every 5 s: records
 * applied and records/s, from the scheduler's restore progress events, and per partition when it is done).
 * Ingest, and each scheduler's start (FLEXTASK_START_TIMEOUT_MS), may take up to `timeoutMs(pending)`: the
 * default start timeout (600 s) ended the first 10M restore, on a loaded box, before it finished.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { PENDING_AHEAD_MS } from '../lib/due-workload.ts'
import { closeRun, forkScheduler, ingested, oneShot, openRun, produce } from '../lib/flextask-harness.ts'
import type { ProcessMemory } from '../lib/scheduler-process.ts'

export interface StateRun {
  pending: number
  produceMs: number
  /** Bytes of key + value per definition record. */
  recordBytes: number
  /** Fork → start() resolved on an empty state. */
  startupMs: number
  /** start() resolved → every definition committed. */
  ingestMs: number
  ingestPerS: number
  rssAfterIngestBytes: number
  peakRssIngestBytes: number
  /** V8 heap used after a full GC, once ingestion settled / after the restore: what the heap retains. */
  heapAfterIngestBytes: number
  heapAfterRestoreBytes: number
  /** The whole picture after a full GC, once ingestion settled / after the restore (scheduler-process.ts). */
  memoryAfterIngest: ProcessMemory
  memoryAfterRestore: ProcessMemory
  /** Peak resident memory backed by no file (RSS less LevelDB's mapped table files and the code). */
  peakRssAnonIngestBytes: number
  peakRssAnonRestoreBytes: number
  /** Fork → start() resolved with the state directory deleted. */
  restoreMs: number
  restoredRecords: number
  rssAfterRestoreBytes: number
  peakRssRestoreBytes: number
}

/** RSS is read this long after ingestion ends, once the last cycle's buffers could be collected. */
const SETTLE_MS = 2_000
/** 30 min, or 2,000 definitions/s at least (the 10M ingest took 1,409 s on a loaded box). */
const timeoutMs = (pending: number): number => Math.max(30 * 60_000, pending / 2)

export async function runFlextaskState(pending: number, progress: (line: string) => void): Promise<StateRun> {
  const run = await openRun('state')
  try {
    const produceStarted = Date.now()
    const farMs = produceStarted + PENDING_AHEAD_MS
    const bytes = await produce(run, pending, (i) => oneShot(`p-${i}`, farMs, produceStarted))
    const produceMs = Date.now() - produceStarted
    progress(`produced ${pending} definitions in ${produceMs} ms; starting the scheduler`)

    const first = forkScheduler(run, progress, { startTimeoutMs: timeoutMs(pending) })
    const servingAt = await first.serving
    const ingestedAt = await ingested(run, first, Date.now() + timeoutMs(pending))
    await sleep(SETTLE_MS)
    const rssAfterIngestBytes = first.rssBytes
    const memoryAfterIngest = await first.measure()
    progress(`memory after ingest (after a full GC): ${memoryLine(memoryAfterIngest)}`)
    const peakRssIngestBytes = await first.close()
    progress(`ingested in ${ingestedAt - servingAt} ms; cold restore with the state directory deleted`)

    const restoring = forkScheduler(run, progress, { startTimeoutMs: timeoutMs(pending) })
    const ticker = setInterval(() => {
      const seconds = (Date.now() - restoring.startedMs) / 1000
      let records = 0
      for (const n of restoring.restoring.values()) records += n
      let retried = 0
      for (const n of restoring.retriedFetches.values()) retried += n
      progress(
        `restoring: ${Math.round(seconds)} s, ${records} of ${2 * pending} records (${Math.round(records / seconds)}/s), ` +
          `${retried} fetches retried, ${restoring.restoredPartitions} of 3 partitions done, RSS ${MiB(restoring.rssBytes)} MiB ` +
          `(anonymous ${MiB(restoring.rssAnonBytes)}, file-backed ${MiB(restoring.rssFileBytes)})`,
      )
    }, 5_000)
    const restoredAt = await restoring.serving.finally(() => clearInterval(ticker))
    await sleep(SETTLE_MS)
    const rssAfterRestoreBytes = restoring.rssBytes
    const memoryAfterRestore = await restoring.measure()
    progress(`memory after restore (after a full GC): ${memoryLine(memoryAfterRestore)}`)
    const peakRssRestoreBytes = await restoring.close()
    return {
      pending,
      produceMs,
      recordBytes: bytes / pending,
      startupMs: servingAt - first.startedMs,
      ingestMs: ingestedAt - servingAt,
      ingestPerS: (pending * 1000) / Math.max(1, ingestedAt - servingAt),
      rssAfterIngestBytes,
      peakRssIngestBytes,
      heapAfterIngestBytes: memoryAfterIngest.heapUsedBytes,
      heapAfterRestoreBytes: memoryAfterRestore.heapUsedBytes,
      memoryAfterIngest,
      memoryAfterRestore,
      peakRssAnonIngestBytes: first.peakRssAnonBytes,
      peakRssAnonRestoreBytes: restoring.peakRssAnonBytes,
      restoreMs: restoredAt - restoring.startedMs,
      restoredRecords: restoring.restoredRecords,
      rssAfterRestoreBytes,
      peakRssRestoreBytes,
    }
  } finally {
    await closeRun(run)
  }
}

const MiB = (bytes: number): number => Math.round(bytes / 2 ** 20)

function memoryLine(m: ProcessMemory): string {
  return (
    `RSS ${MiB(m.rssBytes)} MiB (anonymous ${MiB(m.rssAnonBytes)}, file-backed ${MiB(m.rssFileBytes)}), ` +
    `heap used ${MiB(m.heapUsedBytes)} of ${MiB(m.heapTotalBytes)} MiB, external ${MiB(m.externalBytes)} MiB ` +
    `(array buffers ${MiB(m.arrayBuffersBytes)})`
  )
}
