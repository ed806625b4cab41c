/**
 * Reads a released `.avsc` file of this folder. The files are the source of truth for the wire contract; the
 * hand-written TS types next to them mirror them, and test/unit/schemas checks that they agree.
 *
 * A released file is named `<schema>.v<N>.avsc` and is never edited: a change is a new file with a higher N, and
 * every released N must stay readable by the newest (BACKWARD_TRANSITIVE).
 *
 * Why not `import … with { type: 'json' }`: Node decides the module format by extension and rejects `.avsc`.
 */
import { readFileSync } from 'node:fs'
import type { schema } from 'avsc'

/** A parsed Avro record schema, as it is sent to the Schema Registry. */
export type RecordSchema = schema.RecordType

/** One released version of a schema. */
export interface SchemaVersion {
  readonly version: number
  /** File name in schemas/, e.g. `task-definition.v1.avsc`. */
  readonly file: string
  readonly schema: RecordSchema
}

export function loadAvsc(file: string): SchemaVersion {
  const version = /\.v(\d+)\.avsc$/.exec(file)?.[1]
  if (version === undefined) throw new Error(`released schema files are named <schema>.v<N>.avsc, got ${file}`)
  const schema = JSON.parse(readFileSync(new URL(file, import.meta.url), 'utf8')) as RecordSchema
  return { version: Number(version), file, schema }
}

/** The newest of a non-empty list of released versions: the schema the current code reads and writes. */
export function latestVersion(versions: readonly SchemaVersion[]): SchemaVersion {
  const latest = versions.at(-1)
  if (latest === undefined) throw new Error('a schema needs at least one released version')
  return latest
}
