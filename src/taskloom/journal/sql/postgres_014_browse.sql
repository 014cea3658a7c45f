-- taskloom journal, schema version 14 (PostgreSQL): what the dashboard browses by.
-- As sqlite_009_browse.sql, plus a pattern index for run id prefixes: the
-- database's collation need not order text byte by byte, so a prefix is a
-- LIKE 'abc%' served by text_pattern_ops.

CREATE INDEX runs_by_workflow ON runs (workflow_name, created_at);
CREATE INDEX runs_by_kind ON runs (kind, created_at);
CREATE INDEX runs_by_id_pattern ON runs (run_id text_pattern_ops);
