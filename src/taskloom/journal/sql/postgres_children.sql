-- Named queries of parent and child runs in the distributed queue (PostgreSQL
-- only, schema version 7): a step run on a worker starts a child step run
-- once, the child's end wakes its parent, and cancelling a run cancels its
-- unfinished children. Kept apart from postgres_queue.sql: the completion
-- statements there know nothing of parents; a worker adds wake_parents to
-- the same transaction only when step runs end.

-- name: insert_child_run
-- A child step run and its driver row, created at most once: the id is
-- deterministic, so a parent step re-executed after a crash (or by two
-- workers racing after a lease takeover) finds the child instead of creating
-- another (ON CONFLICT waits for a concurrent insert of the same id). It is
-- created only while the parent is still running: the share lock on the
-- parent's row orders it with a cancel of the parent (which locks that row
-- for update), so a cancel either sees this child or comes first, and then
-- no child is created. Returns (parent running, created).
WITH parent AS (
    SELECT run_id FROM runs
    WHERE run_id = %(parent)s AND status = 'Running'
    FOR SHARE
),
run AS (
    INSERT INTO runs (run_id, workflow_name, workflow_version, kind, status, input_json,
                      owner_id, created_at, distributed, open_tasks, parent_id)
    SELECT %(run_id)s, %(name)s, %(version)s, %(kind)s, 'Running', %(input_json)s,
           NULL, %(created_at)s, true, 1, parent.run_id
    FROM parent
    ON CONFLICT (run_id) DO NOTHING
    RETURNING run_id, created_at
),
task AS (
    INSERT INTO task_runs (run_id, task_key, status, attempt, seq, remaining_deps, ready_at,
                           priority, workflow)
    SELECT run_id, %(key)s, 'Ready', 0, 0, 0, extract(epoch FROM clock_timestamp())::float8,
           0, %(workflow)s
    FROM run
),
event AS (
    INSERT INTO events (run_id, task_key, kind, at, data_json)
    SELECT run_id, NULL, 'run_started', created_at, %(event)s FROM run
)
SELECT EXISTS (SELECT 1 FROM parent),
       EXISTS (SELECT 1 FROM run),
       CASE WHEN EXISTS (SELECT 1 FROM run)
            THEN (SELECT true FROM pg_notify(%(channel)s, '')) END;

-- name: child_state
SELECT status, parent_id FROM runs WHERE run_id = %s;

-- name: wake_parents
-- Runs that just ended (in this transaction) wake their parents: a parent's
-- suspended driver becomes claimable now, and the workers are told when the
-- transaction commits. A driver running right now gets ready_at past its
-- start instead, so that if it is about to suspend (it read the child as
-- running before this commit), its suspension ends at once (see
-- complete_tasks) -- the same rule as for a signal (wake_signalled).
WITH ended AS (
    SELECT DISTINCT r.parent_id FROM runs r
    WHERE r.run_id = ANY(%(run_ids)s::text[]) AND r.parent_id IS NOT NULL
      AND r.status <> 'Running'
),
woken AS (
    UPDATE task_runs t
    SET status = CASE WHEN t.status = 'Suspended' THEN 'Ready' ELSE t.status END,
        ready_at = extract(epoch FROM clock_timestamp())::float8
    FROM ended
    WHERE t.run_id = ended.parent_id AND t.workflow IS NOT NULL
      AND t.status IN ('Suspended', 'Running')
    RETURNING t.status
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM woken WHERE status = 'Ready')
            THEN (SELECT true FROM pg_notify(%(channel)s, '')) END;

-- name: lock_running
SELECT run_id FROM runs WHERE run_id = %s AND status = 'Running' FOR UPDATE;

-- name: lock_children
-- One level of a cancelled tree. Each level is its own statement, taken
-- after the locks of the level above: a child being inserted holds a share
-- lock on its parent's row until it commits, so once the parent is locked
-- here, this statement's snapshot sees every child it will ever have.
SELECT run_id FROM runs
WHERE parent_id = ANY(%s::text[]) AND status = 'Running'
ORDER BY run_id
FOR UPDATE;
