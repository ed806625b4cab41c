import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { configFields, postgresClientOptions, printableConfig, redacted, resolveConfig } from '../../config.ts'
import { ErrorCodes } from '../../errors.ts'
import { createLogger } from '../../logger.ts'

const dir = mkdtempSync(join(tmpdir(), 'ft-prod-secrets-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function secretFile(name: string, content: string): string {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}

const secured = {
  KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
  KAFKA_SASL_USERNAME: 'flextask',
  KAFKA_SASL_PASSWORD: 'kafka-s3cret',
  SCHEMA_REGISTRY_URL: 'https://registry.example:8081/apis/ccompat/v7',
  SCHEMA_REGISTRY_USERNAME: 'sr-user',
  SCHEMA_REGISTRY_PASSWORD: 'registry-s3cret',
  DATABASE_URL: 'postgres://flextask:url-s3cret@db.example:5432/flextask',
  DATABASE_PASSWORD: 'db-s3cret',
}

describe('secrets in the configuration', () => {
  it('reads every password from <VAR>_FILE, as a mounted Kubernetes secret, dropping one trailing newline', () => {
    const config = resolveConfig({
      KAFKA_SASL_MECHANISM: 'PLAIN',
      KAFKA_SASL_USERNAME: 'flextask',
      KAFKA_SASL_PASSWORD_FILE: secretFile('kafka', 'from-file\n'),
      SCHEMA_REGISTRY_USERNAME: 'sr',
      SCHEMA_REGISTRY_PASSWORD_FILE: secretFile('registry', 'sr pass'),
      DATABASE_URL_FILE: secretFile('db-url', 'postgres://u:p@db:5432/x\n'),
      DATABASE_PASSWORD_FILE: secretFile('db', 'pg-pass\n'),
    })
    expect(config.kafka.sasl.password).toBe('from-file')
    expect(config.registry.password).toBe('sr pass')
    expect(config.database.url).toBe('postgres://u:p@db:5432/x')
    expect(config.database.password).toBe('pg-pass')
  })

  it('refuses a secret set both directly and by file, and names an unreadable file without its content', () => {
    const both = () => resolveConfig({ KAFKA_SASL_PASSWORD: 'a', KAFKA_SASL_PASSWORD_FILE: secretFile('both', 'b') })
    expect(both).toThrow('kafka.sasl.password: set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both')
    try {
      resolveConfig({ DATABASE_PASSWORD_FILE: join(dir, 'missing') })
      expect.unreachable()
    } catch (error) {
      expect((error as { code: string }).code).toBe(ErrorCodes.config)
      expect((error as Error).message).toMatch(
        /database.password: cannot read DATABASE_PASSWORD_FILE ".*missing" \(ENOENT\)/,
      )
    }
  })

  it('requires a registry password with a registry username', () => {
    expect(() => resolveConfig({ SCHEMA_REGISTRY_USERNAME: 'sr' })).toThrow(/registry.username and registry.password/)
  })

  it('marks every password and secret-bearing URL as secret', () => {
    const secret = configFields.filter((f) => f.secret !== undefined).map((f) => f.env)
    expect(secret).toEqual(
      expect.arrayContaining([
        'KAFKA_SASL_PASSWORD',
        'SCHEMA_REGISTRY_URL',
        'SCHEMA_REGISTRY_PASSWORD',
        'DATABASE_URL',
        'DATABASE_PASSWORD',
      ]),
    )
    for (const field of configFields)
      if (/PASSWORD|SECRET|TOKEN/.test(field.env)) expect(field.secret, field.env).toBeDefined()
  })

  it('prints the config without any secret: passwords redacted, URL passwords masked', () => {
    const config = resolveConfig({
      ...secured,
      SCHEMA_REGISTRY_URL: 'https://sr-user:url-registry-s3cret@registry.example/apis/ccompat/v7',
      SCHEMA_REGISTRY_USERNAME: '',
      SCHEMA_REGISTRY_PASSWORD: '',
    })
    const printable = printableConfig(config)
    const text = JSON.stringify(printable)
    for (const secret of ['kafka-s3cret', 'url-registry-s3cret', 'url-s3cret', 'db-s3cret'])
      expect(text).not.toContain(secret)
    expect(printable.kafka.sasl.password).toBe(redacted)
    expect(printable.kafka.sasl.username).toBe('flextask')
    expect(printable.database.url).toBe('postgres://flextask:***@db.example:5432/flextask')
    expect(printable.registry.url).toBe('https://sr-user:***@registry.example/apis/ccompat/v7')
    // The resolved config itself is untouched.
    expect(config.kafka.sasl.password).toBe('kafka-s3cret')
  })

  it('keeps secrets out of log lines even when an object holding one is logged', () => {
    const lines: string[] = []
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString())
        callback()
      },
    })
    const logger = createLogger({ pretty: false, destination })
    const config = resolveConfig(secured)
    logger.info({ config: printableConfig(config) }, 'resolved configuration')
    logger.info({ sasl: config.kafka.sasl, headers: { authorization: 'Basic c3I6cw==' } }, 'careless line')
    const text = lines.join('')
    expect(lines).toHaveLength(2)
    for (const secret of Object.values(secured).filter((v) => v.includes('s3cret'))) expect(text).not.toContain(secret)
    expect(text).not.toContain('c3I6cw==')
    expect(text).toContain('"username":"flextask"')
  })

  it('puts DATABASE_PASSWORD into the connection string pg uses, replacing one in the URL', () => {
    const config = resolveConfig(secured)
    const { connectionString } = postgresClientOptions(config.database)
    expect(new URL(connectionString).password).toBe('db-s3cret')
    expect(new URL(connectionString).username).toBe('flextask')
    const special = postgresClientOptions({ ...config.database, password: 'p@ss:w/rd' })
    expect(decodeURIComponent(new URL(special.connectionString).password)).toBe('p@ss:w/rd')
  })
})
