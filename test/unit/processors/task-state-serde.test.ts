import { describe, expect, it } from 'vitest'
import { StoreFormats, taskStateSerde, timerEntrySerde } from '../../../processors/task-state-serde.ts'
import { newTaskState, type TaskState, type TimerEntry } from '../../../processors/task-state.ts'
import { taskDefinition } from '../../helpers/task-definitions.ts'

const createdAtMs = Date.UTC(2026, 0, 1)

/** A state with every field set to something other than its default. */
function busyState(): TaskState {
  const definition = taskDefinition(
    'billing/ünïcode-task',
    { kind: 'CRON', cron: '*/5 * * * * *', timezone: 'Europe/Berlin', maxRuns: 12, endAtMs: createdAtMs + 9e9 },
    {
      payload: JSON.stringify({ url: 'https://example.com/ü', body: 'x'.repeat(300), emoji: '⏰' }),
      labels: { team: 'billing', région: 'eu-west' },
      tenant: 'acme',
      timeoutMs: 30_000,
      maxLatenessMs: 5_000,
      jitterMs: 250,
      priority: -3,
      retry: { maxAttempts: 4, backoffBaseMs: 500, backoffFactor: 1.5, backoffMaxMs: 60_000, jitterRatio: 0.25 },
    },
    createdAtMs,
  )
  return {
    ...newTaskState(definition),
    lastScheduledMs: createdAtMs + 5_000,
    runs: 7,
    paused: true,
    completed: true,
    fireKey: '000001767225610000|billing/ünïcode-task|FIRE',
    nextSlotMs: createdAtMs + 10_000,
    catchUpFired: 2,
    buffered: createdAtMs + 15_000,
    inFlight: {
      'billing/ünïcode-task:1767225605000': {
        executionId: 'billing/ünïcode-task:1767225605000',
        scheduledForMs: createdAtMs + 5_000,
        attempt: 2,
        trigger: 'RETRY',
        status: 'RETRY_WAIT',
        timerKey: '000001767225607000|billing/ünïcode-task|RETRY|1767225605000',
      },
      'billing/ünïcode-task:manual:cmd-1': {
        executionId: 'billing/ünïcode-task:manual:cmd-1',
        scheduledForMs: createdAtMs + 1_234,
        attempt: 1,
        trigger: 'MANUAL',
        status: 'RUNNING',
        timerKey: null,
      },
    },
    ended: {
      'billing/ünïcode-task:1767225600000': { scheduledForMs: createdAtMs, attempt: 4, outcome: 'DEAD' },
      'billing/ünïcode-task:manual:cmd-0': { scheduledForMs: createdAtMs - 1, attempt: 1, outcome: 'ABANDONED' },
    },
    quarantined: { reasonCode: 'STATE_TOO_LARGE', message: 'state over maxRecordBytes', atMs: createdAtMs + 42 },
  }
}

const jsonBytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))

describe('taskStateSerde', () => {
  it('round-trips every field of a task state in the binary format', () => {
    const state = busyState()
    const bytes = taskStateSerde.serialize(state)
    expect(bytes[0]).toBe(StoreFormats.binaryV1)
    expect(taskStateSerde.deserialize(bytes)).toStrictEqual(state)
  })

  it('round-trips a fresh state (nulls, empty maps, no quarantine key)', () => {
    const state = newTaskState(taskDefinition('t1', { kind: 'ONE_SHOT', atMs: createdAtMs + 1 }, {}, createdAtMs))
    const decoded = taskStateSerde.deserialize(taskStateSerde.serialize(state))
    expect(decoded).toStrictEqual(state)
    expect('quarantined' in decoded).toBe(false)
  })

  it('keeps numbers as JSON did: fractions, negatives, large and unsafe magnitudes', () => {
    for (const n of [0.5, -1, -(2 ** 50), 2 ** 50 + 1, 2 ** 60, 1e300, Number.MAX_SAFE_INTEGER, -7.25]) {
      const state = { ...newTaskState(taskDefinition('n', { kind: 'INTERVAL', everyMs: 1000 }, {}, 0)), runs: n }
      expect(taskStateSerde.deserialize(taskStateSerde.serialize(state)).runs).toBe(n)
    }
  })

  it('reads task states written as JSON by earlier versions, and writes them back as binary', () => {
    const state = busyState()
    const fromJson = taskStateSerde.deserialize(jsonBytes(state))
    expect(fromJson).toStrictEqual(state)
    const rewritten = taskStateSerde.serialize(fromJson)
    expect(rewritten[0]).toBe(StoreFormats.binaryV1)
    expect(taskStateSerde.deserialize(rewritten)).toStrictEqual(state)
  })

  it('is much smaller than JSON', () => {
    const state = newTaskState(taskDefinition('task-000123', { kind: 'ONE_SHOT', atMs: createdAtMs + 86_400_000 }))
    expect(taskStateSerde.serialize(state).length).toBeLessThan(jsonBytes(state).length / 2)
  })

  it('freezes a decoded definition, so the bytes it reuses always match it', () => {
    const decoded = taskStateSerde.deserialize(taskStateSerde.serialize(busyState()))
    expect(Object.isFrozen(decoded.definition)).toBe(true)
    expect(Object.isFrozen(decoded.definition.schedule)).toBe(true)
    expect(Object.isFrozen(decoded.definition.retry)).toBe(true)
    expect(Object.isFrozen(decoded.definition.labels)).toBe(true)
    expect(() => {
      ;(decoded.definition as { payload: string }).payload = 'changed'
    }).toThrow(TypeError)
  })

  it('writes progress changes on a decoded state and a replaced definition in full', () => {
    const decoded = taskStateSerde.deserialize(taskStateSerde.serialize(busyState()))
    decoded.runs = 8
    decoded.inFlight = {}
    const progressed = taskStateSerde.deserialize(taskStateSerde.serialize(decoded))
    expect(progressed).toStrictEqual({ ...busyState(), runs: 8, inFlight: {} })
    progressed.definition = { ...progressed.definition, payload: '{"v":2}', version: 2 }
    const updated = taskStateSerde.deserialize(taskStateSerde.serialize(progressed))
    expect(updated.definition.payload).toBe('{"v":2}')
    expect(updated.definition.version).toBe(2)
  })

  it('refuses truncated or trailing bytes with a decode error, and symbols it does not know with an encode error', () => {
    const bytes = taskStateSerde.serialize(busyState())
    expect(() => taskStateSerde.deserialize(bytes.subarray(0, bytes.length - 3))).toThrow(
      expect.objectContaining({ code: 'FLEXTASK_SERDE_DECODE_FAILED' }),
    )
    expect(() => taskStateSerde.deserialize(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(
      expect.objectContaining({ code: 'FLEXTASK_SERDE_DECODE_FAILED' }),
    )
    const bad = busyState()
    ;(bad.ended as Record<string, { scheduledForMs: number; attempt: number; outcome: string }>)['x:1'] = {
      scheduledForMs: 1,
      attempt: 1,
      outcome: 'LOST',
    }
    expect(() => taskStateSerde.serialize(bad)).toThrow(
      expect.objectContaining({ code: 'FLEXTASK_SERDE_ENCODE_FAILED' }),
    )
  })
  it('refuses on write what it could not read back: undefined numbers, null where a number is required', () => {
    const state = busyState()
    for (const bad of [
      { ...state, runs: undefined },
      { ...state, runs: null },
      { ...state, lastScheduledMs: undefined },
      { ...state, fireKey: 7 },
      { ...state, definition: { ...state.definition, createdAtMs: null } },
    ]) {
      expect(() => taskStateSerde.serialize(bad as unknown as TaskState)).toThrow(
        expect.objectContaining({ code: 'FLEXTASK_SERDE_ENCODE_FAILED' }),
      )
    }
  })
})

describe('timerEntrySerde', () => {
  const entries: TimerEntry[] = [
    { taskId: 'task-1', kind: 'FIRE', executionId: 'task-1:1767225600000', scheduledForMs: 1767225600000, attempt: 1 },
    { taskId: 'tâsk:2', kind: 'RETRY', executionId: 'tâsk:2:17', scheduledForMs: 17, attempt: 3 },
    { taskId: 'task-3', kind: 'TIMEOUT', executionId: 'task-3:manual:cmd-9', scheduledForMs: 5, attempt: 2 },
  ]

  it('round-trips FIRE, RETRY and TIMEOUT entries, manual execution ids included, in a few bytes', () => {
    for (const entry of entries) {
      const bytes = timerEntrySerde.serialize(entry)
      expect(bytes[0]).toBe(StoreFormats.binaryV1)
      expect(timerEntrySerde.deserialize(bytes)).toStrictEqual(entry)
    }
    expect(timerEntrySerde.serialize(entries[0]!).length).toBeLessThan(20)
  })

  it('reads timer entries written as JSON by earlier versions', () => {
    for (const entry of entries) expect(timerEntrySerde.deserialize(jsonBytes(entry))).toStrictEqual(entry)
  })
})
