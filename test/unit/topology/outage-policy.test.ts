import { describe, expect, it } from 'vitest'
import { FlextaskError } from '../../../errors.ts'
import { GAVE_UP, OutagePolicy } from '../../../topology/outage-policy.ts'
import { type RetryingEvent, RuntimeEvents } from '../../../topology/runtime-events.ts'

const transient = () => new FlextaskError('FLEXTASK_TEST_BROKER_AWAY', 'broker away', { retriable: true })

function policy(giveUpAfterMs: number, nowMs: () => number = Date.now) {
  const events = new RuntimeEvents()
  const retrying: RetryingEvent[] = []
  events.add({ onRetrying: (e) => retrying.push(e) })
  const stop = new AbortController()
  return { outage: new OutagePolicy({ giveUpAfterMs, events, stop: stop.signal, nowMs }), retrying, stop }
}

describe('OutagePolicy: outages are waited out, up to a give-up deadline (issue 7)', () => {
  it('retries a startup step through retriable failures, reporting each retry', async () => {
    const { outage, retrying } = policy(60_000)
    let calls = 0
    await outage.retrying('topics', () => (++calls < 3 ? Promise.reject(transient()) : Promise.resolve()))
    expect(calls).toBe(3)
    expect(retrying.map((e) => [e.step, e.attempt, e.code])).toEqual([
      ['topics', 1, 'FLEXTASK_TEST_BROKER_AWAY'],
      ['topics', 2, 'FLEXTASK_TEST_BROKER_AWAY'],
    ])
    expect(retrying[1]!.backoffMs).toBeGreaterThan(retrying[0]!.backoffMs)
  })

  it('fails a startup step at once on an error that is not retriable', async () => {
    const { outage, retrying } = policy(60_000)
    const bug = new TypeError('x is not a function')
    await expect(outage.retrying('topics', () => Promise.reject(bug))).rejects.toMatchObject({ cause: bug })
    expect(retrying).toEqual([])
  })

  it('gives up a startup step past the deadline, naming the step and the last cause', async () => {
    let now = 0
    const { outage } = policy(1_000, () => (now += 600))
    const failure = outage.retrying('fence previous session', () => Promise.reject(transient()))
    await expect(failure).rejects.toMatchObject({ code: GAVE_UP })
    await expect(failure).rejects.toThrow(/fence previous session: gave up .*broker away/)
  })

  it('stops retrying a startup step once close() aborts', async () => {
    const { outage, stop } = policy(60_000)
    stop.abort()
    await expect(outage.retrying('topics', () => Promise.reject(transient()))).rejects.toMatchObject({
      code: 'FLEXTASK_TEST_BROKER_AWAY',
    })
  })

  it('backs off failed cycles longer and longer; a commit ends the streak, a stream start only the outage', () => {
    let now = 0
    const { outage } = policy(10_000, () => now)
    const streaks = [1, 2, 3].map(() => outage.cycleFailed(transient()))
    expect(streaks.map((s) => s.streak)).toEqual([1, 2, 3])
    expect(streaks[2]!.backoffMs).toBeGreaterThan(streaks[0]!.backoffMs)
    now = 9_000
    outage.streamStarted()
    now = 18_000 // 9 s since the stream started: not given up
    expect(outage.cycleFailed(transient()).streak).toBe(4)
    outage.committed()
    expect(outage.cycleFailed(transient()).streak).toBe(1)
  })

  it('momentary failures (a refused generation, CONCURRENT_TRANSACTIONS) back off briefly, never escalating', () => {
    const { outage } = policy(60_000)
    const refused = (apiId: string) =>
      new FlextaskError('FLEXTASK_TOPOLOGY_COMMIT_FAILED', apiId, { retriable: true, cause: { apiId } })
    const momentary = ['ILLEGAL_GENERATION', ...Array<string>(9).fill('CONCURRENT_TRANSACTIONS')].map((id) =>
      outage.cycleFailed(refused(id)),
    )
    expect(momentary.map((s) => s.streak)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(Math.max(...momentary.map((s) => s.backoffMs))).toBeLessThanOrEqual(480)
    // An outage in the same streak escalates as before: the 11th abort in a row backs off the full 5 s cap.
    expect(outage.cycleFailed(transient()).backoffMs).toBeGreaterThanOrEqual(4_000)
  })

  it('a cycle failing past the deadline with no progress, or on a bug, is fatal', () => {
    let now = 0
    const { outage } = policy(10_000, () => now)
    outage.cycleFailed(transient())
    now = 10_001
    expect(() => outage.cycleFailed(transient())).toThrow(expect.objectContaining({ code: GAVE_UP }))
    expect(() => policy(10_000).outage.cycleFailed(new TypeError('bug'))).toThrow(
      expect.objectContaining({ retriable: false }),
    )
  })

  it('a backoff sleeps its whole time; only close() cuts it short (review C9)', async () => {
    const { outage, stop } = policy(60_000)
    let at = performance.now()
    await outage.backOff(150)
    expect(performance.now() - at).toBeGreaterThanOrEqual(140)
    at = performance.now()
    const sleeping = outage.backOff(10_000)
    setTimeout(() => stop.abort(), 10)
    await sleeping
    expect(performance.now() - at).toBeLessThan(5_000)
  })
})
