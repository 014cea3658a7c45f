-- taskloom journal, schema version 2 (SQLite): the result cache of @task(cache_ttl=...).
-- One row per cache key, live while expires_at (Unix epoch seconds) is in the
-- future. Expired rows are deleted when a new entry is stored, through the index.
-- (No semicolons in comments: the migration runner splits scripts on them.)

CREATE TABLE IF NOT EXISTS cache_entries (
    key        TEXT PRIMARY KEY,
    value_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cache_entries_by_expiry ON cache_entries (expires_at);
