/**
 * Fire lateness with and without the input barrier ("committed before the instant wins", issue 8), measured
 * in one run on the local broker. Not a test: it prints figures.
 *
 * Rounds alternate barrier off / on (default 2 each), each on fresh topics (3 partitions) with an in-process
 * scheduler: TASKS interval tasks every second, phases spread over the second, run for SECONDS. A
 * read_committed consumer stamps each execution on receipt. Printed per mode, over every fire after the
 * first two seconds of a round:
 *   fire lateness        = firedAtMs − scheduledForMs (the scheduler's own stamp, the real instant of the fire,
 *                          so it includes the barrier's wait)
 *   visibility lateness  = receipt − scheduledForMs (includes the barrier's wait, the commit and the fetch)
 *
 * Usage: node bench/fire-lateness.ts [--tasks 300] [--seconds 20] [--rounds 2]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin, type Message, Producer } from '@platformatic/kafka'
import { ensureSchedulerTopics } from '../scheduler/scheduler-topics.ts'
import { buildSchedulerTopology } from '../scheduler/scheduler-topology.ts'
import { schedulerApplicationId, topicNames } from '../topics.ts'
import { StreamRuntime } from '../topology/stream-runtime.ts'
import { kafkaBrokers, schemaRegistryUrl } from '../test/helpers/env.ts'
import { produceDefinitions, taskDefinition, testSerdes } from '../test/helpers/scheduler.ts'
import { benchArgs, integerArg } from './lib/args.ts'
import { committedReader, readFrom } from './lib/committed-reader.ts'

const args = benchArgs(
  {
    tasks: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
  },
  'Usage: node bench/fire-lateness.ts [--tasks 300] [--seconds 20] [--rounds 2]',
)
const TASKS = integerArg('tasks', args.tasks, 1)
const SECONDS = integerArg('seconds', args.seconds, 1)
const ROUNDS = integerArg('rounds', args.rounds, 1)
const PARTITIONS = 3

interface Sample {
  fire: number[]
  visible: number[]
}

async function round(barrier: boolean): Promise<Sample> {
  const prefix = `lateness-${barrier ? 'on' : 'off'}-${Math.random().toString(36).slice(2, 8)}`
  const topics = topicNames(prefix)
  const stateDir = mkdtempSync(join(tmpdir(), 'flextask-lateness-'))
  // The scheduler's topology on a runtime of our own, so the barrier can be switched (it is not a config setting).
  const admin0 = new Admin({ clientId: `${prefix}-topics`, bootstrapBrokers: kafkaBrokers })
  await ensureSchedulerTopics(admin0, topics, ['http'], PARTITIONS)
  await admin0.close()
  const serdes = await testSerdes(schemaRegistryUrl, topics)
  const runtime = new StreamRuntime(buildSchedulerTopology({ topics, serdes, config: { categories: ['http'] } }), {
    applicationId: schedulerApplicationId(prefix),
    bootstrapBrokers: kafkaBrokers,
    stateDir,
    instanceId: prefix,
    inputBarrier: barrier,
  })
  await runtime.start()
  const app = { runtime, serdes, close: () => runtime.close() }
  const consumer = committedReader({ brokers: kafkaBrokers, groupId: `${prefix}-reader` })
  const producer = new Producer({ clientId: `${prefix}-producer`, bootstrapBrokers: kafkaBrokers })
  const admin = new Admin({ clientId: `${prefix}-admin`, bootstrapBrokers: kafkaBrokers })
  const received: { value: Buffer; atMs: number }[] = []
  try {
    await app.runtime.waitUntilRunning()
    const stream = await readFrom(consumer, [topics.executions('http')], 'earliest')
    stream.on('data', (m: Message) => {
      if (m.value) received.push({ value: m.value, atMs: Date.now() })
    })
    const startMs = Date.now() + 2_000
    const definitions = Array.from({ length: TASKS }, (_, i) =>
      taskDefinition(`${prefix}-t${i}`, {
        kind: 'INTERVAL',
        everyMs: 1000,
        phaseMs: Math.floor((i * 1000) / TASKS),
        startAtMs: startMs,
      }),
    )
    await produceDefinitions(producer, serdes.definition, topics.definitions, definitions, PARTITIONS)
    await sleep(2_000 + SECONDS * 1000 + 2_000)
    await stream.close()
    const sample: Sample = { fire: [], visible: [] }
    for (const r of received) {
      const e = await app.serdes.execution.deserialize(r.value)
      if (e.scheduledForMs < startMs + 2_000 || e.scheduledForMs > startMs + SECONDS * 1000) continue
      sample.fire.push(e.firedAtMs - e.scheduledForMs)
      sample.visible.push(r.atMs - e.scheduledForMs)
    }
    return sample
  } finally {
    await app.close()
    await consumer.close(true).catch(() => {})
    await producer.close().catch(() => {})
    const all = await admin.listTopics()
    await admin.deleteTopics({ topics: all.filter((t) => t.startsWith(prefix)) }).catch(() => {})
    await admin.close()
    rmSync(stateDir, { recursive: true, force: true })
  }
}

function pct(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}

const results = { off: { fire: [], visible: [] } as Sample, on: { fire: [], visible: [] } as Sample }
for (let r = 0; r < ROUNDS; r++) {
  for (const barrier of [false, true]) {
    console.error(`round ${r + 1}/${ROUNDS}, barrier ${barrier ? 'on' : 'off'} …`)
    const s = await round(barrier)
    const into = barrier ? results.on : results.off
    into.fire.push(...s.fire)
    into.visible.push(...s.visible)
  }
}
console.log(`fire lateness, ${TASKS} interval tasks every second, ${SECONDS} s per round, ${ROUNDS} rounds per mode`)
for (const [mode, s] of Object.entries(results)) {
  console.log(
    `  barrier ${mode.padEnd(3)}: ${s.fire.length} fires; fire lateness p50 ${pct(s.fire, 0.5)} ms, p99 ${pct(s.fire, 0.99)} ms; ` +
      `visibility lateness p50 ${pct(s.visible, 0.5)} ms, p99 ${pct(s.visible, 0.99)} ms, max ${pct(s.visible, 1)} ms`,
  )
}
