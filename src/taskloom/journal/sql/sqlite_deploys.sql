-- Named queries of retries, cancels and deploys (SQLite); merged into the journal's queries.

-- name: record_shape
INSERT INTO plan_shapes (kind, workflow_name, workflow_version, shape_hash, shape_json,
                         recorded_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;

-- name: get_shapes
SELECT shape_json FROM plan_shapes
WHERE kind = ? AND workflow_name = ? AND workflow_version = ?
ORDER BY recorded_at;

-- name: reopen_run
-- Compare-and-set on the status (and, with the flag, the owner) read by the caller.
UPDATE runs SET status = 'Running', owner_id = ?, workflow_version = ?, error = NULL,
                final_json = NULL, ended_at = NULL
WHERE run_id = ? AND status = ? AND (? OR owner_id IS ?);

-- name: delete_run_tasks
DELETE FROM task_runs WHERE run_id = ?;

-- name: clear_cancel_request
DELETE FROM cancel_requests WHERE run_id = ?;

-- name: request_cancel
INSERT INTO cancel_requests (run_id, reason, requested_at) VALUES (?, ?, ?)
ON CONFLICT (run_id) DO UPDATE SET reason = excluded.reason,
                                   requested_at = excluded.requested_at;

-- name: cancel_requests
SELECT c.run_id, c.reason FROM cancel_requests c JOIN runs r ON r.run_id = c.run_id
WHERE r.status = 'Running' AND r.owner_id = ?;
