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
