/**
 * Fresh Postgres databases for tests on the real server (DATABASE_URL, default 127.0.0.1:5432): each one is
 * created when asked for and dropped when the test file ends, through cleanup.ts, so the helper works wherever it
 * is called — at the top of a file (top-level await), in a `beforeAll` or inside a test. It registers no Vitest
 * hook itself: one registered after collection would be dropped without a word (cleanup.ts header).
 */
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { onCleanup } from './cleanup.ts'
import { databaseUrl } from './env.ts'

export interface TestDatabase {
  name: string
  /** Connection string of the database. */
  url: string
  pool: pg.Pool
}

export interface TestDatabaseOptions {
  /** The database is `<prefix>_<random>`. @default flextask_test */
  prefix?: string
  /** The pool's size. @default 4 */
  maxConnections?: number
}

/** Creates an empty database; it is dropped (FORCE) when the current test file ends. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `${options.prefix ?? 'flextask_test'}_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  await serverStatement(`CREATE DATABASE ${name}`)
  const url = new URL(databaseUrl)
  url.pathname = `/${name}`
  const db = {
    name,
    url: url.toString(),
    pool: new pg.Pool({ connectionString: url.toString(), max: options.maxConnections ?? 4 }),
  }
  onCleanup(() => dropTestDatabase(db))
  return db
}

async function dropTestDatabase(db: TestDatabase): Promise<void> {
  await db.pool.end().catch(() => {})
  // Not swallowed: a database that could not be dropped fails the file (cleanup.ts) instead of piling up.
  await serverStatement(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`)
}

async function serverStatement(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}
