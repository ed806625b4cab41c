import { FetchIsolationLevels } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { coPartitionedAssigner } from '../../../topology/co-partitioned-assigner.ts'
import { LoopSignal } from '../../../topology/loop-signal.ts'
import {
  groupConsumerOptions,
  resolveRuntimeOptions,
  adminOptions,
  offsetsAdminOptions,
  restoreConsumerOptions,
} from '../../../topology/runtime-options.ts'

const base = { applicationId: 'app', bootstrapBrokers: ['b:9092'], stateDir: '/tmp/x' }

describe('runtime options and clients', () => {
  it('applies the documented defaults and a random instance id under the application id', () => {
    const o = resolveRuntimeOptions(base)
    expect(o).toMatchObject({
      commitIntervalMs: 100,
      transactionTimeoutMs: 10_000,
      maxRecordsPerCycle: 5_000,
      staticMembership: true,
      outageGiveUpMs: 900_000,
      inputBarrier: true,
    })
    expect(o.instanceId).toMatch(/^app-[a-z0-9]+$/)
    expect(resolveRuntimeOptions({ ...base, instanceId: 'i-1', commitIntervalMs: 5 })).toMatchObject({
      instanceId: 'i-1',
      commitIntervalMs: 5,
    })
  })

  it('the group consumer reads committed data, never autocommits, and assigns partitions co-partitioned', () => {
    const o = resolveRuntimeOptions({ ...base, instanceId: 'i-1' })
    const tls = { tls: { rejectUnauthorized: true } }
    expect(groupConsumerOptions(o, tls)).toMatchObject({
      groupId: 'app',
      groupInstanceId: 'i-1',
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      partitionAssigner: coPartitionedAssigner,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      ...tls,
    })
    const dynamic = groupConsumerOptions(resolveRuntimeOptions({ ...base, staticMembership: false }))
    expect(dynamic.groupInstanceId).toBeUndefined()
    // The committed-offset reads never retry inside the client: the task open must see UNSTABLE_OFFSET_COMMIT
    // (and fence); the other admin calls keep the client's retries.
    expect(offsetsAdminOptions(o, tls)).toMatchObject({ retries: 0, clientId: 'i-1-offsets', ...tls })
    expect(adminOptions(o, tls).retries).toBeUndefined()
    expect(restoreConsumerOptions(o)).toMatchObject({
      groupId: 'app-restore-never-joins',
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      autocommit: false,
    })
  })
})

describe('LoopSignal', () => {
  it('a wait ends on notify, on its timeout, or at once when there is something to do', async () => {
    const signal = new LoopSignal()
    let at = performance.now()
    const waiting = signal.wait(10_000)
    setTimeout(() => signal.notify(), 10)
    await waiting
    expect(performance.now() - at).toBeLessThan(5_000)
    at = performance.now()
    await signal.wait(20)
    expect(performance.now() - at).toBeGreaterThanOrEqual(15)
    at = performance.now()
    await signal.wait(10_000, () => true)
    expect(performance.now() - at).toBeLessThan(1_000)
    signal.notify() // a notify while nobody waits is not remembered
  })
})
