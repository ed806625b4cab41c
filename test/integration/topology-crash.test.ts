import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it, onTestFailed } from 'vitest'
import {
  type CollectedRecord,
  collect,
  kafkaBrokers,
  testAdmin,
  testProducer,
  uniqueName,
  waitFor,
} from '../helpers/kafka.ts'

const { admin, createTopic } = testAdmin()
const producer = testProducer()
const stateRoot = mkdtempSync(join(tmpdir(), 'flextask-crash-'))
const app = fileURLToPath(new URL('../fixtures/counter-app.ts', import.meta.url))
const children: ChildProcess[] = []
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  rmSync(stateRoot, { recursive: true, force: true })
})

interface Instance {
  child: ChildProcess
  lines: string[]
  /** The partitions of the latest assignment. */
  partitions: () => number[]
}

function launch(options: Record<string, unknown>): Instance {
  const child = spawn(process.execPath, [app, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  const lines: string[] = []
  onTestFailed(() => console.log(`instance ${String(options.instanceId)}:\n  ${lines.join('\n  ')}`))
  const onData = (chunk: Buffer): void => {
    lines.push(...chunk.toString().split('\n').filter(Boolean))
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  return {
    child,
    lines,
    partitions: () => {
      const last = lines.filter((l) => l.startsWith('assigned')).at(-1)
      return last === undefined || last === 'assigned ' ? [] : last.slice('assigned '.length).split(',').map(Number)
    },
  }
}

/** Waits until both instances own partitions and together own all 6. */
async function bothSharePartitions(a: Instance, b: Instance): Promise<void> {
  await waitFor(
    'both instances share the partitions',
    () =>
      a.partitions().length > 0 && b.partitions().length > 0 && a.partitions().length + b.partitions().length === 6
        ? true
        : undefined,
    60_000,
  )
}

/** Per key, the counts seen must be exactly 1..n: no duplicate, no gap. */
function auditCounts(records: CollectedRecord[], expected: Map<string, number>): void {
  const seen = new Map<string, number[]>()
  for (const r of records) {
    const [key, count] = (r.value ?? '').split('=')
    if (key === undefined || count === undefined || !key.startsWith('k')) continue
    seen.set(key, [...(seen.get(key) ?? []), Number(count)])
  }
  for (const [key, n] of expected) {
    const counts = (seen.get(key) ?? []).sort((a, b) => a - b)
    expect(counts, `counts of ${key}`).toEqual(Array.from({ length: n }, (_, i) => i + 1))
  }
}

async function setup(): Promise<{ base: Record<string, unknown>; input: string; output: string }> {
  const input = await createTopic('crash-in', { partitions: 6 })
  const output = await createTopic('crash-out', { partitions: 6 })
  const applicationId = uniqueName('crash-app')
  cleanups.push(() =>
    admin.deleteTopics({ topics: [`${applicationId}-counts-changelog`, `${applicationId}-ticks-changelog`] }),
  )
  const base = { input, output, applicationId, bootstrapBrokers: kafkaBrokers, sessionTimeoutMs: 6000 }
  return { base, input, output }
}

async function produceKeys(input: string, from: number, count: number, expected: Map<string, number>): Promise<void> {
  const messages = Array.from({ length: count }, (_, i) => {
    const key = `k${(from + i) % 40}`
    expected.set(key, (expected.get(key) ?? 0) + 1)
    return { topic: input, key: Buffer.from(key), value: Buffer.from('x') }
  })
  await producer.send({ messages })
}

describe('StreamRuntime under crashes (child processes on the real broker)', () => {
  it('moves a SIGKILLed instance’s partitions to the survivor, with no duplicate and no gap in the output', async () => {
    const { base, input, output } = await setup()
    const out = await collect([output])
    cleanups.push(out.close)
    const a = launch({ ...base, instanceId: 'a', stateDir: join(stateRoot, 'a') })
    const b = launch({ ...base, instanceId: 'b', stateDir: join(stateRoot, 'b') })
    await bothSharePartitions(a, b)
    const expected = new Map<string, number>()
    let sent = 0
    for (let i = 0; i < 30; i++) {
      await produceKeys(input, sent, 100, expected)
      sent += 100
      if (i === 12) a.child.kill('SIGKILL')
      await sleep(100)
    }
    await waitFor('b owns all partitions', () => (b.partitions().length === 6 ? true : undefined), 60_000)
    await waitFor(`${sent} outputs`, () => (out.records.length >= sent ? true : undefined), 90_000)
    await sleep(1500)
    auditCounts(out.records, expected)
    expect(out.records).toHaveLength(sent)
    expect(b.lines.some((l) => l.startsWith('restored'))).toBe(true)
  })

  it('fences a frozen zombie: after its partitions moved, its records and timer fires never commit', async () => {
    const { base, input, output } = await setup()
    const out = await collect([output])
    cleanups.push(out.close)
    const withTicks = { ...base, tickPeriodMs: 500 }
    const a = launch({ ...withTicks, instanceId: 'a', stateDir: join(stateRoot, 'za') })
    const b = launch({ ...withTicks, instanceId: 'b', stateDir: join(stateRoot, 'zb') })
    await bothSharePartitions(a, b)
    const expected = new Map<string, number>()
    await produceKeys(input, 0, 200, expected)
    await waitFor('200 counts', () =>
      out.records.filter((r) => r.value?.startsWith('k')).length >= 200 ? true : undefined,
    )
    a.child.kill('SIGSTOP')
    await produceKeys(input, 200, 200, expected)
    await waitFor('b owns all partitions', () => (b.partitions().length === 6 ? true : undefined), 60_000)
    await waitFor(
      '400 counts',
      () => (out.records.filter((r) => r.value?.startsWith('k')).length >= 400 ? true : undefined),
      60_000,
    )
    a.child.kill('SIGCONT')
    await produceKeys(input, 400, 200, expected)
    await waitFor(
      '600 counts',
      () => (out.records.filter((r) => r.value?.startsWith('k')).length >= 600 ? true : undefined),
      60_000,
    )
    await sleep(3000)
    auditCounts(out.records, expected)
    // Every tick instant of every partition was committed at most once, whoever fired it.
    const ticks = out.records.filter((r) => r.value?.startsWith('tick@')).map((r) => `${r.key} ${r.value}`)
    expect(new Set(ticks).size).toBe(ticks.length)
    expect(ticks.length).toBeGreaterThan(0)
  })
})
