/**
 * ReadModel over the sink's Postgres projection (connectors/migrations): tables tasks, task_runs, task_logs,
 * task_occurrences, dead_letters and sink_offsets. All SQL of the API is in this file. Read only: the API never
 * writes these tables, the sink owns them.
 */
import pg from 'pg'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type {
  DeadLetterView,
  ExecutionView,
  LogView,
  MonitorSummary,
  OccurrenceView,
  Page,
  PageRequest,
  ReadModel,
  RunView,
  TaskFilter,
  TaskView,
} from './read-model.ts'

const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`

const taskColumns = `task_id, name, category, type, tenant, labels, status, definition, definition_version,
  ${ms('created_at')} AS created_ms, ${ms('updated_at')} AS updated_ms, ${ms('next_fire_at')} AS next_ms,
  ${ms('last_scheduled_for')} AS last_slot_ms, runs_total, runs_pending, runs_processing, runs_succeeded,
  runs_failed, runs_skipped, runs_timed_out, runs_dead, runs_cancelled, last_execution_id, last_attempt,
  last_status, ${ms('last_finished_at')} AS last_finished_ms`

const runColumns = `execution_id, attempt, task_id, trigger, status, worker, ${ms('scheduled_for')} AS scheduled_ms,
  ${ms('due_at')} AS due_ms, ${ms('fired_at')} AS fired_ms, ${ms('started_at')} AS started_ms,
  ${ms('finished_at')} AS finished_ms, duration_ms, error_code, error_message, error_retriable, output`

const sql = {
  task: `SELECT ${taskColumns} FROM tasks WHERE task_id = $1 AND status <> 'DELETED' AND definition IS NOT NULL`,
  runs: `SELECT ${runColumns}, count(*) OVER () AS total FROM task_runs WHERE task_id = $1
    ORDER BY scheduled_for DESC NULLS LAST, execution_id DESC, attempt DESC LIMIT $2 OFFSET $3`,
  execution: `SELECT ${runColumns} FROM task_runs WHERE execution_id = $1 ORDER BY attempt`,
  logs: `SELECT attempt, seq, level, message, fields, ${ms('logged_at')} AS logged_ms, worker FROM task_logs
    WHERE execution_id = $1 ORDER BY attempt, seq LIMIT 10000`,
  occurrences: `SELECT ${ms('scheduled_for')} AS scheduled_ms, outcome, reason, execution_id,
      ${ms('recorded_at')} AS recorded_ms
    FROM task_occurrences WHERE task_id = $1 AND scheduled_for BETWEEN flextask_ms($2) AND flextask_ms($3)
    ORDER BY scheduled_for, recorded_at LIMIT $4`,
  offset: `SELECT next_offset FROM sink_offsets WHERE consumer_group = $1 AND topic = $2 AND partition = $3`,
  tasksByStatus: `SELECT status, count(*)::int AS n FROM tasks GROUP BY status`,
  runsByStatus: `SELECT status, count(*)::int AS n FROM task_runs GROUP BY status`,
  lastHour: `SELECT count(*) FILTER (WHERE attempt = 1)::int AS fires,
      count(*) FILTER (WHERE status IN ('FAILED', 'TIMED_OUT', 'DEAD'))::int AS failures,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY ${ms('fired_at')} - ${ms('due_at')}) FILTER (WHERE attempt = 1) AS p50,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY ${ms('fired_at')} - ${ms('due_at')}) FILTER (WHERE attempt = 1) AS p95,
      percentile_cont(0.99) WITHIN GROUP (ORDER BY ${ms('fired_at')} - ${ms('due_at')}) FILTER (WHERE attempt = 1) AS p99,
      max(${ms('fired_at')} - ${ms('due_at')}) FILTER (WHERE attempt = 1) AS max
    FROM task_runs WHERE fired_at >= flextask_ms($1)`,
}

type Row = Record<string, unknown>

const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value))
const str = (value: unknown): string | null =>
  typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'bigint' ? String(value) : null

export interface PostgresReadModelOptions {
  /** The sink's consumer group: sink_offsets.consumer_group of the offsets read-your-writes waits for. */
  projectionGroupId: string
  /** @default 8 */
  maxConnections?: number
}

export class PostgresReadModel implements ReadModel {
  readonly #pool: pg.Pool
  readonly #groupId: string

  constructor(pool: pg.Pool | pg.PoolConfig, options: PostgresReadModelOptions) {
    this.#pool = pool instanceof pg.Pool ? pool : new pg.Pool({ max: options.maxConnections ?? 8, ...pool })
    this.#groupId = options.projectionGroupId
  }

  async getTask(taskId: string): Promise<TaskView | null> {
    const { rows } = await this.#pool.query<Row>(sql.task, [taskId])
    return rows[0] === undefined ? null : toTask(rows[0])
  }

  async listTasks(filter: TaskFilter, page: PageRequest): Promise<Page<TaskView>> {
    const where = [`status <> 'DELETED'`, 'definition IS NOT NULL']
    const params: unknown[] = []
    const add = (clause: (p: string) => string, value: unknown) => {
      params.push(value)
      where.push(clause(`$${params.length}`))
    }
    if (filter.category !== undefined) add((p) => `category = ${p}`, filter.category)
    if (filter.type !== undefined) add((p) => `type = ${p}`, filter.type)
    if (filter.status !== undefined) add((p) => `status = ${p}`, filter.status)
    if (filter.tenant !== undefined) add((p) => `tenant = ${p}`, filter.tenant)
    if (filter.q !== undefined) {
      add((p) => `(task_id ILIKE ${p} OR name ILIKE ${p})`, `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
    }
    if (filter.label !== undefined) {
      const at = filter.label.indexOf('=')
      if (at < 0) add((p) => `labels ? ${p}`, filter.label)
      else
        add((p) => `labels @> ${p}::jsonb`, JSON.stringify({ [filter.label.slice(0, at)]: filter.label.slice(at + 1) }))
    }
    params.push(page.size, page.page * page.size)
    const { rows } = await this.#pool.query<Row>(
      `SELECT ${taskColumns}, count(*) OVER () AS total FROM tasks WHERE ${where.join(' AND ')}
       ORDER BY task_id LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    )
    return { items: rows.map(toTask), page: page.page, size: page.size, total: await this.#total(rows, where, params) }
  }

  /** count(*) OVER () is absent when the page is past the end; count separately then. */
  async #total(rows: Row[], where: string[], params: unknown[]): Promise<number> {
    if (rows[0] !== undefined) return Number(rows[0].total)
    const { rows: counted } = await this.#pool.query<Row>(
      `SELECT count(*)::int AS n FROM tasks WHERE ${where.join(' AND ')}`,
      params.slice(0, -2),
    )
    return Number(counted[0]?.n ?? 0)
  }

  async listRuns(taskId: string, page: PageRequest): Promise<Page<RunView>> {
    const { rows } = await this.#pool.query<Row>(sql.runs, [taskId, page.size, page.page * page.size])
    let total = Number(rows[0]?.total ?? 0)
    if (rows.length === 0 && page.page > 0) {
      const counted = await this.#pool.query<Row>('SELECT count(*)::int AS n FROM task_runs WHERE task_id = $1', [
        taskId,
      ])
      total = Number(counted.rows[0]?.n ?? 0)
    }
    return { items: rows.map(toRun), page: page.page, size: page.size, total }
  }

  async getExecution(executionId: string): Promise<ExecutionView | null> {
    const [runs, logs] = await Promise.all([
      this.#pool.query<Row>(sql.execution, [executionId]),
      this.#pool.query<Row>(sql.logs, [executionId]),
    ])
    const first = runs.rows[0]
    if (first === undefined) return null
    return { executionId, taskId: String(first.task_id), attempts: runs.rows.map(toRun), logs: logs.rows.map(toLog) }
  }

  async listOccurrences(taskId: string, fromMs: number, toMs: number, limit: number): Promise<OccurrenceView[]> {
    const { rows } = await this.#pool.query<Row>(sql.occurrences, [taskId, fromMs, toMs, limit])
    return rows.map((r) => ({
      scheduledForMs: Number(r.scheduled_ms),
      outcome: String(r.outcome),
      reason: str(r.reason),
      executionId: str(r.execution_id),
      recordedAtMs: Number(r.recorded_ms),
    }))
  }

  async listDeadLetters(
    filter: { taskId?: string; reasonCode?: string },
    page: PageRequest,
  ): Promise<Page<DeadLetterView>> {
    const where = ['true']
    const params: unknown[] = []
    if (filter.taskId !== undefined) {
      params.push(filter.taskId)
      where.push(`task_id = $${params.length}`)
    }
    if (filter.reasonCode !== undefined) {
      params.push(filter.reasonCode)
      where.push(`reason_code = $${params.length}`)
    }
    const counted = await this.#pool.query<Row>(
      `SELECT count(*)::int AS n FROM dead_letters WHERE ${where.join(' AND ')}`,
      params,
    )
    params.push(page.size, page.page * page.size)
    const { rows } = await this.#pool.query<Row>(
      `SELECT topic, partition, kafka_offset, source_topic, source_partition, source_offset, reason_code, message,
         task_id, execution_id, ${ms('failed_at')} AS failed_ms
       FROM dead_letters WHERE ${where.join(' AND ')}
       ORDER BY failed_at DESC, topic, partition, kafka_offset DESC LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    )
    return {
      items: rows.map((r) => ({
        topic: String(r.topic),
        partition: Number(r.partition),
        offset: String(r.kafka_offset),
        sourceTopic: String(r.source_topic),
        sourcePartition: Number(r.source_partition),
        sourceOffset: String(r.source_offset),
        reasonCode: String(r.reason_code),
        message: String(r.message),
        taskId: str(r.task_id),
        executionId: str(r.execution_id),
        failedAtMs: Number(r.failed_ms),
      })),
      page: page.page,
      size: page.size,
      total: Number(counted.rows[0]?.n ?? 0),
    }
  }

  async summary(nowMs: number): Promise<MonitorSummary> {
    const [tasks, runs, hour] = await Promise.all([
      this.#pool.query<Row>(sql.tasksByStatus),
      this.#pool.query<Row>(sql.runsByStatus),
      this.#pool.query<Row>(sql.lastHour, [nowMs - 3_600_000]),
    ])
    const byStatus = (rows: Row[]) => Object.fromEntries(rows.map((r) => [String(r.status), Number(r.n)]))
    const h = hour.rows[0] ?? {}
    return {
      tasksByStatus: byStatus(tasks.rows),
      runsByStatus: byStatus(runs.rows),
      firesLastHour: Number(h.fires ?? 0),
      failuresLastHour: Number(h.failures ?? 0),
      latenessMs:
        h.p50 === null || h.p50 === undefined
          ? null
          : { p50: Number(h.p50), p95: Number(h.p95), p99: Number(h.p99), max: Number(h.max) },
    }
  }

  async consumedOffset(topic: string, partition: number): Promise<bigint | null> {
    const { rows } = await this.#pool.query<Row>(sql.offset, [this.#groupId, topic, partition])
    return rows[0] === undefined ? null : BigInt(String(rows[0].next_offset))
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1 FROM sink_offsets LIMIT 1')
  }

  async close(): Promise<void> {
    await this.#pool.end()
  }
}

function toTask(r: Row): TaskView {
  return {
    taskId: String(r.task_id),
    name: str(r.name),
    category: str(r.category),
    type: str(r.type),
    tenant: str(r.tenant),
    labels: (r.labels ?? {}) as Record<string, string>,
    status: String(r.status),
    version: num(r.definition_version),
    definition: (r.definition ?? null) as TaskDefinition | null,
    createdAtMs: num(r.created_ms),
    updatedAtMs: num(r.updated_ms),
    nextFireAtMs: num(r.next_ms),
    lastScheduledForMs: num(r.last_slot_ms),
    runs: {
      total: Number(r.runs_total),
      pending: Number(r.runs_pending),
      processing: Number(r.runs_processing),
      succeeded: Number(r.runs_succeeded),
      failed: Number(r.runs_failed),
      skipped: Number(r.runs_skipped),
      timedOut: Number(r.runs_timed_out),
      dead: Number(r.runs_dead),
      cancelled: Number(r.runs_cancelled),
    },
    lastRun:
      r.last_execution_id === null || r.last_execution_id === undefined
        ? null
        : {
            executionId: str(r.last_execution_id) ?? '',
            attempt: Number(r.last_attempt),
            status: String(r.last_status),
            finishedAtMs: num(r.last_finished_ms),
          },
  }
}

function toRun(r: Row): RunView {
  const hasError = r.error_code !== null || r.error_message !== null
  return {
    executionId: String(r.execution_id),
    attempt: Number(r.attempt),
    taskId: String(r.task_id),
    trigger: str(r.trigger),
    status: String(r.status),
    worker: str(r.worker),
    scheduledForMs: num(r.scheduled_ms),
    dueAtMs: num(r.due_ms),
    firedAtMs: num(r.fired_ms),
    startedAtMs: num(r.started_ms),
    finishedAtMs: num(r.finished_ms),
    durationMs: num(r.duration_ms),
    error: hasError
      ? {
          code: str(r.error_code),
          message: str(r.error_message),
          retriable: r.error_retriable === null ? null : Boolean(r.error_retriable),
        }
      : null,
    output: str(r.output),
  }
}

function toLog(r: Row): LogView {
  return {
    attempt: Number(r.attempt),
    seq: Number(r.seq),
    level: String(r.level),
    message: String(r.message),
    fields: (r.fields ?? null) as Record<string, unknown> | null,
    loggedAtMs: Number(r.logged_ms),
    worker: str(r.worker),
  }
}
