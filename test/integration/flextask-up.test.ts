/**
 * `flextask up` as an operator runs it: a child process on the real broker and registry that reports ready on
 * /health/ready, serves /metrics, and exits 0 on SIGTERM within the grace period; a component that cannot start
 * makes it exit 1 with a one-line reason. `--help` lists the commands.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { topicNames } from '../../topics.ts'
import { testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { freePort } from '../helpers/free-port.ts'
import { createDatabase } from '../helpers/sink.ts'
import {
  deletePrefixTopics,
  produceDefinitions,
  type SchedulerChild,
  schedulerFleet,
  taskDefinition,
  testSerdes,
} from '../helpers/scheduler.ts'

const { admin } = testAdmin()
const producer = testProducer()
const fleet = schedulerFleet('up')
const graceMs = 20_000

/** A prefix of this file's, its topics deleted when the file ends. */
function newPrefix(tag: string): string {
  const prefix = uniqueName(tag)
  fleet.afterChildren(() => deletePrefixTopics(admin, prefix))
  return prefix
}

function exitOf(child: SchedulerChild): Promise<{ code: number | null; signal: string | null }> {
  if (child.exited()) return Promise.resolve({ code: child.child.exitCode, signal: child.child.signalCode })
  return new Promise((resolve) => child.child.once('exit', (code, signal) => resolve({ code, signal })))
}

function env(prefix: string, port: number, databaseUrl?: string): Record<string, string> {
  return {
    ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '2',
    FLEXTASK_CATEGORIES: 'http',
    FLEXTASK_STATE_DIR: join(fleet.stateRoot, prefix),
    FLEXTASK_INSTANCE_ID: uniqueName('up'),
    FLEXTASK_SHUTDOWN_GRACE_MS: String(graceMs),
    METRICS_PORT: String(port),
    METRICS_HOST: '127.0.0.1',
  }
}

describe('flextask up', () => {
  it('reports ready, serves metrics of what it fired, and exits 0 on SIGTERM within the grace period', async () => {
    const prefix = newPrefix('up')
    const port = await freePort()
    // `up` hosts the Postgres sink too: it gets a database of its own.
    const db = await createDatabase()
    const up = fleet.spawn('up', env(prefix, port, db.url), 'up')
    const base = `http://127.0.0.1:${port}`

    const ready = await waitFor(
      '/health/ready to answer 200',
      async () => {
        if (up.exited()) throw new Error(`flextask up exited early:\n${up.lines.join('\n')}`)
        const response = await fetch(`${base}/health/ready`).catch(() => undefined)
        return response?.status === 200 ? await response.json() : undefined
      },
      90_000,
    )
    // `flextask up` hosts the scheduler, a worker, the connector and the API.
    const serving = { live: true, ready: true, reasons: [] }
    expect(ready).toEqual({
      status: 'ok',
      components: { scheduler: serving, worker: serving, connector: serving, api: serving },
    })
    expect((await fetch(`${base}/health/live`)).status).toBe(200)

    // One fire, then its count and lateness on /metrics (derived from the committed execution).
    const topics = topicNames(prefix)
    const serdes = await testSerdes(schemaRegistryUrl, topics)
    const once = taskDefinition(`${prefix}-once`, { kind: 'ONE_SHOT', atMs: Date.now() + 500 })
    await produceDefinitions(producer, serdes.definition, topics.definitions, [once], 2)
    const metrics = await waitFor(
      'the fire on /metrics',
      async () => {
        const text = await (await fetch(`${base}/metrics`)).text()
        return text.includes('flextask_scheduler_fires_total{category="http",trigger="SCHEDULE"} 1') ? text : undefined
      },
      30_000,
    )
    expect(metrics).toContain('flextask_scheduler_fire_lateness_seconds_count{category="http"} 1')
    expect(metrics).toContain('flextask_scheduler_occurrences_total{outcome="FIRED",reason="schedule"} 1')
    expect(metrics).toMatch(/flextask_scheduler_transactions_total\{outcome="committed"\} [1-9]/)
    expect(metrics).toContain('process_cpu_user_seconds_total')

    const stoppedAt = performance.now()
    up.child.kill('SIGTERM')
    const exit = await exitOf(up)
    const stopMs = performance.now() - stoppedAt
    console.log(`flextask up: SIGTERM → exit ${exit.code} in ${Math.round(stopMs)} ms (grace ${graceMs} ms)`)
    expect(exit).toEqual({ code: 0, signal: null })
    expect(stopMs).toBeLessThan(graceMs)
    expect(up.lines.some((l) => l.includes('"msg":"stopping: received SIGTERM"'))).toBe(true)
    expect(up.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true)
  })

  it('exits 0 on SIGTERM while the scheduler is still starting', async () => {
    const prefix = newPrefix('up-early')
    const up = fleet.spawn('up-early', env(prefix, await freePort()), 'up')
    await waitFor('the ops endpoints', () =>
      up.lines.some((l) => l.includes('"msg":"serving /metrics')) ? true : undefined,
    )
    expect(up.lines.some((l) => l.includes('"msg":"serving"'))).toBe(false)
    up.child.kill('SIGTERM')
    const exit = await exitOf(up)
    expect(exit, up.lines.join('\n')).toEqual({ code: 0, signal: null })
    expect(up.lines.filter((l) => l.includes('"level":"error"'))).toEqual([])
  })

  it('exits 1 with a one-line reason when a component cannot start', async () => {
    const prefix = newPrefix('up-mismatch')
    await admin.createTopics({ topics: [`${prefix}.task-commands`], partitions: 3, replicas: 1 })
    const up = fleet.spawn('up-mismatch', env(prefix, await freePort()), 'up')
    const exit = await exitOf(up)
    expect(exit.code).toBe(1)
    const reason = up.lines.filter((l) => l.startsWith('flextask: '))
    expect(reason).toHaveLength(1)
    expect(reason[0]).toMatch(
      /^flextask: scheduler could not start: FLEXTASK_TOPICS_PARTITION_MISMATCH: refusing to start: .* has 2 partitions but .*task-commands has 3/,
    )
  })

  it('lists its commands with --help', () => {
    const cli = fileURLToPath(new URL('../../cli/flextask.ts', import.meta.url))
    const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' })
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^Usage: flextask/m)
    expect(help.stdout).toMatch(/^ {2}up\s/m)
    expect(help.stdout).toMatch(/^ {2}scheduler\s/m)
    expect(help.stdout).toMatch(/^ {2}connector \[options\]\s/m)
  })
})
