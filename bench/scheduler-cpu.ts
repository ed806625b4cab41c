/**
 * CPU cost of the scheduler's own work per task, without Kafka: the scheduler topology on the TopologyTestDriver
 * (in-memory stores and topics, manual clock) with the real Avro serdes over an in-memory registry. Not a test: it
 * prints figures. What it isolates is the processors' and serdes' share of issue 14's fire path and ingest (store
 * values, Avro encoding and the bounds check), which the broker benches (`npm run bench`) bury under commits,
 * fetches and a noisy box. Per round, on a fresh driver:
 *
 * 1. ingest: N one-shot definitions piped in (Avro encode, bounds check + decode, validation, store writes);
 * 2. fire: the clock moves to their common due instant and every one fires (store load/save, timer delete,
 *    execution + occurrence encoded), maxFiresPerWake per cycle;
 * 3. results: a SUCCEEDED result for each execution (decode, store load/save).
 * Each phase reports CPU ms (user + system of this process) and µs per task; the median of the rounds is printed.
 *
 * Usage: node bench/scheduler-cpu.ts [--tasks N] [--rounds R] [--payload-bytes B]
 */
import { parseArgs } from 'node:util'
import { topics, SchedulerHarness, definition, startMs, minute } from '../test/topology/scheduler-harness.ts'
import { integerArg } from './lib/args.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskResult } from '../schemas/task-result.ts'

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
    'payload-bytes': { type: 'string', default: '64' },
  },
})
const tasks = integerArg('tasks', values.tasks, 1)
const rounds = integerArg('rounds', values.rounds, 1)
const payload = JSON.stringify({
  data: 'x'.repeat(Math.max(0, integerArg('payload-bytes', values['payload-bytes']) - 12)),
})

type Phase = 'ingest' | 'fire' | 'results'
/** Records per input cycle, as the runtime's input budget would take them. */
const batch = 1000

function succeeded(e: TaskExecution, atMs: number): TaskResult {
  return {
    executionId: e.executionId,
    taskId: e.taskId,
    attempt: e.attempt,
    status: 'SUCCEEDED',
    workerId: 'bench',
    startedAtMs: atMs,
    finishedAtMs: atMs,
    durationMs: 0,
    output: null,
    error: null,
  }
}

async function timed(work: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage()
  await work()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000
}

async function round(): Promise<Record<Phase, number>> {
  const h = await SchedulerHarness.create({ partitions: 3 })
  const dueMs = startMs + minute
  const ids = Array.from({ length: tasks }, (_, i) => `task-${i}`)
  const definitions = ids.map((id) => ({
    topic: topics.definitions,
    key: id,
    value: definition(id, { kind: 'ONE_SHOT', atMs: dueMs }, { payload }),
  }))
  const ingest = await timed(async () => {
    for (let i = 0; i < tasks; i += batch) await h.driver.pipeInputs(definitions.slice(i, i + batch))
  })
  const fire = await timed(() => h.advance(minute))
  const executions = await h.executions()
  if (executions.length !== tasks) throw new Error(`expected ${tasks} executions, got ${executions.length}`)
  const results = await timed(async () => {
    for (let i = 0; i < executions.length; i += batch) {
      await h.driver.pipeInputs(
        executions
          .slice(i, i + batch)
          .map((e) => ({ topic: topics.results, key: e.taskId, value: succeeded(e, dueMs) })),
      )
    }
  })
  await h.driver.close()
  return { ingest, fire, results }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

await round() // warm-up: compiles the code paths
const runs: Record<Phase, number>[] = []
for (let r = 0; r < rounds; r++) runs.push(await round())
console.log(
  `scheduler CPU, ${tasks} one-shots, payload ${payload.length} B, median of ${rounds} rounds (Node ${process.version})`,
)
console.log('| phase | CPU ms | µs per task | rounds (ms) |')
console.log('| --- | --- | --- | --- |')
for (const phase of ['ingest', 'fire', 'results'] as const) {
  const ms = runs.map((run) => run[phase])
  const m = median(ms)
  console.log(
    `| ${phase} | ${m.toFixed(0)} | ${((1000 * m) / tasks).toFixed(1)} | ${ms.map((x) => x.toFixed(0)).join(', ')} |`,
  )
}
