/**
 * Outages are waited out (issue 7): the scheduler CLI runs on a broker of its own (two free ports, a fresh
 * data directory), started the moment that broker answers (its transaction coordinator and group coordinator
 * still loading). Under a stream of one-shots the broker is stopped for 60 s and started again. The scheduler
 * must never exit, and every one-shot must fire exactly once: audited read_committed with our client and with
 * an independent one (kafkajs).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Producer } from '@platformatic/kafka'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { createKafkaClientFactory } from '../../kafka-clients.ts'
import { topicNames } from '../../topics.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { freePorts } from '../helpers/free-port.ts'
import { collect, uniqueName, waitFor } from '../helpers/kafka.ts'
import {
  decodeAll,
  killHard,
  produceDefinitions,
  type SchedulerChild,
  spawnScheduler,
  taskDefinition,
  testSerdes,
} from '../helpers/scheduler.ts'

const fixedPort = process.env.FLEXTASK_OUTAGE_KAFKA_PORT
const [port, controllerPort] = fixedPort === undefined ? await freePorts(2) : [Number(fixedPort), Number(fixedPort) + 1]
const brokers = [`127.0.0.1:${port}`]
const brokerEnv = {
  ...process.env,
  KAFKA_PORT: String(port),
  KAFKA_CONTROLLER_PORT: String(controllerPort),
  KAFKA_DATA_DIR: join(tmpdir(), `flextask-outage-kafka-${port}`),
}
const root = join(import.meta.dirname, '..', '..')
const stateRoot = mkdtempSync(join(tmpdir(), 'flextask-outage-'))
const children: SchedulerChild[] = []
const cleanups: (() => Promise<unknown>)[] = []

function broker(command: 'start' | 'stop'): void {
  const result = spawnSync(process.execPath, [join(root, 'tools/kafka/kafka.ts'), command], {
    env: brokerEnv,
    encoding: 'utf8',
    timeout: 120_000,
  })
  if (result.status !== 0) throw new Error(`kafka ${command} failed: ${result.stdout}${result.stderr}`)
}

beforeAll(() => {
  broker('stop')
  rmSync(brokerEnv.KAFKA_DATA_DIR, { recursive: true, force: true })
  broker('start')
}, 180_000)

afterAll(async () => {
  for (const scheduler of children) await killHard(scheduler)
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  broker('stop')
  rmSync(brokerEnv.KAFKA_DATA_DIR, { recursive: true, force: true })
  rmSync(stateRoot, { recursive: true, force: true })
}, 120_000)

const partitions = 3
const total = 600
const leadMs = 5_000
/** One-shots every 200 ms over two minutes: the outage falls in the middle. */
const spacingMs = 200

/** kafkajs, read_committed (its default), from the beginning: an independent audit of the executions. */
async function kafkajsReader(topic: string): Promise<{ values: Buffer[]; close: () => Promise<void> }> {
  const kafka = new Kafka({ clientId: uniqueName('kafkajs-audit'), brokers, logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: uniqueName('kafkajs-audit'), readUncommitted: false })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const values: Buffer[] = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value !== null) values.push(message.value)
      await Promise.resolve()
    },
  })
  return { values, close: () => consumer.disconnect() }
}

function repeated(keys: readonly string[]): string[] {
  const counts = new Map<string, number>()
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1)
  return [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k}×${n}`)
}

describe('the scheduler waits out broker outages', () => {
  it(
    'starts on a fresh broker, survives a 60 s broker stop under load, and fires every one-shot exactly once',
    { timeout: 420_000 },
    async () => {
      const prefix = uniqueName('outage')
      const topics = topicNames(prefix)
      const executionsTopic = topics.executions('http')
      const startedAt = Date.now()
      const timeline: string[] = []
      const mark = (what: string): void => void timeline.push(`+${Date.now() - startedAt} ms ${what}`)
      onTestFailed(() => console.log(`timeline:\n  ${timeline.join('\n  ')}`))
      // Started as soon as the fresh broker answers.
      const scheduler = spawnScheduler('outage', {
        KAFKA_BROKERS: brokers.join(','),
        SCHEMA_REGISTRY_URL: schemaRegistryUrl,
        FLEXTASK_TOPIC_PREFIX: prefix,
        FLEXTASK_PARTITIONS: String(partitions),
        FLEXTASK_CATEGORIES: 'http',
        FLEXTASK_INSTANCE_ID: 'outage-scheduler',
        FLEXTASK_STATE_DIR: join(stateRoot, prefix),
      })
      children.push(scheduler)
      await scheduler.running()
      mark('scheduler running on the fresh broker')

      const serdes = await testSerdes(schemaRegistryUrl, topics)
      const producer = new Producer({ clientId: uniqueName('outage-producer'), bootstrapBrokers: brokers })
      cleanups.push(() => producer.close())
      const firstAtMs = Date.now() + leadMs
      const definitions = Array.from({ length: total }, (_, i) =>
        taskDefinition(
          `${prefix}-t${i}`,
          { kind: 'ONE_SHOT', atMs: firstAtMs + i * spacingMs },
          { maxLatenessMs: 600_000 },
        ),
      )
      await produceDefinitions(producer, serdes.definition, topics.definitions, definitions, partitions, 200)
      await producer.close()
      mark('definitions produced')

      await sleep(leadMs + 15_000)
      broker('stop')
      mark('broker stopped')
      await sleep(60_000)
      expect(scheduler.exited(), 'the scheduler exited during the outage').toBe(false)
      broker('start')
      mark('broker started again')

      const out = await collect(
        [executionsTopic, topics.occurrences],
        createKafkaClientFactory({ bootstrapBrokers: brokers }),
      )
      cleanups.push(out.close)
      const independent = await kafkajsReader(executionsTopic)
      cleanups.push(independent.close)
      const count = (topic: string): number => out.records.filter((r) => r.topic === topic).length
      await waitFor(
        `${total} executions and occurrences`,
        () => (count(executionsTopic) >= total && count(topics.occurrences) >= total ? true : undefined),
        180_000,
      )
      mark('all executions seen')
      await sleep(3_000)
      await waitFor('the independent reader', () => (independent.values.length >= total ? true : undefined), 60_000)

      const expected = definitions.map((d) => `${d.taskId}:${d.schedule.atMs}`)
      const executions = await decodeAll(serdes.execution, out.records, executionsTopic)
      const ours = executions.map((e) => e.executionId)
      const theirs: string[] = []
      for (const v of independent.values) theirs.push((await serdes.execution.deserialize(v)).executionId)
      const occurrences = await decodeAll(serdes.occurrence, out.records, topics.occurrences)
      console.log(
        `broker-outage: ${executions.length} executions, ${occurrences.length} occurrences, ` +
          `kafkajs saw ${theirs.length}\n  ${timeline.join('\n  ')}\n  scheduler said:\n    ` +
          scheduler.lines
            .filter((l) => !l.includes('assigned'))
            .slice(0, 40)
            .join('\n    '),
      )
      for (const [name, ids] of [
        ['ours', ours],
        ['kafkajs', theirs],
      ] as const) {
        expect(repeated(ids).slice(0, 20), `${name}: duplicate executions`).toEqual([])
        const seen = new Set(ids)
        expect(expected.filter((id) => !seen.has(id)).slice(0, 20), `${name}: missing executions`).toEqual([])
        expect(ids, `${name}: execution count`).toHaveLength(total)
      }
      expect(repeated(occurrences.map((o) => `${o.taskId}:${o.scheduledForMs}`))).toEqual([])
      expect(occurrences.filter((o) => o.outcome !== 'FIRED')).toEqual([])
      expect(scheduler.exited(), 'the scheduler never exited').toBe(false)
    },
  )
})
