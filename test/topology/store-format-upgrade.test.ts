/**
 * Upgrading to the binary store format (processors/task-state-serde.ts): changelog topics written by an earlier
 * version hold JSON values. A new owner restoring them continues exactly where the old state left off (no slot
 * lost or fired twice, a retry still pending), and what it writes from then on is binary.
 */
import { describe, expect, it } from 'vitest'
import { StoreFormats, taskStateSerde, timerEntrySerde } from '../../processors/task-state-serde.ts'
import { StoreNames } from '../../processors/task-state.ts'
import type { StoreSerde } from '../../topology/api.ts'
import { SchedulerHarness, definition, second, startMs } from './scheduler-harness.ts'

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

describe('store format upgrade', () => {
  it('restores JSON changelogs of an earlier version and neither loses nor duplicates a fire', async () => {
    const h = await SchedulerHarness.create()
    await h.define(
      definition(
        'cron',
        { kind: 'CRON', cron: '*/10 * * * * *' },
        { retry: { maxAttempts: 2, backoffBaseMs: 5000, backoffFactor: 1, backoffMaxMs: 5000, jitterRatio: 0 } },
      ),
    )
    await h.define(definition('once', { kind: 'ONE_SHOT', atMs: startMs + 45 * second }))
    await h.step(25 * second, second)
    const [first] = await h.executions()
    await h.result(first!, 'FAILED')
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
})
