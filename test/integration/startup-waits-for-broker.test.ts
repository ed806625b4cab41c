/**
 * A process started while its broker is down waits for it (issue 15): the scheduler CLI starts on a broker of its
 * own that is not running, logs that it waits, and once the broker starts 10 s later it serves and fires. Before,
 * it exited 1 at once ("Listing topics failed").
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Producer } from '@platformatic/kafka'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, describe, expect, it } from 'vitest'
import { topicNames } from '../../topics.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { freePorts } from '../helpers/free-port.ts'
import { uniqueName, waitFor } from '../helpers/kafka.ts'
import { ownBroker } from '../helpers/own-broker.ts'
import {
  killHard,
  produceDefinitions,
  type SchedulerChild,
  spawnScheduler,
  taskDefinition,
  testSerdes,
} from '../helpers/scheduler.ts'

const [port, controllerPort] = await freePorts(2)
const broker = ownBroker(port!, 'startwait', controllerPort)
const stateDir = mkdtempSync(join(tmpdir(), 'flextask-startwait-'))
const children: SchedulerChild[] = []

afterAll(async () => {
  for (const child of children) await killHard(child)
  broker.remove()
  rmSync(stateDir, { recursive: true, force: true })
}, 120_000)

describe('start-up with the broker down', () => {
  it(
    'waits for the broker with a log line per try, then serves and fires once it is up',
    { timeout: 300_000 },
    async () => {
      broker.remove() // no broker on the port, no data left from an earlier run
      const prefix = uniqueName('startwait')
      const topics = topicNames(prefix)
      const startedAtMs = Date.now()
      const scheduler = spawnScheduler('s1', {
        KAFKA_BROKERS: broker.brokers.join(','),
        SCHEMA_REGISTRY_URL: schemaRegistryUrl,
        FLEXTASK_TOPIC_PREFIX: prefix,
        FLEXTASK_PARTITIONS: '1',
        FLEXTASK_STATE_DIR: stateDir,
        FLEXTASK_INSTANCE_ID: `${prefix}-s1`,
      })
      children.push(scheduler)
      await waitFor(
        'the scheduler to log that it waits for Kafka',
        () => {
          if (scheduler.exited()) throw new Error(`the scheduler exited:\n${scheduler.lines.join('\n')}`)
          return scheduler.lines.some((l) => l.includes('waiting for Kafka')) ? true : undefined
        },
        60_000,
      )
      await sleep(Math.max(0, startedAtMs + 10_000 - Date.now()))
      expect(scheduler.exited(), 'the scheduler is still running 10 s after it started').toBe(false)
      broker.command('start')
      await scheduler.running(180_000)
      expect(scheduler.lines.filter((l) => l.includes('waiting for Kafka')).length).toBeGreaterThan(1)

      const serdes = await testSerdes(schemaRegistryUrl, topics)
      const producer = new Producer({ clientId: uniqueName('startwait'), bootstrapBrokers: broker.brokers })
      const atMs = Date.now() + 2_000
      try {
        await produceDefinitions(
          producer,
          serdes.definition,
          topics.definitions,
          [taskDefinition(`${prefix}-once`, { kind: 'ONE_SHOT', atMs })],
          1,
        )
      } finally {
        await producer.close()
      }
      const kafka = new Kafka({
        clientId: uniqueName('startwait-audit'),
        brokers: broker.brokers,
        logLevel: logLevel.NOTHING,
      })
      const consumer = kafka.consumer({ groupId: uniqueName('startwait-audit') })
      const values: Buffer[] = []
      await consumer.connect()
      try {
        await consumer.subscribe({ topic: topics.executions('http'), fromBeginning: true })
        await consumer.run({
          eachMessage: async ({ message }) => {
            if (message.value !== null) values.push(message.value)
            await Promise.resolve()
          },
        })
        await waitFor('the one-shot to fire', () => (values.length > 0 ? true : undefined), 60_000)
        await sleep(2_000)
      } finally {
        await consumer.disconnect()
      }
      const executions = await Promise.all(values.map(async (v) => serdes.execution.deserialize(v)))
      expect(executions.map((e) => e.executionId)).toEqual([`${prefix}-once:${atMs}`])
    },
  )
})
