/**
 * The scheduler as a component on the real broker and registry: health while it starts (no assignment yet,
 * restoring) and once it serves, an idempotent close, and close after a fatal error releasing the LevelDB lock so
 * the same process can run the scheduler again on the same state directory.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { afterAll, describe, expect, it } from 'vitest'
import type { Health } from '../../component.ts'
import { schedulerApplicationId } from '../../topics.ts'
import { testAdmin, uniqueName } from '../helpers/kafka.ts'
import { deletePrefixTopics, testScheduler } from '../helpers/scheduler.ts'

const { admin } = testAdmin()
const stateRoot = mkdtempSync(join(tmpdir(), 'flextask-scheduler-component-'))
const prefixes: string[] = []

afterAll(async () => {
  for (const prefix of prefixes) await deletePrefixTopics(admin, prefix).catch(() => {})
  rmSync(stateRoot, { recursive: true, force: true })
})

function env(prefix: string, stateDir: string): Record<string, string> {
  return {
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '2',
    FLEXTASK_CATEGORIES: 'http',
    FLEXTASK_STATE_DIR: stateDir,
    FLEXTASK_INSTANCE_ID: uniqueName('component'),
    FLEXTASK_SESSION_TIMEOUT_MS: '6000',
  }
}

/** Samples health() every few ms until stopped; returns every distinct reason seen while not ready. */
function sampleHealth(health: () => Health): { stop: () => string[] } {
  const reasons = new Set<string>()
  const timer = setInterval(() => {
    const h = health()
    if (!h.ready) for (const r of h.reasons) reasons.add(r)
  }, 2)
  return {
    stop: () => {
      clearInterval(timer)
      return [...reasons]
    },
  }
}

describe('the scheduler component', () => {
  it('is not ready while it joins and restores, ready once start() resolves, and closes idempotently', async () => {
    const prefix = uniqueName('component')
    prefixes.push(prefix)
    const { scheduler } = testScheduler(env(prefix, join(stateRoot, prefix)))
    expect(scheduler.health()).toEqual({ live: true, ready: false, reasons: ['not started'] })

    const sampler = sampleHealth(() => scheduler.health())
    try {
      await scheduler.start()
    } finally {
      const seen = sampler.stop()
      expect(seen).toContain(`no partition assignment yet (joining group ${schedulerApplicationId(prefix)})`)
      expect(seen.some((r) => /^restoring partitions \d/.test(r))).toBe(true)
    }
    expect(scheduler.health()).toEqual({ live: true, ready: true, reasons: [] })
    expect(scheduler.runtime.runningPartitions().sort()).toEqual([0, 1])

    const first = scheduler.close()
    const second = scheduler.close()
    expect(second).toBe(first)
    await first
    await scheduler.close()
    expect(scheduler.health()).toEqual({ live: true, ready: false, reasons: ['closed'] })
  })

  it('closes after a fatal error, releasing the LevelDB lock so the same process can run it again', async () => {
    const prefix = uniqueName('fatal')
    prefixes.push(prefix)
    const stateDir = join(stateRoot, prefix)
    let broken = false
    const clock = {
      nowMs: () => {
        if (broken) throw new Error('the clock broke')
        return Date.now()
      },
    }
    const { scheduler } = testScheduler(env(prefix, stateDir), { clock })
    const fatal = new Promise<Error>((resolve) => scheduler.onFatal((error) => resolve(error)))
    await scheduler.start()

    broken = true
    expect((await fatal).message).toBe('the clock broke')
    const health = scheduler.health()
    expect(health.live).toBe(false)
    expect(health.ready).toBe(false)
    expect(health.reasons.join()).toContain('the clock broke')

    // The fatal error stopped the loop but left the stores open: another open of a task's state fails.
    const taskDir = join(stateDir, 'scheduler', schedulerApplicationId(prefix))
    const partitionDir = join(taskDir, readdirSync(taskDir)[0]!)
    await expect(new ClassicLevel(partitionDir).open()).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' })

    await scheduler.close()
    await scheduler.close()
    const reopened = new ClassicLevel(partitionDir)
    await reopened.open()
    await reopened.close()

    broken = false
    const again = testScheduler({ ...env(prefix, stateDir), FLEXTASK_INSTANCE_ID: uniqueName('again') }).scheduler
    try {
      await again.start()
      expect(again.health().ready).toBe(true)
    } finally {
      await again.close()
    }
  })

  it('rejects start() with a coded error and leaves nothing open when the topics disagree', async () => {
    const prefix = uniqueName('mismatch')
    prefixes.push(prefix)
    const { scheduler } = testScheduler(env(prefix, join(stateRoot, prefix)))
    await admin.createTopics({ topics: [`${prefix}.task-commands`], partitions: 3, replicas: 1 })
    await expect(scheduler.start()).rejects.toMatchObject({ code: 'FLEXTASK_TOPICS_PARTITION_MISMATCH' })
    expect(scheduler.health().ready).toBe(false)
    // start() closed what it had opened; closing again is a no-op that resolves.
    await scheduler.close()
    expect(scheduler.health().reasons).toEqual(['closed'])
  })
})
