/** Postgres connection options from the database section, with libpq's sslmode meaning. */
import { readFileSync } from 'node:fs'
import { invalid } from './checks.ts'
import { type DatabaseConfig, type PostgresSslMode, PostgresSslModes } from './sections.ts'

/** An sslmode from DATABASE_URL: libpq's allow / prefer (try, fall back) are taken as require. */
function urlSslMode(value: string): PostgresSslMode {
  if (value === 'allow' || value === 'prefer') return 'require'
  if ((PostgresSslModes as readonly string[]).includes(value)) return value as PostgresSslMode
  throw invalid('database.url', `database.url has sslmode=${value}; use one of ${PostgresSslModes.join(', ')}`)
}

/**
 * The connection options of a `pg` Client or Pool for the database section (structural, so this module does not
 * import pg): `ssl` follows `sslMode` like libpq's sslmode, reading the CA file when one is set; DATABASE_PASSWORD
 * goes into the URL. Every Postgres connection flextask opens (the sink, the API, the demo) starts from this one
 * function, so TLS to Postgres is configuration, not code. verify-full checks the chain and that the certificate
 * names the host (node's checkServerIdentity: DNS or IP subjectAltName); verify-ca checks the chain only.
 * Pinned by test/integration/postgres-tls.test.ts against a server with SSL on.
 */
export function postgresClientOptions(database: DatabaseConfig): {
  connectionString: string
  ssl: false | { rejectUnauthorized: boolean; ca?: string; checkServerIdentity?: () => undefined }
} {
  const url = new URL(database.url)
  // pg reads `sslmode` from the URL with its own meaning (require and verify-ca act as verify-full in pg 8), and
  // would override `ssl`; so it is taken out here and applied with libpq's meaning, taking precedence as documented.
  const fromUrl = url.searchParams.get('sslmode')
  url.searchParams.delete('sslmode')
  const sslMode = fromUrl === null ? database.sslMode : urlSslMode(fromUrl)
  const ca = database.sslCaFile === null ? {} : { ca: readFileSync(database.sslCaFile, 'utf8') }
  const ssl =
    sslMode === 'disable'
      ? false
      : sslMode === 'require'
        ? { rejectUnauthorized: false }
        : sslMode === 'verify-ca'
          ? { rejectUnauthorized: true, ...ca, checkServerIdentity: () => undefined }
          : { rejectUnauthorized: true, ...ca }
  // pg lets a password in the connection string win over the `password` option, so it is replaced there.
  if (database.password !== null) url.password = encodeURIComponent(database.password)
  return { connectionString: url.toString(), ssl }
}
