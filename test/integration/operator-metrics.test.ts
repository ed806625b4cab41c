/**
 * The operator's view against a running flextask on the real broker: the CLI (`flextask scheduler`) serves
 * /metrics; a task that fires every second and an undecodable definition give it something to count. Then:
 * - the scheduler's metrics carry samples (fires, lateness in 1 ms buckets, lateness max, restore, partitions,
 *   timers pending and overdue, consumer lag per partition, transactions, dead letters, process defaults);
 * - every metric the Grafana dashboard and the Prometheus rules read is declared by that live /metrics (or is a
 *   recording rule's output);
 * - Debian's Prometheus (scripts/install-prometheus.sh) passes `promtool check` on deploy/prometheus, scrapes the
 *   process with the repository's rules loaded, returns a metric and a recording rule through its HTTP API, and
 *   parses every dashboard and rule expression.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { topicNames } from '../../topics.ts'
import { freePort } from '../helpers/free-port.ts'
import { testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import {
  dashboardExpressions,
  exportedNames,
  loadDashboard,
  metricNames,
  recordedNames,
  ruleExpressions,
  ruleFiles,
} from '../helpers/promql.ts'
import {
  deletePrefixTopics,
  produceDefinitions,
  type SchedulerChild,
  spawnScheduler,
  taskDefinition,
  testSerdes,
} from '../helpers/scheduler.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'

const { admin } = testAdmin()
const producer = testProducer()
const prefix = uniqueName('ops')
const topics = topicNames(prefix)
const partitions = 2
const stateDir = mkdtempSync(join(tmpdir(), 'flextask-ops-'))
const repo = fileURLToPath(new URL('../../', import.meta.url))
let scheduler: SchedulerChild | undefined
let metricsUrl: string
let starting: Promise<void> | undefined

/** Sum of the samples of `name` whose labels contain every `labels` pair. */
function sampleSum(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (match?.[1] !== name) continue
    const labelText = match[2] ?? ''
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue
    sum = (sum ?? 0) + Number(match[3])
  }
  return sum
}

async function scrape(): Promise<string> {
  const response = await fetch(metricsUrl)
  expect(response.status).toBe(200)
  return response.text()
}

/** Starts the scheduler and its input once, from inside the first test that needs it (output shown on failure). */
function running(): Promise<void> {
  starting ??= start()
  return starting
}

async function start(): Promise<void> {
  const child = spawnScheduler('ops', {
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: String(partitions),
    FLEXTASK_CATEGORIES: 'http',
    FLEXTASK_STATE_DIR: stateDir,
    FLEXTASK_INSTANCE_ID: uniqueName('ops'),
    METRICS_HOST: '127.0.0.1',
  })
  scheduler = child
  await child.running()
  const port = child.lines.map((l) => /"port":(\d+).*serving \/metrics/.exec(l)?.[1]).find((p) => p !== undefined)
  expect(port).toBeDefined()
  metricsUrl = `http://127.0.0.1:${port}/metrics`

  const serdes = await testSerdes(schemaRegistryUrl, topics)
  const everySecond = taskDefinition(`${prefix}-every-second`, { kind: 'INTERVAL', everyMs: 1000 })
  await produceDefinitions(producer, serdes.definition, topics.definitions, [everySecond], partitions)
  // Not Avro: the scheduler dead-letters it.
  await producer.send({
    messages: [{ topic: topics.definitions, partition: 0, key: Buffer.from('garbage'), value: Buffer.from('{') }],
  })
}

afterAll(async () => {
  const child = scheduler
  if (child !== undefined && !child.exited()) {
    const exit = new Promise((resolve) => child.child.once('exit', resolve))
    child.child.kill('SIGTERM')
    await exit
  }
  await deletePrefixTopics(admin, prefix).catch(() => {})
  rmSync(stateDir, { recursive: true, force: true })
})

describe('metrics of a running flextask', () => {
  it('counts fires with millisecond lateness buckets, restore, timers, lag, transactions and dead letters', async () => {
    await running()
    let last = ''
    onTestFailed(() => console.log(`last /metrics:\n${last}`))
    const exposition = await waitFor('3 fires and a dead letter on /metrics', async () => {
      const text = (last = await scrape())
      const fires = sampleSum(text, 'flextask_scheduler_fires_total', { category: 'http', trigger: 'SCHEDULE' })
      const deadLetters = sampleSum(text, 'flextask_scheduler_dead_letters_total')
      return (fires ?? 0) >= 3 && (deadLetters ?? 0) >= 1 ? text : undefined
    })
    const lateness = 'flextask_scheduler_fire_lateness_seconds_bucket'
    expect(sampleSum(exposition, lateness, { category: 'http', le: '0.001' })).toBeDefined()
    expect(sampleSum(exposition, lateness, { category: 'http', le: '+Inf' })).toBeGreaterThanOrEqual(3)
    expect(sampleSum(exposition, 'flextask_scheduler_fire_lateness_max_seconds', { category: 'http' })).toBeDefined()
    expect(sampleSum(exposition, 'flextask_scheduler_occurrences_total', { outcome: 'FIRED' })).toBeGreaterThanOrEqual(
      3,
    )
    expect(sampleSum(exposition, 'flextask_scheduler_restore_duration_seconds_count')).toBe(partitions)
    expect(sampleSum(exposition, 'flextask_scheduler_partitions', { state: 'assigned' })).toBe(partitions)
    expect(sampleSum(exposition, 'flextask_scheduler_partitions', { state: 'running' })).toBe(partitions)
    // One interval task: one FIRE timer pending, due within a second (not overdue by seconds).
    expect(sampleSum(exposition, 'flextask_scheduler_timers_pending')).toBe(1)
    expect(sampleSum(exposition, 'flextask_scheduler_timer_overdue_seconds')).toBeLessThan(5)
    const lag = sampleSum(exposition, 'flextask_scheduler_consumer_lag_records', { topic: topics.definitions })
    expect(lag).toBeDefined()
    expect(lag).toBeGreaterThanOrEqual(0)
    expect(sampleSum(exposition, 'flextask_scheduler_transactions_total', { outcome: 'committed' })).toBeGreaterThan(0)
    expect(sampleSum(exposition, 'flextask_scheduler_commit_duration_seconds_count')).toBeGreaterThan(0)
    expect(sampleSum(exposition, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(sampleSum(exposition, 'nodejs_eventloop_lag_p99_seconds')).toBeDefined()
  })

  it('declares every metric the Grafana dashboard and the Prometheus rules read', async () => {
    await running()
    const exported = exportedNames(await scrape())
    const recorded = recordedNames()
    const expressions = [...dashboardExpressions(loadDashboard()), ...ruleExpressions()]
    expect(expressions.length).toBeGreaterThan(20)
    const unknown: string[] = []
    for (const { where, expr } of expressions) {
      const names = metricNames(expr)
      expect(names.length, `${where} reads no metric: ${expr}`).toBeGreaterThan(0)
      for (const name of names) if (!exported.has(name) && !recorded.has(name)) unknown.push(`${where}: ${name}`)
    }
    expect(unknown).toEqual([])
  })
})

describe("Debian's Prometheus against the running flextask", () => {
  let prometheus: ChildProcess | undefined
  let bin: string
  const dir = mkdtempSync(join(tmpdir(), 'flextask-prometheus-'))
  const output: string[] = []

  beforeAll(() => {
    bin = execFileSync('bash', [join(repo, 'scripts/install-prometheus.sh')], { encoding: 'utf8' }).trim()
  }, 120_000)

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exit = new Promise((resolve) => prometheus?.once('exit', resolve))
      prometheus.kill('SIGTERM')
      await exit
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('passes promtool check rules, check config and the alert unit tests (promtool test rules)', () => {
    for (const { path } of ruleFiles()) {
      const out = execFileSync(join(bin, 'promtool'), ['check', 'rules', path], { encoding: 'utf8' })
      expect(out).toContain('SUCCESS')
    }
    const out = execFileSync(
      join(bin, 'promtool'),
      ['check', 'config', join(repo, 'deploy/prometheus/prometheus.yml')],
      {
        encoding: 'utf8',
      },
    )
    expect(out).toContain('SUCCESS')
    const tests = execFileSync(
      join(bin, 'promtool'),
      ['test', 'rules', join(repo, 'deploy/prometheus/tests/flextask.test.yml')],
      {
        encoding: 'utf8',
      },
    )
    expect(tests).toContain('SUCCESS')
  })

  it('scrapes it, evaluates the rules, answers a metric through its HTTP API and parses every expression', async () => {
    await running()
    const target = new URL(metricsUrl).host
    const config = [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: ['${join(repo, 'deploy/prometheus/rules')}/*.yml']`,
      'scrape_configs:',
      '  - job_name: flextask',
      `    static_configs: [{ targets: ['${target}'], labels: { component: scheduler } }]`,
    ].join('\n')
    writeFileSync(join(dir, 'prometheus.yml'), `${config}\n`)
    mkdirSync(join(dir, 'data'))
    const prometheusPort = await freePort()
    prometheus = spawn(
      join(bin, 'prometheus'),
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    prometheus.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
    const api = `http://127.0.0.1:${prometheusPort}/api/v1`
    const query = async (expr: string): Promise<{ status: string; data?: { result: unknown[] }; error?: string }> => {
      const response = await fetch(`${api}/query?query=${encodeURIComponent(expr)}`)
      return (await response.json()) as { status: string; data?: { result: unknown[] }; error?: string }
    }
    try {
      const fires = await waitFor(
        'Prometheus to return flextask_scheduler_fires_total',
        async () => {
          const answer = await query('sum(flextask_scheduler_fires_total{job="flextask"})')
          const [sample] = (answer.data?.result ?? []) as { value: [number, string] }[]
          return sample === undefined ? undefined : Number(sample.value[1])
        },
        60_000,
      )
      expect(fires).toBeGreaterThanOrEqual(3)
      const rate = await waitFor(
        'the recording rule flextask:scheduler_fires:rate1m',
        async () => {
          const answer = await query('sum(flextask:scheduler_fires:rate1m)')
          const [sample] = (answer.data?.result ?? []) as { value: [number, string] }[]
          return sample === undefined ? undefined : Number(sample.value[1])
        },
        60_000,
      )
      expect(rate).toBeGreaterThan(0)
      // Grafana's $__rate_interval is not PromQL; the query API parses what is left.
      const rejected: string[] = []
      for (const { where, expr } of [...dashboardExpressions(loadDashboard()), ...ruleExpressions()]) {
        const answer = await query(expr.replace(/\$__rate_interval/g, '1m'))
        if (answer.status !== 'success') rejected.push(`${where}: ${answer.error}`)
      }
      expect(rejected).toEqual([])
    } catch (error) {
      console.log(`prometheus output:\n${output.join('')}`)
      throw error
    }
  })
})
