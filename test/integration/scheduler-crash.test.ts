/**
 * Guarantee 1 (ARCHITECTURE.md) under crashes: the scheduler CLI runs as a child process on the real broker and
 * is SIGKILLed while a burst of one-shots is firing; restarts (same instance id and state dir, then a fresh
 * state dir that forces a full restore from the changelogs) must neither lose nor repeat a fire. Audited with
 * read_committed on the executions and occurrence topics.
 */
import { join } from 'node:path'
import { describe, expect, it, onTestFailed } from 'vitest'
import type { Occurrence } from '../../schemas/occurrence.ts'
import type { TaskDefinition } from '../../schemas/task-definition.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { topicNames } from '../../topics.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import {
  type CollectedRecord,
  collect,
  kafkaBrokers,
  testAdmin,
  testProducer,
  uniqueName,
  waitFor,
} from '../helpers/kafka.ts'
import {
  decodeAll,
  deletePrefixTopics,
  killHard,
  produceDefinitions,
  schedulerFleet,
  taskDefinition,
  testSerdes,
} from '../helpers/scheduler.ts'

const { admin } = testAdmin()
const producer = testProducer()
const fleet = schedulerFleet('scheduler-crash')

const partitions = 3
const total = 10_000
/** The fire instants are spread over [now + leadMs, now + leadMs + windowMs). */
const leadMs = 4_000
const windowMs = 4_000

function countOn(records: readonly CollectedRecord[], topic: string): number {
  let n = 0
  for (const r of records) if (r.topic === topic) n++
  return n
}

/** Keys that occur more than once, with their counts (at most 20, for the failure message). */
function repeated(keys: readonly string[]): { count: number; sample: [string, number][] } {
  const counts = new Map<string, number>()
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1)
  const many = [...counts].filter(([, n]) => n > 1)
  return { count: many.length, sample: many.slice(0, 20) }
}

function auditExecutions(executions: readonly TaskExecution[], definitions: readonly TaskDefinition[]): void {
  const atOf = new Map(definitions.map((d) => [d.taskId, d.schedule.atMs]))
  const ids = executions.map((e) => e.executionId)
  expect(repeated(ids), 'executionIds with more than one execution record').toEqual({ count: 0, sample: [] })
  const seen = new Set(ids)
  const missing = definitions.map((d) => `${d.taskId}:${d.schedule.atMs}`).filter((id) => !seen.has(id))
  expect({ count: missing.length, sample: missing.slice(0, 20) }, 'executionIds never fired').toEqual({
    count: 0,
    sample: [],
  })
  const wrong = executions
    .filter(
      (e) =>
        e.scheduledForMs !== atOf.get(e.taskId) ||
        e.executionId !== `${e.taskId}:${e.scheduledForMs}` ||
        e.attempt !== 1,
    )
    .map((e) => `${e.executionId} scheduledFor=${e.scheduledForMs} at=${atOf.get(e.taskId)} attempt=${e.attempt}`)
  expect(wrong.slice(0, 20), 'executions whose slot is not the definition’s atMs').toEqual([])
  expect(executions).toHaveLength(total)
}

function auditOccurrences(occurrences: readonly Occurrence[], definitions: readonly TaskDefinition[]): void {
  const notFired = occurrences.filter((o) => o.outcome !== 'FIRED')
  expect(
    notFired.slice(0, 20).map((o) => `${o.taskId}@${o.scheduledForMs} ${o.outcome} ${o.reason}`),
    'occurrences other than FIRED',
  ).toEqual([])
  const instants = occurrences.map((o) => `${o.taskId}:${o.scheduledForMs}`)
  expect(repeated(instants), 'instants with more than one FIRED occurrence').toEqual({ count: 0, sample: [] })
  const seen = new Set(instants)
  const missing = definitions.map((d) => `${d.taskId}:${d.schedule.atMs}`).filter((i) => !seen.has(i))
  expect(missing.slice(0, 20), 'instants without an occurrence').toEqual([])
  expect(occurrences.every((o) => o.executionId === `${o.taskId}:${o.scheduledForMs}`)).toBe(true)
}

describe('the scheduler CLI under SIGKILL (child processes on the real broker)', () => {
  it(
    'fires each of 10k one-shots exactly once when the scheduler is SIGKILLed in the middle of the burst',
    {
      timeout: 300_000,
    },
    async () => {
      const prefix = uniqueName('crash')
      const topics = topicNames(prefix)
      const executionsTopic = topics.executions('http')
      fleet.afterChildren(() => deletePrefixTopics(admin, prefix))
      const env = {
        KAFKA_BROKERS: kafkaBrokers.join(','),
        SCHEMA_REGISTRY_URL: schemaRegistryUrl,
        FLEXTASK_TOPIC_PREFIX: prefix,
        FLEXTASK_PARTITIONS: String(partitions),
        FLEXTASK_CATEGORIES: 'http',
        FLEXTASK_INSTANCE_ID: 'crash-scheduler',
        FLEXTASK_STATE_DIR: join(fleet.stateRoot, `${prefix}-a`),
      }
      const startedAt = Date.now()
      const timeline: string[] = []
      onTestFailed(() => console.log(`timeline:\n  ${timeline.join('\n  ')}`))
      let collected: readonly CollectedRecord[] = []
      const mark = (what: string): void => {
        timeline.push(`+${Date.now() - startedAt} ms ${what} (${countOn(collected, executionsTopic)} executions)`)
      }
      const first = fleet.spawn('first', env)
      await first.running()
      mark('first running')

      const serdes = await testSerdes(schemaRegistryUrl, topics)
      const out = await collect([executionsTopic, topics.occurrences])
      collected = out.records
      fleet.afterChildren(out.close)
      const startAtMs = Date.now() + leadMs
      // maxLatenessMs 10 min: a one-shot that comes due while no scheduler runs (or while a restarted one
      // restores) is handled late; within maxLatenessMs it still fires as SCHEDULE, so every slot must fire
      // once whatever the misfire policy (left at its default, FIRE_LAST).
      const definitions = Array.from({ length: total }, (_, i) =>
        taskDefinition(
          `${prefix}-t${i}`,
          { kind: 'ONE_SHOT', atMs: startAtMs + Math.floor((i * windowMs) / total) },
          { maxLatenessMs: 600_000 },
        ),
      )
      await produceDefinitions(producer, serdes.definition, topics.definitions, definitions, partitions, 1000)
      mark(`definitions produced, first due in ${startAtMs - Date.now()} ms`)

      // Crash 1: in the middle of the burst; the restart reuses the instance id (fences the old transactional
      // producer, static membership) and the LevelDB state dir.
      await waitFor('1000 executions', () => (countOn(out.records, executionsTopic) >= 1000 ? true : undefined), 60_000)
      await killHard(first)
      mark('first killed')
      const atFirstKill = countOn(out.records, executionsTopic)
      expect(atFirstKill, 'the first scheduler died before the burst was over').toBeLessThan(total)
      const second = fleet.spawn('second', env)
      await second.running()
      mark('second running')

      // Crash 2: once the restarted scheduler fires again; the third one gets an empty state dir and must restore
      // the tasks and timers stores from their changelogs before it fires anything.
      await waitFor(
        'the restarted scheduler to fire',
        () => (countOn(out.records, executionsTopic) >= Math.min(total, atFirstKill + 1500) ? true : undefined),
        90_000,
      )
      await killHard(second)
      mark('second killed')
      const atSecondKill = countOn(out.records, executionsTopic)
      const third = fleet.spawn('third', { ...env, FLEXTASK_STATE_DIR: join(fleet.stateRoot, `${prefix}-b`) })
      await third.running()
      mark('third running')

      await waitFor(
        `${total} executions and occurrences`,
        () =>
          countOn(out.records, executionsTopic) >= total && countOn(out.records, topics.occurrences) >= total
            ? true
            : undefined,
        120_000,
      )
      mark('all executions and occurrences seen')
      // Any duplicate would follow the burst: read on until the topics are quiet for 3 s.
      let seen = -1
      let quietSince = Date.now()
      await waitFor('the output topics to be quiet', () => {
        if (out.records.length !== seen) {
          seen = out.records.length
          quietSince = Date.now()
        }
        return Date.now() - quietSince > 3000 ? true : undefined
      })
      mark('quiet')
      console.log(
        `scheduler-crash: executions seen at kill 1: ${atFirstKill}, at kill 2: ${atSecondKill}, final: ` +
          `${countOn(out.records, executionsTopic)} executions, ${countOn(out.records, topics.occurrences)} occurrences` +
          `\n  ${timeline.join('\n  ')}`,
      )

      const executions = await decodeAll(serdes.execution, out.records, executionsTopic)
      const occurrences = await decodeAll(serdes.occurrence, out.records, topics.occurrences)
      auditExecutions(executions, definitions)
      auditOccurrences(occurrences, definitions)
      expect(third.exited(), 'the last scheduler is still running').toBe(false)
    },
  )
})
