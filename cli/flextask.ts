#!/usr/bin/env node
/**
 * The `flextask` command.
 *   flextask up          all components in one process (today: the scheduler)
 *   flextask scheduler   the scheduler only; scale out by starting more (one consumer group)
 * Configuration comes from the environment (see README, config.ts). SIGTERM/SIGINT finish the current
 * cycle, commit, close the stores and leave the group.
 */
import { resolveConfig } from '../config.ts'
import { startScheduler } from './scheduler-app.ts'

const [major] = process.versions.node.split('.').map(Number)
if ((major ?? 0) < 24) {
  console.error(`flextask needs Node >= 24.6 (this is ${process.version}); run '. scripts/node-env.sh' first.`)
  process.exit(1)
}

const command = process.argv[2] ?? 'up'
if (command !== 'up' && command !== 'scheduler') {
  console.error('usage: flextask up | scheduler')
  process.exit(2)
}
const config = resolveConfig()
const app = await startScheduler(config)
app.runtime.observe({
  onFatal: (error) => {
    console.error(`flextask: fatal: ${error.code}: ${error.message}`)
    // close() releases the group membership, the producer and the LevelDB locks also after a fatal error.
    void app.close().finally(() => process.exit(1))
  },
  onAssigned: (e) =>
    console.log(`flextask: assigned partitions ${e.partitions.join(',')} (generation ${e.generation})`),
  onRestored: (e) =>
    console.log(
      `flextask: partition ${e.partition} running (${e.records} records restored in ${Math.round(e.durationMs)} ms)`,
    ),
  onAborted: (e) =>
    console.log(`flextask: cycle aborted (${e.code}: ${e.message}); retry #${e.streak} in ${e.backoffMs} ms`),
  onRetrying: (e) =>
    console.log(
      `flextask: ${e.step} failing for ${Math.round(e.failingForMs / 1000)} s (${e.code}: ${e.message}); ` +
        `retry in ${e.backoffMs} ms, giving up in ${Math.round(e.giveUpInMs / 1000)} s`,
    ),
  onTaskFailed: (e) =>
    console.log(`flextask: partition ${e.partition} could not open (${e.code}: ${e.message}); retrying`),
})
console.log(`flextask: scheduler running (instance ${config.instanceId}, brokers ${config.kafkaBrokers.join(',')})`)
let closing = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    void app.close().then(() => process.exit(0))
  })
}
