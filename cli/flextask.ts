#!/usr/bin/env node
/**
 * The `flextask` command: argument parsing and signal handling only (the composition is host/flextask-process.ts,
 * the client commands are client/).
 *   flextask up | scheduler | api          run components (up: all of them in one process)
 *   flextask worker      a worker only: --categories http,email --handlers ./my-handlers.ts; scale out the same way
 *   flextask connector [--rebuild]   the Postgres sink only; --rebuild empties the projection and replays the topics
 *   flextask topics create | api-key       operator commands
 *   flextask tasks … | runs | occurrences | next | tail    a client of the REST API (FLEXTASK_API_URL, FLEXTASK_API_KEY)
 * Configuration comes from the environment (README, config.ts). SIGTERM / SIGINT close the components in reverse
 * order within FLEXTASK_SHUTDOWN_GRACE_MS; exit 0 when all closed in time. A fatal error in a component, a failed
 * start or a close past the grace period exit 1 with a one-line reason on stderr. Client commands exit with
 * client/api-client.ts ExitCodes (2 usage or invalid input, 3 not found, 4 conflict, 5 auth, 6 unavailable).
 */
import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import { type ConfigOverrides, resolveConfig, type ResolvedConfig } from '../config.ts'
import { ApiClient, ApiClientError, ExitCodes, exitCodeFor } from '../client/api-client.ts'
import { createTopics, printNewApiKey } from '../client/admin-commands.ts'
import * as commands from '../client/client-commands.ts'
import { tail } from '../client/tail.ts'
import { type ComponentName, createProcessDeps, createProcessHost } from '../host/flextask-process.ts'

const [major] = process.versions.node.split('.').map(Number)
if ((major ?? 0) < 24) {
  console.error(`flextask needs Node >= 24.6 (this is ${process.version}); run '. scripts/node-env.sh' first.`)
  process.exit(1)
}

function config(overrides: ConfigOverrides = {}): ResolvedConfig {
  try {
    return resolveConfig(process.env, overrides)
  } catch (error) {
    console.error(`flextask: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(ExitCodes.usage)
  }
}

async function run(names?: ComponentName[], overrides: ConfigOverrides = {}): Promise<never> {
  const host = createProcessHost(createProcessDeps(config(overrides)), names)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void host.stop(`received ${signal}`))
  }
  const outcome = await host.run()
  if (outcome.exitCode !== 0) console.error(`flextask: ${outcome.reason}`)
  process.exit(outcome.exitCode)
}

const io: commands.ClientIo = { out: (line) => console.log(line), err: (line) => console.error(line) }

/** Runs a client action with the API client of the global options; maps failures to exit codes. */
function client<A extends unknown[]>(action: (ctx: commands.ClientContext, ...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const { url, key, json } = program.opts<{ url?: string; key?: string; json?: boolean }>()
    const api = config().api
    const ctx = { client: new ApiClient({ url: url ?? api.url, key: key ?? api.clientKey }), io, json: json === true }
    try {
      await action(ctx, ...args)
    } catch (error) {
      console.error(`flextask: ${error instanceof Error ? error.message : String(error)}`)
      process.exit(exitCodeFor(error))
    }
  }
}

function readBodyFile(path: string | undefined): Record<string, unknown> | undefined {
  if (path === undefined) return undefined
  try {
    return JSON.parse(readFileSync(path === '-' ? 0 : path, 'utf8')) as Record<string, unknown>
  } catch (error) {
    throw new ApiClientError({
      status: 400,
      code: 'FLEXTASK_CLIENT_USAGE',
      detail: `--file ${path}: ${(error as Error).message}`,
    })
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

function taskOptions(command: Command): Command {
  return command
    .option('--name <name>', 'display name (default: the task id)')
    .option('--category <category>', 'worker category: http, email, internal, kubernetes, elasticsearch, …')
    .option('--type <type>', 'handler type within the category, e.g. request')
    .option('--cron <pattern>', 'CRON schedule, 6 fields with seconds (or 5)')
    .option('--zone <iana>', 'time zone of --cron, e.g. Europe/Berlin (default UTC)')
    .option('--every <duration>', 'INTERVAL schedule: 5000, 5s, 2m, 1h')
    .option('--at <instant>', 'ONE_SHOT schedule: ISO 8601 or epoch ms')
    .option('--delay <duration>', 'DELAY schedule: fires once this long after creation')
    .option('--start <instant>', 'nothing fires before')
    .option('--end <instant>', 'nothing fires after')
    .option('--max-runs <n>', 'stop after n runs')
    .option('--payload <json>', 'payload handed to the worker, JSON')
    .option('--label <key=value>', 'label (repeatable)', collect)
    .option('--tenant <tenant>', 'tenant')
    .option('--max-attempts <n>', 'attempts including the first (retries = n - 1)')
    .option('--timeout <duration>', 'per-attempt timeout')
    .option('--paused', 'create paused')
    .option('--file <path>', 'request body as JSON (- for stdin); flags override its fields')
    .option('--no-wait', 'answer as soon as Kafka has the write, without waiting for the read model')
}

const program = new Command('flextask')
  .description('A distributed task scheduler whose source of truth is Apache Kafka.')
  .helpCommand(true)
  .option('--url <url>', 'API base URL (default FLEXTASK_API_URL or http://127.0.0.1:$PORT)')
  .option('--key <key>', 'API key (default FLEXTASK_API_KEY)')
  .option('--json', 'print the API JSON instead of tables')
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : ExitCodes.usage))

program
  .command('up', { isDefault: true })
  .description('run every component in one process (scheduler, worker, connector, API), serving /metrics and /health/*')
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
program
  .command('api')
  .description('run the REST API only (PORT; OpenAPI at /docs)')
  .action(() => run(['api']))
program
  .command('api-key')
  .description('make a new API key and the FLEXTASK_API_KEYS entry (id:scope:sha256) that grants it')
  .argument('<id>', 'a name for the key (shown in logs, used for the rate limit)')
  .addArgument(new Command().createArgument('<scope>', 'read, write or admin').choices(['read', 'write', 'admin']))
  .action(client((_ctx, id: string, scope: string) => Promise.resolve(printNewApiKey(id, scope, io))))
program
  .command('topics')
  .description('manage topics')
  .command('create')
  .description('create every topic the scheduler needs (FLEXTASK_PARTITIONS partitions, co-partitioned)')
  .action(client(() => createTopics(config(), io)))

const tasks = program.command('tasks').description('create, list, change and delete tasks (through the API)')
taskOptions(
  tasks.command('create').description('create a task').option('--id <taskId>', 'task id (default: generated)'),
).action(client((ctx, flags: commands.TaskFlags) => commands.createTask(ctx, flags, readBodyFile(flags.file))))
tasks
  .command('list')
  .description('list tasks')
  .option('--category <category>')
  .option('--type <type>')
  .addOption(new Option('--status <status>').choices(['ACTIVE', 'PAUSED', 'INVALID', 'UNKNOWN']))
  .option('--label <key=value>')
  .option('--tenant <tenant>')
  .option('--q <text>', 'substring of the id or name')
  .option('--page <n>', '0-based page')
  .option('--size <n>', 'page size')
  .action(client((ctx, query: Record<string, string>) => commands.listTasks(ctx, query)))
tasks
  .command('get')
  .description('show a task')
  .argument('<taskId>')
  .action(client((ctx, id: string) => commands.getTask(ctx, id)))
taskOptions(
  tasks.command('update').description('change a task (flags on top of its current definition)').argument('<taskId>'),
).action(
  client((ctx, id: string, flags: commands.TaskFlags) => commands.updateTask(ctx, id, flags, readBodyFile(flags.file))),
)
for (const [name, status] of [
  ['pause', 'PAUSED'],
  ['resume', 'ACTIVE'],
] as const) {
  tasks
    .command(name)
    .description(`${name} a task`)
    .argument('<taskId>')
    .option('--no-wait', 'do not wait for the read model')
    .action(client((ctx, id: string, o: { wait?: boolean }) => commands.setStatus(ctx, id, status, o.wait)))
}
tasks
  .command('trigger')
  .description('fire a task now')
  .argument('<taskId>')
  .action(client((ctx, id: string) => commands.sendTaskCommand(ctx, id, 'trigger')))
for (const action of ['cancel', 'retry'] as const) {
  tasks
    .command(action)
    .description(
      action === 'cancel'
        ? 'cancel an execution (default: those in flight, else the next slot)'
        : 'retry a DEAD or FAILED execution (default: the latest)',
    )
    .argument('<taskId>')
    .option('--execution <executionId>', 'the execution (<taskId>:<slot ms>)')
    .action(
      client((ctx, id: string, o: { execution?: string }) => commands.sendTaskCommand(ctx, id, action, o.execution)),
    )
}
tasks
  .command('delete')
  .description('delete a task (needs an admin key)')
  .argument('<taskId>')
  .option('--no-wait', 'do not wait for the read model')
  .action(client((ctx, id: string, o: { wait?: boolean }) => commands.deleteTask(ctx, id, o.wait)))

program
  .command('runs')
  .description("a task's executions, newest first")
  .argument('<taskId>')
  .option('--page <n>')
  .option('--size <n>')
  .action(client((ctx, id: string, o: Record<string, string>) => commands.listRuns(ctx, id, o)))
program
  .command('occurrences')
  .description("a task's scheduled instants with their outcome (default: the last hour)")
  .argument('<taskId>')
  .option('--from <instant>', 'ISO 8601 or epoch ms')
  .option('--to <instant>', 'ISO 8601 or epoch ms')
  .action(client((ctx, id: string, o: Record<string, string>) => commands.listOccurrences(ctx, id, o)))
program
  .command('next')
  .description('the next instants the schedule will fire')
  .argument('<taskId>')
  .option('--count <n>', 'how many (default 10)')
  .action(client((ctx, id: string, o: { count?: string }) => commands.nextInstants(ctx, id, o.count)))
program
  .command('tail')
  .description('follow fires, results, occurrences and dead letters live (Ctrl-C stops; prints the resume token)')
  .option('--task <taskId>')
  .option('--category <category>')
  .option('--tenant <tenant>')
  .option('--resume <token>', 'continue after the last event of an earlier tail')
  .action(
    client(async (ctx, o: { task?: string; category?: string; tenant?: string; resume?: string }) => {
      const stop = new AbortController()
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort())
      const resume = await tail(ctx.client, io, {
        ...(o.task === undefined ? {} : { taskId: o.task }),
        ...(o.category === undefined ? {} : { category: o.category }),
        ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
        ...(o.resume === undefined ? {} : { resume: o.resume }),
        json: ctx.json,
        signal: stop.signal,
      })
      if (resume !== undefined) io.err(`resume with: flextask tail --resume '${resume}'`)
    }),
  )

await program.parseAsync(process.argv)
