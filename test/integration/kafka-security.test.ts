/**
 * The `kafka` config section against secured brokers. Each block starts its own broker (free ports, fresh
 * data dirs) whose only client listener is secured, and runs the scheduler component through the one Kafka client
 * factory: topic setup, group, transactions, restore consumer and changelogs, i.e. every client of the runtime.
 *
 * - SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; a wrong password fails start() with its cause.
 * - SSL with a private CA and required client certificates, the broker's certificate issued for another host name:
 *   refused while host names are verified (the default), served with KAFKA_TLS_VERIFY_HOSTNAME=false.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { oneLine } from '../../host/component-host.ts'
import { freePorts } from '../helpers/free-port.ts'
import { uniqueName, waitFor } from '../helpers/kafka.ts'
import { produceDefinitions, taskDefinition, testScheduler } from '../helpers/scheduler.ts'

const tool = fileURLToPath(new URL('../../tools/kafka/kafka.ts', import.meta.url))
const stateRoot = mkdtempSync(join(tmpdir(), 'flextask-security-state-'))
afterAll(() => rmSync(stateRoot, { recursive: true, force: true }))

/** Starts a broker of its own for the enclosing describe block, stopped (and its data removed) after it. */
/** A broker of the block's own on two free ports; `address()` is its host:port once it started. */
function ownBroker(env: () => Record<string, string>): { address: () => string } {
  let dataDir = ''
  let port = 0
  let controllerPort = 0
  const run = (command: 'start' | 'stop'): void => {
    const brokerEnv = {
      ...process.env,
      ...env(),
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_DATA_DIR: dataDir,
      KAFKA_HEAP: '384m',
    }
    const result = spawnSync(process.execPath, [tool, command], { env: brokerEnv, encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`kafka ${command} on ${port} failed:\n${result.stdout}${result.stderr}`)
  }
  beforeAll(async () => {
    ;[port, controllerPort] = (await freePorts(2)) as [number, number]
    dataDir = mkdtempSync(join(tmpdir(), 'flextask-security-broker-'))
    run('start')
  }, 180_000)
  afterAll(() => {
    if (port !== 0) run('stop')
    rmSync(dataDir, { recursive: true, force: true })
  }, 60_000)
  return { address: () => `127.0.0.1:${port}` }
}

function componentEnv(name: string, broker: string): Record<string, string> {
  const prefix = uniqueName(name)
  return {
    KAFKA_BROKERS: broker,
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '2',
    FLEXTASK_CATEGORIES: 'http',
    FLEXTASK_STATE_DIR: join(stateRoot, prefix),
    FLEXTASK_INSTANCE_ID: prefix,
  }
}

/** Starts the scheduler, fires one one-shot through it, and checks the fire was committed (counted). */
async function servesAndFires(env: Record<string, string>): Promise<void> {
  const { scheduler, deps } = testScheduler(env)
  const producer = deps.kafka.producer({ clientId: uniqueName('secured-producer') })
  try {
    await scheduler.start()
    expect(scheduler.health()).toEqual({ live: true, ready: true, reasons: [] })
    const once = taskDefinition(uniqueName('once'), { kind: 'ONE_SHOT', atMs: Date.now() + 200 })
    await produceDefinitions(producer, scheduler.serdes.definition, scheduler.topics.definitions, [once], 2)
    await waitFor('the fire, counted from the committed execution', async () => {
      const { body } = await deps.metrics.render()
      return body.includes('flextask_scheduler_fires_total{category="http",trigger="SCHEDULE"} 1') ? true : undefined
    })
  } finally {
    await producer.close()
    await scheduler.close()
  }
}

async function startFailure(env: Record<string, string>): Promise<string> {
  const { scheduler } = testScheduler(env)
  const error = await scheduler.start().then(
    () => new Error('started although it should not have'),
    (caught: unknown) => caught,
  )
  expect(scheduler.health().ready).toBe(false)
  return oneLine(error)
}

describe('the scheduler on a SASL broker', () => {
  const broker = ownBroker(() => ({ KAFKA_SASL_USERS: 'alice:alice-secret' }))
  const sasl = (mechanism: string, password = 'alice-secret'): Record<string, string> => ({
    ...componentEnv(`sasl-${mechanism.toLowerCase()}`, broker.address()),
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: 'alice',
    KAFKA_SASL_PASSWORD: password,
  })

  it.each(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'])('serves and fires with %s', async (mechanism) => {
    await servesAndFires(sasl(mechanism))
  })

  it('refuses to start with a wrong password, saying why in one line', async () => {
    expect(await startFailure(sasl('SCRAM-SHA-256', 'wrong'))).toMatch(/\(cause: SASL authentication failed\.?\)$/)
  })
})

describe('the scheduler on a TLS broker with client certificates', () => {
  let certs = ''
  afterAll(() => rmSync(certs, { recursive: true, force: true }))
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: certs, stdio: 'pipe' })
  // Before the broker starts (hooks run in order).
  beforeAll(() => {
    certs = mkdtempSync(join(tmpdir(), 'flextask-security-certs-'))
    // A private CA; the broker's certificate names kafka.flextask.test only (clients dial 127.0.0.1); a client one.
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=flextask test CA',
    )
    for (const [name, subject, extensions] of [
      ['server', '/CN=kafka.flextask.test', 'subjectAltName=DNS:kafka.flextask.test\n'],
      ['client', '/CN=flextask', 'extendedKeyUsage=clientAuth\n'],
    ] as const) {
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject)
      writeFileSync(join(certs, `${name}.ext`), extensions)
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      )
    }
    // The broker's PEM keystore: a PKCS#8 key, then its certificate chain.
    openssl('pkcs8', '-topk8', '-nocrypt', '-in', 'server.key', '-out', 'server.p8')
    writeFileSync(
      join(certs, 'server.pem'),
      ['server.p8', 'server.crt', 'ca.pem'].map((f) => readFileSync(join(certs, f), 'utf8')).join(''),
    )
  })
  const broker = ownBroker(() => ({ KAFKA_TLS_DIR: certs, KAFKA_TLS_CLIENT_AUTH: 'required' }))
  const tls = (verifyHostname: boolean): Record<string, string> => ({
    ...componentEnv('tls', broker.address()),
    KAFKA_TLS: 'true',
    KAFKA_TLS_CA_FILE: join(certs, 'ca.pem'),
    KAFKA_TLS_CERT_FILE: join(certs, 'client.crt'),
    KAFKA_TLS_KEY_FILE: join(certs, 'client.key'),
    KAFKA_TLS_VERIFY_HOSTNAME: String(verifyHostname),
  })

  it('refuses a broker certificate for another host name while host names are verified', async () => {
    expect(await startFailure(tls(true))).toMatch(/cause: Hostname\/IP does not match certificate's altnames/)
  })

  it('serves and fires with the CA, a client certificate and KAFKA_TLS_VERIFY_HOSTNAME=false', async () => {
    await servesAndFires(tls(false))
  })

  it('is refused by the broker without a client certificate', async () => {
    const { KAFKA_TLS_CERT_FILE: _cert, KAFKA_TLS_KEY_FILE: _key, ...withoutCertificate } = tls(false)
    const reason = await startFailure(withoutCertificate)
    console.log(`without a client certificate: ${reason}`)
    expect(reason).toMatch(/^FLEXTASK_UNKNOWN: .* \(cause: .+\)$/)
  })
})
