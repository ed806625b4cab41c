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
app.runtime.on('error', (error: unknown) => {
  console.error(`flextask: fatal: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
app.runtime.on('assigned', (e: { partitions: number[] }) =>
  console.log(`flextask: assigned partitions ${e.partitions.join(',')}`),
)
console.log(`flextask: scheduler running (instance ${config.instanceId}, brokers ${config.kafkaBrokers.join(',')})`)
let closing = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    void app.close().then(() => process.exit(0))
  })
}
