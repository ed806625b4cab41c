/**
 * The load the faults land on, all on the `internal` probe handler (fault-handlers.ts), over [startAtMs, endAtMs]:
 * - every-second crons (one per partition at least: the lag monitor watches each partition's owner);
 * - flaky crons every 2 s whose attempt 1 fails (retry after 200 ms, so every slot takes two attempts);
 * - one-shots spread over the window, one in five failing every attempt (2 attempts, then DEAD);
 * - through the REST API: every-second crons created and later deleted (cancel), and manual triggers of the
 *   every-second crons (TRIGGER_NOW), each acknowledged command remembered for the audit.
 * Schedules use FIRE_ALL with a 10-minute maxLatenessMs, so every slot due during an outage still fires once.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { TaskDefinition } from '../../schemas/task-definition.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { taskDefinition } from '../helpers/scheduler.ts'
import type { SeededRandom } from './seeded-random.ts'
import { partitions, type Stack } from './stack.ts'

export interface LoadSize {
  everySecondCrons: number
  flakyCrons: number
  oneShotsPerSecond: number
  apiCrons: number
  triggerEveryMs: number
}

export const ciLoad: LoadSize = {
  everySecondCrons: 6,
  flakyCrons: 2,
  oneShotsPerSecond: 2,
  apiCrons: 3,
  triggerEveryMs: 3_000,
}
export const largeLoad: LoadSize = {
  everySecondCrons: 18,
  flakyCrons: 6,
  oneShotsPerSecond: 5,
  apiCrons: 6,
  triggerEveryMs: 1_000,
}

/** What a task is expected to do per slot: attempts it takes, and whether its last attempt ends DEAD. */
export interface Expectation {
  attempts: number
  dead: boolean
}

export interface Workload {
  startAtMs: number
  endAtMs: number
  /** Definitions produced straight to Kafka. */
  definitions: TaskDefinition[]
  /** taskId → expectation, for every task (API ones included). */
  expect: Map<string, Expectation>
  /** Every-second crons (the lag monitor's tasks and the trigger targets). */
  everySecond: string[]
  apiCrons: string[]
  /** When the API acknowledged each API cron's create: a slot before it may not fire (the task did not exist). */
  apiCreatedAtMs: Map<string, number>
  /** Acknowledged TRIGGER_NOW commands: taskId, commandId. */
  triggers: { taskId: string; commandId: string; sentAtMs: number }[]
  /** Deletions through the API: sent at, acknowledged at (null: the API did not answer 2xx). */
  deletions: Map<string, { sentAtMs: number; ackedAtMs: number | null }>
  /** API calls that did not answer 2xx (during faults), for information. */
  apiFailures: string[]
}

const policy = { misfirePolicy: 'FIRE_ALL', maxLatenessMs: 600_000 } as const
const retry = { maxAttempts: 2, backoffBaseMs: 200, backoffFactor: 1, backoffMaxMs: 200, jitterRatio: 0 }

/** Task ids `<prefix>-<kind><n>`, taking n upwards until the first `partitions` of them cover every partition. */
function spreadIds(prefix: string, kind: string, count: number): string[] {
  const ids: string[] = []
  const covered = new Set<number>()
  for (let n = 0; ids.length < count; n++) {
    const id = `${prefix}-${kind}${n}`
    const p = partitionForKey(id, partitions)
    if (covered.size < partitions && covered.has(p)) continue
    covered.add(p)
    ids.push(id)
  }
  return ids
}

export function planWorkload(prefix: string, size: LoadSize, startAtMs: number, endAtMs: number): Workload {
  const w: Workload = {
    startAtMs,
    endAtMs,
    definitions: [],
    expect: new Map(),
    everySecond: spreadIds(prefix, 'cron', size.everySecondCrons),
    apiCrons: spreadIds(prefix, 'apicron', size.apiCrons),
    apiCreatedAtMs: new Map(),
    triggers: [],
    deletions: new Map(),
    apiFailures: [],
  }
  const probe = (payload: object) => ({ category: 'internal', type: 'probe', payload: JSON.stringify(payload) })
  const window = { startAtMs, endAtMs }
  for (const id of w.everySecond) {
    w.definitions.push(
      taskDefinition(id, { kind: 'CRON', cron: '* * * * * *', ...window }, { ...probe({}), ...policy }),
    )
    w.expect.set(id, { attempts: 1, dead: false })
  }
  for (let i = 0; i < size.flakyCrons; i++) {
    const id = `${prefix}-flaky${i}`
    const fields = { ...probe({ failUntilAttempt: 1 }), ...policy, retry }
    w.definitions.push(taskDefinition(id, { kind: 'CRON', cron: '*/2 * * * * *', ...window }, fields))
    w.expect.set(id, { attempts: 2, dead: false })
  }
  const oneShots = Math.floor(((endAtMs - startAtMs) / 1000) * size.oneShotsPerSecond)
  for (let i = 0; i < oneShots; i++) {
    const id = `${prefix}-once${i}`
    const dead = i % 5 === 4
    const atMs = startAtMs + Math.floor((i * (endAtMs - startAtMs)) / oneShots)
    const fields = { ...probe({ failUntilAttempt: dead ? 9 : 0 }), ...policy, retry }
    w.definitions.push(taskDefinition(id, { kind: 'ONE_SHOT', atMs }, fields))
    w.expect.set(id, { attempts: dead ? 2 : 1, dead })
  }
  for (const id of w.apiCrons) w.expect.set(id, { attempts: 1, dead: false })
  return w
}

/** One REST call with the suite's admin key; null when the API did not answer 2xx within 20 s. */
async function call(stack: Stack, w: Workload, method: string, path: string, body?: unknown): Promise<unknown> {
  try {
    const response = await fetch(`${stack.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${stack.apiKey.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(20_000),
    })
    const text = await response.text()
    if (response.ok) return JSON.parse(text) as unknown
    w.apiFailures.push(`${method} ${path} → ${response.status} ${text.slice(0, 160)}`)
  } catch (error) {
    w.apiFailures.push(`${method} ${path} → ${(error as Error).message}`)
  }
  return null
}

/** Creates the API crons (waiting for the read model, so that later triggers and deletes find them). */
export async function createApiCrons(stack: Stack, w: Workload): Promise<void> {
  for (const taskId of w.apiCrons) {
    const body = {
      taskId,
      category: 'internal',
      type: 'probe',
      schedule: { kind: 'CRON', cron: '* * * * * *', startAtMs: w.startAtMs, endAtMs: w.endAtMs },
      ...policy,
    }
    // Idempotent with a client taskId: a create that timed out on a loaded box is sent again (4 tries).
    let created = false
    for (let attempt = 1; attempt <= 4 && !created; attempt++) {
      created = (await call(stack, w, 'POST', '/api/tasks', body)) !== null
    }
    if (!created) throw new Error(`creating ${taskId} through the API failed: ${w.apiFailures.join('; ')}`)
    w.apiCreatedAtMs.set(taskId, Date.now())
  }
}

/**
 * Until endAtMs: a TRIGGER_NOW of a random every-second cron every triggerEveryMs, and the API
 * crons deleted at seeded moments in the middle half of the window.
 */
export async function driveApi(stack: Stack, w: Workload, size: LoadSize, rnd: SeededRandom): Promise<void> {
  const span = w.endAtMs - w.startAtMs
  const deleteAt = new Map(w.apiCrons.map((id) => [id, w.startAtMs + span / 4 + rnd.int(0, span / 2)]))
  while (Date.now() < w.endAtMs - 2_000) {
    await sleep(size.triggerEveryMs)
    const taskId = rnd.pick(w.everySecond)
    const sentAtMs = Date.now()
    const answer = (await call(stack, w, 'POST', `/api/tasks/${taskId}/trigger`)) as {
      commands: { commandId: string }[]
    } | null
    const commandId = answer?.commands[0]?.commandId
    if (commandId !== undefined) w.triggers.push({ taskId, commandId, sentAtMs })
    for (const [id, at] of deleteAt) {
      if (Date.now() < at) continue
      deleteAt.delete(id)
      const deletion = { sentAtMs: Date.now(), ackedAtMs: null as number | null }
      w.deletions.set(id, deletion)
      if ((await call(stack, w, 'DELETE', `/api/tasks/${id}?wait=false`)) !== null) deletion.ackedAtMs = Date.now()
      stack.log(`${id} deleted through the API (${deletion.ackedAtMs === null ? 'not acknowledged' : 'acknowledged'})`)
    }
  }
}

/** Every whole second in [startAtMs, endAtMs] that matches `everySeconds`. */
export function cronSlots(w: Workload, everySeconds: number): number[] {
  const slots: number[] = []
  for (let s = Math.ceil(w.startAtMs / 1000) * 1000; s <= w.endAtMs; s += 1000) {
    if ((s / 1000) % everySeconds === 0) slots.push(s)
  }
  return slots
}
