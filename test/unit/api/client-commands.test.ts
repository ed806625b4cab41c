import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient, ApiClientError, ExitCodes, exitCodeFor } from '../../../client/api-client.ts'
import * as commands from '../../../client/client-commands.ts'
import { memoryApi, testKeys } from '../../helpers/memory-api.ts'

describe('flextask client: flags to request bodies', () => {
  it('builds a CRON task with zone, payload, labels and retries', () => {
    const body = commands.taskBodyFromFlags({
      id: 'r',
      category: 'http',
      type: 'request',
      cron: '0 0 2 * * *',
      zone: 'Europe/Berlin',
      payload: '{"url":"https://x"}',
      label: ['team=finance', 'tier=1'],
      maxAttempts: '3',
      timeout: '30s',
    })
    expect(body).toEqual({
      taskId: 'r',
      category: 'http',
      type: 'request',
      payload: { url: 'https://x' },
      labels: { team: 'finance', tier: '1' },
      schedule: {
        kind: 'CRON',
        cron: '0 0 2 * * *',
        everyMs: null,
        atMs: null,
        delayMs: null,
        timezone: 'Europe/Berlin',
      },
      retry: { maxAttempts: 3 },
      timeoutMs: 30_000,
    })
  })

  it('switches the schedule kind on top of an existing definition, clearing the other kind fields', () => {
    const base = { category: 'http', type: 'x', schedule: { kind: 'CRON', cron: '* * * * * *', timezone: 'UTC' } }
    expect(commands.taskBodyFromFlags({ every: '2m' }, base).schedule).toEqual({
      kind: 'INTERVAL',
      cron: null,
      everyMs: 120_000,
      atMs: null,
      delayMs: null,
      timezone: 'UTC',
    })
  })

  it('refuses unusable flags as usage errors (exit code 2)', () => {
    for (const flags of [
      { every: 'soon' },
      { cron: '* * * * * *', every: '1s' },
      { payload: '{' },
      { label: ['x'] },
      { at: 'later' },
    ]) {
      let error: unknown
      try {
        commands.taskBodyFromFlags(flags)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(ApiClientError)
      expect(exitCodeFor(error)).toBe(ExitCodes.usage)
    }
  })

  it('formats tables padded to the widest cell', () => {
    const lines = commands.formatTable(
      [
        { a: 'x', b: null },
        { a: 'longer', b: 2 },
      ],
      [
        ['a', (r) => r.a],
        ['b', (r) => r.b],
      ],
    )
    expect(lines).toEqual(['A       B', 'x       —', 'longer  2'])
  })
})

describe('flextask client against the API', async () => {
  const { app } = await memoryApi()
  let url = ''
  beforeAll(async () => {
    url = await app.listen({ host: '127.0.0.1', port: 0 })
  })
  afterAll(() => app.close())

  const run = async (
    json: boolean,
    action: (ctx: commands.ClientContext) => Promise<void>,
    key: string = testKeys.admin,
  ) => {
    const out: string[] = []
    await action({ client: new ApiClient({ url, key }), io: { out: (l) => out.push(l), err: () => undefined }, json })
    return out
  }

  it('creates, lists, pauses, triggers and deletes, printing tables or JSON', async () => {
    const created = await run(false, (ctx) =>
      commands.createTask(ctx, { id: 'c1', category: 'http', type: 'x', every: '5s' }),
    )
    expect(created[0]).toMatch(/^c1: written at t\.task-definitions \d+:0$/)
    expect(created[1]).toMatch(/^TASK\s+STATUS\s+CATEGORY/)
    expect(created[2]).toMatch(/^c1\s+ACTIVE\s+http\s+x\s+every 5000 ms/)
    const listed = await run(true, (ctx) => commands.listTasks(ctx, {}))
    expect(JSON.parse(listed.join('\n'))).toMatchObject({ total: 1, items: [{ taskId: 'c1' }] })
    expect(await run(false, (ctx) => commands.setStatus(ctx, 'c1', 'PAUSED'))).toEqual(['c1: paused'])
    const triggered = await run(false, (ctx) => commands.sendTaskCommand(ctx, 'c1', 'trigger'))
    expect(triggered[0]).toMatch(/^c1: TRIGGER_NOW c1:manual:[0-9a-f-]+ sent/)
    expect(await run(false, (ctx) => commands.deleteTask(ctx, 'c1'))).toEqual(['c1: deleted'])
  })

  it('maps API answers to exit codes', async () => {
    const codeOf = async (action: (ctx: commands.ClientContext) => Promise<void>, key?: string) => {
      try {
        await run(false, action, key)
        return ExitCodes.ok
      } catch (error) {
        return exitCodeFor(error)
      }
    }
    expect(await codeOf((ctx) => commands.getTask(ctx, 'missing'))).toBe(ExitCodes.notFound)
    expect(await codeOf((ctx) => commands.getTask(ctx, 'missing'), 'bad')).toBe(ExitCodes.unauthorized)
    expect(await codeOf((ctx) => commands.createTask(ctx, { category: 'fax', type: 'x', every: '5s' }))).toBe(
      ExitCodes.usage,
    )
    await run(false, (ctx) => commands.createTask(ctx, { id: 'dup', category: 'http', type: 'x', every: '5s' }))
    expect(
      await codeOf((ctx) => commands.createTask(ctx, { id: 'dup', category: 'http', type: 'y', every: '5s' })),
    ).toBe(ExitCodes.conflict)
  })
})
