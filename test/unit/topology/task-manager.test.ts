import type { Admin, Consumer } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import type { ChangelogRestorer, RestoreProgress } from '../../../topology/changelog-restorer.ts'
import type { GroupJoin } from '../../../topology/group-membership.ts'
import { ManualClock } from '../../../topology/clocks.ts'
import { RuntimeEvents } from '../../../topology/runtime-events.ts'
import { MemoryStoreBackend } from '../../../topology/state-stores.ts'
import { TaskManager } from '../../../topology/task-manager.ts'
import { counterTopology } from '../../fixtures/counter-topology.ts'

/** A fake admin whose committed-offset fetch for a partition waits until the test releases it. */
function fakeAdmin() {
  const gates = new Map<number, { promise: Promise<void>; release: () => void }>()
  const gate = (partition: number) => {
    let release!: () => void
    const promise = new Promise<void>((resolve) => (release = resolve))
    gates.set(partition, { promise, release })
    return release
  }
  const admin = {
    async listConsumerGroupOffsets(options: { groups: { topics: { partitionIndexes: number[] }[] }[] }) {
      const partition = options.groups[0]!.topics[0]!.partitionIndexes[0]!
      await gates.get(partition)?.promise
      return [{ topics: [] }]
    },
  }
  return { admin: admin as unknown as Admin, gate }
}

const restoreConsumer = {
  listOffsets: () => Promise.resolve(new Map<string, bigint[]>()),
} as unknown as Consumer

const restorer = {
  stableEndOffsets: () => Promise.resolve(new Map<string, bigint>()),
  restoreTask: () => Promise.resolve([]),
} as unknown as ChangelogRestorer

function manager(
  admin: Admin,
  onUnstable?: (partition: number, what: 'offsets' | 'changelog') => void,
  restoring: ChangelogRestorer = restorer,
) {
  const events = new RuntimeEvents()
  const restored: { partition: number }[] = []
  const backends = new Map<number, MemoryStoreBackend[]>()
  events.add({ onRestored: (e) => restored.push(e) })
  const failures: unknown[] = []
  const tm = new TaskManager({
    topology: counterTopology({ input: 'in', output: 'out' }),
    applicationId: 'app',
    stateDir: '/nonexistent',
    transactionTimeoutMs: 10_000,
    clock: new ManualClock(0),
    admin,
    restoreConsumer,
    restorer: restoring,
    changelogTopic: (s) => `app-${s}-changelog`,
    partitionCount: () => 2,
    events,
    notify: () => {},
    fail: (e) => failures.push(e),
    onUnstable,
    openBackend: (partition) => {
      const backend = new MemoryStoreBackend()
      backends.set(partition, [...(backends.get(partition) ?? []), backend])
      return backend
    },
  })
  return { tm, restored, failures, backends, events }
}

/** A join that keeps no task: no partition was held in the generation before it (a broken run). */
function join(generation: number, partitions: Set<number>, heldSince: Map<number, number> = new Map()): GroupJoin {
  for (const p of partitions) if (!heldSince.has(p)) heldSince.set(p, generation)
  return { generation, partitions, heldSince }
}

async function until(what: string, probe: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (probe()) return
    await new Promise((r) => setTimeout(r, 5))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('TaskManager: a new owner waits on the previous owner open transaction (issue 7 failover)', () => {
  it('sees every UNSTABLE_OFFSET_COMMIT itself: asks for a fence at once and every second, waits out other faults', async () => {
    const answers: (string | undefined)[] = ['UNSTABLE_OFFSET_COMMIT', 'NOT_COORDINATOR', 'UNSTABLE_OFFSET_COMMIT']
    const admin = {
      listConsumerGroupOffsets() {
        const apiId = answers.shift()
        if (apiId === undefined) return Promise.resolve([{ topics: [] }])
        return Promise.reject(Object.assign(new Error(apiId), { apiId, code: 'PLT_KFK_PROTOCOL' }))
      },
    } as unknown as Admin
    const unstable: [number, string][] = []
    const { tm, restored, failures } = manager(admin, (partition, what) => unstable.push([partition, what]))
    tm.applyJoin(join(1, new Set([0])))
    await until('the task to open', () => restored.length === 1)
    expect(failures).toEqual([])
    // One fence request for the first UNSTABLE answer (the next within the same second are not asked again).
    expect(unstable).toEqual([[0, 'offsets']])
    expect(answers).toEqual([])
  })
})

describe('TaskManager: assignment applied on the loop (review C2, C11)', () => {
  it('drops a task whose open was waiting when a join took its partition away, and never starts it', async () => {
    const { admin, gate } = fakeAdmin()
    const release1 = gate(1)
    const { tm, restored, failures } = manager(admin)
    tm.applyJoin(join(1, new Set([0, 1])))
    // Partition 0 opens and runs while partition 1's open still waits (opens are concurrent, off the loop).
    await until('partition 0 running', () => tm.running().some((e) => e.partition === 0))
    expect(tm.running().map((e) => e.partition)).toEqual([0])
    // A join that no longer assigns partition 1 arrives while its open waits.
    tm.applyJoin(join(2, new Set([0])))
    release1()
    await until('partition 0 running under generation 2', () =>
      tm.running().some((e) => e.partition === 0 && e.generation === 2),
    )
    await new Promise((r) => setTimeout(r, 50))
    tm.reconcile()
    expect(tm.running().map((e) => [e.partition, e.generation])).toEqual([[0, 2]])
    expect(restored.filter((e) => e.partition === 1)).toEqual([])
    expect(tm.allRunning()).toBe(true)
    expect(failures).toEqual([])
  })

  it('a task opened under a generation that changed is dropped and re-opened under the new one', async () => {
    const { admin, gate } = fakeAdmin()
    const release0 = gate(0)
    const { tm, restored, backends } = manager(admin)
    tm.applyJoin(join(1, new Set([0])))
    await new Promise((r) => setTimeout(r, 10))
    tm.applyJoin(join(2, new Set([0])))
    gate(0)() // the reopen under generation 2 does not wait
    release0()
    await until('partition 0 running', () => tm.running().length === 1)
    expect(tm.running()[0]!.generation).toBe(2)
    expect(restored.map((e) => e.partition)).toEqual([0]) // only the generation-2 open started
    await tm.closed()
    expect(backends.get(0)).toHaveLength(2) // the second open waited for the first to release its store
  })

  it('closes, on every pass, the tasks whose partition is no longer assigned', async () => {
    const { admin } = fakeAdmin()
    const { tm } = manager(admin)
    tm.applyJoin(join(1, new Set([0, 1])))
    await until('both running', () => tm.running().length === 2)
    tm.applyJoin(join(2, new Set([1])))
    await until('partition 1 running again', () => tm.running().length === 1)
    expect(tm.running().map((e) => e.partition)).toEqual([1])
    tm.closeAllTasks()
    await tm.closed()
    expect(tm.running()).toEqual([])
  })

  it('keeps a running task across a join when its partition was held in every generation since it opened', async () => {
    const { admin } = fakeAdmin()
    const { tm, restored, backends } = manager(admin)
    tm.applyJoin(join(1, new Set([0, 1])))
    await until('both running', () => tm.running().length === 2)
    const before = tm.running().find((e) => e.partition === 0)
    const { closed, kept } = tm.applyJoin(join(2, new Set([0]), new Map([[0, 1]])))
    expect(closed).toEqual([1])
    expect(kept.map((e) => e.partition)).toEqual([0])
    // The same task goes on running, re-stamped with the new generation; it is never closed or restored again.
    expect(tm.running()).toEqual([before])
    expect(before?.generation).toBe(2)
    tm.reconcile()
    await new Promise((r) => setTimeout(r, 30))
    expect(tm.running().map((e) => [e.partition, e.generation])).toEqual([[0, 2]])
    expect(restored.map((e) => e.partition).sort()).toEqual([0, 1])
    expect(backends.get(0)).toHaveLength(1)
    expect(tm.allRunning()).toBe(true)
  })

  it('a kept task whose open is still waiting starts under the new generation, opened once', async () => {
    const { admin, gate } = fakeAdmin()
    const release0 = gate(0)
    const { tm, restored, backends } = manager(admin)
    tm.applyJoin(join(1, new Set([0])))
    await new Promise((r) => setTimeout(r, 10))
    const { kept } = tm.applyJoin(join(2, new Set([0, 1]), new Map([[0, 1]])))
    expect(kept.map((e) => [e.partition, e.status])).toEqual([[0, 'opening']])
    release0()
    await until('both running', () => tm.running().length === 2)
    expect(
      tm
        .running()
        .map((e) => [e.partition, e.generation])
        .sort(),
    ).toEqual([
      [0, 2],
      [1, 2],
    ])
    expect(restored.filter((e) => e.partition === 0)).toHaveLength(1)
    expect(backends.get(0)).toHaveLength(1)
  })

  it('closes a task whose partition comes back after a generation this member did not hold it in', async () => {
    const { admin } = fakeAdmin()
    const { tm, restored, backends } = manager(admin)
    tm.applyJoin(join(1, new Set([0])))
    await until('partition 0 running', () => tm.running().length === 1)
    // Generation 3 assigns partition 0 again, but it was held only since generation 3 (another member may
    // have owned it in generation 2 and advanced its changelog): the task is closed and opened again.
    const { closed, kept } = tm.applyJoin(join(3, new Set([0]), new Map([[0, 3]])))
    expect([closed, kept]).toEqual([[0], []])
    await until('partition 0 running under generation 3', () => tm.running()[0]?.generation === 3)
    expect(restored.map((e) => e.partition)).toEqual([0, 0])
    expect(backends.get(0)).toHaveLength(2)
  })
})

describe('TaskManager: restore progress (issue 14)', () => {
  it("reports a restoring task's progress per store as onRestoreProgress events, then onRestored", async () => {
    const report = (partition: number, records: number, done: boolean): RestoreProgress => ({
      partition,
      store: 'counts',
      topic: 'app-counts-changelog',
      fromOffset: 0n,
      endOffset: 10n,
      position: BigInt(records),
      records,
      durationMs: 1,
      recordsPerS: records * 1000,
      retriedFetches: 0,
      wiped: false,
      done,
    })
    const reporting = {
      stableEndOffsets: () => Promise.resolve(new Map<string, bigint>()),
      restoreTask: (...args: Parameters<ChangelogRestorer['restoreTask']>) => {
        const [, partition, , , , onProgress] = args
        onProgress?.(report(partition, 4, false))
        onProgress?.(report(partition, 10, true))
        return Promise.resolve([report(partition, 10, true)])
      },
    } as unknown as ChangelogRestorer
    const { admin } = fakeAdmin()
    const { tm, events } = manager(admin, undefined, reporting)
    const seen: string[] = []
    events.add({
      onRestoreProgress: (e) => seen.push(`progress ${e.partition} ${e.records}${e.done ? ' done' : ''}`),
      onRestored: (e) => seen.push(`restored ${e.partition} ${e.records}`),
    })
    tm.applyJoin(join(1, new Set([0])))
    await until('partition 0 running', () => tm.running().length === 1)
    expect(seen).toEqual(['progress 0 4', 'progress 0 10 done', 'restored 0 10'])
  })
})
