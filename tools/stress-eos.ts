/**
 * Exactly-once stress loop: the crash scenarios of test/integration/topology-crash.test.ts (and more), run
 * over and over under CPU load, each iteration audited for duplicates and gaps.
 *
 *   npm run stress:eos -- [--iterations 50 | --iterations kill=50,stop=50,rebalance=15,broker-restart=9]
 *                         [--scenarios kill,stop,rebalance,broker-restart] [--load 2]
 *
 * Scenarios (two instances of test/fixtures/counter-app.ts, 6 partitions, 40 keys; the output of key k must be
 * exactly k=1 … k=n, and every tick instant at most once):
 *   kill            SIGKILL one instance mid-stream (topology-crash "moves a SIGKILLed instance's partitions")
 *   stop            SIGSTOP one instance until its partitions moved, then SIGCONT: a frozen zombie with timers
 *   rebalance       a third instance joins mid-stream and is SIGKILLed right after its assignment, while it
 *                   opens (restores) its tasks; then the group rebalances back
 *   broker-restart  on a broker of its own (free ports, data in a temp dir): the broker is stopped for
 *                   8 s mid-stream and started again
 * `--load N` starts N busy-loop processes for the whole run (default 2: both cores of the development box).
 * Brokers: KAFKA_BROKERS (default 127.0.0.1:9092) for every scenario but broker-restart.
 * Prints one line per iteration and a summary: iterations, duplicates, missing, stuck (a wait that timed out),
 * exited (an instance that died by itself), and the load average; then exits by itself (status 1 when any
 * iteration had a duplicate, a gap, was stuck or saw an instance exit). It used to hang after the summary: a
 * client of a failed iteration (or kafkajs' re-read) could keep a socket or timer alive, so the process is
 * ended explicitly once everything it started is stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { benchArgs, integerArg } from '../bench/lib/args.ts'
import { kafkaBrokers } from '../test/helpers/env.ts'
import {
  chooseOwnBrokerPorts,
  ownBroker,
  ownBrokerCommand,
  ownBrokerUsed,
  removeOwnBrokerData,
  Run,
} from './stress-eos-run.ts'

const scenarios = ['kill', 'stop', 'rebalance', 'broker-restart'] as const
type Scenario = (typeof scenarios)[number]

const args = benchArgs(
  {
    iterations: { type: 'string', default: '50' },
    scenarios: { type: 'string', default: scenarios.join(',') },
    load: { type: 'string', default: '2' },
  },
  'Usage: npm run stress:eos -- [--iterations 50 | --iterations kill=50,stop=50,rebalance=15,broker-restart=9]\n' +
    '                         [--scenarios kill,stop,rebalance,broker-restart] [--load 2]',
)
const selected = args.scenarios.split(',').filter((s): s is Scenario => (scenarios as readonly string[]).includes(s))
/** Iterations per scenario: one number for all, or `scenario=n,…` (a scenario not named runs 0 times). */
const planned = new Map<Scenario, number>(
  /^[\d_]+$/.test(args.iterations)
    ? selected.map((s) => [s, integerArg('iterations', args.iterations, 1)])
    : args.iterations.split(',').map((pair) => {
        const [name = '', n = ''] = pair.split('=')
        if (!selected.includes(name as Scenario)) {
          throw new Error(`--iterations: expected N or scenario=N,… over ${selected.join(', ')}, got '${pair}'`)
        }
        return [name as Scenario, integerArg(`iterations ${name}`, n)]
      }),
)
const iterations = Math.max(0, ...planned.values())
const loadAverage = (): string =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')
const sharedBrokers = kafkaBrokers
interface Outcome {
  duplicates: number
  missing: number
  stuck: string[]
  exited: string[]
  records: number
  ms: number
}

async function bothShare(run: Run, a: string, b: string): Promise<boolean> {
  return run.waitFor('both instances share the partitions', () => {
    const [pa, pb] = [run.partitions(a), run.partitions(b)]
    return pa.length > 0 && pb.length > 0 && pa.length + pb.length === 6
  })
}

async function finish(run: Run, quietMs: number): Promise<void> {
  await run.waitFor(`${run.sent} counts`, () => run.counts() >= run.sent)
  await run.quiet(quietMs)
}

const runners: Record<Scenario, (run: Run) => Promise<void>> = {
  async kill(run) {
    const a = run.launch('a')
    run.launch('b')
    await bothShare(run, 'a', 'b')
    for (let i = 0; i < 30; i++) {
      await run.produce(100)
      if (i === 12) a.kill('SIGKILL')
      await sleep(100)
    }
    await run.waitFor('b owns all partitions', () => run.partitions('b').length === 6)
    await finish(run, 1500)
  },

  async stop(run) {
    const a = run.launch('a', { tickPeriodMs: 500 })
    run.launch('b', { tickPeriodMs: 500 })
    await bothShare(run, 'a', 'b')
    await run.produce(200)
    await run.waitFor('200 counts', () => run.counts() >= 200)
    a.kill('SIGSTOP')
    await run.produce(200)
    await run.waitFor('b owns all partitions', () => run.partitions('b').length === 6)
    await run.waitFor('400 counts', () => run.counts() >= 400)
    a.kill('SIGCONT')
    await run.produce(200)
    await finish(run, 3000)
  },

  async rebalance(run) {
    run.launch('a')
    run.launch('b')
    await bothShare(run, 'a', 'b')
    let c: ChildProcess | undefined
    for (let i = 0; i < 30; i++) {
      await run.produce(100)
      if (i === 8) c = run.launch('c')
      // Killed as soon as it is assigned: while it restores and opens its tasks.
      if (i > 8 && c !== undefined && c.exitCode === null && run.partitions('c').length > 0) c.kill('SIGKILL')
      await sleep(100)
    }
    if (c !== undefined && c.exitCode === null) c.kill('SIGKILL')
    await run.waitFor(
      'a and b own all partitions again',
      () => run.partitions('a').length + run.partitions('b').length === 6,
    )
    await finish(run, 1500)
  },

  async ['broker-restart'](run) {
    run.launch('a', { tickPeriodMs: 500 })
    run.launch('b', { tickPeriodMs: 500 })
    await bothShare(run, 'a', 'b')
    for (let i = 0; i < 20; i++) {
      await run.produce(100)
      if (i === 8) {
        ownBrokerCommand('stop')
        await sleep(8000)
        ownBrokerCommand('start')
      }
      await sleep(100)
    }
    await finish(run, 3000)
  },
}

async function iteration(scenario: Scenario): Promise<Outcome> {
  const startedAt = Date.now()
  const run = new Run(scenario === 'broker-restart' ? [`127.0.0.1:${ownBroker.port}`] : sharedBrokers)
  try {
    await run.setup()
    await runners[scenario](run)
    let { duplicates, missing } = run.audit()
    if (duplicates + missing > 0) {
      const input = await run.inputCounts()
      const resent = [...input].filter(([key, n]) => n !== run.expected.get(key))
      if (resent.length > 0) {
        console.log(
          `    ${scenario}: the input topic differs from what was sent for ${resent.length} keys ` +
            `(a send retried across the outage was written twice), e.g. ${resent
              .slice(0, 3)
              .map(([key, n]) => `${key}: ${n} in the topic, ${run.expected.get(key)} sent`)
              .join('; ')}; audited against the input topic`,
        )
        ;({ duplicates, missing } = run.audit(run.records, input))
      }
    }
    return {
      duplicates,
      missing,
      stuck: run.stuck,
      exited: run.exited(),
      records: run.records.length,
      ms: Date.now() - startedAt,
    }
  } finally {
    const audit = run.audit()
    for (const sample of audit.samples) console.log(`    ${scenario} audit: ${sample}`)
    if (audit.duplicates + audit.missing > 0) {
      const again = run.audit(await run.rereadWithKafkajs())
      console.log(
        `    ${scenario} re-read with kafkajs read_committed: duplicates ${again.duplicates}, missing ${again.missing}`,
      )
      for (const sample of again.samples.slice(0, 3)) console.log(`    ${scenario} kafkajs audit: ${sample}`)
    }
    if (run.stuck.length > 0 || audit.duplicates + audit.missing > 0) {
      for (const [name, lines] of run.lines)
        console.log(
          `    ${name}: ${lines
            .slice(-25)
            .map((l) => l.slice(0, 300))
            .join('\n      ')}`,
        )
    }
    await run.cleanup()
  }
}

const load = Array.from({ length: integerArg('load', args.load) }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
)
const cleanupLoad = (): void => {
  for (const child of load) child.kill('SIGKILL')
}
process.on('exit', cleanupLoad)
process.on('SIGINT', () => process.exit(130))

console.log(
  `stress:eos: ${[...planned].map(([s, n]) => `${s} ×${n}`).join(', ')} under ${load.length} busy-loop processes ` +
    `(load average ${loadAverage()})`,
)
const totals = new Map<
  Scenario,
  { iterations: number; duplicates: number; missing: number; stuck: number; exited: number }
>()
try {
  if ((planned.get('broker-restart') ?? 0) > 0) {
    await chooseOwnBrokerPorts()
    ownBrokerCommand('start')
  }
  for (let i = 1; i <= iterations; i++) {
    for (const scenario of selected) {
      if (i > (planned.get(scenario) ?? 0)) continue
      const total = totals.get(scenario) ?? { iterations: 0, duplicates: 0, missing: 0, stuck: 0, exited: 0 }
      totals.set(scenario, total)
      let outcome: Outcome
      try {
        outcome = await iteration(scenario)
      } catch (error) {
        console.log(`  #${i} ${scenario}: error ${error instanceof Error ? error.message : String(error)}`)
        total.stuck++
        continue
      }
      total.iterations++
      total.duplicates += outcome.duplicates
      total.missing += outcome.missing
      total.stuck += outcome.stuck.length > 0 ? 1 : 0
      total.exited += outcome.exited.length > 0 ? 1 : 0
      console.log(
        `  #${i} ${scenario}: ${outcome.records} records, duplicates ${outcome.duplicates}, missing ${outcome.missing}` +
          `${outcome.stuck.length > 0 ? `, stuck: ${outcome.stuck.join('; ')}` : ''}` +
          `${outcome.exited.length > 0 ? `, exited: ${outcome.exited.join(',')}` : ''} (${outcome.ms} ms, ` +
          `load ${loadAverage()})`,
      )
    }
  }
} catch (error) {
  console.log(`stress:eos stopped: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
} finally {
  try {
    if (ownBrokerUsed()) {
      ownBrokerCommand('stop')
      removeOwnBrokerData()
    }
  } catch (error) {
    console.log(`stress:eos: stopping its own broker failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  }
  cleanupLoad()
  console.log(
    `stress:eos summary (scenario: iterations / duplicates / missing / stuck / exited), load ${loadAverage()}`,
  )
  let failed = process.exitCode === 1
  for (const [scenario, t] of totals) {
    console.log(`  ${scenario}: ${t.iterations} / ${t.duplicates} / ${t.missing} / ${t.stuck} / ${t.exited}`)
    failed ||= t.duplicates + t.missing + t.stuck + t.exited > 0
  }
  // Everything this process started is stopped (children, busy loops, its broker); a client left open by a
  // failed iteration must not keep it alive.
  process.exit(failed ? 1 : 0)
}
