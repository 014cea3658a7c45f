-- Named queries of run deadlines in the distributed queue (PostgreSQL only,
-- the deadline columns of postgres_008_run_deadlines.sql). A worker stops a
-- run past its deadline with the statements of postgres_queue.sql that stop
-- a fail_fast or cancelled run (stop_run, finish_run_notify); these find the
-- runs and take the locks first. Kept apart from postgres_queue.sql: the
-- claim and completion statements there only carry the columns along.

-- name: expired_runs
-- The fallback poll's check: running runs past their deadline, of a workflow
-- this worker serves (a task row carries one of its claim keys: the outcome
-- is built from the plan, so only a worker that has the plan ends the run).
-- The overdue runs come first, from the partial index runs_by_deadline,
-- which holds only running runs with a deadline, read from its start up to
-- now: the check costs one index probe when none is due. MATERIALIZED keeps it that way round (left to
-- itself the planner may start from the task rows of the workflow keys). No
-- locks: each run is then stopped in a transaction of its own
-- (lock_open_tasks).
WITH due AS MATERIALIZED (
    SELECT r.run_id, r.deadline FROM runs r
    WHERE r.status = 'Running' AND r.deadline IS NOT NULL
      -- A subquery, computed once: a bound the index scan can start from
      -- (clock_timestamp() itself is volatile, so it would filter every entry).
      AND r.deadline <= (SELECT extract(epoch FROM clock_timestamp())::float8)
)
SELECT d.run_id FROM due d
WHERE EXISTS (SELECT 1 FROM task_runs t
              WHERE t.run_id = d.run_id AND t.workflow = ANY(%(workflows)s::text[]))
ORDER BY d.deadline
LIMIT %(limit)s;

-- name: run_deadline
-- Where a run stands: its status, the seconds left to its deadline (NULL:
-- none; negative: past) and what its timeout error names.
SELECT status, deadline - extract(epoch FROM clock_timestamp())::float8,
       workflow_name, workflow_timeout
FROM runs WHERE run_id = %s;

-- name: lock_open_tasks
-- Every unfinished task row of the run, locked before the run's row and
-- without waiting. A worker's completion locks its task rows (the completed
-- one, then the dependents) before the run's row; holding all of them first
-- means no completion, release or claim of this run is half done while it
-- is stopped: stop_run then cancels every open row (none is skipped as
-- locked), so no dependent is released after the run ended and the run's
-- last completion either committed before (the run ended: nothing to stop)
-- or is rejected after (its fence moved on). NOWAIT instead of waiting: a
-- completion holds its completed row while it locks the dependents, which
-- may sort before it (rows this statement would already hold), so waiting
-- could deadlock; the worker tries again a moment later instead.
SELECT task_key FROM task_runs
WHERE run_id = %s AND workflow IS NOT NULL
  AND status IN ('Pending', 'Ready', 'Retrying', 'Suspended', 'Running')
ORDER BY task_key
FOR UPDATE NOWAIT;
