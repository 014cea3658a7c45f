-- taskloom journal, schema version 11 (PostgreSQL): process deaths per task attempt.
--
-- Counted where an attempt is taken over from a process that died: by a
-- runner resuming an orphaned run (claim_run, for the tasks recorded
-- Running) and by a worker claiming a task whose lease expired
-- (claim_expired). A fresh claim of a Ready/Retrying/Suspended row starts
-- a new attempt at 0. See core/deaths.py.

ALTER TABLE task_runs ADD COLUMN deaths integer NOT NULL DEFAULT 0;
