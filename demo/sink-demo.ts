/**
 * The Postgres sink's part of `npm run demo`: a demo database on the configured server (created when missing),
 * the connector projecting the demo's topics into it (rebuilt from the topics at every start, so it always matches
 * this run), a one-line summary of the tables every few seconds, and the psql query to look at the rows.
 * Prints through the `print` it is given (the demo's console); nothing here reads the environment.
 */
import pg from 'pg'
import { postgresClientOptions, type ResolvedConfig } from '../config.ts'
import { type ConnectorDeps, createConnector, type Connector } from '../connectors/connector.ts'

export interface SinkDemo {
  connector: Connector
  /** The database the demo projects into. */
  databaseUrl: string
  close(): Promise<void>
}

export const demoDatabaseName = 'flextask_demo'

/** Creates the demo database when missing and starts the connector on it; `deps.config.database` names the server. */
export async function startSinkDemo(
  deps: ConnectorDeps & { config: ResolvedConfig },
  print: (line: string) => void,
  summaryEveryMs = 10_000,
): Promise<SinkDemo> {
  const server = new URL(deps.config.database.url)
  const target = new URL(server)
  target.pathname = `/${demoDatabaseName}`
  await createDatabaseIfMissing(deps.config, server)
  const config = {
    ...deps.config,
    database: { ...deps.config.database, url: target.toString() },
    sink: { ...deps.config.sink, rebuild: true, flushIntervalMs: 100 },
  }
  const connector = createConnector({ ...deps, config })
  await connector.start()
  const databaseUrl = target.toString()
  print(
    `postgres sink: projecting into ${databaseUrl} (tables tasks, task_runs, task_occurrences, task_logs, dead_letters)`,
  )
  print(
    `  look at it: psql ${databaseUrl} -c "SELECT task_id, attempt, status, scheduled_for, fired_at, finished_at ` +
      `FROM task_runs ORDER BY scheduled_for DESC LIMIT 20"`,
  )
  const pool = new pg.Pool({ ...postgresClientOptions(config.database), max: 1 })
  const timer = setInterval(() => {
    void summary(pool).then(print, () => undefined)
  }, summaryEveryMs)
  timer.unref()
  return {
    connector,
    databaseUrl,
    async close() {
      clearInterval(timer)
      await pool.end().catch(() => {})
      await connector.close()
    },
  }
}

async function summary(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ tasks: string; runs: string; occurrences: string; dead: string }>(
    `SELECT (SELECT count(*) FROM tasks)::text AS tasks, (SELECT count(*) FROM task_runs)::text AS runs,
            (SELECT count(*) FROM task_occurrences)::text AS occurrences, (SELECT count(*) FROM dead_letters)::text AS dead`,
  )
  const r = rows[0]
  return `postgres: ${r?.tasks} tasks, ${r?.runs} runs, ${r?.occurrences} occurrences, ${r?.dead} dead letters projected`
}

async function createDatabaseIfMissing(config: ResolvedConfig, server: URL): Promise<void> {
  const maintenance = new URL(server)
  maintenance.pathname = '/postgres'
  const client = new pg.Client({ ...postgresClientOptions({ ...config.database, url: maintenance.toString() }) })
  await client.connect()
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [demoDatabaseName])
    if (rowCount === 0) await client.query(`CREATE DATABASE ${demoDatabaseName}`)
  } finally {
    await client.end()
  }
}
