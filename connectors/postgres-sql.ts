/**
 * Every SQL statement of the Postgres sink (postgres-binds.ts binds rows to them). Nothing else in flextask
 * writes SQL text for the projection; the tables themselves are in `migrations/`.
 *
 * Writes are `INSERT … SELECT FROM unnest($1::text[], …) ON CONFLICT …`: one statement text and one plan per
 * table whatever the batch size, one bind parameter per column (measured fastest on this box: 61k rows/s against
 * 36k for multi-row VALUES and 25k for COPY into a staging table then merge; dependencies-round2.md §2.1).
 * Instants travel as epoch milliseconds and become timestamptz in SQL (`flextask_ms`), exactly.
 */
import type pg from 'pg'

/** What the statements run on: a pg Client (the sink holds one connection per worker loop). */
export type Queryable = Pick<pg.ClientBase, 'query'>

/** The projection's tables, in the order a rebuild empties them and a test compares them. */
export const projectionTables = [
  'tasks',
  'task_runs',
  'run_cancellations',
  'task_occurrences',
  'task_logs',
  'dead_letters',
] as const

/** Primary key columns per table, for stable ordering in comparisons. */
export const primaryKeys: Readonly<Record<(typeof projectionTables)[number], string>> = {
  tasks: 'task_id',
  task_runs: 'execution_id, attempt',
  run_cancellations: 'execution_id',
  task_occurrences: 'task_id, scheduled_for, outcome',
  task_logs: 'execution_id, attempt, seq',
  dead_letters: 'topic, partition, kafka_offset',
}

/** Run rows: on conflict the merge of projection.ts `mergeRun`, in SQL. */
const winsExpr = 'flextask_run_status_rank(excluded.reported_status) > flextask_run_status_rank(r.reported_status)'
const firstSeen = (column: string): string => `${column} = coalesce(r.${column}, excluded.${column})`
const winnerOnly = (column: string): string =>
  `${column} = CASE WHEN ${winsExpr} THEN excluded.${column} ELSE r.${column} END`
const fromWinner = (column: string): string =>
  `${column} = CASE WHEN ${winsExpr} THEN coalesce(excluded.${column}, r.${column}) ` +
  `ELSE coalesce(r.${column}, excluded.${column}) END`

export const sql = {
  migrations: {
    lock: `SELECT pg_advisory_lock(hashtext('flextask.sink.migrations'))`,
    unlock: `SELECT pg_advisory_unlock(hashtext('flextask.sink.migrations'))`,
    createTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    applied: `SELECT version, name, sha256 FROM schema_migrations ORDER BY version`,
    record: `INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)`,
  },
  offsets: {
    ensure: `INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset)
      SELECT $1, v.topic, v.partition, 0 FROM unnest($2::text[], $3::int[]) AS v(topic, partition)
      ON CONFLICT DO NOTHING`,
    read: `SELECT o.topic, o.partition, o.next_offset::text AS next_offset FROM sink_offsets o
      JOIN unnest($2::text[], $3::int[]) AS v(topic, partition) ON o.topic = v.topic AND o.partition = v.partition
      WHERE o.consumer_group = $1`,
    /** Compare-and-set: only rows that still hold the expected offset move (see the migration's comment). */
    advance: `UPDATE sink_offsets o SET next_offset = v.next_offset, written_by = $2, updated_at = now()
      FROM unnest($3::text[], $4::int[], $5::bigint[], $6::bigint[]) AS v(topic, partition, expected, next_offset)
      WHERE o.consumer_group = $1 AND o.topic = v.topic AND o.partition = v.partition AND o.next_offset = v.expected
      RETURNING o.topic, o.partition`,
    forget: `DELETE FROM sink_offsets WHERE consumer_group = $1`,
  },
  tasks: {
    upsert: `INSERT INTO tasks AS t (task_id, name, category, type, tenant, labels, status, definition,
        definition_version, schedule_kind, created_at, updated_at, deleted_at)
      SELECT v.task_id, v.name, v.category, v.type, v.tenant, v.labels, v.status, v.definition, v.version, v.kind,
        flextask_ms(v.created_at), flextask_ms(v.updated_at), NULL
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::jsonb[],
        $9::int[], $10::text[], $11::bigint[], $12::bigint[])
        AS v(task_id, name, category, type, tenant, labels, status, definition, version, kind, created_at, updated_at)
      ON CONFLICT (task_id) DO UPDATE SET name = excluded.name, category = excluded.category, type = excluded.type,
        tenant = excluded.tenant, labels = excluded.labels, status = excluded.status, definition = excluded.definition,
        definition_version = excluded.definition_version, schedule_kind = excluded.schedule_kind,
        created_at = excluded.created_at, updated_at = excluded.updated_at, deleted_at = NULL`,
    /** A tombstone marks the task DELETED and keeps its row (runs and counters stay readable). */
    markDeleted: `INSERT INTO tasks AS t (task_id, status, deleted_at)
      SELECT v.task_id, 'DELETED', flextask_ms(v.deleted_at) FROM unnest($1::text[], $2::bigint[]) AS v(task_id, deleted_at)
      ON CONFLICT (task_id) DO UPDATE SET status = 'DELETED', deleted_at = excluded.deleted_at, next_fire_at = NULL`,
    forSchedule: `SELECT task_id, status, definition,
        (extract(epoch FROM last_scheduled_for) * 1000)::bigint::text AS last_scheduled_for_ms
      FROM tasks WHERE task_id = ANY($1::text[])`,
    /** The latest slot with an occurrence and the next fire after it, one write per task and batch. */
    setSchedule: `INSERT INTO tasks AS t (task_id, last_scheduled_for, next_fire_at)
      SELECT v.task_id, flextask_ms(v.last_ms), flextask_ms(v.next_ms)
      FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(task_id, last_ms, next_ms)
      ON CONFLICT (task_id) DO UPDATE
        SET last_scheduled_for = excluded.last_scheduled_for, next_fire_at = excluded.next_fire_at
        WHERE (t.last_scheduled_for, t.next_fire_at) IS DISTINCT FROM (excluded.last_scheduled_for, excluded.next_fire_at)`,
  },
  runs: {
    upsert: `INSERT INTO task_runs AS r (execution_id, attempt, task_id, category, type, tenant, labels, trigger,
        priority, definition_version, scheduled_for, due_at, fired_at, deadline_at, started_at, finished_at,
        duration_ms, worker, status, reported_status, error_code, error_message, error_retriable, output)
      SELECT v.execution_id, v.attempt, v.task_id, v.category, v.type, v.tenant, v.labels, v.trigger, v.priority,
        v.definition_version, flextask_ms(v.scheduled_for), flextask_ms(v.due_at), flextask_ms(v.fired_at),
        flextask_ms(v.deadline_at), flextask_ms(v.started_at), flextask_ms(v.finished_at), v.duration_ms, v.worker,
        v.status, v.status, v.error_code, v.error_message, v.error_retriable, v.output
      FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[],
        $9::int[], $10::int[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[],
        $16::bigint[], $17::bigint[], $18::text[], $19::text[], $20::text[], $21::text[], $22::bool[], $23::text[])
        AS v(execution_id, attempt, task_id, category, type, tenant, labels, trigger, priority, definition_version,
          scheduled_for, due_at, fired_at, deadline_at, started_at, finished_at, duration_ms, worker, status,
          error_code, error_message, error_retriable, output)
      ON CONFLICT (execution_id, attempt) DO UPDATE SET
        ${['category', 'type', 'tenant', 'labels', 'trigger', 'priority', 'definition_version']
          .concat(['scheduled_for', 'due_at', 'fired_at', 'deadline_at', 'started_at', 'worker'])
          .map(firstSeen)
          .join(', ')},
        ${['finished_at', 'duration_ms'].map(fromWinner).join(', ')},
        ${['error_code', 'error_message', 'error_retriable', 'output'].map(winnerOnly).join(', ')},
        reported_status = CASE WHEN ${winsExpr} THEN excluded.reported_status ELSE r.reported_status END,
        status = CASE WHEN ${winsExpr} THEN excluded.reported_status ELSE r.reported_status END`,
    /**
     * A cancelled execution shows CANCELLED on its latest attempt and what was reported on the others; run for the
     * executions touched by a batch after their rows and cancellations are written.
     */
    applyCancellations: `UPDATE task_runs r
      SET status = CASE WHEN r.attempt = m.max_attempt THEN 'CANCELLED' ELSE r.reported_status END
      FROM (SELECT execution_id, max(attempt) AS max_attempt FROM task_runs
            WHERE execution_id = ANY($1::text[])
              AND execution_id IN (SELECT execution_id FROM run_cancellations WHERE execution_id = ANY($1::text[]))
            GROUP BY execution_id) m
      WHERE r.execution_id = m.execution_id
        AND r.status IS DISTINCT FROM (CASE WHEN r.attempt = m.max_attempt THEN 'CANCELLED' ELSE r.reported_status END)`,
  },
  cancellations: {
    upsert: `INSERT INTO run_cancellations (execution_id, task_id, cancelled_at, reason)
      SELECT v.execution_id, v.task_id, flextask_ms(v.cancelled_at), v.reason
      FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS v(execution_id, task_id, cancelled_at, reason)
      ON CONFLICT (execution_id) DO UPDATE SET cancelled_at = excluded.cancelled_at, reason = excluded.reason`,
  },
  occurrences: {
    upsert: `INSERT INTO task_occurrences AS o (task_id, scheduled_for, outcome, execution_id, reason, recorded_at)
      SELECT v.task_id, flextask_ms(v.scheduled_for), v.outcome, v.execution_id, v.reason, flextask_ms(v.recorded_at)
      FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])
        AS v(task_id, scheduled_for, outcome, execution_id, reason, recorded_at)
      ON CONFLICT (task_id, scheduled_for, outcome) DO UPDATE SET execution_id = excluded.execution_id,
        reason = excluded.reason, recorded_at = excluded.recorded_at`,
  },
  logs: {
    upsert: `INSERT INTO task_logs AS l (execution_id, attempt, seq, task_id, level, message, fields, logged_at, worker)
      SELECT v.execution_id, v.attempt, v.seq, v.task_id, v.level, v.message, v.fields, flextask_ms(v.logged_at), v.worker
      FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::bigint[],
        $9::text[]) AS v(execution_id, attempt, seq, task_id, level, message, fields, logged_at, worker)
      ON CONFLICT (execution_id, attempt, seq) DO UPDATE SET task_id = excluded.task_id, level = excluded.level,
        message = excluded.message, fields = excluded.fields, logged_at = excluded.logged_at, worker = excluded.worker`,
  },
  deadLetters: {
    insert: `INSERT INTO dead_letters (topic, partition, kafka_offset, source_topic, source_partition, source_offset,
        reason_code, message, task_id, execution_id, record_key, original_value, failed_at)
      SELECT v.topic, v.partition, v.kafka_offset, v.source_topic, v.source_partition, v.source_offset, v.reason_code,
        v.message, v.task_id, v.execution_id, v.record_key, v.original_value, flextask_ms(v.failed_at)
      FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::int[], $6::bigint[], $7::text[], $8::text[],
        $9::text[], $10::text[], $11::bytea[], $12::bytea[], $13::bigint[])
        AS v(topic, partition, kafka_offset, source_topic, source_partition, source_offset, reason_code, message,
          task_id, execution_id, record_key, original_value, failed_at)
      ON CONFLICT (topic, partition, kafka_offset) DO NOTHING`,
  },
  /** Bounded deletes of rows older than a cutoff ($1, epoch ms), at most $2 rows per statement. */
  retention: {
    task_runs: `DELETE FROM task_runs WHERE ctid = ANY (ARRAY(SELECT ctid FROM task_runs
      WHERE scheduled_for < flextask_ms($1) OR (scheduled_for IS NULL AND finished_at < flextask_ms($1)) LIMIT $2))`,
    task_occurrences: `DELETE FROM task_occurrences WHERE ctid = ANY (ARRAY(SELECT ctid FROM task_occurrences
      WHERE scheduled_for < flextask_ms($1) LIMIT $2))`,
    task_logs: `DELETE FROM task_logs WHERE ctid = ANY (ARRAY(SELECT ctid FROM task_logs
      WHERE logged_at < flextask_ms($1) LIMIT $2))`,
    dead_letters: `DELETE FROM dead_letters WHERE ctid = ANY (ARRAY(SELECT ctid FROM dead_letters
      WHERE failed_at < flextask_ms($1) LIMIT $2))`,
    run_cancellations: `DELETE FROM run_cancellations WHERE ctid = ANY (ARRAY(SELECT ctid FROM run_cancellations
      WHERE cancelled_at < flextask_ms($1) LIMIT $2))`,
    tasks: `DELETE FROM tasks WHERE ctid = ANY (ARRAY(SELECT ctid FROM tasks
      WHERE status = 'DELETED' AND deleted_at < flextask_ms($1) LIMIT $2))`,
  },
  rebuild: {
    truncate: `TRUNCATE ${projectionTables.join(', ')}`,
  },
  session: {
    /** Server-side bound on one statement: a slow statement fails (57014, retried) instead of hanging. */
    statementTimeout: (ms: number): string => `SET statement_timeout = ${Math.trunc(ms)}`,
  },
} as const
