-- taskloom journal, schema version 6 (PostgreSQL): concurrency limits of
-- distributed flow runs.
--
-- run_limit: the run's max_concurrency (the same on every row of the run);
-- conc_group / group_limit: a fan_out(..., max_concurrency=N) group of the
-- run. Rows with either are claimed only by claim_limited, which workers
-- run one at a time (an advisory lock) and which counts the Running rows of
-- the run and of the group, so a limit is never exceeded across workers.

ALTER TABLE task_runs ADD COLUMN run_limit integer;
ALTER TABLE task_runs ADD COLUMN conc_group text;
ALTER TABLE task_runs ADD COLUMN group_limit integer;

-- The ordinary claim scans only rows without a limit, in its index order
-- (with the extra predicates outside the index, the planner left the
-- ordered index scan for a sort of every ready row); limited claims scan
-- their own small index.
DROP INDEX task_runs_ready;
CREATE INDEX task_runs_ready ON task_runs (priority DESC, ready_at)
    WHERE status IN ('Ready', 'Retrying', 'Suspended')
      AND run_limit IS NULL AND conc_group IS NULL;
CREATE INDEX task_runs_ready_limited ON task_runs (run_id)
    WHERE status IN ('Ready', 'Retrying', 'Suspended')
      AND (run_limit IS NOT NULL OR conc_group IS NOT NULL);
