/**
 * TLS to Postgres from config, against a server of this suite's own with SSL on and only `hostssl` allowed
 * (helpers/tls-postgres.ts): `postgresClientOptions` (config.ts), the one function the sink and the API build
 * their pg clients from, maps DATABASE_SSLMODE and DATABASE_SSL_CA_FILE like libpq's sslmode. The server's
 * certificate names 127.0.0.1 only, so `localhost` is a host name it does not cover.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresClientOptions, resolveConfig } from '../../config.ts'
import { freePort } from '../helpers/free-port.ts'
import { startTlsPostgres, type TlsPostgres } from '../helpers/tls-postgres.ts'
import { createTestCa, type TestCa } from '../helpers/tls.ts'

const port = await freePort()
let ca: TestCa
let otherCa: TestCa
let server: TlsPostgres

beforeAll(async () => {
  ca = createTestCa('postgres test CA')
  otherCa = createTestCa('unrelated CA')
  server = await startTlsPostgres({ port, ca, serverAltNames: 'IP:127.0.0.1' })
})

afterAll(async () => {
  await server?.stop()
  ca?.remove()
  otherCa?.remove()
})

/** Connects with the options config.ts derives from these variables; returns whether the session uses SSL. */
async function connect(env: Record<string, string>): Promise<boolean> {
  const options = postgresClientOptions(resolveConfig(env).database)
  const client = new pg.Client({ ...options, connectionTimeoutMillis: 10_000 })
  try {
    await client.connect()
    const result = await client.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()')
    return result.rows[0]?.ssl ?? false
  } finally {
    await client.end().catch(() => {})
  }
}

const url = (host: string): string => `postgres://postgres@${host}:${port}/postgres`

describe('Postgres over TLS from the database config', () => {
  it('connects with sslmode verify-full and the CA file, over SSL', async () => {
    await expect(
      connect({ DATABASE_URL: url('127.0.0.1'), DATABASE_SSLMODE: 'verify-full', DATABASE_SSL_CA_FILE: ca.caCert }),
    ).resolves.toBe(true)
  })

  it('refuses a server certificate that does not name the host under verify-full, accepts it under verify-ca', async () => {
    await expect(
      connect({ DATABASE_URL: url('localhost'), DATABASE_SSLMODE: 'verify-full', DATABASE_SSL_CA_FILE: ca.caCert }),
    ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    await expect(
      connect({ DATABASE_URL: url('localhost'), DATABASE_SSLMODE: 'verify-ca', DATABASE_SSL_CA_FILE: ca.caCert }),
    ).resolves.toBe(true)
  })

  it('refuses a server certificate another CA signed, and one checked against the system CAs only', async () => {
    for (const caFile of [otherCa.caCert, undefined]) {
      const env: Record<string, string> = { DATABASE_URL: url('127.0.0.1'), DATABASE_SSLMODE: 'verify-full' }
      if (caFile !== undefined) env.DATABASE_SSL_CA_FILE = caFile
      await expect(connect(env)).rejects.toMatchObject({
        code: expect.stringMatching(/^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)$/) as unknown,
      })
    }
  })

  it('is refused in plaintext by a server that only allows hostssl, and encrypts with sslmode require', async () => {
    await expect(connect({ DATABASE_URL: url('127.0.0.1'), DATABASE_SSLMODE: 'disable' })).rejects.toThrow(
      /no pg_hba.conf entry .* no encryption/,
    )
    await expect(connect({ DATABASE_URL: url('127.0.0.1'), DATABASE_SSLMODE: 'require' })).resolves.toBe(true)
  })

  it('lets an sslmode in DATABASE_URL take precedence with its libpq meaning (pg alone reads require as verify-full)', async () => {
    await expect(
      connect({ DATABASE_URL: `${url('localhost')}?sslmode=require`, DATABASE_SSLMODE: 'disable' }),
    ).resolves.toBe(true)
    await expect(
      connect({ DATABASE_URL: `${url('localhost')}?sslmode=verify-full`, DATABASE_SSL_CA_FILE: ca.caCert }),
    ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  })
})
