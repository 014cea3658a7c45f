-- taskloom journal, schema version 8 (PostgreSQL): time limits of distributed runs.
--
-- A run submitted with a workflow timeout records its deadline (epoch
-- seconds of the database clock: the moment the run was inserted plus the
-- timeout) and the timeout itself (the error text names it). Workers look up
-- the running runs past their deadline at every fallback poll through the
-- partial index, which holds only those rows: a run without a deadline, or
-- one that ended, costs it nothing.
--
-- task_timeout is the run's default per-attempt timeout of tasks that set
-- none (DefaultRunnerConfig.task_timeout_seconds of the client); a worker
-- applies it when it launches such an attempt. NULL everywhere for runs
-- submitted without them.

ALTER TABLE runs ADD COLUMN deadline double precision;
ALTER TABLE runs ADD COLUMN workflow_timeout double precision;
ALTER TABLE runs ADD COLUMN task_timeout double precision;
CREATE INDEX runs_by_deadline ON runs (deadline)
    WHERE status = 'Running' AND deadline IS NOT NULL;
