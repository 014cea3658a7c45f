-- taskloom journal, schema version 6 (SQLite): process deaths per task attempt.
--
-- A runner that resumes an orphaned run adds one to ``deaths`` of each task
-- the dead owner had recorded as Running, in the transaction that takes the
-- run over, and a task whose attempt reached the limit fails instead of killing
-- the next runner too (a "poison" task). The count belongs to the attempt,
-- and goes back to 0 whenever the row leaves Running/Pending.

ALTER TABLE task_runs ADD COLUMN deaths INTEGER NOT NULL DEFAULT 0;
