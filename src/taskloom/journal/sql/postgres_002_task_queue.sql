-- taskloom journal, schema version 2 (PostgreSQL): the shared task queue.
--
-- A run created in distributed mode is executed task by task by any worker
-- process: its task rows carry their own readiness (remaining_deps,
-- ready_at), ownership (claimed_by, lease_until) and a fence token that
-- every claim increments, so a worker that lost its lease cannot record a
-- completion over the new owner's. Times are epoch seconds of the
-- database's clock, so workers on machines with skewed clocks agree.

ALTER TABLE runs ADD COLUMN distributed boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN open_tasks integer NOT NULL DEFAULT 0;

ALTER TABLE task_runs ADD COLUMN remaining_deps integer NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN ready_at double precision;
ALTER TABLE task_runs ADD COLUMN claimed_by text;
ALTER TABLE task_runs ADD COLUMN lease_until double precision;
ALTER TABLE task_runs ADD COLUMN fence bigint NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN priority integer NOT NULL DEFAULT 0;
-- "name@version" of the run's workflow, copied onto each task so that a
-- claim filters on the task rows alone and never scans the runs table.
ALTER TABLE task_runs ADD COLUMN workflow text;

-- What a claim scans: ready tasks by priority, and expired leases.
CREATE INDEX task_runs_ready ON task_runs (priority DESC, ready_at)
    WHERE status IN ('Ready', 'Retrying');
CREATE INDEX task_runs_leased ON task_runs (lease_until) WHERE status = 'Running'
    AND claimed_by IS NOT NULL;
CREATE INDEX task_runs_by_owner ON task_runs (claimed_by) WHERE status = 'Running';
-- Task statuses used only by distributed runs: 'Ready' (may be claimed now);
-- 'Retrying' with ready_at in the future is a durable retry timer.
