-- taskloom journal, schema version 17 (PostgreSQL): retention finds ended runs by their end.
--
-- ``taskloom prune`` and a worker's retention option delete ended runs that
-- ended before a cut-off, oldest first, in small batches, and this index makes
-- each batch's choice cost what it returns, not a scan of every run.

CREATE INDEX IF NOT EXISTS runs_by_end ON runs (ended_at) WHERE ended_at IS NOT NULL;
