/**
 * Issue 15, the fault-injection suite: a whole deployment as real processes (stack.ts: schedulers, workers, the
 * connector, the API) on a broker of its own, under load (load.ts), with faults injected at seeded moments
 * (faults.ts) and an audit at the end with independent readers (audit.ts, readers.ts). The seed is printed; a run
 * replays with `FAULTS_SEED=<seed>`.
 *
 * CI size (default): four lanes of faults at the same time over a 75 s load window, every fault kind once.
 * `npm run faults -- --minutes 20` (test/faults/run.ts) sets FAULTS_SCALE=large and FAULTS_MINUTES: one fault at
 * a time, in rounds, for that long, with a larger load.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Producer } from '@platformatic/kafka'
import pg from 'pg'
import { afterAll, describe, expect, it, onTestFailed } from 'vitest'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { waitFor } from '../helpers/kafka.ts'
import { produceDefinitions, testSerdes } from '../helpers/scheduler.ts'
import { audit } from './audit.ts'
import { baseline, faultFigures, formatFigures } from './fault-report.ts'
import { ciTiming, FaultInjector, type FaultLedger, largeTiming, planRound } from './faults.ts'
import { ciLoad, createApiCrons, driveApi, largeLoad, planWorkload } from './load.ts'
import { LagMonitor, readTopics, runCounts, taskRuns } from './readers.ts'
import { seededRandom, seedFromEnv } from './seeded-random.ts'
import { partitions, Stack } from './stack.ts'

const large = process.env.FAULTS_SCALE === 'large'
const minutes = Number(process.env.FAULTS_MINUTES ?? (large ? 20 : 1.25))
const windowMs = Math.round(minutes * 60_000)
const seed = seedFromEnv()
const rnd = seededRandom(seed)
const replay = `FAULTS_SEED=${seed}${large ? ` FAULTS_SCALE=large FAULTS_MINUTES=${minutes}` : ''} npx vitest run test/faults/process-faults.test.ts`

const startedAt = Date.now()
const timeline: string[] = []
const log = (what: string): void => void timeline.push(`+${((Date.now() - startedAt) / 1000).toFixed(1)} s ${what}`)
const stack = new Stack(log)
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  await stack.close()
}, 120_000)

describe('the fault-injection suite (real processes, own broker, seeded faults)', () => {
  it(
    'keeps every scheduled instant exactly once from definition to Postgres row through every fault kind',
    { timeout: windowMs + 900_000 },
    async () => {
      console.log(`fault suite seed ${seed}; replay: ${replay}`)
      onTestFailed(() => console.log(`replay: ${replay}\ntimeline:\n  ${timeline.join('\n  ')}`))
      await stack.open()
      log(`own broker on ${stack.brokers.join(',')}, topic prefix ${stack.prefix}, database ${stack.database}`)
      await stack.start('scheduler', 's1')
      await Promise.all([stack.start('worker', 'w1'), stack.start('connector', 'c1'), stack.start('api', 'a1')])

      const size = large ? largeLoad : ciLoad
      const startAtMs = Math.ceil((Date.now() + 6_000) / 1000) * 1000
      const workload = planWorkload(stack.prefix, size, startAtMs, startAtMs + windowMs)
      const serdes = await testSerdes(schemaRegistryUrl, stack.topics)
      const producer = new Producer({ clientId: `${stack.prefix}-load`, bootstrapBrokers: stack.brokers })
      await produceDefinitions(producer, serdes.definition, stack.topics.definitions, workload.definitions, partitions)
      await producer.close()
      await createApiCrons(stack, workload)
      log(`${workload.definitions.length + workload.apiCrons.length} tasks defined, window of ${windowMs / 1000} s`)

      const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 2 })
      pool.on('error', (error) => log(`monitor pool: ${error.message}`))
      const monitor = new LagMonitor(pool, workload.everySecond)
      monitor.start()
      cleanups.push(
        () => pool.end(),
        () => monitor.stop(),
      )
      const ledger: FaultLedger = { records: [], busy: new Set() }
      const api = driveApi(stack, workload, size, seededRandom(seed ^ 0x5eed))
      await sleep(Math.max(0, startAtMs + 5_000 - Date.now()))
      // Rounds until the window leaves too little time for another one (CI: exactly one round, lanes at once).
      for (let round = 1; round === 1 || Date.now() < workload.endAtMs - 200_000; round++) {
        log(`round ${round}`)
        const lanes = planRound(rnd, !large)
        const timing = large ? largeTiming : ciTiming
        await Promise.all(
          lanes.map((lane, i) =>
            new FaultInjector(stack, seededRandom(seed + round * 16 + i), timing, ledger).runLane(lane),
          ),
        )
      }
      log(`faults done (${ledger.records.length}); load runs until ${new Date(workload.endAtMs).toISOString()}`)
      await api

      await sleep(Math.max(0, workload.endAtMs + 3_000 - Date.now()))
      let last = -1
      let stableSince = Date.now()
      await waitFor(
        'every run terminal in Postgres and the count stable for 5 s',
        async () => {
          const { open, total } = await runCounts(pool)
          if (total !== last || open > 0) [last, stableSince] = [total, Date.now()]
          return Date.now() - stableSince > 5_000 ? true : undefined
        },
        240_000,
      ).catch((error: unknown) => log(`drain: ${(error as Error).message}`))
      await monitor.stop()
      log('drained')

      const topics = [stack.topics.executions('internal'), stack.topics.occurrences, stack.topics.results]
      const [committed, uncommitted] = await Promise.all([
        readTopics(stack.brokers, topics, 'read_committed'),
        readTopics(stack.brokers, [stack.topics.executions('internal')], 'read_uncommitted'),
      ])
      const decode = async <T>(values: Buffer[] | undefined, serde: { deserialize(b: Buffer): Promise<T> | T }) =>
        Promise.all((values ?? []).map(async (v) => serde.deserialize(v)))
      const executions = await decode(committed.get(topics[0] ?? ''), serdes.execution)
      const report = audit({
        workload,
        executions,
        uncommittedExecutions: await decode(uncommitted.get(topics[0] ?? ''), serdes.execution),
        occurrences: await decode(committed.get(stack.topics.occurrences), serdes.occurrence),
        results: await decode(committed.get(stack.topics.results), serdes.result),
        runs: await taskRuns(pool, stack.prefix),
      })
      const figures = faultFigures(ledger.records, executions, monitor)
      console.log(
        [
          `fault suite seed ${seed} (${large ? 'large' : 'ci'}, ${minutes} min window, ${((Date.now() - startedAt) / 1000).toFixed(0)} s in all); replay: ${replay}`,
          formatFigures(figures),
          baseline(ledger.records, executions),
          `counts: ${JSON.stringify(report.counts)}`,
          ...report.info.map((i) => `info: ${i}`),
          `info: processes that exited while starting (and were started again): ${stack.findings.startExits.length}` +
            stack.findings.startExits.map((e) => `\n  ${e}`).join(''),
          ...stack.findings.selfExits.map((e) => `FAILED: ${e}`),
          ...report.failures.map((f) => `FAILED: ${f}`),
          `timeline:\n  ${timeline.join('\n  ')}`,
        ].join('\n'),
      )
      expect(report.failures, `audit of seed ${seed}; replay: ${replay}`).toEqual([])
      const kinds = new Set(ledger.records.map((r) => r.kind))
      expect(kinds.size, 'fault kinds injected').toBe(13)
      const stuck = figures.flatMap((f) => f.notes.filter((n) => n.includes('STUCK')))
      expect(stuck, 'processes that did not stop within 45 s of SIGTERM').toEqual([])
      expect(stack.findings.selfExits, 'serving processes that exited by themselves').toEqual([])
    },
  )
})
