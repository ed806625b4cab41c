/**
 * Applies the numbered SQL migrations in `connectors/migrations/NNNN_name.sql`, oldest first, each in its own
 * transaction, under a session advisory lock: two sinks starting at once apply each file exactly once (the
 * second waits for the lock, then finds nothing pending). Roll forward only: there are no down-migrations.
 *
 * Source of truth for which files ran: the `schema_migrations` table (version, name, sha256). A file that was
 * applied and has changed since is refused (FLEXTASK_SINK_MIGRATION_CHANGED): released migrations are never
 * edited. Why an own runner and not node-pg-migrate: ~60 lines against glob + jiti + yargs, and its default
 * advisory-lock mode fails the second replica instead of waiting (research: dependencies-round2.md §2.2).
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import { FlextaskError } from '../errors.ts'
import { SinkErrorCodes } from './sink-errors.ts'
import { sql } from './postgres-sql.ts'

export interface Migration {
  version: number
  name: string
  text: string
  sha256: string
}

const defaultDirectory = fileURLToPath(new URL('./migrations/', import.meta.url))

/** Reads `NNNN_name.sql` files, sorted by version; refuses duplicate versions and other names. */
export function loadMigrations(directory = defaultDirectory): Migration[] {
  const migrations = readdirSync(directory)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => {
      const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file)
      if (match === null) {
        throw new FlextaskError(SinkErrorCodes.migration, `migration file ${file} is not named NNNN_name.sql`)
      }
      const text = readFileSync(`${directory}/${file}`, 'utf8')
      return {
        version: Number(match[1]),
        name: match[2] as string,
        text,
        sha256: createHash('sha256').update(text).digest('hex'),
      }
    })
    .sort((a, b) => a.version - b.version)
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]?.version === migrations[i - 1]?.version) {
      throw new FlextaskError(SinkErrorCodes.migration, `two migrations have version ${migrations[i]?.version}`)
    }
  }
  return migrations
}

/** Applies pending migrations on `client` (a dedicated connection); returns the versions it applied. */
export async function migrate(client: pg.ClientBase, migrations = loadMigrations()): Promise<number[]> {
  const applied: number[] = []
  await client.query(sql.migrations.lock)
  try {
    await client.query(sql.migrations.createTable)
    const { rows } = await client.query<{ version: number; sha256: string; name: string }>(sql.migrations.applied)
    const done = new Map(rows.map((r) => [r.version, r]))
    for (const migration of migrations) {
      const previous = done.get(migration.version)
      if (previous !== undefined) {
        if (previous.sha256 !== migration.sha256) {
          throw new FlextaskError(
            SinkErrorCodes.migrationChanged,
            `migration ${migration.version} (${migration.name}) was applied with a different text: ` +
              'released migrations are never edited; add a new numbered file',
          )
        }
        continue
      }
      await client.query('BEGIN')
      try {
        await client.query(migration.text)
        await client.query(sql.migrations.record, [migration.version, migration.name, migration.sha256])
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      }
      applied.push(migration.version)
    }
  } finally {
    await client.query(sql.migrations.unlock).catch(() => {})
  }
  return applied
}
