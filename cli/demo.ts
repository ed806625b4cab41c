/**
 * `npm run demo`: the main job on one machine. Starts local Kafka and the Schema Registry (unless
 * KAFKA_BROKERS / SCHEMA_REGISTRY_URL point elsewhere), checks Postgres, runs the scheduler and a worker (with a
 * local echo endpoint and SMTP sink, demo/worker-demo.ts), produces a handful of example task definitions and
 * prints every execution as it is emitted, with its lateness, the results next to it (retries visible, one ends
 * DEAD), and the dead-letter reason of the invalid one. Ctrl-C stops everything it started.
 * FLEXTASK_DEMO_SECONDS=N stops by itself after N seconds.
 */
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MessagesStreamFallbackModes, MessagesStreamModes, type Message } from '@platformatic/kafka'
import pg from 'pg'
import { postgresClientOptions, resolveConfig } from '../config.ts'
import { createProcessDeps } from '../host/flextask-process.ts'
import { createLogger } from '../logger.ts'
import { startDemoApi } from '../demo/api-demo.ts'
import { startOpsDemo } from '../demo/ops-demo.ts'
import { startSinkDemo, type SinkDemo } from '../demo/sink-demo.ts'
import { createScheduler } from '../scheduler/scheduler.ts'
import { demoDefinitions, describeResult, startDemoServices } from '../demo/worker-demo.ts'
import { createWorker } from '../workers/worker.ts'
import { partitionForKey } from '../topology/partitioner.ts'
import { startKafka, stopKafka } from '../tools/kafka/kafka.ts'
import { startRegistry, stopRegistry } from '../tools/registry/registry.ts'

const runId = Date.now().toString(36)
const stateDir = join(tmpdir(), `flextask-demo-${runId}`)
const config = resolveConfig(
  {
    ...process.env,
    FLEXTASK_TOPIC_PREFIX: process.env.FLEXTASK_TOPIC_PREFIX ?? `flextask-demo-${runId}`,
    FLEXTASK_STATE_DIR: stateDir,
    FLEXTASK_PARTITIONS: process.env.FLEXTASK_PARTITIONS ?? '3',
  },
  // The demo's echo endpoint and SMTP sink are on loopback, which the SSRF guard refuses unless allowed.
  { worker: { ssrfAllow: ['loopback'] } },
)
// The demo prints its own lines; the scheduler's logs show warnings and errors only unless LOG_LEVEL says otherwise.
const deps = createProcessDeps(config, {
  logger: createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level }),
})
const time = (ms: number): string => new Date(ms).toISOString().slice(11, 23)

const startedKafka = process.env.KAFKA_BROKERS === undefined ? await startKafka() : false
const startedRegistry = process.env.SCHEMA_REGISTRY_URL === undefined ? await startRegistry() : false
const postgresReachable = await checkPostgres()

console.log(
  `\nscheduler: starting (topics ${config.topics.prefix}.*, ${config.topics.partitions} partitions, state ${stateDir})`,
)
const app = createScheduler(deps)
await app.start()
console.log('scheduler: running; every partition restored')
console.log('worker: starting (one consumer group per category)')
const services = await startDemoServices()
services.onMail((line) => console.log(line))
const worker = createWorker({ ...deps, handlers: services.handlers })
await worker.start()
console.log(`worker: running (echo endpoint ${services.echoUrl}, SMTP sink 127.0.0.1:${services.smtpPort})`)
console.log(`kubernetes: a local STAND-IN for an API server at ${services.kubernetesUrl} (no cluster is involved)`)
const opsDemo = await startOpsDemo(deps, () => ({ scheduler: app.health() }))
for (const line of opsDemo.lines) console.log(line)
if (postgresReachable) console.log('postgres sink: starting')
const sinkDemo: SinkDemo | undefined = postgresReachable
  ? await startSinkDemo(deps, (line) => console.log(line)).catch((error: unknown) => {
      console.log(`postgres sink: could not start (${error instanceof Error ? error.message : String(error)})`)
      return undefined
    })
  : undefined
console.log('api: starting')
const demoApi = await startDemoApi(deps, sinkDemo?.databaseUrl)
for (const line of demoApi.lines) console.log(line)
console.log('')

const consumer = deps.kafka.consumer({
  clientId: 'flextask-demo-reader',
  groupId: `flextask-demo-reader-${runId}`,
  autocommit: false,
  maxWaitTime: 100,
})
const executionTopics = config.topics.categories.map(app.topics.executions)
const stream = await consumer.consume({
  topics: [...executionTopics, app.topics.deadLetter, app.topics.results],
  mode: MessagesStreamModes.LATEST,
  fallbackMode: MessagesStreamFallbackModes.LATEST,
})
stream.on('data', (message: Message) => void show(message))

const producer = deps.kafka.producer({ clientId: 'flextask-demo-producer' })
const now = Date.now()
const examples = demoDefinitions(now, services)
await producer.send({
  messages: examples.map((d) => ({
    topic: app.topics.definitions,
    partition: partitionForKey(d.taskId, config.topics.partitions),
    key: Buffer.from(d.taskId),
    value: app.serdes.definition.serialize(d),
  })),
})
for (const d of examples) {
  const s = d.schedule
  const what =
    s.kind === 'CRON'
      ? `cron '${s.cron}' in ${s.timezone}`
      : s.kind === 'INTERVAL'
        ? `every ${s.everyMs} ms`
        : s.kind === 'ONE_SHOT'
          ? `once at ${time(s.atMs ?? 0)}Z`
          : `once, ${s.delayMs} ms after creation`
  console.log(`defined  ${d.taskId.padEnd(16)} ${d.category.padEnd(11)} ${what}`)
}
console.log(
  '\nexecutions as they are emitted (lateness = emitted − due, on the wall clock) and their results; Ctrl-C to stop\n',
)

async function show(message: Message): Promise<void> {
  if (message.topic === app.topics.results) {
    console.log(describeResult(await app.serdes.result.deserialize(message.value), time))
    return
  }
  if (message.topic === app.topics.deadLetter) {
    const dead = await app.serdes.deadLetter.deserialize(message.value)
    console.log(`dead-letter ${String(dead.taskId).padEnd(16)} reason=${dead.reasonCode} ${dead.message}`)
    return
  }
  const execution = await app.serdes.execution.deserialize(message.value)
  const lateness = execution.firedAtMs - execution.dueAtMs
  console.log(
    `fired  ${execution.taskId.padEnd(16)} due ${time(execution.dueAtMs)}Z  emitted ${time(execution.firedAtMs)}Z  ` +
      `lateness ${String(lateness).padStart(3)} ms  attempt ${execution.attempt}  → ${message.topic}`,
  )
}

async function checkPostgres(): Promise<boolean> {
  const client = new pg.Client({
    ...postgresClientOptions(config.database),
    // The demo only checks that a server answers; the database name of the test setup is the one that exists.
    connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  })
  try {
    await client.connect()
    const { rows } = await client.query<{ v: string }>('SELECT version() AS v')
    console.log(`postgres: reachable (${rows[0]?.v.split(' on ')[0]}); the sink will project the topics into it`)
    return true
  } catch (error) {
    console.log(
      `postgres: not reachable (${error instanceof Error ? error.message : String(error)}); running without the sink`,
    )
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  console.log('\nstopping…')
  await stream.close().catch(() => {})
  await consumer.close(true).catch(() => {})
  await producer.close().catch(() => {})
  await demoApi.api.close()
  await worker.close()
  await services.close()
  await sinkDemo?.close().catch(() => {})
  await app.close()
  await opsDemo.server.close()
  const admin = deps.kafka.admin('flextask-demo-cleanup')
  const all = await admin.listTopics()
  await admin.deleteTopics({ topics: all.filter((t) => t.startsWith(config.topics.prefix)) }).catch(() => {})
  await admin.close()
  rmSync(stateDir, { recursive: true, force: true })
  if (startedRegistry) await stopRegistry()
  if (startedKafka) await stopKafka()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
const seconds = Number(process.env.FLEXTASK_DEMO_SECONDS ?? 0)
if (seconds > 0) setTimeout(() => void stop(), seconds * 1000)
