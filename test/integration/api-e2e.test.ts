/**
 * End to end over real HTTP: `flextask up` (scheduler, sink, workers, API) as a child process on the real broker and
 * a fresh Postgres database, driven only by the `flextask` CLI as an operator would. A task created with the CLI is
 * visible to a GET at once, fires and succeeds (seen by `flextask tail`), stops firing while paused, fires again once
 * resumed, runs when triggered, has its next slot cancelled, and is gone after delete; exit codes say what happened.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newApiKey } from '../../api/api-keys.ts'
import { kafkaBrokers, schemaRegistryUrl } from '../helpers/env.ts'
import { testAdmin, uniqueName, waitFor } from '../helpers/kafka.ts'
import { createTestDatabase } from '../helpers/postgres.ts'
import { deletePrefixTopics } from '../helpers/scheduler.ts'

const cli = fileURLToPath(new URL('../../cli/flextask.ts', import.meta.url))
const handlers = fileURLToPath(new URL('../fixtures/api-e2e-handlers.ts', import.meta.url))
const prefix = uniqueName('ft-api-e2e')
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
  // Dropped when the file ends, after the afterAll below has stopped the process (cleanup.ts).
  const database = await createTestDatabase({ prefix: 'ft_api_e2e' })
  up = spawn(process.execPath, [cli, 'up'], {
    env: {
      ...baseEnv,
      FLEXTASK_TOPIC_PREFIX: prefix,
      FLEXTASK_PARTITIONS: '2',
      FLEXTASK_CATEGORIES: 'internal',
      FLEXTASK_STATE_DIR: stateDir,
      FLEXTASK_INSTANCE_ID: uniqueName('e2e'),
      DATABASE_URL: database.url,
      PORT: String(port),
      METRICS_PORT: '0',
      FLEXTASK_API_KEYS: `${admin.entry},${writer.entry}`,
      FLEXTASK_WORKER_HANDLERS: handlers,
      FLEXTASK_SINK_FLUSH_INTERVAL_MS: '20',
      FLEXTASK_SESSION_TIMEOUT_MS: '6000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  up.stdout!.on('data', (chunk: Buffer) => (upOutput += chunk.toString()))
  up.stderr!.on('data', (chunk: Buffer) => (upOutput += chunk.toString()))
  await waitFor(
    'flextask up to serve /health/ready',
    async () => ((await fetch(`${apiUrl}/health/ready`).catch(() => undefined))?.status === 200 ? true : undefined),
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
  rmSync(stateDir, { recursive: true, force: true })
})

describe('flextask up driven by the flextask CLI', () => {
  it('creates, sees, fires and succeeds, pauses, resumes, triggers, cancels and deletes a task', async () => {
    const tail = spawn(process.execPath, [cli, '--json', 'tail', '--task', 'e2e'], {
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
        'tasks',
        'create',
        '--id',
        'e2e',
        '--category',
        'internal',
        '--type',
        'e2e-ok',
        '--every',
        '2s',
      ])
      expect(created, created.stderr).toMatchObject({ code: 0 })
      const got = await flextask(['--json', 'tasks', 'get', 'e2e'])
      expect(got.code, got.stderr).toBe(0)
      expect(JSON.parse(got.stdout)).toMatchObject({ taskId: 'e2e', status: 'ACTIVE' })

      const fires = () => events.filter((e) => e.kind === 'fire')
      const succeeded = () => events.filter((e) => e.kind === 'result' && e.data.status === 'SUCCEEDED')
      await waitFor(
        'a fire and its success',
        () => (fires().length > 0 && succeeded().length > 0 ? true : undefined),
        60_000,
      )

      const paused = await flextask(['tasks', 'pause', 'e2e'])
      expect(paused.code, paused.stderr).toBe(0)
      const pausedAtMs = Date.now()
      await new Promise((resolve) => setTimeout(resolve, 5000)) // more than two intervals
      expect(fires().filter((e) => (e.data.firedAtMs ?? 0) > pausedAtMs)).toEqual([])

      expect((await flextask(['tasks', 'resume', 'e2e'])).code).toBe(0)
      const resumedAtMs = Date.now()
      await waitFor('a fire after resume', () => fires().find((e) => (e.data.firedAtMs ?? 0) > resumedAtMs), 30_000)

      const triggered = await flextask(['--json', 'tasks', 'trigger', 'e2e'])
      expect(triggered.code, triggered.stderr).toBe(0)
      const manualId = (JSON.parse(triggered.stdout) as { commands: { executionId: string }[] }).commands[0]!
        .executionId
      await waitFor('the manual run to succeed', () =>
        succeeded().find((e) => e.data.executionId === manualId) && fires().find((e) => e.data.trigger === 'MANUAL')
          ? true
          : undefined,
      )

      const cancelled = await flextask(['--json', 'tasks', 'cancel', 'e2e'])
      expect(cancelled.code, cancelled.stderr).toBe(0)
      const cancelledIds = (JSON.parse(cancelled.stdout) as { commands: { executionId: string }[] }).commands.map(
        (c) => c.executionId,
      )
      await waitFor('the cancellation in the ledger', () =>
        events.find(
          (e) =>
            e.kind === 'occurrence' &&
            e.data.outcome === 'CANCELLED' &&
            cancelledIds.includes(e.data.executionId ?? ''),
        ),
      )

      const runs = await flextask(['runs', 'e2e'])
      expect(runs.stdout).toContain('SUCCEEDED')
      const next = await flextask(['next', 'e2e', '--count', '2'])
      expect(next.stdout.trim().split('\n')).toHaveLength(2)

      expect((await flextask(['tasks', 'delete', 'e2e'])).code).toBe(5) // a write key may not delete
      const deleted = await flextask(['tasks', 'delete', 'e2e'], admin.key)
      expect(deleted.code, deleted.stderr).toBe(0)
      expect((await flextask(['tasks', 'get', 'e2e'])).code).toBe(3)
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
    expect((await flextask(['tasks', 'get', 'nope'])).code).toBe(3)
    expect((await flextask(['tasks', 'get', 'nope'], 'wrong-key')).code).toBe(5)
    expect((await flextask(['tasks', 'list', '--url', 'http://127.0.0.1:1'])).code).toBe(6)
  })
})
