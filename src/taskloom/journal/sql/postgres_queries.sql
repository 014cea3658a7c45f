-- Named queries of the PostgreSQL journal (the Journal interface).
-- Each starts with a "-- name:" line; parameters use psycopg's %s style.

-- name: insert_run
INSERT INTO runs (run_id, workflow_name, workflow_version, kind, status, input_json,
                  final_json, error, owner_id, created_at, ended_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

-- name: upsert_task
INSERT INTO task_runs (run_id, task_key, status, attempt, next_retry_at, started_at,
                       ended_at, output_json, error, traceback, seq)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (run_id, task_key) DO UPDATE SET
    status = excluded.status,
    attempt = excluded.attempt,
    next_retry_at = excluded.next_retry_at,
    started_at = excluded.started_at,
    ended_at = excluded.ended_at,
    output_json = excluded.output_json,
    error = excluded.error,
    traceback = excluded.traceback,
    -- A process death counts against the attempt in flight only: a row that
    -- leaves Running/Pending (the attempt ended) starts again from 0.
    deaths = CASE WHEN excluded.status IN ('Running', 'Pending') THEN task_runs.deaths ELSE 0 END;

-- name: insert_event
INSERT INTO events (run_id, task_key, kind, at, data_json) VALUES (%s, %s, %s, %s, %s);

-- name: update_run
UPDATE runs SET status = %s, final_json = COALESCE(%s, final_json), error = %s, ended_at = %s
WHERE run_id = %s;

-- name: get_run
SELECT run_id, workflow_name, workflow_version, kind, status, input_json, created_at,
       final_json, error, owner_id, ended_at
FROM runs WHERE run_id = %s;

-- name: list_runs
SELECT run_id, workflow_name, workflow_version, kind, status, input_json, created_at,
       final_json, error, owner_id, ended_at
FROM runs ORDER BY created_at DESC, seq DESC LIMIT %s;

-- name: list_runs_by_status
SELECT run_id, workflow_name, workflow_version, kind, status, input_json, created_at,
       final_json, error, owner_id, ended_at
FROM runs WHERE status = %s ORDER BY created_at DESC, seq DESC LIMIT %s;

-- name: unfinished_runs
-- Distributed runs belong to the workers' queue, never to a runner's recovery.
SELECT run_id, workflow_name, workflow_version, kind, status, input_json, created_at,
       final_json, error, owner_id, ended_at
FROM runs WHERE status = 'Running' AND NOT distributed ORDER BY created_at, seq;

-- name: get_tasks
SELECT run_id, task_key, status, attempt, next_retry_at, started_at, ended_at,
       output_json, error, traceback, seq, deaths
FROM task_runs WHERE run_id = %s ORDER BY seq;

-- name: get_events
SELECT run_id, kind, at, task_key, data_json, event_id
FROM events WHERE run_id = %s ORDER BY event_id;

-- name: upsert_runner
INSERT INTO runners (runner_id, hostname, pid, started_at, heartbeat_at)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (runner_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at;

-- name: heartbeat
UPDATE runners SET heartbeat_at = %s WHERE runner_id = %s;

-- name: delete_runner
DELETE FROM runners WHERE runner_id = %s;

-- name: list_runners
SELECT runner_id, hostname, pid, started_at, heartbeat_at FROM runners;

-- name: claim_run
UPDATE runs SET owner_id = %s
WHERE run_id = %s AND status = 'Running' AND NOT distributed
  AND owner_id IS NOT DISTINCT FROM %s;

-- name: count_deaths
-- In claim_run's transaction: the new owner counts the death of the old one
-- against every task it had recorded as running (core/deaths.py).
UPDATE task_runs SET deaths = deaths + 1 WHERE run_id = %s AND status = 'Running';

-- name: schema_version_table
CREATE TABLE IF NOT EXISTS schema_version (
    version    integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: schema_version
SELECT coalesce(max(version), 0) FROM schema_version;

-- name: applied_versions
SELECT version FROM schema_version;

-- name: record_schema_version
INSERT INTO schema_version (version) VALUES (%s);

-- name: migration_lock
-- Transaction-scoped, keyed on the schema: concurrent openers of one schema
-- queue here, openers of different schemas do not wait for each other.
SELECT pg_advisory_xact_lock(hashtextextended('taskloom-migrate:' || %s, 0));

-- name: schema_exists
SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s);

-- name: current_schema
SELECT current_schema();

-- name: cache_get
SELECT value_json FROM cache_entries WHERE key = %s AND expires_at > %s;

-- name: cache_put
INSERT INTO cache_entries (key, value_json, created_at, expires_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (key) DO UPDATE SET
    value_json = excluded.value_json,
    created_at = excluded.created_at,
    expires_at = excluded.expires_at;

-- name: cache_purge
DELETE FROM cache_entries WHERE expires_at <= %s;

-- name: signal_lock
SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.taskloom_signals'));

-- name: insert_signal
INSERT INTO signals (run_id, name, payload_json, sent_at) VALUES (%s, %s, %s, %s)
RETURNING signal_id;

-- name: get_signals
SELECT signal_id, run_id, name, payload_json, sent_at
FROM signals WHERE run_id = %s AND signal_id > %s ORDER BY signal_id;

-- name: signals_after
SELECT signal_id, run_id FROM signals WHERE signal_id > %s ORDER BY signal_id;

-- name: latest_signal_id
SELECT COALESCE(MAX(signal_id), 0) FROM signals;

-- name: wake_signalled
-- A signal for a distributed run: its suspended node becomes claimable now.
-- A node running right now gets ready_at past its start, which makes its
-- next suspension end at once (see complete_tasks).
UPDATE task_runs
SET status = CASE WHEN status = 'Suspended' THEN 'Ready' ELSE status END,
    ready_at = extract(epoch FROM clock_timestamp())::float8
WHERE run_id = %s AND workflow IS NOT NULL AND status IN ('Suspended', 'Running')
RETURNING status;

-- name: notify
SELECT pg_notify(%s, %s);

-- name: prunable_runs
-- Ended runs of the given statuses that ended before a time, oldest first.
SELECT run_id FROM runs
WHERE ended_at IS NOT NULL AND ended_at < %s AND status = ANY(%s)
ORDER BY ended_at LIMIT %s;

-- name: pruned_outputs
SELECT output_json FROM task_runs WHERE run_id = ANY(%s) AND output_json IS NOT NULL;

-- name: delete_events
DELETE FROM events WHERE run_id = ANY(%s);

-- name: delete_signals
DELETE FROM signals WHERE run_id = ANY(%s);

-- name: delete_tasks
DELETE FROM task_runs WHERE run_id = ANY(%s);

-- name: delete_runs
-- Only runs that are still ended: nothing running is ever deleted.
DELETE FROM runs WHERE run_id = ANY(%s) AND ended_at IS NOT NULL;

-- name: list_claims
-- What distributed workers hold now (the dashboard's workers page), through
-- the partial index task_runs_by_owner.
SELECT claimed_by, run_id, task_key, lease_until, started_at
FROM task_runs WHERE status = 'Running' AND claimed_by IS NOT NULL
ORDER BY claimed_by, lease_until LIMIT %s;

-- name: parent_run
SELECT parent_id FROM runs WHERE run_id = %s;
