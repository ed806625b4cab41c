/**
 * A fresh Postgres database per test file on the real server (DATABASE_URL, default 127.0.0.1:5432),
 * dropped when the file ends.
 */
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
import { databaseUrl } from './env.ts'

export interface TestDatabase {
  /** Connection string of the database created for this file. */
  url: string
  pool: pg.Pool
}

export function freshDatabase(): TestDatabase {
  const name = `flextask_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  const url = new URL(databaseUrl)
  url.pathname = `/${name}`
  const db = { url: url.toString() } as TestDatabase
  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: databaseUrl })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE ${name}`)
    } finally {
      await admin.end()
    }
    db.pool = new pg.Pool({ connectionString: db.url, max: 4 })
  })
  afterAll(async () => {
    await db.pool?.end()
    const admin = new pg.Client({ connectionString: databaseUrl })
    await admin.connect()
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } finally {
      await admin.end()
    }
  })
  return db
}
