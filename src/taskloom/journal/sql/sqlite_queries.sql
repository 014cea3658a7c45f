-- Named queries of the SQLite journal. Each starts with a "-- name:" line.

-- name: insert_run
INSERT INTO runs (run_id, workflow_name, workflow_version, kind, status, input_json,
                  final_json, error, owner_id, created_at, ended_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_run_input
INSERT INTO run_inputs (run_id, input_json) VALUES (?, ?);

-- name: upsert_task
INSERT INTO task_runs (run_id, task_key, status, attempt, next_retry_at, started_at,
                       ended_at, output_json, error, traceback, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
INSERT INTO events (run_id, task_key, kind, at, data_json) VALUES (?, ?, ?, ?, ?);

-- name: update_run
UPDATE runs SET status = ?, final_json = COALESCE(?, final_json), error = ?, ended_at = ?,
                final_task = COALESCE(?, final_task)
WHERE run_id = ?;

-- name: get_run
SELECT run_id, workflow_name, workflow_version, kind, status,
       COALESCE((SELECT i.input_json FROM run_inputs i WHERE i.run_id = runs.run_id),
                input_json),
       created_at,
       COALESCE(final_json, (SELECT t.output_json FROM task_runs t
                             WHERE t.run_id = runs.run_id AND t.task_key = runs.final_task)),
       error, owner_id, ended_at
FROM runs WHERE run_id = ?;

-- name: list_runs
SELECT run_id, workflow_name, workflow_version, kind, status,
       COALESCE((SELECT i.input_json FROM run_inputs i WHERE i.run_id = runs.run_id),
                input_json),
       created_at,
       COALESCE(final_json, (SELECT t.output_json FROM task_runs t
                             WHERE t.run_id = runs.run_id AND t.task_key = runs.final_task)),
       error, owner_id, ended_at
FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?;

-- name: list_runs_by_status
SELECT run_id, workflow_name, workflow_version, kind, status,
       COALESCE((SELECT i.input_json FROM run_inputs i WHERE i.run_id = runs.run_id),
                input_json),
       created_at,
       COALESCE(final_json, (SELECT t.output_json FROM task_runs t
                             WHERE t.run_id = runs.run_id AND t.task_key = runs.final_task)),
       error, owner_id, ended_at
FROM runs WHERE status = ? ORDER BY created_at DESC, rowid DESC LIMIT ?;

-- name: unfinished_runs
SELECT run_id, workflow_name, workflow_version, kind, status,
       COALESCE((SELECT i.input_json FROM run_inputs i WHERE i.run_id = runs.run_id),
                input_json),
       created_at,
       COALESCE(final_json, (SELECT t.output_json FROM task_runs t
                             WHERE t.run_id = runs.run_id AND t.task_key = runs.final_task)),
       error, owner_id, ended_at
FROM runs WHERE status = 'Running' ORDER BY created_at;

-- name: get_tasks
SELECT run_id, task_key, status, attempt, next_retry_at, started_at, ended_at,
       output_json, error, traceback, seq, deaths
FROM task_runs WHERE run_id = ? ORDER BY seq;

-- name: get_events
SELECT run_id, kind, at, task_key, data_json, event_id
FROM events WHERE run_id = ? ORDER BY event_id;

-- name: upsert_runner
INSERT INTO runners (runner_id, hostname, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (runner_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at;

-- name: heartbeat
UPDATE runners SET heartbeat_at = ? WHERE runner_id = ?;

-- name: delete_runner
DELETE FROM runners WHERE runner_id = ?;

-- name: list_runners
SELECT runner_id, hostname, pid, started_at, heartbeat_at FROM runners;

-- name: claim_run
UPDATE runs SET owner_id = ?
WHERE run_id = ? AND status = 'Running' AND owner_id IS ?;

-- name: count_deaths
-- In claim_run's transaction: the new owner counts the death of the old one
-- against every task it had recorded as running (core/deaths.py).
UPDATE task_runs SET deaths = deaths + 1 WHERE run_id = ? AND status = 'Running';

-- name: insert_signal
INSERT INTO signals (run_id, name, payload_json, sent_at) VALUES (?, ?, ?, ?);

-- name: get_signals
SELECT signal_id, run_id, name, payload_json, sent_at
FROM signals WHERE run_id = ? AND signal_id > ? ORDER BY signal_id;

-- name: signals_after
SELECT signal_id, run_id FROM signals WHERE signal_id > ? ORDER BY signal_id;

-- name: latest_signal_id
SELECT COALESCE(MAX(signal_id), 0) FROM signals;

-- name: cache_get
SELECT value_json FROM cache_entries WHERE key = ? AND expires_at > ?;

-- name: cache_put
INSERT INTO cache_entries (key, value_json, created_at, expires_at) VALUES (?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    value_json = excluded.value_json,
    created_at = excluded.created_at,
    expires_at = excluded.expires_at;

-- name: cache_purge
DELETE FROM cache_entries WHERE expires_at <= ?;

-- name: prunable_runs
-- Ended runs of the given statuses (a JSON array) that ended before a time, oldest first.
SELECT run_id FROM runs
WHERE ended_at IS NOT NULL AND ended_at < ? AND status IN (SELECT value FROM json_each(?))
ORDER BY ended_at LIMIT ?;

-- name: pruned_outputs
SELECT output_json FROM task_runs
WHERE run_id IN (SELECT value FROM json_each(?)) AND output_json IS NOT NULL;

-- name: delete_events
DELETE FROM events WHERE run_id IN (SELECT value FROM json_each(?));

-- name: delete_signals
DELETE FROM signals WHERE run_id IN (SELECT value FROM json_each(?));

-- name: delete_tasks
DELETE FROM task_runs WHERE run_id IN (SELECT value FROM json_each(?));

-- name: delete_runs
-- Only runs that are still ended: nothing running is ever deleted.
DELETE FROM runs WHERE run_id IN (SELECT value FROM json_each(?)) AND ended_at IS NOT NULL;
