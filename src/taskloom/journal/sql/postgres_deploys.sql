-- Named queries of retries, cancels and deploys (PostgreSQL); merged into the journal's queries.

-- name: record_shape
INSERT INTO plan_shapes (kind, workflow_name, workflow_version, shape_hash, shape_json,
                         recorded_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING;

-- name: get_shapes
SELECT shape_json FROM plan_shapes
WHERE kind = %s AND workflow_name = %s AND workflow_version = %s
ORDER BY recorded_at;

-- name: reopen_run
-- Compare-and-set on the status (and, with the flag, the owner) read by the caller.
-- Distributed runs are reopened through the queue (postgres_reopen.py), never here.
UPDATE runs SET status = 'Running', owner_id = %s, workflow_version = %s, error = NULL,
                final_json = NULL, ended_at = NULL
WHERE run_id = %s AND status = %s AND (%s OR owner_id IS NOT DISTINCT FROM %s)
  AND NOT distributed;

-- name: delete_run_tasks
DELETE FROM task_runs WHERE run_id = %s;

-- name: clear_cancel_request
DELETE FROM cancel_requests WHERE run_id = %s;

-- name: request_cancel
INSERT INTO cancel_requests (run_id, reason, requested_at) VALUES (%s, %s, %s)
ON CONFLICT (run_id) DO UPDATE SET reason = excluded.reason,
                                   requested_at = excluded.requested_at;

-- name: cancel_requests
SELECT c.run_id, c.reason FROM cancel_requests c JOIN runs r ON r.run_id = c.run_id
WHERE r.status = 'Running' AND r.owner_id = %s;

-- name: run_is_distributed
SELECT distributed FROM runs WHERE run_id = %s;

-- name: lock_run
SELECT status FROM runs WHERE run_id = %s FOR UPDATE;

-- name: queued_keys
SELECT task_key FROM task_runs WHERE run_id = %s AND workflow IS NOT NULL;

-- name: reopen_distributed
-- A retried distributed run: Running again, with a fresh deadline if it has a time limit.
UPDATE runs SET status = 'Running', error = NULL, final_json = NULL, ended_at = NULL,
                workflow_version = %(version)s, open_tasks = %(open)s,
                deadline = CASE WHEN workflow_timeout IS NULL THEN NULL
                                ELSE extract(epoch FROM clock_timestamp())::float8
                                     + workflow_timeout END
WHERE run_id = %(run_id)s AND status = %(status)s AND distributed
RETURNING run_id;

-- name: restore_rows
-- Rows the workers do not claim (a step run's steps and operations), as the retry left them.
UPDATE task_runs t
SET status = r.status, attempt = r.attempt, next_retry_at = NULL, started_at = NULL,
    ended_at = NULL, output_json = r.output_json, error = NULL, traceback = NULL
FROM unnest(%(keys)s::text[], %(statuses)s::text[], %(attempts)s::int[], %(outputs)s::text[])
     AS r(key, status, attempt, output_json)
WHERE t.run_id = %(run_id)s AND t.task_key = r.key;

-- name: requeue_rows
-- Queue rows that start again: Ready when none of their dependencies starts again,
-- else Pending until that many complete. The fence moves, so a late completion
-- from before the retry is rejected.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
UPDATE task_runs t
SET status = CASE WHEN r.deps = 0 THEN 'Ready' ELSE 'Pending' END,
    remaining_deps = r.deps,
    ready_at = CASE WHEN r.deps = 0 THEN clock.now END,
    attempt = 0, claimed_by = NULL, lease_until = NULL, fence = t.fence + 1,
    started_at = NULL, ended_at = NULL, next_retry_at = NULL,
    output_json = NULL, error = NULL, traceback = NULL
FROM unnest(%(keys)s::text[], %(deps)s::int[]) AS r(key, deps), clock
WHERE t.run_id = %(run_id)s AND t.task_key = r.key;

-- name: stalled_runs
-- Distributed runs nobody is working on: a claimable task left unclaimed, or a
-- task whose owner's lease ran out and was not taken over, for %(grace)s seconds.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
SELECT r.run_id, r.workflow_name, r.workflow_version, r.kind, r.status, r.input_json,
       r.created_at, r.final_json, r.error, r.owner_id, r.ended_at, count(*)::int
FROM task_runs t JOIN runs r ON r.run_id = t.run_id, clock
WHERE r.status = 'Running' AND r.distributed AND t.workflow IS NOT NULL
  AND ((t.status IN ('Ready', 'Retrying', 'Suspended') AND t.ready_at <= clock.now - %(grace)s)
       OR (t.status = 'Running' AND t.lease_until < clock.now - %(grace)s))
GROUP BY r.run_id
ORDER BY r.created_at;

-- name: live_claims
-- Tasks of a run a worker is running now, under a lease that has not run out.
SELECT task_key FROM task_runs
WHERE run_id = %s AND status = 'Running' AND claimed_by IS NOT NULL
  AND lease_until >= extract(epoch FROM clock_timestamp())::float8;

-- name: fences
SELECT task_key, fence FROM task_runs WHERE run_id = %s;

-- name: adopt_distributed
UPDATE runs SET workflow_version = %(version)s, open_tasks = %(open)s
WHERE run_id = %(run_id)s AND status = 'Running' AND distributed
  AND workflow_version = %(old)s
RETURNING run_id;

-- name: insert_adopted_rows
-- Every row of an adopted distributed run, rewritten for its new version.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
INSERT INTO task_runs (run_id, task_key, status, attempt, next_retry_at, started_at, ended_at,
                       output_json, error, traceback, seq, remaining_deps, ready_at, fence,
                       priority, workflow, run_limit, conc_group, group_limit)
SELECT %(run_id)s, r.key, r.status, r.attempt, r.next_retry_at, r.started_at, r.ended_at,
       r.output_json, r.error, r.traceback, r.seq, r.deps,
       CASE WHEN r.status = 'Ready' THEN clock.now
            WHEN r.status = 'Retrying' THEN COALESCE(r.next_retry_at, clock.now) END,
       r.fence, r.priority, %(workflow)s, %(run_limit)s::int, r.grp, r.group_limit
FROM unnest(%(keys)s::text[], %(statuses)s::text[], %(attempts)s::int[],
            %(next_retry_at)s::float8[], %(started_at)s::float8[], %(ended_at)s::float8[],
            %(outputs)s::text[], %(errors)s::text[], %(tracebacks)s::text[], %(seqs)s::int[],
            %(deps)s::int[], %(fences)s::bigint[], %(priorities)s::int[], %(groups)s::text[],
            %(group_limits)s::int[])
     AS r(key, status, attempt, next_retry_at, started_at, ended_at, output_json, error,
          traceback, seq, deps, fence, priority, grp, group_limit),
     clock;
