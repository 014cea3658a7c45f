-- taskloom journal, schema version 3 (PostgreSQL): the result cache of
-- @task(cache_ttl=...) and the signal inbox of step workflows, as in SQLite
-- (sqlite_002_cache.sql, sqlite_003_signals.sql).

CREATE TABLE cache_entries (
    key        text PRIMARY KEY,
    value_json text NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL
);
CREATE INDEX cache_entries_by_expiry ON cache_entries (expires_at);

-- Signal ids must grow in commit order (runs read their inbox with a cursor),
-- so inserts are serialised by an advisory lock; see send_signal.
CREATE TABLE signals (
    signal_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       text NOT NULL,
    name         text NOT NULL,
    payload_json text NOT NULL,
    sent_at      double precision NOT NULL
);
CREATE INDEX signals_by_run ON signals (run_id, signal_id);
