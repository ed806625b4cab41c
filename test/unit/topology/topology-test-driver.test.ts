import { describe, expect, it } from 'vitest'
import { stringSerde } from '../../../topology/serdes.ts'
import { TopologyTestDriver } from '../../../topology/topology-test-driver.ts'
import { counterTopology } from '../../fixtures/counter-topology.ts'

const topics = { input: 'in', output: 'out', deadLetter: 'dlq' }

async function values(driver: TopologyTestDriver, topic: string): Promise<(string | null)[]> {
  return driver.readValues(topic, stringSerde)
}

describe('TopologyTestDriver (the runtime task loop over in-memory topics)', () => {
  it('counts per key and writes every store change to the changelog', async () => {
    const driver = new TopologyTestDriver(counterTopology(topics))
    await driver.init()
    for (const key of ['a', 'b', 'a']) await driver.pipeInput('in', key, 'x')
    expect(await values(driver, 'out')).toEqual(['a=1', 'b=1', 'a=2'])
    expect(driver.store<number>('counts').get('a')).toBe(2)
    expect(driver.topic('test-app-counts-changelog').map((r) => `${r.key?.toString()}:${r.value?.toString()}`)).toEqual(
      ['a:1', 'b:1', 'a:2'],
    )
  })

  it('dead-letters a poison record with its partial effects rolled back, and keeps processing', async () => {
    const driver = new TopologyTestDriver(counterTopology(topics))
    await driver.init()
    await driver.pipeInput('in', 'a', 'x')
    await driver.pipeInput('in', 'a', 'boom')
    await driver.pipeInput('in', 'a', 'x')
    expect(await values(driver, 'out')).toEqual(['a=1', 'a=2'])
    const [dead] = driver.readOutput('dlq')
    expect(JSON.parse(dead?.value?.toString() ?? '{}')).toEqual({
      reason: 'POISON',
      message: 'poison record',
      offset: '1',
    })
    expect(dead?.key?.toString()).toBe('a')
  })

  it('fails loudly on a poison record when no dead-letter topic is configured', async () => {
    const driver = new TopologyTestDriver(counterTopology({ input: 'in', output: 'out' }))
    await driver.init()
    await expect(driver.pipeInput('in', 'a', 'boom')).rejects.toThrow('poison record')
  })

  it('fires wall-clock wake-ups at exact instants with no input, and none when the clock steps back', async () => {
    const startMs = Date.UTC(2026, 0, 1, 0, 0, 0, 250)
    const driver = new TopologyTestDriver(counterTopology({ ...topics, tickPeriodMs: 1000 }), { startMs })
    await driver.init()
    await driver.advanceWallClock(749)
    expect(await values(driver, 'out')).toEqual([])
    await driver.advanceWallClock(1)
    expect(await values(driver, 'out')).toEqual([`tick@${startMs + 750}`])
    await driver.advanceWallClock(2000)
    expect(await values(driver, 'out')).toEqual([`tick@${startMs + 1750}`, `tick@${startMs + 2750}`])
    await driver.advanceWallClock(-5000)
    await driver.advanceWallClock(4999)
    expect(await values(driver, 'out')).toEqual([])
  })

  it('drops an aborted cycle’s outputs and state, then retries the record exactly once', async () => {
    const driver = new TopologyTestDriver(counterTopology(topics))
    await driver.init()
    await driver.pipeInput('in', 'a', 'x')
    driver.failNextCommit()
    await driver.pipeInput('in', 'a', 'x')
    expect(await values(driver, 'out')).toEqual(['a=1', 'a=2'])
    expect(driver.store<number>('counts').get('a')).toBe(2)
  })

  it('restores the same state from the changelog after local state is lost', async () => {
    const driver = new TopologyTestDriver(counterTopology({ ...topics, tickPeriodMs: 1000 }), { partitions: 3 })
    await driver.init()
    const keys = Array.from({ length: 30 }, (_, i) => `k${i % 7}`)
    for (const key of keys) await driver.pipeInput('in', key, 'x')
    await driver.advanceWallClock(3000)
    const before = [0, 1, 2].map((p) => driver.store<number>('counts', p))
    const snapshot = await Promise.all(before.map((s) => s.range({})))
    await driver.restart({ fromChangelog: true })
    const after = await Promise.all([0, 1, 2].map((p) => driver.store<number>('counts', p).range({})))
    expect(after).toEqual(snapshot)
    driver.readOutput('out')
    await driver.advanceWallClock(1000)
    // Each partition's ticker resumes from its restored last tick: one tick per partition, no repeats.
    expect((await values(driver, 'out')).length).toBe(3)
  })
})
