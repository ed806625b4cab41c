/**
 * The `kafka` config section against a secured broker: this file starts its own broker (ports 19400/19401, a fresh
 * data dir) whose only client listener is SASL_PLAINTEXT, and runs the scheduler component through the one Kafka
 * client factory with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (topic setup, group, transactions, restore consumer,
 * changelogs: every client of the runtime). A wrong password fails start() with the reason in one line.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { oneLine } from '../../host/component-host.ts'
import { uniqueName, waitFor } from '../helpers/kafka.ts'
import { produceDefinitions, taskDefinition, testScheduler } from '../helpers/scheduler.ts'

const tool = fileURLToPath(new URL('../../tools/kafka/kafka.ts', import.meta.url))
const dataDir = mkdtempSync(join(tmpdir(), 'flextask-sasl-broker-'))
const stateRoot = mkdtempSync(join(tmpdir(), 'flextask-sasl-state-'))
const brokerEnv = {
  ...process.env,
  KAFKA_PORT: '19400',
  KAFKA_CONTROLLER_PORT: '19401',
  KAFKA_DATA_DIR: dataDir,
  KAFKA_HEAP: '384m',
  KAFKA_SASL_USERS: 'alice:alice-secret',
}

function broker(command: 'start' | 'stop'): void {
  const run = spawnSync(process.execPath, [tool, command], { env: brokerEnv, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`kafka ${command} failed:\n${run.stdout}${run.stderr}`)
}

beforeAll(() => broker('start'), 180_000)
afterAll(() => {
  broker('stop')
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(stateRoot, { recursive: true, force: true })
}, 60_000)

function saslEnv(mechanism: string, password = 'alice-secret'): Record<string, string> {
  const prefix = uniqueName(`sasl-${mechanism.toLowerCase()}`)
  return {
    KAFKA_BROKERS: '127.0.0.1:19400',
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: 'alice',
    KAFKA_SASL_PASSWORD: password,
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '2',
    FLEXTASK_CATEGORIES: 'http',
    FLEXTASK_STATE_DIR: join(stateRoot, prefix),
    FLEXTASK_INSTANCE_ID: prefix,
  }
}

describe('the scheduler on a SASL broker', () => {
  it.each(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'])('serves and fires with %s', async (mechanism) => {
    const { scheduler, deps } = testScheduler(saslEnv(mechanism))
    const producer = deps.kafka.producer({ clientId: uniqueName('sasl-producer') })
    try {
      await scheduler.start()
      expect(scheduler.health()).toEqual({ live: true, ready: true, reasons: [] })
      const once = taskDefinition(`${mechanism}-once`, { kind: 'ONE_SHOT', atMs: Date.now() + 200 })
      await produceDefinitions(producer, scheduler.serdes.definition, scheduler.topics.definitions, [once], 2)
      await waitFor('the fire, counted from the committed execution', async () => {
        const { body } = await deps.metrics.render()
        return body.includes('flextask_scheduler_fires_total{category="http",trigger="SCHEDULE"} 1') ? true : undefined
      })
    } finally {
      await producer.close()
      await scheduler.close()
    }
  })

  it('refuses to start with a wrong password, saying why in one line', async () => {
    const { scheduler } = testScheduler(saslEnv('SCRAM-SHA-256', 'wrong'))
    const error = await scheduler.start().then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(error).toBeDefined()
    expect(oneLine(error)).toMatch(/\(cause: SASL authentication failed\.?\)$/)
    expect(scheduler.health().ready).toBe(false)
  })
})
