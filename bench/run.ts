/**
 * `npm run bench`: the scenarios of issue 14 on flextask and, where the workload applies (a, b, f), on BullMQ
 * and pg-boss in the same run, with medians over `--repeat` runs and flextask/peer ratios. Writes
 * `bench/results/<preset>.json` (every run's figures), `<preset>.md` (the tables) and `<preset>-<scenario>.svg`
 * (lateness CDFs). Not a test: it prints figures; a run that fails is reported as failed, never dropped.
 *
 *   (a) lateness of one-shots due at a steady rate with many definitions pending
 *   (b) a herd of one-shots due within one second
 *   (c) ingest (definitions/s), (d) cold restore, (e) scheduler RSS with N pending   — flextask only
 *   (f) due → worker start at a steady rate
 *   (isolation) a herd on one partition while crons fire on the others       — flextask only
 *
 * Like `npm test`, it starts the local Kafka broker and Schema Registry when KAFKA_BROKERS / SCHEMA_REGISTRY_URL are
 * unset and nothing answers on their ports, and stops what it started (lib/local-services.ts).
 *
 * Every system gets the same due instants, loaded before the window opens; see due-workload.ts for what is
 * observed where, and the README's Performance section for how the peers are configured.
 *
 * Usage: node bench/run.ts [--quick] [--only a,b,c,d,e,f,isolation] [--repeat N] [--peers bullmq,pg-boss]
 *          [--pending N] [--herd N] [--state-pending N,M] [--isolation-herd N] [--lead-ms MS] [--out DIR]
 */
import { benchArgs, environment, hardStop, integerArg, integerListArg, messageOf } from './lib/args.ts'
import type { DueRun, DueWorkload } from './lib/due-workload.ts'
import { herdWorkload, MIN_LEAD_MS, steadyWorkload } from './lib/due-workload.ts'
import { presets, type Preset, type Scenario, scenarioIds, Systems, type System } from './lib/presets.ts'
import { type BenchResults, dueFigures, type DueFigures, writeResults } from './lib/report.ts'
import { bullmqConfig, runBullmq } from './peers/bullmq.ts'
import { pgBossConfig, runPgBoss } from './peers/pg-boss.ts'
import { flextaskConfig, runFlextaskDue } from './scenarios/flextask-due.ts'
import { runFlextaskState, type StateRun } from './scenarios/flextask-state.ts'
import { type IsolationRun, runFlextaskIsolation } from './scenarios/flextask-isolation.ts'
import { kafkaBrokers } from '../test/helpers/env.ts'
import { ensureLocalServices, localServices } from './lib/local-services.ts'

const usage = `Usage: npm run bench -- [--quick] [--only a,b,c,d,e,f,isolation] [--repeat N] [--peers bullmq,pg-boss]
  [--pending N] [--herd N] [--state-pending N,M] [--isolation-herd N] [--lead-ms MS] [--out DIR]
Scenarios: a steady-rate lateness with N pending, b herd, c ingest, d cold restore, e RSS, f due → worker start,
isolation: a herd on partition 0 while crons fire every second on the other partitions.
--lead-ms: the window opens at least this long after the measured jobs start loading (raise it on a busy box).`

interface RunOptions {
  preset: Preset
  only: Scenario[]
  repeat: number
  peers: System[]
  outDir: URL
  minLeadMs: number
}

function parseOptions(): RunOptions {
  const values = benchArgs(
    {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', default: scenarioIds.join(',') },
      repeat: { type: 'string', default: '1' },
      peers: { type: 'string', default: 'bullmq,pg-boss' },
      pending: { type: 'string' },
      herd: { type: 'string' },
      'state-pending': { type: 'string' },
      'isolation-herd': { type: 'string' },
      'lead-ms': { type: 'string', default: String(MIN_LEAD_MS) },
      out: { type: 'string', default: 'bench/results' },
    },
    usage,
  )
  const preset = { ...presets[values.quick ? 'quick' : 'full'] }
  if (values.pending !== undefined) preset.steadyPending = integerArg('pending', values.pending, 0)
  if (values.herd !== undefined) preset.herd = integerArg('herd', values.herd, 1)
  if (values['state-pending'] !== undefined) {
    preset.statePending = integerListArg('state-pending', values['state-pending'], 1)
  }
  if (values['isolation-herd'] !== undefined) {
    preset.isolationHerd = integerArg('isolation-herd', values['isolation-herd'], 1)
  }
  const only = values.only.split(',').map((s) => s.trim())
  const unknown = only.filter((s) => !(scenarioIds as string[]).includes(s))
  if (unknown.length > 0)
    throw new Error(`--only: unknown scenario(s) ${unknown.join(', ')}; known: ${scenarioIds.join(',')}`)
  const peerIds: Record<string, System> = { bullmq: Systems.bullmq, 'pg-boss': Systems.pgBoss }
  const peers =
    values.peers === ''
      ? []
      : values.peers.split(',').map((p) => {
          const system = peerIds[p.trim()]
          if (system === undefined) throw new Error(`--peers: unknown peer ${p}; known: bullmq, pg-boss`)
          return system
        })
  return {
    preset,
    only: only as Scenario[],
    repeat: integerArg('repeat', values.repeat, 1),
    peers,
    minLeadMs: integerArg('lead-ms', values['lead-ms'], 0),
    outDir: new URL(`${values.out.replace(/\/?$/, '/')}`, `file://${process.cwd()}/`),
  }
}

function log(line: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
}

/** One due run of `system`; a failure becomes a failed entry with its reason. */
async function dueRun(
  system: System,
  workload: DueWorkload,
  observer: 'consumer' | 'worker',
): Promise<DueRun | string> {
  const progress = (line: string): void => log(`  ${workload.scenario}/${system}: ${line}`)
  log(`${workload.scenario}: ${system}: ${workload.count} due, ${workload.pending} pending …`)
  try {
    if (system === Systems.flextask) return await runFlextaskDue(workload, observer, progress)
    if (system === Systems.bullmq) return await runBullmq(workload, progress)
    return await runPgBoss(workload, progress)
  } catch (error) {
    log(`${workload.scenario}: ${system} FAILED: ${messageOf(error)}`)
    return messageOf(error)
  }
}

function workloads(options: RunOptions): { workload: DueWorkload; observer: 'consumer' | 'worker' }[] {
  const p = options.preset
  const out: { workload: DueWorkload; observer: 'consumer' | 'worker' }[] = []
  if (options.only.includes('a')) {
    out.push({
      workload: steadyWorkload('a', p.steadyRate, p.steadySeconds, p.steadyPending, options.minLeadMs),
      observer: 'consumer',
    })
  }
  if (options.only.includes('b'))
    out.push({ workload: herdWorkload('b', p.herd, options.minLeadMs), observer: 'consumer' })
  if (options.only.includes('f')) {
    out.push({ workload: steadyWorkload('f', p.workerRate, p.workerSeconds, 0, options.minLeadMs), observer: 'worker' })
  }
  return out
}

async function main(): Promise<number> {
  const options = parseOptions()
  const startedAt = new Date()
  hardStop(options.repeat * (options.preset.name === 'quick' ? 60 : 240) * 60_000, 'bench')
  const env = environment(kafkaBrokers)
  log(`bench ${options.preset.name}: scenarios ${options.only.join(',')}, ${options.repeat} repeat(s); ${env}`)
  const due: DueFigures[] = []
  const samples = new Map<string, number[]>()
  const state: (StateRun | { pending: number; failed: string })[] = []
  const isolation: (IsolationRun | { failed: string })[] = []
  const systems: System[] = [Systems.flextask, ...options.peers]
  for (let rep = 1; rep <= options.repeat; rep++) {
    log(`repeat ${rep} of ${options.repeat}`)
    for (const { workload, observer } of workloads(options)) {
      for (const system of systems) {
        const run = await dueRun(system, workload, observer)
        due.push(dueFigures(system, workload, run))
        if (typeof run === 'string') continue
        const key = `${workload.scenario}\u0000${system}`
        samples.set(key, [...(samples.get(key) ?? []), ...run.lateness])
        if (run.fireLateness !== undefined) {
          const fireKey = `${workload.scenario}\u0000${system} fire stamp`
          samples.set(fireKey, [...(samples.get(fireKey) ?? []), ...run.fireLateness])
        }
      }
    }
    if (options.only.includes('isolation')) {
      const p = options.preset
      log(`isolation: flextask, herd of ${p.isolationHerd} on partition 0, ${p.isolationCrons} crons on the others …`)
      try {
        const herd = { herd: p.isolationHerd, crons: p.isolationCrons, quietMs: p.isolationQuietMs }
        isolation.push(await runFlextaskIsolation(herd, (line) => log(`  isolation: ${line}`)))
      } catch (error) {
        log(`isolation: FAILED: ${messageOf(error)}`)
        isolation.push({ failed: messageOf(error) })
      }
    }
    if (['c', 'd', 'e'].some((s) => options.only.includes(s as Scenario))) {
      for (const pending of options.preset.statePending) {
        log(`c/d/e: flextask with ${pending} definitions …`)
        try {
          state.push(await runFlextaskState(pending, (line) => log(`  state/${pending}: ${line}`)))
        } catch (error) {
          log(`c/d/e with ${pending}: FAILED: ${messageOf(error)}`)
          state.push({ pending, failed: messageOf(error) })
        }
      }
    }
  }
  const results: BenchResults = {
    preset: options.preset,
    scenarios: options.only,
    repeat: options.repeat,
    startedAt: startedAt.toISOString(),
    durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
    environment: env,
    configs: { [Systems.flextask]: flextaskConfig, [Systems.bullmq]: bullmqConfig, [Systems.pgBoss]: pgBossConfig },
    peers: options.peers,
    due,
    state,
    isolation,
  }
  const written = writeResults(options.outDir, results, samples)
  console.log(written.markdown)
  log(`wrote ${written.files.join(', ')} in ${results.durationS} s`)
  const failures =
    due.filter((d) => d.failed !== undefined).length +
    state.filter((s) => 'failed' in s).length +
    isolation.filter((s) => 'failed' in s).length
  return failures === 0 ? 0 : 1
}

let stopServices = async (): Promise<void> => {}
let status = 1
try {
  stopServices = await ensureLocalServices(localServices(), log)
  status = await main()
} catch (error) {
  console.error(`bench: FAILED: ${messageOf(error)}`)
}
await stopServices().catch((error: unknown) => console.error(`bench: stopping local services: ${messageOf(error)}`))
process.exit(status)
