#!/usr/bin/env node
/**
 * The `flextask` command: argument parsing and signal handling only (the composition is host/flextask-process.ts).
 *   flextask up          every component in one process, in dependency order (scheduler, worker, connector)
 *   flextask scheduler   the scheduler only; scale out by starting more (one consumer group)
 *   flextask worker      a worker only: --categories http,email --handlers ./my-handlers.ts; scale out the same way
 *   flextask connector [--rebuild]
 *                        the Postgres sink only; --rebuild empties the projection and replays the topics
 * Configuration comes from the environment (README, config.ts). SIGTERM / SIGINT close the components in reverse
 * order within FLEXTASK_SHUTDOWN_GRACE_MS; exit 0 when all closed in time. A fatal error in a component, a failed
 * start or a close past the grace period exit 1 with a one-line reason on stderr.
 */
import { Command } from 'commander'
import { type ConfigOverrides, resolveConfig } from '../config.ts'
import { type ComponentName, createProcessDeps, createProcessHost } from '../host/flextask-process.ts'

const [major] = process.versions.node.split('.').map(Number)
if ((major ?? 0) < 24) {
  console.error(`flextask needs Node >= 24.6 (this is ${process.version}); run '. scripts/node-env.sh' first.`)
  process.exit(1)
}

async function run(names?: ComponentName[], overrides: ConfigOverrides = {}): Promise<never> {
  let config
  try {
    config = resolveConfig(process.env, overrides)
  } catch (error) {
    console.error(`flextask: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(2)
  }
  const host = createProcessHost(createProcessDeps(config), names)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void host.stop(`received ${signal}`))
  }
  const outcome = await host.run()
  if (outcome.exitCode !== 0) console.error(`flextask: ${outcome.reason}`)
  process.exit(outcome.exitCode)
}

const program = new Command('flextask')
  .description('A distributed task scheduler whose source of truth is Apache Kafka.')
  .helpCommand(true)
program
  .command('up', { isDefault: true })
  .description('run every component in one process (scheduler, worker, connector), serving /metrics and /health/*')
  .action(() => run())
program
  .command('scheduler')
  .description('run the scheduler only (scale out by starting more instances)')
  .action(() => run(['scheduler']))
program
  .command('worker')
  .description('run a worker only: one consumer group per category (scale out by starting more)')
  .option('--categories <list>', 'comma-separated categories to work on (default: every category with a handler)')
  .option('--handlers <modules>', 'comma-separated handler modules, e.g. ./my-handlers.ts')
  .action((options: { categories?: string; handlers?: string }) => {
    const list = (value: string | undefined): string[] | undefined =>
      value
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    const categories = list(options.categories)
    const handlerModules = list(options.handlers)
    return run(['worker'], {
      worker: { ...(categories ? { categories } : {}), ...(handlerModules ? { handlerModules } : {}) },
    })
  })
program
  .command('connector')
  .description('run the Postgres sink only (the read model: tasks, task_runs, task_logs, task_occurrences, ...)')
  .option('--rebuild', 'empty the projection and replay every topic from its beginning (stop other sinks first)')
  .action((options: { rebuild?: boolean }) => run(['connector'], { sink: { rebuild: options.rebuild === true } }))
await program.parseAsync(process.argv)
