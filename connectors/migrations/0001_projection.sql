-- The Postgres projection of the flextask topics (read model). Kafka is the source of truth: every row here can
-- be rebuilt by replaying the topics (`flextask connector --rebuild`). Released migrations are never edited;
-- change the schema in a new numbered file.

-- Consumed offsets, written in the same transaction as the rows they produced. The sink resumes from here (not
-- from Kafka's committed offsets) and advances a row only when it still holds the offset this sink resumed from
-- or last wrote (compare-and-set), so a sink that lost the partition in a rebalance fails its write.
CREATE TABLE sink_offsets (
  consumer_group text NOT NULL,
  topic text NOT NULL,
  partition int NOT NULL,
  next_offset bigint NOT NULL,
  written_by text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);

-- Epoch milliseconds (how every instant travels on the topics) to timestamptz, exactly.
CREATE FUNCTION flextask_ms(ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT timestamptz '1970-01-01 00:00:00+00' + ms * interval '1 millisecond'
$$;

-- Terminal statuses rank above the live ones; a row's status only moves up (see connectors/run-status.ts).
CREATE FUNCTION flextask_run_status_rank(status text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE status
    WHEN 'PENDING' THEN 0
    WHEN 'PROCESSING' THEN 1
    WHEN 'SUCCEEDED' THEN 2
    WHEN 'FAILED' THEN 2
    WHEN 'SKIPPED' THEN 2
    WHEN 'TIMED_OUT' THEN 3
    WHEN 'DEAD' THEN 4
    WHEN 'CANCELLED' THEN 5
    ELSE -1
  END
$$;

-- One row per task: the current definition (a tombstone marks it DELETED), run counters and the last result.
CREATE TABLE tasks (
  task_id text PRIMARY KEY,
  name text,
  category text,
  type text,
  tenant text,
  labels jsonb NOT NULL DEFAULT '{}',
  -- ACTIVE | PAUSED | INVALID (the scheduler dead-letters it) | DELETED, or UNKNOWN while runs are known but
  -- the definition is not (yet).
  status text NOT NULL DEFAULT 'UNKNOWN',
  definition jsonb,
  definition_version int,
  schedule_kind text,
  created_at timestamptz,
  updated_at timestamptz,
  deleted_at timestamptz,
  -- The latest slot with an occurrence, and the next slot of the schedule after it (null when paused/deleted/none).
  last_scheduled_for timestamptz,
  next_fire_at timestamptz,
  -- Counters of the task_runs rows held, by status (kept by a trigger on task_runs).
  runs_total bigint NOT NULL DEFAULT 0,
  runs_pending bigint NOT NULL DEFAULT 0,
  runs_processing bigint NOT NULL DEFAULT 0,
  runs_succeeded bigint NOT NULL DEFAULT 0,
  runs_failed bigint NOT NULL DEFAULT 0,
  runs_skipped bigint NOT NULL DEFAULT 0,
  runs_timed_out bigint NOT NULL DEFAULT 0,
  runs_dead bigint NOT NULL DEFAULT 0,
  runs_cancelled bigint NOT NULL DEFAULT 0,
  -- The terminal run with the latest finished_at.
  last_execution_id text,
  last_attempt int,
  last_status text,
  last_finished_at timestamptz
) WITH (fillfactor = 70); -- room for HOT updates: the counters change with every batch, no index covers them
CREATE INDEX tasks_category ON tasks (category, task_id);
CREATE INDEX tasks_status ON tasks (status, task_id);
CREATE INDEX tasks_tenant ON tasks (tenant, task_id);
CREATE INDEX tasks_next_fire_at ON tasks (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX tasks_labels ON tasks USING gin (labels jsonb_path_ops);

-- One row per attempt of an execution: created PENDING by the execution record, merged with its results.
CREATE TABLE task_runs (
  execution_id text NOT NULL,
  attempt int NOT NULL,
  task_id text NOT NULL,
  category text,
  type text,
  tenant text,
  labels jsonb,
  trigger text,
  priority int,
  definition_version int,
  scheduled_for timestamptz,
  due_at timestamptz,
  fired_at timestamptz,
  deadline_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  duration_ms bigint,
  worker text,
  -- PENDING | PROCESSING | SUCCEEDED | FAILED | SKIPPED | TIMED_OUT | DEAD | CANCELLED
  status text NOT NULL,
  -- The status reported by executions and results alone; status is CANCELLED instead when the execution was
  -- cancelled and this is its latest attempt.
  reported_status text NOT NULL,
  error_code text,
  error_message text,
  error_retriable boolean,
  output text,
  PRIMARY KEY (execution_id, attempt)
);
CREATE INDEX task_runs_task ON task_runs (task_id, scheduled_for DESC);
CREATE INDEX task_runs_status ON task_runs (status, scheduled_for DESC);
CREATE INDEX task_runs_category ON task_runs (category, scheduled_for DESC);
CREATE INDEX task_runs_tenant ON task_runs (tenant, scheduled_for DESC);
CREATE INDEX task_runs_scheduled_for ON task_runs (scheduled_for);
CREATE INDEX task_runs_labels ON task_runs USING gin (labels jsonb_path_ops);

-- Executions cancelled while in flight (occurrence CANCELLED with an executionId).
CREATE TABLE run_cancellations (
  execution_id text PRIMARY KEY,
  task_id text NOT NULL,
  cancelled_at timestamptz NOT NULL,
  reason text
);

-- Every scheduled instant of a task with its outcome. An instant that fired and later died has two rows.
CREATE TABLE task_occurrences (
  task_id text NOT NULL,
  scheduled_for timestamptz NOT NULL,
  -- FIRED | SKIPPED | MISSED | PAUSED | CANCELLED | DEAD
  outcome text NOT NULL,
  execution_id text,
  reason text,
  recorded_at timestamptz NOT NULL,
  PRIMARY KEY (task_id, scheduled_for, outcome)
);
CREATE INDEX task_occurrences_outcome ON task_occurrences (outcome, scheduled_for DESC);
CREATE INDEX task_occurrences_execution ON task_occurrences (execution_id) WHERE execution_id IS NOT NULL;
CREATE INDEX task_occurrences_scheduled_for ON task_occurrences (scheduled_for);

-- Handler log lines, by their natural key.
CREATE TABLE task_logs (
  execution_id text NOT NULL,
  attempt int NOT NULL,
  seq int NOT NULL,
  task_id text NOT NULL,
  level text NOT NULL,
  message text NOT NULL,
  fields jsonb,
  logged_at timestamptz NOT NULL,
  worker text,
  PRIMARY KEY (execution_id, attempt, seq)
);
CREATE INDEX task_logs_task ON task_logs (task_id, logged_at DESC);
CREATE INDEX task_logs_logged_at ON task_logs (logged_at);

-- Dead letters, keyed by where the dead letter itself sits on the dead-letter topic.
CREATE TABLE dead_letters (
  topic text NOT NULL,
  partition int NOT NULL,
  kafka_offset bigint NOT NULL,
  source_topic text NOT NULL,
  source_partition int NOT NULL,
  source_offset bigint NOT NULL,
  reason_code text NOT NULL,
  message text NOT NULL,
  task_id text,
  execution_id text,
  record_key bytea,
  original_value bytea,
  failed_at timestamptz NOT NULL,
  PRIMARY KEY (topic, partition, kafka_offset)
);
CREATE INDEX dead_letters_reason ON dead_letters (reason_code, failed_at DESC);
CREATE INDEX dead_letters_task ON dead_letters (task_id, failed_at DESC) WHERE task_id IS NOT NULL;
CREATE INDEX dead_letters_failed_at ON dead_letters (failed_at);

-- Run counters and the last result on tasks, from the rows themselves: exact whatever order the topics are read
-- in, and whichever sink writes the row. Statement-level triggers with transition tables: one upsert per task and
-- statement, not per row (a per-row trigger made the runs upsert 5x slower).
-- Applies status changes of existing run rows (new status NULL = the row was deleted) to the task counters.
CREATE FUNCTION flextask_apply_run_changes(task_ids text[], old_statuses text[], new_statuses text[])
RETURNS void LANGUAGE sql AS $$
  UPDATE tasks t SET
    runs_total = t.runs_total + d.total,
    runs_pending = t.runs_pending + d.pending,
    runs_processing = t.runs_processing + d.processing,
    runs_succeeded = t.runs_succeeded + d.succeeded,
    runs_failed = t.runs_failed + d.failed,
    runs_skipped = t.runs_skipped + d.skipped,
    runs_timed_out = t.runs_timed_out + d.timed_out,
    runs_dead = t.runs_dead + d.dead,
    runs_cancelled = t.runs_cancelled + d.cancelled
  FROM (
    SELECT c.task_id,
           sum(CASE WHEN c.new_status IS NULL THEN -1 ELSE 0 END) AS total,
           sum((c.new_status IS NOT DISTINCT FROM 'PENDING')::int - (c.old_status = 'PENDING')::int) AS pending,
           sum((c.new_status IS NOT DISTINCT FROM 'PROCESSING')::int - (c.old_status = 'PROCESSING')::int) AS processing,
           sum((c.new_status IS NOT DISTINCT FROM 'SUCCEEDED')::int - (c.old_status = 'SUCCEEDED')::int) AS succeeded,
           sum((c.new_status IS NOT DISTINCT FROM 'FAILED')::int - (c.old_status = 'FAILED')::int) AS failed,
           sum((c.new_status IS NOT DISTINCT FROM 'SKIPPED')::int - (c.old_status = 'SKIPPED')::int) AS skipped,
           sum((c.new_status IS NOT DISTINCT FROM 'TIMED_OUT')::int - (c.old_status = 'TIMED_OUT')::int) AS timed_out,
           sum((c.new_status IS NOT DISTINCT FROM 'DEAD')::int - (c.old_status = 'DEAD')::int) AS dead,
           sum((c.new_status IS NOT DISTINCT FROM 'CANCELLED')::int - (c.old_status = 'CANCELLED')::int) AS cancelled
    FROM unnest(task_ids, old_statuses, new_statuses) AS c(task_id, old_status, new_status)
    WHERE c.new_status IS DISTINCT FROM c.old_status
    GROUP BY c.task_id
  ) d
  WHERE t.task_id = d.task_id
$$;

-- Transition tables have no statistics: without the setting the planner joins old and new rows in a nested loop
-- (100 ms for 700 updated rows instead of 2 ms).
CREATE FUNCTION flextask_count_runs() RETURNS trigger LANGUAGE plpgsql SET enable_nestloop = off AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO tasks AS t (task_id, runs_total, runs_pending, runs_processing, runs_succeeded, runs_failed,
                            runs_skipped, runs_timed_out, runs_dead, runs_cancelled)
    SELECT task_id, count(*),
           count(*) FILTER (WHERE status = 'PENDING'), count(*) FILTER (WHERE status = 'PROCESSING'),
           count(*) FILTER (WHERE status = 'SUCCEEDED'), count(*) FILTER (WHERE status = 'FAILED'),
           count(*) FILTER (WHERE status = 'SKIPPED'), count(*) FILTER (WHERE status = 'TIMED_OUT'),
           count(*) FILTER (WHERE status = 'DEAD'), count(*) FILTER (WHERE status = 'CANCELLED')
    FROM new_rows GROUP BY task_id ORDER BY task_id
    ON CONFLICT (task_id) DO UPDATE SET
      runs_total = t.runs_total + excluded.runs_total,
      runs_pending = t.runs_pending + excluded.runs_pending,
      runs_processing = t.runs_processing + excluded.runs_processing,
      runs_succeeded = t.runs_succeeded + excluded.runs_succeeded,
      runs_failed = t.runs_failed + excluded.runs_failed,
      runs_skipped = t.runs_skipped + excluded.runs_skipped,
      runs_timed_out = t.runs_timed_out + excluded.runs_timed_out,
      runs_dead = t.runs_dead + excluded.runs_dead,
      runs_cancelled = t.runs_cancelled + excluded.runs_cancelled;
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM flextask_apply_run_changes(array_agg(o.task_id), array_agg(o.status), array_agg(n.status))
    FROM old_rows o JOIN new_rows n ON n.execution_id = o.execution_id AND n.attempt = o.attempt
    WHERE n.status IS DISTINCT FROM o.status;
  ELSE
    PERFORM flextask_apply_run_changes(array_agg(task_id), array_agg(status), array_agg(NULL::text)) FROM old_rows;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    UPDATE tasks t SET last_execution_id = l.execution_id, last_attempt = l.attempt, last_status = l.status,
                       last_finished_at = l.finished_at
    FROM (
      SELECT DISTINCT ON (task_id) task_id, execution_id, attempt, status, finished_at
      FROM new_rows
      WHERE flextask_run_status_rank(status) >= 2 AND finished_at IS NOT NULL
      ORDER BY task_id, finished_at DESC, execution_id DESC, attempt DESC
    ) l
    WHERE t.task_id = l.task_id
      AND (t.last_finished_at IS NULL
           OR (l.finished_at, l.execution_id, l.attempt) >= (t.last_finished_at, t.last_execution_id, t.last_attempt))
      AND (t.last_execution_id, t.last_attempt, t.last_status, t.last_finished_at)
          IS DISTINCT FROM (l.execution_id, l.attempt, l.status, l.finished_at);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER task_runs_count_insert AFTER INSERT ON task_runs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flextask_count_runs();
CREATE TRIGGER task_runs_count_update AFTER UPDATE ON task_runs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flextask_count_runs();
CREATE TRIGGER task_runs_count_delete AFTER DELETE ON task_runs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION flextask_count_runs();
