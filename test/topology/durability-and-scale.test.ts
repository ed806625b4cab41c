/**
 * Exactly one fire per slot across a restart from the changelog (JSON changelogs of an earlier version included)
 * and an aborted commit, and bounded work per wake-up with 100k one-shots due in the same millisecond.
 */
import { describe, expect, it, vi } from 'vitest'
import { TaskScheduler } from '../../processors/task-scheduler.ts'
import { StoreFormats, taskStateSerde, timerEntrySerde } from '../../processors/task-state-serde.ts'
import { StoreNames } from '../../processors/task-state.ts'
import type { StoreSerde } from '../../topology/api.ts'
import { SchedulerHarness, definition, minute, second, startMs } from './scheduler-harness.ts'

/** A cron every 10 s with one retry 5 s after a failure, 25 s in: slots 0, 10 and 20 fired, slot 0's attempt failed. */
async function cronWithFailedFirstRun(extra?: (h: SchedulerHarness) => Promise<void>): Promise<SchedulerHarness> {
  const h = await SchedulerHarness.create()
  await h.define(
    definition(
      'cron',
      { kind: 'CRON', cron: '*/10 * * * * *' },
      { retry: { maxAttempts: 2, backoffBaseMs: 5000, backoffFactor: 1, backoffMaxMs: 5000, jitterRatio: 0 } },
    ),
  )
  await extra?.(h)
  await h.step(25 * second, second)
  const [first] = await h.executions()
  await h.result(first!, 'FAILED')
  return h
}

/** Rewrites every value of a store's changelog as the JSON an earlier version wrote; returns how many. */
function rewriteChangelogAsJson<V>(h: SchedulerHarness, store: string, serde: StoreSerde<V>): number {
  let rewritten = 0
  for (const record of h.driver.topic(h.driver.changelogTopic(store))) {
    if (record.value === null) continue
    ;(record as { value: Buffer }).value = Buffer.from(JSON.stringify(serde.deserialize(record.value)))
    rewritten++
  }
  return rewritten
}

describe('durability', () => {
  it('restarting from the changelog mid-schedule neither loses nor duplicates a fire', async () => {
    const h = await cronWithFailedFirstRun()
    await h.driver.restart({ fromChangelog: true })
    await h.step(35 * second, second)
    const fired = await h.executions()
    expect(fired.map((e) => [e.scheduledForMs - startMs, e.attempt, e.firedAtMs - startMs])).toEqual([
      [30_000, 1, 30_000],
      [0, 2, 30_000],
      [40_000, 1, 40_000],
      [50_000, 1, 50_000],
      [60_000, 1, 60_000],
    ])
  })

  // Upgrading to the binary store format (processors/task-state-serde.ts): changelogs written by an earlier
  // version hold JSON. A new owner restoring them continues exactly where they left off; it then writes binary.
  it('restoring JSON changelogs of an earlier version neither loses nor duplicates a fire, and writes binary after', async () => {
    const h = await cronWithFailedFirstRun((h) =>
      h.define(definition('once', { kind: 'ONE_SHOT', atMs: startMs + 45 * second })),
    )
    const tasksLog = h.driver.topic(h.driver.changelogTopic(StoreNames.tasks))
    const before = tasksLog.length
    expect(rewriteChangelogAsJson(h, StoreNames.tasks, taskStateSerde)).toBeGreaterThan(0)
    expect(rewriteChangelogAsJson(h, StoreNames.timers, timerEntrySerde)).toBeGreaterThan(0)
    expect(tasksLog.every((r) => r.value === null || r.value[0] === '{'.charCodeAt(0))).toBe(true)
    await h.driver.restart({ fromChangelog: true })
    await h.step(35 * second, second)
    const fired = await h.executions()
    expect(fired.map((e) => [e.taskId, e.scheduledForMs - startMs, e.attempt, e.firedAtMs - startMs])).toEqual([
      ['cron', 30_000, 1, 30_000],
      ['cron', 0, 2, 30_000],
      ['cron', 40_000, 1, 40_000],
      ['once', 45_000, 1, 45_000],
      ['cron', 50_000, 1, 50_000],
      ['cron', 60_000, 1, 60_000],
    ])
    const written = tasksLog.slice(before).filter((r) => r.value !== null)
    expect(written.length).toBeGreaterThan(0)
    expect(written.every((r) => r.value![0] === StoreFormats.binaryV1)).toBe(true)
  })

  it('a failed commit of a fire cycle is retried and the slot fires exactly once', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('once', { kind: 'ONE_SHOT', atMs: startMs + minute }))
    await h.advance(minute - 1)
    h.driver.failNextCommit()
    await h.advance(1)
    const fired = await h.executions()
    expect(fired.map((e) => e.executionId)).toEqual([`once:${startMs + minute}`])
    await h.advance(minute)
    expect(await h.executions()).toEqual([])
  })
})

describe('scale', () => {
  it('fires 100k one-shots due in the same millisecond exactly once, at most maxFiresPerWake per wake-up', async () => {
    const count = 100_000
    const maxFiresPerWake = 1000
    const h = await SchedulerHarness.create({ config: { maxFiresPerWake } })
    const dueMs = startMs + minute
    const seedStart = performance.now()
    for (let i = 0; i < count; i++) await h.define(definition(`t${i}`, { kind: 'ONE_SHOT', atMs: dueMs }))
    const seededMs = performance.now() - seedStart
    const execTopic = 'flextask.executions.http'
    // Executions committed before each wake-up: the differences are the fires per wake-up (one cycle each).
    const firedBeforeWake: number[] = []
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the instance's `this` below
    const wake = TaskScheduler.prototype.wake
    const spy = vi.spyOn(TaskScheduler.prototype, 'wake').mockImplementation(function (this: TaskScheduler, nowMs) {
      firedBeforeWake.push(h.driver.topic(execTopic).length)
      return wake.call(this, nowMs)
    })
    const fireStart = performance.now()
    await h.advance(minute)
    const fireMs = performance.now() - fireStart
    spy.mockRestore()
    firedBeforeWake.push(h.driver.topic(execTopic).length)
    const perWake = firedBeforeWake.slice(1).map((n, i) => n - (firedBeforeWake[i] as number))
    expect(Math.max(...perWake)).toBe(maxFiresPerWake)
    expect(perWake.length).toBeGreaterThanOrEqual(count / maxFiresPerWake)
    const records = h.driver.readOutput(execTopic)
    expect(records).toHaveLength(count)
    const ids = new Set(records.map((r) => r.key!.toString()))
    expect(ids.size).toBe(count)
    expect(h.driver.topic('test-app-timers-changelog').filter((r) => r.value === null)).toHaveLength(count)
    expect(fireMs).toBeLessThan(60_000)
    console.log(`100k one-shots: seeded in ${seededMs.toFixed(0)} ms, fired in ${fireMs.toFixed(0)} ms`)
    expect(h.nowMs()).toBe(dueMs)
    await h.advance(minute)
    expect(h.driver.readOutput(execTopic)).toEqual([])
  }, 180_000)
})
