/**
 * End to end over real HTTP: `flextask up` as a child process on the real broker, driven only by the `flextask` CLI
 * as an operator would. On this branch `up` hosts the scheduler and the API: a task created with the CLI fires and
 * `flextask tail` shows it; exit codes say what went wrong. (The full walk — the task visible to a GET at once, its
 * run succeeding, pause, resume, trigger, cancel and delete — needs the sink and the workers in `up`; it runs once
 * they are merged.)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newApiKey } from '../../api/api-keys.ts'
import { databaseUrl, kafkaBrokers, schemaRegistryUrl } from '../helpers/env.ts'
import { testAdmin, uniqueName, waitFor } from '../helpers/kafka.ts'
import { deletePrefixTopics } from '../helpers/scheduler.ts'

const cli = fileURLToPath(new URL('../../cli/flextask.ts', import.meta.url))
const prefix = uniqueName('ft-api-e2e')
const database = `ft_api_e2e_${randomUUID().replaceAll('-', '').slice(0, 10)}`
const dbUrl = new URL(databaseUrl)
dbUrl.pathname = `/${database}`
const port = 19_700 + Math.floor(Math.random() * 90)
const apiUrl = `http://127.0.0.1:${port}`
const admin = newApiKey('e2e-admin', 'admin')
const writer = newApiKey('e2e-writer', 'write')
const stateDir = mkdtempSync(join(tmpdir(), 'flextask-api-e2e-'))
const { admin: kafkaAdmin } = testAdmin()
let up: ChildProcess
let upOutput = ''

const baseEnv = {
  ...process.env,
  LOG_PRETTY: 'false',
  KAFKA_BROKERS: kafkaBrokers.join(','),
  SCHEMA_REGISTRY_URL: schemaRegistryUrl,
}

async function adminSql(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl })
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}

/** Runs `flextask <args>` as a client with the writer key (or `key`); resolves with its exit code and output. */
function flextask(args: string[], key = writer.key): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { ...baseEnv, FLEXTASK_API_URL: apiUrl, FLEXTASK_API_KEY: key }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr }),
    )
  })
}

interface TailLine {
  kind: string
  taskId: string
  timestampMs: number
  data: { trigger?: string; status?: string; outcome?: string; executionId?: string; firedAtMs?: number }
}

beforeAll(async () => {
  await adminSql(`CREATE DATABASE ${database}`)
  up = spawn(process.execPath, [cli, 'up'], {
    env: {
      ...baseEnv,
      FLEXTASK_TOPIC_PREFIX: prefix,
      FLEXTASK_PARTITIONS: '2',
      FLEXTASK_CATEGORIES: 'internal',
      FLEXTASK_STATE_DIR: stateDir,
      FLEXTASK_INSTANCE_ID: uniqueName('e2e'),
      DATABASE_URL: dbUrl.toString(),
      PORT: String(port),
      METRICS_PORT: '0',
      FLEXTASK_API_KEYS: `${admin.entry},${writer.entry}`,
      FLEXTASK_SESSION_TIMEOUT_MS: '6000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  up.stdout!.on('data', (chunk: Buffer) => (upOutput += chunk.toString()))
  up.stderr!.on('data', (chunk: Buffer) => (upOutput += chunk.toString()))
  await waitFor(
    'flextask up to serve the API',
    async () => ((await fetch(`${apiUrl}/health/live`).catch(() => undefined))?.status === 200 ? true : undefined),
    90_000,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n${upOutput.slice(-4000)}`)
  })
}, 120_000)

afterAll(async () => {
  if (up !== undefined && up.exitCode === null) {
    const exited = new Promise((resolve) => up.once('exit', resolve))
    up.kill('SIGTERM')
    await exited
  }
  await deletePrefixTopics(kafkaAdmin, prefix).catch(() => {})
  await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {})
  rmSync(stateDir, { recursive: true, force: true })
})

describe('flextask up driven by the flextask CLI', () => {
  it('creates a task with the CLI and watches it fire with flextask tail', async () => {
    const tail = spawn(process.execPath, [cli, '--json', 'tail', '--category', 'internal'], {
      env: { ...baseEnv, FLEXTASK_API_URL: apiUrl, FLEXTASK_API_KEY: writer.key },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const events: TailLine[] = []
    let tailErr = ''
    tail.stderr.on('data', (chunk: Buffer) => (tailErr += chunk.toString()))
    let partial = ''
    tail.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) if (line.trim() !== '') events.push(JSON.parse(line) as TailLine)
    })
    try {
      await waitFor('tail to follow', () => (tailErr.includes('following') ? true : undefined), 60_000)
      const created = await flextask([
        '--json',
        'tasks',
        'create',
        '--category',
        'internal',
        '--type',
        'e2e-ok',
        '--every',
        '1s',
        '--no-wait',
      ])
      expect(created.code, created.stderr).toBe(0)
      const { taskId } = JSON.parse(created.stdout) as { taskId: string }
      const fires = () => events.filter((e) => e.kind === 'fire' && e.taskId === taskId)
      await waitFor('two fires of the task, live', () => (fires().length >= 2 ? true : undefined), 60_000)
      expect(fires().every((e) => e.data.trigger === 'SCHEDULE')).toBe(true)
      expect(events.some((e) => e.kind === 'occurrence' && e.taskId === taskId && e.data.outcome === 'FIRED')).toBe(
        true,
      )
    } finally {
      tail.kill('SIGINT')
    }
  })

  it('answers with meaningful exit codes', async () => {
    const invalid = await flextask([
      'tasks',
      'create',
      '--category',
      'internal',
      '--type',
      'x',
      '--cron',
      '61 * * * * *',
    ])
    expect(invalid.code).toBe(2)
    expect(invalid.stderr).toContain('schedule.cron')
    const readOnly = newApiKey('nobody', 'read')
    expect(
      (await flextask(['tasks', 'create', '--category', 'internal', '--type', 'x', '--every', '5s'], readOnly.key))
        .code,
    ).toBe(5)
    expect((await flextask(['tasks', 'list'], 'wrong-key')).code).toBe(5)
    expect((await flextask(['tasks', 'list', '--url', 'http://127.0.0.1:1'])).code).toBe(6)
    expect((await flextask(['tasks', 'create', '--every', 'soon'])).code).toBe(2)
  })
})
