/**
 * The flextask scheduler in a child process of the benchmark, so that its resident memory is its own and the
 * bench's producers and consumers share no event loop with it (the peers' servers, Redis and Postgres, are
 * separate processes too). Started by `forkScheduler` in flextask-harness.ts with its settings in the
 * BENCH_SCHEDULER environment variable (JSON); talks over the IPC channel:
 *
 *   child → parent: { type: 'restoring', partition, store, records }       a store's restore progress (every 5 s)
 *                   { type: 'restored', partition, records, durationMs }   one per partition restored
 *                   { type: 'serving', rssBytes }                          start() resolved
 *                   { type: 'rss', rssBytes, peakRssBytes }                every RSS_EVERY_MS
 *                   { type: 'fatal', message }                             the runtime stopped on an error
 *                   { type: 'memory', rssBytes, heapUsedBytes, externalBytes }   after a 'measure' request
 *                   { type: 'closed', peakRssBytes }                       after a 'close' request
 *   parent → child: { type: 'close' } | { type: 'measure' } (a full GC first: the child runs with --expose-gc)
 */
import { resolveConfig } from '../../config.ts'
import { createProcessDeps } from '../../host/flextask-process.ts'
import { silentLogger } from '../../logger.ts'
import { createMetrics } from '../../metrics.ts'
import { createScheduler } from '../../scheduler/scheduler.ts'
import { benchEnvironment } from './kafka-bench.ts'

export interface SchedulerProcessSettings {
  brokers: string[]
  registryUrl: string
  prefix: string
  partitions: number
  category: string
  stateDir: string
  instanceId: string
  /** FLEXTASK_START_TIMEOUT_MS of the scheduler (a long cold restore). @default the config's */
  startTimeoutMs?: number
}

export type SchedulerProcessMessage =
  | { type: 'restoring'; partition: number; store: string; records: number }
  | { type: 'restored'; partition: number; records: number; durationMs: number }
  | { type: 'serving'; rssBytes: number }
  | { type: 'rss'; rssBytes: number; peakRssBytes: number }
  | { type: 'fatal'; message: string }
  | { type: 'memory'; rssBytes: number; heapUsedBytes: number; externalBytes: number }
  | { type: 'closed'; peakRssBytes: number }

const RSS_EVERY_MS = 250

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
  const sampler = setInterval(() => {
    const rssBytes = process.memoryUsage.rss()
    peakRssBytes = Math.max(peakRssBytes, rssBytes)
    send({ type: 'rss', rssBytes, peakRssBytes })
  }, RSS_EVERY_MS)
  app.runtime.observe({
    onRestoreProgress: (e) => send({ type: 'restoring', partition: e.partition, store: e.store, records: e.records }),
    onRestored: (e) => send({ type: 'restored', partition: e.partition, records: e.records, durationMs: e.durationMs }),
    onFatal: (error) => send({ type: 'fatal', message: `${error.code}: ${error.message}` }),
  })
  process.on('message', (message: { type: string }) => {
    if (message.type === 'measure') {
      // What the heap retains (a full GC first), against RSS: is anything per task held in memory?
      ;(globalThis as { gc?: () => void }).gc?.()
      const { rss, heapUsed, external } = process.memoryUsage()
      send({ type: 'memory', rssBytes: rss, heapUsedBytes: heapUsed, externalBytes: external })
      return
    }
    if (message.type !== 'close') return
    clearInterval(sampler)
    void app
      .close()
      .catch(() => undefined)
      .then(() => {
        send({ type: 'closed', peakRssBytes })
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
