/**
 * What the `flextask` client commands do (cli/flextask.ts only parses arguments and calls these): build the
 * request, call the API, print a human table or, with `json`, the API's JSON. Output goes through `ClientIo`, so
 * tests capture it. Errors are thrown as ApiClientError; the CLI maps them to exit codes (api-client.ts ExitCodes).
 */
import type { ApiClient } from './api-client.ts'
import { ApiClientError } from './api-client.ts'

export interface ClientIo {
  out(line: string): void
  err(line: string): void
}

export interface ClientContext {
  client: ApiClient
  io: ClientIo
  json: boolean
}

/** The flags of `tasks create` / `tasks update`. */
export interface TaskFlags {
  id?: string
  name?: string
  category?: string
  type?: string
  cron?: string
  zone?: string
  every?: string
  at?: string
  delay?: string
  start?: string
  end?: string
  maxRuns?: string
  payload?: string
  label?: string[]
  tenant?: string
  maxAttempts?: string
  timeout?: string
  paused?: boolean
  file?: string
  wait?: boolean
}

type Row = Record<string, unknown>

/** `5000`, `500ms`, `5s`, `2m`, `1h`, `1d` → milliseconds. */
export function parseDurationMs(text: string, flag: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim())
  if (match === null) throw usage(`${flag}: ${JSON.stringify(text)} is not a duration (5000, 500ms, 5s, 2m, 1h, 1d)`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 'ms') as 'ms']
  return Number(match[1]) * unit
}

/** Epoch ms or an ISO 8601 instant → epoch ms. */
export function parseInstantMs(text: string, flag: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isFinite(ms))
    throw usage(`${flag}: ${JSON.stringify(text)} is not epoch milliseconds or an ISO 8601 instant`)
  return ms
}

function usage(detail: string): ApiClientError {
  return new ApiClientError({ status: 400, code: 'FLEXTASK_CLIENT_USAGE', detail })
}

/** The request body a set of flags describes, on top of `base` (a file, or the current definition on update). */
export function taskBodyFromFlags(flags: TaskFlags, base: Row = {}): Row {
  const body: Row = { ...base }
  const schedule: Row = { ...((base.schedule as Row | undefined) ?? {}) }
  const set = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value
  }
  set('taskId', flags.id)
  set('name', flags.name)
  set('category', flags.category)
  set('type', flags.type)
  set('tenant', flags.tenant)
  if (flags.paused !== undefined) body.paused = flags.paused
  if (flags.payload !== undefined) {
    try {
      body.payload = JSON.parse(flags.payload)
    } catch {
      throw usage(`--payload: must be JSON, got ${JSON.stringify(flags.payload)}`)
    }
  }
  if (flags.label !== undefined && flags.label.length > 0) {
    body.labels = {
      ...(body.labels ?? {}),
      ...Object.fromEntries(
        flags.label.map((l) => {
          const at = l.indexOf('=')
          if (at < 1) throw usage(`--label: ${JSON.stringify(l)} is not key=value`)
          return [l.slice(0, at), l.slice(at + 1)]
        }),
      ),
    }
  }
  const kinds = [flags.cron, flags.every, flags.at, flags.delay].filter((v) => v !== undefined).length
  if (kinds > 1) throw usage('give one of --cron, --every, --at, --delay')
  if (kinds === 1) {
    for (const field of ['cron', 'everyMs', 'atMs', 'delayMs']) schedule[field] = null
    if (flags.cron !== undefined) Object.assign(schedule, { kind: 'CRON', cron: flags.cron })
    if (flags.every !== undefined)
      Object.assign(schedule, { kind: 'INTERVAL', everyMs: parseDurationMs(flags.every, '--every') })
    if (flags.at !== undefined) Object.assign(schedule, { kind: 'ONE_SHOT', atMs: parseInstantMs(flags.at, '--at') })
    if (flags.delay !== undefined)
      Object.assign(schedule, { kind: 'DELAY', delayMs: parseDurationMs(flags.delay, '--delay') })
  }
  if (flags.zone !== undefined) schedule.timezone = flags.zone
  if (flags.start !== undefined) schedule.startAtMs = parseInstantMs(flags.start, '--start')
  if (flags.end !== undefined) schedule.endAtMs = parseInstantMs(flags.end, '--end')
  if (flags.maxRuns !== undefined) schedule.maxRuns = Number(flags.maxRuns)
  if (Object.keys(schedule).length > 0) body.schedule = schedule
  if (flags.maxAttempts !== undefined) {
    body.retry = { ...(body.retry ?? {}), maxAttempts: Number(flags.maxAttempts) }
  }
  if (flags.timeout !== undefined) body.timeoutMs = parseDurationMs(flags.timeout, '--timeout')
  return body
}

// ---- output ------------------------------------------------------------------------------------------------------

/** Columns padded to their widest cell; `—` for null. */
export { show }

export function formatTable(rows: Row[], columns: [header: string, cell: (row: Row) => unknown][]): string[] {
  const cells = rows.map((row) => columns.map(([, cell]) => show(cell(row))))
  const widths = columns.map(([header], i) => Math.max(header.length, ...cells.map((c) => c[i]!.length)))
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(columns.map(([h]) => h.toUpperCase())), ...cells.map(line)]
}

function show(value: unknown): string {
  if (value === null || value === undefined) return '—'
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${value}`
  return JSON.stringify(value)
}

export const iso = (ms: unknown): string | null => (typeof ms === 'number' ? new Date(ms).toISOString() : null)

function print(ctx: ClientContext, body: unknown, human: () => string[]): void {
  if (ctx.json) ctx.io.out(JSON.stringify(body, null, 2))
  else for (const line of human()) ctx.io.out(line)
}

function schedulePhrase(task: Row): string {
  const s = ((task.definition as Row | null)?.schedule ?? {}) as Row
  if (s.kind === 'CRON') return `cron ${String(s.cron)} ${String(s.timezone)}`
  if (s.kind === 'INTERVAL') return `every ${String(s.everyMs)} ms`
  if (s.kind === 'ONE_SHOT') return `at ${iso(s.atMs) ?? '?'}`
  if (s.kind === 'DELAY') return `${String(s.delayMs)} ms after creation`
  return '—'
}

const taskColumns: [string, (row: Row) => unknown][] = [
  ['task', (t) => t.taskId],
  ['status', (t) => t.status],
  ['category', (t) => t.category],
  ['type', (t) => t.type],
  ['schedule', schedulePhrase],
  ['next fire', (t) => iso(t.nextFireAtMs)],
  ['runs', (t) => (t.runs as Row).total],
  ['last', (t) => (t.lastRun as Row | null)?.status ?? null],
]

function writeSummary(answer: Row): string[] {
  const position = answer.position as Row | null
  const where =
    position === null ? 'no change written' : `written at ${String(position.topic)} ${String(position.token)}`
  return [`${String(answer.taskId)}: ${where}${answer.projected === true ? '' : ' (not yet in the read model)'}`]
}

// ---- commands ----------------------------------------------------------------------------------------------------

export async function createTask(ctx: ClientContext, flags: TaskFlags, fileBody?: Row): Promise<void> {
  const body = taskBodyFromFlags(flags, fileBody)
  const answer = await ctx.client.request<Row>('POST', '/api/tasks', { body, query: { wait: flags.wait } })
  print(ctx, answer.body, () => [
    ...writeSummary(answer.body),
    ...(answer.body.task == null ? [] : formatTable([answer.body.task as Row], taskColumns)),
  ])
}

export async function updateTask(ctx: ClientContext, taskId: string, flags: TaskFlags, fileBody?: Row): Promise<void> {
  const current = (await ctx.client.request<Row>('GET', `/api/tasks/${encodeURIComponent(taskId)}`)).body
  const definition = (current.definition ?? {}) as Row
  const keep = [
    'name',
    'category',
    'type',
    'payload',
    'schedule',
    'priority',
    'misfirePolicy',
    'maxLatenessMs',
    'overlapPolicy',
    'jitterMs',
    'timeoutMs',
    'retry',
    'paused',
    'labels',
    'tenant',
  ]
  const base = fileBody ?? Object.fromEntries(keep.filter((k) => k in definition).map((k) => [k, definition[k]]))
  const body = taskBodyFromFlags({ ...flags, id: undefined }, base)
  delete body.taskId
  const answer = await ctx.client.request<Row>('PUT', `/api/tasks/${encodeURIComponent(taskId)}`, {
    body,
    query: { wait: flags.wait },
    headers: { 'if-match': `"${String(definition.version)}"` },
  })
  print(ctx, answer.body, () => writeSummary(answer.body))
}

export async function listTasks(ctx: ClientContext, query: Record<string, string | undefined>): Promise<void> {
  const answer = await ctx.client.request<Row>('GET', '/api/tasks', { query })
  const items = answer.body.items as Row[]
  print(ctx, answer.body, () => [
    ...formatTable(items, taskColumns),
    `${items.length} of ${String(answer.body.total)} (page ${String(answer.body.page)})`,
  ])
}

export async function getTask(ctx: ClientContext, taskId: string): Promise<void> {
  const answer = await ctx.client.request<Row>('GET', `/api/tasks/${encodeURIComponent(taskId)}`)
  print(ctx, answer.body, () => [
    ...formatTable([answer.body], taskColumns),
    '',
    JSON.stringify(answer.body.definition, null, 2),
  ])
}

export async function setStatus(
  ctx: ClientContext,
  taskId: string,
  status: 'PAUSED' | 'ACTIVE',
  wait?: boolean,
): Promise<void> {
  const answer = await ctx.client.request<Row>('PUT', `/api/tasks/${encodeURIComponent(taskId)}/status`, {
    body: { status },
    query: { wait },
  })
  print(ctx, answer.body, () => [
    `${taskId}: ${status === 'PAUSED' ? 'paused' : 'resumed'}`,
    ...writeSummary(answer.body).slice(1),
  ])
}

export async function sendTaskCommand(
  ctx: ClientContext,
  taskId: string,
  action: 'trigger' | 'cancel' | 'retry',
  executionId?: string,
): Promise<void> {
  const answer = await ctx.client.request<Row>('POST', `/api/tasks/${encodeURIComponent(taskId)}/${action}`, {
    ...(action === 'trigger' ? {} : { body: executionId === undefined ? {} : { executionId } }),
  })
  const commands = answer.body.commands as Row[]
  print(ctx, answer.body, () =>
    commands.map(
      (c) =>
        `${taskId}: ${String(c.kind)}${c.executionId === null ? '' : ` ${show(c.executionId)}`} sent (${String((c.position as Row).token)})`,
    ),
  )
}

export async function deleteTask(ctx: ClientContext, taskId: string, wait?: boolean): Promise<void> {
  const answer = await ctx.client.request<Row>('DELETE', `/api/tasks/${encodeURIComponent(taskId)}`, {
    query: { wait },
  })
  print(ctx, answer.body, () => [`${taskId}: deleted`])
}

export async function listRuns(
  ctx: ClientContext,
  taskId: string,
  query: Record<string, string | undefined>,
): Promise<void> {
  const answer = await ctx.client.request<Row>('GET', `/api/tasks/${encodeURIComponent(taskId)}/executions`, { query })
  print(ctx, answer.body, () =>
    formatTable(answer.body.items as Row[], [
      ['execution', (r) => r.executionId],
      ['attempt', (r) => r.attempt],
      ['trigger', (r) => r.trigger],
      ['status', (r) => r.status],
      ['worker', (r) => r.worker],
      ['scheduled for', (r) => iso(r.scheduledForMs)],
      ['duration ms', (r) => r.durationMs],
      ['error', (r) => (r.error as Row | null)?.message ?? null],
    ]),
  )
}

export async function listOccurrences(
  ctx: ClientContext,
  taskId: string,
  query: Record<string, string | undefined>,
): Promise<void> {
  const answer = await ctx.client.request<Row>('GET', `/api/tasks/${encodeURIComponent(taskId)}/occurrences`, { query })
  print(ctx, answer.body, () =>
    formatTable(answer.body.items as Row[], [
      ['scheduled for', (o) => iso(o.scheduledForMs)],
      ['outcome', (o) => o.outcome],
      ['reason', (o) => o.reason],
      ['execution', (o) => o.executionId],
    ]),
  )
}

export async function nextInstants(ctx: ClientContext, taskId: string, count?: string): Promise<void> {
  const answer = await ctx.client.request<Row>('GET', `/api/tasks/${encodeURIComponent(taskId)}/next`, {
    query: { count },
  })
  print(ctx, answer.body, () => [
    ...(answer.body.paused === true ? [`${taskId} is paused; when resumed:`] : []),
    ...(answer.body.instants as Row[]).map((i) => String(i.at)),
  ])
}
