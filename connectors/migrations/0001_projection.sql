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
);
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

-- Run counters and the last result on tasks, from the rows themselves: exact whatever the order the topics are
-- read in, and whichever sink writes the row.
CREATE FUNCTION flextask_count_runs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_status text := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.status END;
  new_status text := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.status END;
  row_task text := CASE WHEN TG_OP = 'DELETE' THEN OLD.task_id ELSE NEW.task_id END;
  total int := CASE TG_OP WHEN 'INSERT' THEN 1 WHEN 'DELETE' THEN -1 ELSE 0 END;
BEGIN
  IF TG_OP = 'UPDATE' AND old_status IS NOT DISTINCT FROM new_status THEN
    RETURN NULL;
  END IF;
  INSERT INTO tasks AS t (task_id, runs_total, runs_pending, runs_processing, runs_succeeded, runs_failed,
                          runs_skipped, runs_timed_out, runs_dead, runs_cancelled)
  VALUES (row_task, GREATEST(total, 0),
          (new_status = 'PENDING')::int, (new_status = 'PROCESSING')::int, (new_status = 'SUCCEEDED')::int,
          (new_status = 'FAILED')::int, (new_status = 'SKIPPED')::int, (new_status = 'TIMED_OUT')::int,
          (new_status = 'DEAD')::int, (new_status = 'CANCELLED')::int)
  ON CONFLICT (task_id) DO UPDATE SET
    runs_total = t.runs_total + total,
    runs_pending = t.runs_pending + coalesce((new_status = 'PENDING')::int, 0) - coalesce((old_status = 'PENDING')::int, 0),
    runs_processing = t.runs_processing + coalesce((new_status = 'PROCESSING')::int, 0) - coalesce((old_status = 'PROCESSING')::int, 0),
    runs_succeeded = t.runs_succeeded + coalesce((new_status = 'SUCCEEDED')::int, 0) - coalesce((old_status = 'SUCCEEDED')::int, 0),
    runs_failed = t.runs_failed + coalesce((new_status = 'FAILED')::int, 0) - coalesce((old_status = 'FAILED')::int, 0),
    runs_skipped = t.runs_skipped + coalesce((new_status = 'SKIPPED')::int, 0) - coalesce((old_status = 'SKIPPED')::int, 0),
    runs_timed_out = t.runs_timed_out + coalesce((new_status = 'TIMED_OUT')::int, 0) - coalesce((old_status = 'TIMED_OUT')::int, 0),
    runs_dead = t.runs_dead + coalesce((new_status = 'DEAD')::int, 0) - coalesce((old_status = 'DEAD')::int, 0),
    runs_cancelled = t.runs_cancelled + coalesce((new_status = 'CANCELLED')::int, 0) - coalesce((old_status = 'CANCELLED')::int, 0);
  IF TG_OP <> 'DELETE' AND flextask_run_status_rank(new_status) >= 2 AND NEW.finished_at IS NOT NULL THEN
    UPDATE tasks SET last_execution_id = NEW.execution_id, last_attempt = NEW.attempt, last_status = new_status,
                     last_finished_at = NEW.finished_at
    WHERE task_id = row_task
      AND (last_finished_at IS NULL
           OR (NEW.finished_at, NEW.execution_id, NEW.attempt) >= (last_finished_at, last_execution_id, last_attempt));
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER task_runs_count AFTER INSERT OR UPDATE OF status OR DELETE ON task_runs
  FOR EACH ROW EXECUTE FUNCTION flextask_count_runs();
