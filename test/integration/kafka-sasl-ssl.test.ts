/**
 * Kafka security on a real broker of this suite's own (helpers/secured-kafka.ts: a SASL_SSL listener, a test CA,
 * PLAIN users and SCRAM-SHA-512 credentials): the `flextask` CLI connects with SCRAM-SHA-512 over TLS (CA file,
 * host name verification on, and refusing a name the certificate lacks) and fires a task; the scheduler component
 * connects with PLAIN; a wrong password and
 * an unknown CA each stop the CLI within seconds with an error that names the cause and the settings to check,
 * never the password. Every client here is built by the one factory (kafka-clients.ts) from the config.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  FetchIsolationLevels,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../config.ts'
import { coerceError, ErrorCodes } from '../../errors.ts'
import { createKafkaClientFactory } from '../../kafka-clients.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { topicNames } from '../../topics.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { freePorts } from '../helpers/free-port.ts'
import { uniqueName, waitFor } from '../helpers/kafka.ts'
import {
  deletePrefixTopics,
  produceDefinitions,
  spawnScheduler,
  type SchedulerChild,
  taskDefinition,
  testScheduler,
  testSerdes,
} from '../helpers/scheduler.ts'
import { type SecuredBroker, startSecuredBroker } from '../helpers/secured-kafka.ts'

const users = { flextask: 'scram-and-plain-s3cret', other: 'other-s3cret' }
let broker: SecuredBroker
let port = 0
const stateRoot = mkdtempSync(join(tmpdir(), 'ft-prod-sasl-'))
const children: SchedulerChild[] = []
const cleanups: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  const [listener, controllerPort] = await freePorts(2)
  port = listener!
  broker = await startSecuredBroker({ port, controllerPort: controllerPort!, users })
})

afterAll(async () => {
  for (const child of children) if (!child.exited()) child.child.kill('SIGKILL')
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  await broker?.stop()
  rmSync(stateRoot, { recursive: true, force: true })
})

function securedEnv(mechanism: 'PLAIN' | 'SCRAM-SHA-512', password: string, prefix: string): Record<string, string> {
  return {
    KAFKA_BROKERS: broker.saslSslBroker,
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: 'flextask',
    KAFKA_SASL_PASSWORD: password,
    KAFKA_TLS: 'true',
    KAFKA_TLS_CA_FILE: broker.caFile,
    SCHEMA_REGISTRY_URL: schemaRegistryUrl,
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '2',
    FLEXTASK_CATEGORIES: 'http',
    FLEXTASK_STATE_DIR: join(stateRoot, prefix),
    FLEXTASK_INSTANCE_ID: uniqueName('sasl'),
    FLEXTASK_SESSION_TIMEOUT_MS: '6000',
  }
}

/** Waits (bounded) for the child to exit; returns its exit code and how long that took since `since`. */
async function exitOf(child: SchedulerChild, since: number, timeoutMs = 60_000): Promise<{ code: number; ms: number }> {
  await waitFor('the CLI to exit', () => (child.exited() ? true : undefined), timeoutMs)
  return { code: child.child.exitCode ?? -1, ms: Date.now() - since }
}

describe('Kafka over SASL_SSL', () => {
  it('runs the scheduler CLI with SCRAM-SHA-512 over TLS and fires a task', async () => {
    const prefix = uniqueName('ftprod-scram')
    const env = securedEnv('SCRAM-SHA-512', users.flextask, prefix)
    const factory = createKafkaClientFactory(resolveConfig(env).kafka)
    const admin = factory.admin(uniqueName('sasl-admin'))
    cleanups.push(
      () => admin.close(),
      () => deletePrefixTopics(admin, prefix),
    )
    const startedAt = Date.now()
    const scheduler = spawnScheduler('scram', env)
    children.push(scheduler)
    await scheduler.running()
    console.log(`scheduler serving over SASL_SSL/SCRAM-SHA-512 after ${Date.now() - startedAt} ms`)

    const topics = topicNames(prefix)
    const serdes = await testSerdes(schemaRegistryUrl, topics)
    const producer = factory.producer({ clientId: uniqueName('sasl-producer') })
    cleanups.push(() => producer.close())
    const definition = taskDefinition(`${prefix}-once`, { kind: 'ONE_SHOT', atMs: Date.now() + 500 })
    await produceDefinitions(producer, serdes.definition, topics.definitions, [definition], 2)

    const consumer = factory.consumer({
      clientId: uniqueName('sasl-reader'),
      groupId: uniqueName('sasl-reader'),
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 200,
    })
    cleanups.push(() => consumer.close(true))
    const stream = await consumer.consume({
      topics: [topics.executions('http')],
      mode: MessagesStreamModes.EARLIEST,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    cleanups.push(() => stream.close())
    const fired: TaskExecution[] = []
    stream.on('data', (m: Message) => {
      if (m.value !== null && m.value !== undefined)
        void serdes.execution.deserialize(m.value).then((e) => fired.push(e))
    })
    const execution = await waitFor('the task to fire over SASL_SSL', () => fired[0], 30_000)
    expect(execution.taskId).toBe(definition.taskId)
    // The password is in no log line and in no metric (name, label or value) of the running process.
    expect(scheduler.lines.join('\n')).not.toContain(users.flextask)
    const opsPort = scheduler.lines
      .map((l) => /"port":(\d+).*serving \/metrics/.exec(l)?.[1])
      .find((p) => p !== undefined)
    const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text()
    expect(metrics).toContain('flextask_')
    expect(metrics).not.toContain(users.flextask)
  })

  it('starts the scheduler component with SASL/PLAIN over TLS', async () => {
    const prefix = uniqueName('ftprod-plain')
    const { scheduler, deps } = testScheduler(securedEnv('PLAIN', users.flextask, prefix))
    cleanups.push(async () => {
      const admin = deps.kafka.admin(uniqueName('plain-admin'))
      await deletePrefixTopics(admin, prefix)
      await admin.close()
    })
    expect(deps.kafka.connection.sasl?.mechanism).toBe('PLAIN')
    try {
      await scheduler.start()
      expect(scheduler.health()).toEqual({ live: true, ready: true, reasons: [] })
    } finally {
      await scheduler.close()
    }
  })

  it('verifies the broker host name unless told not to', async () => {
    const env = {
      ...securedEnv('SCRAM-SHA-512', users.flextask, 'unused'),
      KAFKA_BROKERS: broker.saslSslBroker.replace('127.0.0.1', 'localhost'),
    }
    const strict = createKafkaClientFactory(resolveConfig(env).kafka).admin(uniqueName('hostname-admin'))
    const failure = await strict.metadata({ topics: [] }).then(
      () => undefined,
      (error: unknown) => coerceError(error),
    )
    await strict.close()
    expect(failure?.code).toBe(ErrorCodes.kafkaTls)
    expect(failure?.message).toMatch(new RegExp(`at localhost:${port}: .*\\(ERR_TLS_CERT_ALTNAME_INVALID\\)`))
    const lenient = createKafkaClientFactory(resolveConfig({ ...env, KAFKA_TLS_VERIFY_HOSTNAME: 'false' }).kafka)
    const admin = lenient.admin(uniqueName('no-hostname-admin'))
    try {
      expect((await admin.metadata({ topics: [] })).brokers.size).toBe(1)
    } finally {
      await admin.close()
    }
  })

  it('stops within seconds on a wrong password, naming the refused login and not the password', async () => {
    const startedAt = Date.now()
    const wrong = 'wrong-pa55word'
    const scheduler = spawnScheduler('wrong-password', securedEnv('SCRAM-SHA-512', wrong, uniqueName('ftprod-wrong')))
    children.push(scheduler)
    const { code, ms } = await exitOf(scheduler, startedAt)
    console.log(`wrong password: exit ${code} after ${ms} ms`)
    const output = scheduler.lines.join('\n')
    expect(code).toBe(1)
    expect(output).toMatch(
      new RegExp(
        `flextask: scheduler could not start: FLEXTASK_KAFKA_AUTHENTICATION_FAILED: Kafka refused the SASL login at 127\\.0\\.0\\.1:${port}: .*invalid credentials with SASL mechanism SCRAM-SHA-512; check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
      ),
    )
    expect(output).not.toContain(wrong)
  })

  it('stops within seconds when the broker certificate is not signed by the configured CA', async () => {
    const startedAt = Date.now()
    const env = securedEnv('SCRAM-SHA-512', users.flextask, uniqueName('ftprod-ca'))
    delete env.KAFKA_TLS_CA_FILE
    const scheduler = spawnScheduler('unknown-ca', env)
    children.push(scheduler)
    const { code, ms } = await exitOf(scheduler, startedAt)
    console.log(`unknown CA: exit ${code} after ${ms} ms`)
    expect(code).toBe(1)
    expect(scheduler.lines.join('\n')).toMatch(
      new RegExp(
        `FLEXTASK_KAFKA_TLS_FAILED: TLS to Kafka failed at 127\\.0\\.0\\.1:${port}: .*\\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\); check KAFKA_TLS, KAFKA_TLS_CA_FILE`,
      ),
    )
  })
})
