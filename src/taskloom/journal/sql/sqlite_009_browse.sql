-- taskloom journal, schema version 9 (SQLite): what the dashboard browses by.
-- A runs page filtered by workflow or style, newest first, is a range scan
-- of one of these (status and time alone use runs_by_status / runs_by_created
-- of version 1). Runs are written once and updated once at their end, so the
-- two extra index entries cost little next to the task rows of a run.

CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow_name, created_at);
CREATE INDEX IF NOT EXISTS runs_by_kind ON runs (kind, created_at)
