import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { configDefaults, configFields, postgresClientOptions, resolveConfig } from '../../config.ts'
import { defaultSchedulerConfig } from '../../processors/task-state.ts'
import { ErrorCodes } from '../../errors.ts'
import { kafkaConnection } from '../../kafka-clients.ts'

describe('resolveConfig', () => {
  it('fills every section with its defaults', () => {
    const config = resolveConfig({})
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092'])
    expect(config.kafka.sasl.mechanism).toBeNull()
    expect(config.kafka.tls.enabled).toBe(false)
    expect(config.registry.url).toBe('http://127.0.0.1:8081/apis/ccompat/v7')
    expect(config.database).toEqual({
      url: 'postgres://postgres@127.0.0.1:5432/flextask',
      sslMode: 'disable',
      sslCaFile: null,
    })
    expect(config.topics).toEqual({ prefix: 'flextask', partitions: 6, categories: configDefaults.topics.categories })
    expect(config.runtime.commitIntervalMs).toBe(100)
    expect(config.runtime.stateDir).toMatch(/\/\.state$/)
    expect(config.api.port).toBe(3000)
    expect(config.metrics.port).toBe(9464)
    expect(config.log).toEqual({ level: 'info', pretty: 'auto' })
    expect(Object.keys(config).sort()).toEqual([
      'api',
      'database',
      'kafka',
      'log',
      'metrics',
      'registry',
      'runtime',
      'scheduler',
      'sink',
      'topics',
      'worker',
    ])
  })

  it("keeps the scheduler's defaults equal to the ones processors/ use as a library", () => {
    expect(resolveConfig({}).scheduler).toEqual(defaultSchedulerConfig)
  })

  it('reads the documented variables, including the runtime timings', () => {
    const config = resolveConfig({
      KAFKA_BROKERS: 'a:1, b:2',
      FLEXTASK_PARTITIONS: '3',
      FLEXTASK_CATEGORIES: 'http,email',
      FLEXTASK_TRANSACTION_TIMEOUT_MS: '15000',
      FLEXTASK_COMMIT_INTERVAL_MS: '0',
      FLEXTASK_SESSION_TIMEOUT_MS: '6000',
      FLEXTASK_SCHEDULER_MAX_FIRES_PER_WAKE: '50',
      METRICS_PORT: '0',
      LOG_LEVEL: 'debug',
      LOG_PRETTY: 'false',
      DATABASE_SSLMODE: 'verify-full',
    })
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2'])
    expect(config.topics.partitions).toBe(3)
    expect(config.topics.categories).toEqual(['http', 'email'])
    expect(config.runtime).toMatchObject({ transactionTimeoutMs: 15_000, commitIntervalMs: 0, sessionTimeoutMs: 6000 })
    expect(config.scheduler.maxFiresPerWake).toBe(50)
    expect(config.metrics.port).toBe(0)
    expect(config.log).toEqual({ level: 'debug', pretty: false })
    expect(config.database.sslMode).toBe('verify-full')
  })

  it('follows the local tools’ ports for the local defaults', () => {
    const config = resolveConfig({ KAFKA_PORT: '19401', REGISTRY_PORT: '19402' })
    expect(config.kafka.brokers).toEqual(['127.0.0.1:19401'])
    expect(config.registry.url).toBe('http://127.0.0.1:19402/apis/ccompat/v7')
  })

  it('names the path, the bad value and the variable', () => {
    expect(() => resolveConfig({ FLEXTASK_PARTITIONS: '0' })).toThrow(
      'topics.partitions must be a positive integer, got 0 (FLEXTASK_PARTITIONS)',
    )
    expect(() => resolveConfig({ FLEXTASK_TRANSACTION_TIMEOUT_MS: 'soon' })).toThrow(
      'runtime.transactionTimeoutMs must be a positive integer, got "soon" (FLEXTASK_TRANSACTION_TIMEOUT_MS)',
    )
    expect(() => resolveConfig({ KAFKA_SASL_MECHANISM: 'KERBEROS' })).toThrow(
      'kafka.sasl.mechanism must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or none, got "KERBEROS" (KAFKA_SASL_MECHANISM)',
    )
    expect(() => resolveConfig({ METRICS_PORT: '70000' })).toThrow('metrics.port must be a port number')
    expect(() => resolveConfig({ KAFKA_TLS: 'maybe' })).toThrow('kafka.tls.enabled must be true or false')
  })

  it('names the path of a bad override, and its error carries the config code and the field', () => {
    let error: unknown
    try {
      resolveConfig({}, { runtime: { commitIntervalMs: -1 } })
    } catch (caught) {
      error = caught
    }
    expect(error).toMatchObject({
      code: ErrorCodes.config,
      message: 'runtime.commitIntervalMs must be a non-negative integer, got -1',
      context: { field: 'runtime.commitIntervalMs' },
    })
  })

  it('requires SASL credentials with a mechanism, and a TLS key with a certificate', () => {
    expect(() => resolveConfig({ KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u' })).toThrow(
      'kafka.sasl.username and kafka.sasl.password are required with kafka.sasl.mechanism PLAIN',
    )
    expect(() => resolveConfig({ KAFKA_TLS: 'true', KAFKA_TLS_CERT_FILE: '/c.pem' })).toThrow(
      'kafka.tls.certFile and kafka.tls.keyFile go together',
    )
  })

  it('declares a variable for every field at most once', () => {
    const envs = configFields.map((f) => f.env)
    expect(new Set(envs).size).toBe(envs.length)
    const paths = configFields.map((f) => f.path)
    expect(new Set(paths).size).toBe(paths.length)
  })
})

describe('the Kafka connection options', () => {
  it('are plain by default', () => {
    expect(kafkaConnection(resolveConfig({}).kafka)).toEqual({ bootstrapBrokers: ['127.0.0.1:9092'] })
  })

  it('map SASL/SCRAM and TLS with a CA, a client certificate and no host name check', () => {
    const kafka = resolveConfig({
      KAFKA_BROKERS: 'broker.example:9093',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'flextask',
      KAFKA_SASL_PASSWORD: 'secret',
      KAFKA_TLS: 'true',
      KAFKA_TLS_CA_FILE: '/etc/ca.pem',
      KAFKA_TLS_CERT_FILE: '/etc/client.pem',
      KAFKA_TLS_KEY_FILE: '/etc/client.key',
      KAFKA_TLS_VERIFY_HOSTNAME: 'false',
    }).kafka
    const connection = kafkaConnection(kafka, (path) => Buffer.from(`contents of ${path}`))
    expect(connection.sasl).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'flextask', password: 'secret' })
    expect(connection.tlsServerName).toBe(true)
    expect(connection.tls).toMatchObject({
      rejectUnauthorized: true,
      ca: Buffer.from('contents of /etc/ca.pem'),
      cert: Buffer.from('contents of /etc/client.pem'),
      key: Buffer.from('contents of /etc/client.key'),
    })
    expect(connection.tls?.checkServerIdentity?.('other.example', {} as never)).toBeUndefined()
  })

  it('keeps node’s host name verification unless it is switched off, and sends SNI only for host names', () => {
    const byAddress = kafkaConnection(resolveConfig({ KAFKA_TLS: 'true' }).kafka)
    expect(byAddress.tls).toEqual({ rejectUnauthorized: true })
    expect(byAddress.tlsServerName).toBeUndefined()
    const byName = kafkaConnection(
      resolveConfig({ KAFKA_TLS: 'true', KAFKA_BROKERS: 'b1.example:9093,[::1]:9093' }).kafka,
    )
    expect(byName.tlsServerName).toBeUndefined()
    expect(
      kafkaConnection(resolveConfig({ KAFKA_TLS: 'true', KAFKA_BROKERS: 'b1.example:9093' }).kafka).tlsServerName,
    ).toBe(true)
  })
})

describe('the Postgres connection options', () => {
  it('follow DATABASE_SSLMODE like libpq: off, encrypted only, CA-verified, CA- and host-verified', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flextask-config-'))
    try {
      writeFileSync(join(dir, 'ca.pem'), 'the CA')
      const options = (sslMode: string) =>
        postgresClientOptions(
          resolveConfig({
            DATABASE_URL: 'postgres://db/x',
            DATABASE_SSLMODE: sslMode,
            DATABASE_SSL_CA_FILE: join(dir, 'ca.pem'),
          }).database,
        )
      expect(options('disable')).toEqual({ connectionString: 'postgres://db/x', ssl: false })
      expect(options('require').ssl).toEqual({ rejectUnauthorized: false })
      const verifyCa = options('verify-ca').ssl
      expect(verifyCa).toMatchObject({ rejectUnauthorized: true, ca: 'the CA' })
      expect(verifyCa && verifyCa.checkServerIdentity?.()).toBeUndefined()
      expect(options('verify-full').ssl).toEqual({ rejectUnauthorized: true, ca: 'the CA' })
      expect(() => resolveConfig({ DATABASE_SSLMODE: 'prefer' })).toThrow(
        'database.sslMode must be one of disable, require, verify-ca, verify-full, got "prefer" (DATABASE_SSLMODE)',
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
