import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { afterAll, describe, expect, it } from 'vitest'
import { StreamRuntime, type StreamRuntimeOptions } from '../../topology/stream-runtime.ts'
import { counterTopology } from '../fixtures/counter-topology.ts'
import { collect, kafkaBrokers, lastValues, testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'

const { admin, createTopic } = testAdmin()
const producer = testProducer()
const stateRoot = mkdtempSync(join(tmpdir(), 'flextask-topology-'))
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  rmSync(stateRoot, { recursive: true, force: true })
})

interface Setup {
  input: string
  output: string
  applicationId: string
  stateDir: string
}

async function setup(partitions = 3): Promise<Setup> {
  const input = await createTopic('in', { partitions })
  const output = await createTopic('out', { partitions })
  const applicationId = uniqueName('app')
  cleanups.push(() =>
    admin.deleteTopics({ topics: [`${applicationId}-counts-changelog`, `${applicationId}-ticks-changelog`] }),
  )
  return { input, output, applicationId, stateDir: join(stateRoot, applicationId) }
}

async function start(
  s: Setup,
  options: Partial<StreamRuntimeOptions> & { tickPeriodMs?: number; deadLetter?: string } = {},
): Promise<StreamRuntime> {
  const runtime = new StreamRuntime(counterTopology({ ...s, ...options }), {
    applicationId: s.applicationId,
    bootstrapBrokers: kafkaBrokers,
    stateDir: s.stateDir,
    instanceId: 'instance-1',
    sessionTimeoutMs: 6000,
    ...options,
  })
  cleanups.push(() => runtime.close())
  await runtime.start()
  await runtime.waitUntilRunning()
  return runtime
}

async function produce(topic: string, keys: string[], value = 'x'): Promise<void> {
  await producer.send({ messages: keys.map((k) => ({ topic, key: Buffer.from(k), value: Buffer.from(value) })) })
}

async function storeContents(runtime: StreamRuntime, store: string, partitions: number): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (let p = 0; p < partitions; p++) {
    for (const [k, v] of (await runtime.queryStore<unknown>(store, p)) ?? []) out.set(k, JSON.stringify(v))
  }
  return out
}

function keys(n: number, distinct: number): string[] {
  return Array.from({ length: n }, (_, i) => `k${i % distinct}`)
}

describe('StreamRuntime on a real broker', () => {
  it('keeps per-key counts across a restart and restores the changelog state after the local database is deleted', async () => {
    const s = await setup()
    const out = await collect([s.output])
    cleanups.push(out.close)
    await produce(s.input, keys(60, 10))
    let runtime = await start(s)
    await waitFor('60 outputs', () => (out.records.length >= 60 ? true : undefined))
    await runtime.close()

    runtime = await start(s)
    await produce(s.input, keys(10, 10))
    await waitFor('70 outputs', () => (out.records.length >= 70 ? true : undefined))
    expect(
      out.records
        .slice(60)
        .map((r) => r.value)
        .sort(),
    ).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}=7`).sort())
    await runtime.close()

    const oracle = await lastValues(`${s.applicationId}-counts-changelog`)
    rmSync(s.stateDir, { recursive: true, force: true })
    runtime = await start(s)
    const restored = await storeContents(runtime, 'counts', 3)
    expect(restored).toEqual(new Map([...oracle].map(([k, v]) => [k, v as string])))
    expect(restored.get('k3')).toBe('7')
    expect(out.records).toHaveLength(70)
  })

  it('restores an empty changelog, and a changelog whose tail is a transaction marker', async () => {
    const s = await setup()
    const out = await collect([s.output])
    cleanups.push(out.close)
    await produce(s.input, ['only-key'])
    let runtime = await start(s)
    await waitFor('one output', () => (out.records.length >= 1 ? true : undefined))
    await runtime.close()
    const changelog = `${s.applicationId}-counts-changelog`
    const ends = await admin.listOffsets({
      topics: [{ name: changelog, partitions: [0, 1, 2].map((p) => ({ partitionIndex: p, timestamp: -1n })) }],
    })
    const endOffsets = ends[0]?.partitions.map((p) => p.offset) ?? []
    // One data record and one commit marker in the written partition; the two others are empty.
    expect(endOffsets.filter((o) => o === 2n)).toHaveLength(1)
    expect(endOffsets.filter((o) => o === 0n)).toHaveLength(2)

    rmSync(s.stateDir, { recursive: true, force: true })
    runtime = await start(s)
    expect(runtime.runningPartitions().sort()).toEqual([0, 1, 2])
    expect((await storeContents(runtime, 'counts', 3)).get('only-key')).toBe('1')
  })

  it('wipes and replays the changelog when its log start is above the offset stored with the local state', async () => {
    const s = await setup(1)
    const out = await collect([s.output])
    cleanups.push(out.close)
    await produce(s.input, keys(20, 4))
    let runtime = await start(s)
    await waitFor('20 outputs', () => (out.records.length >= 20 ? true : undefined))
    await runtime.close()
    const staleState = `${s.stateDir}-stale`
    cpSync(s.stateDir, staleState, { recursive: true })

    runtime = await start(s)
    await produce(s.input, ['k0', 'k1', 'new-key'])
    await waitFor('23 outputs', () => (out.records.length >= 23 ? true : undefined))
    await runtime.close()
    const changelog = `${s.applicationId}-counts-changelog`
    const [end] =
      (
        await admin.listOffsets({ topics: [{ name: changelog, partitions: [{ partitionIndex: 0, timestamp: -1n }] }] })
      )[0]?.partitions ?? []
    // Delete everything but the last transaction's records: the stale state's stored offset is now below log
    // start. (Kafka refuses DeleteRecords on compact-only topics; compact,delete changelogs do move log start.)
    await admin.alterConfigs({
      resources: [
        { resourceType: 2, resourceName: changelog, configs: [{ name: 'cleanup.policy', value: 'compact,delete' }] },
      ],
    })
    await admin.deleteRecords({
      topics: [{ name: changelog, partitions: [{ partition: 0, offset: (end?.offset ?? 0n) - 4n }] }],
    })
    const oracle = await lastValues(changelog)
    rmSync(s.stateDir, { recursive: true, force: true })
    cpSync(staleState, s.stateDir, { recursive: true })

    const restores: { records: number; progress: { wiped: boolean }[] }[] = []
    const restarted = new StreamRuntime(counterTopology(s), {
      applicationId: s.applicationId,
      bootstrapBrokers: kafkaBrokers,
      stateDir: s.stateDir,
      instanceId: 'instance-1',
    })
    cleanups.push(() => restarted.close())
    restarted.observe({ onRestored: (e) => restores.push(e) })
    await restarted.start()
    await restarted.waitUntilRunning()
    expect(restores[0]?.progress[0]?.wiped).toBe(true)
    const restored = await storeContents(restarted, 'counts', 1)
    expect(restored).toEqual(new Map([...oracle].map(([k, v]) => [k, v as string])))
    expect(restored.get('new-key')).toBe('1')
  })

  it('aborts a cycle whose produce fails, so read_committed never sees its outputs and state stays consistent', async () => {
    const s = await setup(1)
    // The output topic refuses records over 1000 bytes until its config is raised: a real, persistent fault.
    const output = await createTopic('small-out', { configs: { 'max.message.bytes': '1000' } })
    const out = await collect([output])
    cleanups.push(out.close)
    const runtime = await start({ ...s, output })
    const aborted: unknown[] = []
    runtime.observe({ onAborted: (e) => aborted.push(e.error.cause) })
    await producer.send({
      messages: [
        { topic: s.input, key: Buffer.from('a'), value: Buffer.from('x') },
        { topic: s.input, key: Buffer.from('b'), value: Buffer.from('pad:5000') },
        { topic: s.input, key: Buffer.from('a'), value: Buffer.from('x') },
      ],
    })
    await waitFor('two aborted cycles', () => (aborted.length >= 2 ? true : undefined))
    expect(String(aborted[0])).toMatch(/larger than the max message size/)
    expect(out.records).toHaveLength(0)
    await admin.alterConfigs({
      resources: [{ resourceType: 2, resourceName: output, configs: [{ name: 'max.message.bytes', value: '100000' }] }],
    })
    await waitFor('3 outputs once the topic accepts them', () => (out.records.length >= 3 ? true : undefined))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(out.records.map((r) => r.value?.slice(0, 3))).toEqual(['a=1', 'b=1', 'a=2'])
    expect(await storeContents(runtime, 'counts', 1)).toEqual(
      new Map([
        ['a', '2'],
        ['b', '1'],
      ]),
    )
  })

  it('after a fatal error, close() is idempotent and releases the group, the clients and the LevelDB lock', async () => {
    const s = await setup(1)
    const fatal: string[] = []
    const first = new StreamRuntime(counterTopology(s), {
      applicationId: s.applicationId,
      bootstrapBrokers: kafkaBrokers,
      stateDir: s.stateDir,
      instanceId: 'instance-1',
      observer: { onFatal: (e) => fatal.push(e.message) },
    })
    cleanups.push(() => first.close())
    await first.start()
    await first.waitUntilRunning()
    // No dead-letter topic: the processor's error is not retriable, so it is fatal.
    await produce(s.input, ['poison'], 'boom')
    await waitFor('the fatal error', () => (fatal.length > 0 ? true : undefined))
    expect(fatal[0]).toMatch(/poison record/)
    const closing = first.close()
    expect(first.close()).toBe(closing)
    await closing
    // Same process, same state directory and instance id: the store opens (its lock was released) and the
    // static member joins again at once.
    const restored: number[] = []
    const second = new StreamRuntime(counterTopology(s), {
      applicationId: s.applicationId,
      bootstrapBrokers: kafkaBrokers,
      stateDir: s.stateDir,
      instanceId: 'instance-1',
      observer: { onRestored: (e) => restored.push(e.partition) },
    })
    cleanups.push(() => second.close())
    await second.start()
    await waitFor('the task to open on the same state directory', () => (restored.length > 0 ? true : undefined))
    expect(restored).toEqual([0])
    await second.close()
  })

  it('fires wall-clock timers with no input records, and not before the task has restored its state', async () => {
    const s = await setup(1)
    const periodMs = 500
    const ticksChangelog = `${s.applicationId}-ticks-changelog`
    const txAdmin = new Admin({ clientId: uniqueName('seed-admin'), bootstrapBrokers: kafkaBrokers })
    await txAdmin.createTopics({
      topics: [ticksChangelog],
      partitions: 1,
      replicas: 1,
      configs: [{ name: 'cleanup.policy', value: 'compact' }],
    })
    await txAdmin.close()
    // Seed the changelog as a previous owner would have left it: 20k entries, then the last tick instant.
    const seededLastMs = Math.floor(Date.now() / periodMs) * periodMs + 6 * periodMs
    for (let batch = 0; batch < 20; batch++) {
      await producer.send({
        messages: Array.from({ length: 1000 }, (_, i) => ({
          topic: ticksChangelog,
          partition: 0,
          key: Buffer.from(`filler-${batch}-${i}`),
          value: Buffer.from('0'),
        })),
      })
    }
    await producer.send({
      messages: [
        { topic: ticksChangelog, partition: 0, key: Buffer.from('last'), value: Buffer.from(String(seededLastMs)) },
      ],
    })

    const out = await collect([s.output])
    cleanups.push(out.close)
    const events: string[] = []
    const runtime = new StreamRuntime(counterTopology({ ...s, tickPeriodMs: periodMs }), {
      applicationId: s.applicationId,
      bootstrapBrokers: kafkaBrokers,
      stateDir: s.stateDir,
      instanceId: 'instance-1',
    })
    cleanups.push(() => runtime.close())
    runtime.observe({
      onRestored: (e) => events.push(`restored ${e.records}`),
      onCommitted: () => events.push('committed'),
    })
    await runtime.start()
    await waitFor('4 ticks', () => (out.records.length >= 4 ? true : undefined), 30_000)
    expect(events[0]).toBe('restored 20001')
    const ticks = out.records.map((r) => Number(r.value?.split('@')[1]))
    expect(ticks.slice(0, 4)).toEqual([1, 2, 3, 4].map((i) => seededLastMs + i * periodMs))
    // Fired on the wall clock, close to the instant (record timestamp = wall clock at fire).
    for (const r of out.records.slice(0, 4)) {
      const lateness = r.timestampMs - Number(r.value?.split('@')[1])
      expect(lateness).toBeGreaterThanOrEqual(0)
      expect(lateness).toBeLessThan(1000)
    }
  })
})
