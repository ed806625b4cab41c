/**
 * The flextask scheduler in a child process of the benchmark, so that its resident memory is its own and the
 * bench's producers and consumers share no event loop with it (the peers' servers, Redis and Postgres, are
 * separate processes too). Started by `forkScheduler` in flextask-harness.ts with its settings in the
 * BENCH_SCHEDULER environment variable (JSON); talks over the IPC channel:
 *
 *   child → parent: { type: 'restoring', partition, store, records, retriedFetches }   a store's restore progress
 *                   { type: 'taskFailed', partition, code, message }      a task open failed (it is retried)
 *                   { type: 'restored', partition, records, durationMs }   one per partition restored
 *                   { type: 'serving', rssBytes }                          start() resolved
 *                   { type: 'rss', rssBytes, peakRssBytes, rssAnonBytes, peakRssAnonBytes, rssFileBytes }
 *                                                                          every RSS_EVERY_MS
 *                   { type: 'fatal', message }                             the runtime stopped on an error
 *                   { type: 'memory', …ProcessMemory }                     after a 'measure' request
 *                   { type: 'closed', peakRssBytes, peakRssAnonBytes }     after a 'close' request
 *                   { type: 'cycle', … }   one per committed transaction, when settings.trace (cycle-trace.ts)
 *   parent → child: { type: 'close' } | { type: 'measure' } (a full GC first: the child runs with --expose-gc)
 */
import { readFileSync } from 'node:fs'
import { resolveConfig } from '../../config.ts'
import { createProcessDeps } from '../../host/flextask-process.ts'
import { silentLogger } from '../../logger.ts'
import { createMetrics } from '../../metrics.ts'
import { createScheduler } from '../../scheduler/scheduler.ts'
import { type CycleTrace, traceCycles } from './cycle-trace.ts'
import { benchEnvironment } from './kafka-bench.ts'

export interface SchedulerProcessSettings {
  brokers: string[]
  registryUrl: string
  prefix: string
  partitions: number
  category: string
  stateDir: string
  instanceId: string
  /** Send a CycleTrace per committed transaction (latency breakdowns; a few messages per second). */
  trace?: boolean
  /** FLEXTASK_START_TIMEOUT_MS of the scheduler (a long cold restore). @default the config's */
  startTimeoutMs?: number
}

/**
 * The process's memory: V8's heap (used, committed), Buffers outside it, and the resident set split by what backs
 * it (Linux /proc/self/status): anonymous (the heap, malloc, buffers) and file-backed (mapped files: LevelDB maps
 * the table files it reads, so compaction on a large state raises RSS with pages the kernel can drop).
 */
export interface ProcessMemory {
  rssBytes: number
  rssAnonBytes: number
  rssFileBytes: number
  heapUsedBytes: number
  heapTotalBytes: number
  externalBytes: number
  arrayBuffersBytes: number
}

export type SchedulerProcessMessage =
  | { type: 'restoring'; partition: number; store: string; records: number; retriedFetches: number }
  | { type: 'taskFailed'; partition: number; code: string; message: string }
  | { type: 'restored'; partition: number; records: number; durationMs: number }
  | { type: 'serving'; rssBytes: number }
  | {
      type: 'rss'
      rssBytes: number
      peakRssBytes: number
      rssAnonBytes: number
      peakRssAnonBytes: number
      rssFileBytes: number
    }
  | { type: 'fatal'; message: string }
  | ({ type: 'memory' } & ProcessMemory)
  | { type: 'closed'; peakRssBytes: number; peakRssAnonBytes: number }
  | ({ type: 'cycle' } & CycleTrace)

const RSS_EVERY_MS = 250

/** RssAnon and RssFile (+ RssShmem) from /proc/self/status; zeros where there is none (not Linux). */
function residentSplit(): { rssAnonBytes: number; rssFileBytes: number } {
  let status = ''
  try {
    status = readFileSync('/proc/self/status', 'utf8')
  } catch {
    return { rssAnonBytes: 0, rssFileBytes: 0 }
  }
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
  return { rssAnonBytes: kib('RssAnon'), rssFileBytes: kib('RssFile') + kib('RssShmem') }
}

function send(message: SchedulerProcessMessage): void {
  process.send?.(message)
}

async function main(): Promise<void> {
  const raw = process.env.BENCH_SCHEDULER
  if (raw === undefined || process.send === undefined)
    throw new Error('scheduler-process.ts is started by forkScheduler')
  const settings = JSON.parse(raw) as SchedulerProcessSettings
  const config = resolveConfig({
    ...benchEnvironment(settings),
    KAFKA_BROKERS: settings.brokers.join(','),
    SCHEMA_REGISTRY_URL: settings.registryUrl,
    ...(settings.startTimeoutMs === undefined ? {} : { FLEXTASK_START_TIMEOUT_MS: String(settings.startTimeoutMs) }),
  })
  const deps = createProcessDeps(config, { logger: silentLogger, metrics: createMetrics() })
  const app = createScheduler(deps)
  let peakRssBytes = process.memoryUsage.rss()
  let peakRssAnonBytes = residentSplit().rssAnonBytes
  const sampler = setInterval(() => {
    const rssBytes = process.memoryUsage.rss()
    const split = residentSplit()
    peakRssBytes = Math.max(peakRssBytes, rssBytes)
    peakRssAnonBytes = Math.max(peakRssAnonBytes, split.rssAnonBytes)
    send({ type: 'rss', rssBytes, peakRssBytes, ...split, peakRssAnonBytes })
  }, RSS_EVERY_MS)
  app.runtime.observe({
    onRestoreProgress: (e) =>
      send({
        type: 'restoring',
        partition: e.partition,
        store: e.store,
        records: e.records,
        retriedFetches: e.retriedFetches,
      }),
    onTaskFailed: (e) => send({ type: 'taskFailed', partition: e.partition, code: e.code, message: e.message }),
    onRestored: (e) => send({ type: 'restored', partition: e.partition, records: e.records, durationMs: e.durationMs }),
    onFatal: (error) => send({ type: 'fatal', message: `${error.code}: ${error.message}` }),
  })
  if (settings.trace === true) app.runtime.observe(traceCycles((cycle) => send({ type: 'cycle', ...cycle })))
  process.on('message', (message: { type: string }) => {
    if (message.type === 'measure') {
      // What the heap retains (a full GC first), against RSS: is anything per task held in memory?
      ;(globalThis as { gc?: () => void }).gc?.()
      const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
      send({
        type: 'memory',
        rssBytes: rss,
        ...residentSplit(),
        heapUsedBytes: heapUsed,
        heapTotalBytes: heapTotal,
        externalBytes: external,
        arrayBuffersBytes: arrayBuffers,
      })
      return
    }
    if (message.type !== 'close') return
    clearInterval(sampler)
    void app
      .close()
      .catch(() => undefined)
      .then(() => {
        send({ type: 'closed', peakRssBytes, peakRssAnonBytes })
        process.disconnect()
      })
  })
  // The parent going away (a crashed bench) must not leave a scheduler running.
  process.on('disconnect', () => {
    clearInterval(sampler)
    void app.close().finally(() => process.exit(0))
  })
  try {
    await app.start()
  } catch (error) {
    send({ type: 'fatal', message: error instanceof Error ? error.message : String(error) })
    return
  }
  send({ type: 'serving', rssBytes: process.memoryUsage.rss() })
}

await main()
