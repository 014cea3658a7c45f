-- taskloom journal, schema version 7 (PostgreSQL): parents of child step runs.
--
-- A step run started by a step of another run on a distributed worker
-- (ctx.run_child / ctx.start_child) records that run as its parent. The
-- workers' finishing transaction of the child wakes the parent's suspended
-- driver through it, and cancelling a run cancels its unfinished children
-- through it. NULL for every other run, so the partial index costs nothing
-- for them.

ALTER TABLE runs ADD COLUMN parent_id text;
CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
