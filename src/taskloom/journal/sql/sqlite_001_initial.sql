-- taskloom journal, schema version 1 (SQLite).
-- Times are Unix epoch seconds (REAL). JSON columns hold UTF-8 JSON text.

CREATE TABLE IF NOT EXISTS runners (
    runner_id    TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id           TEXT PRIMARY KEY,
    workflow_name    TEXT NOT NULL,
    workflow_version TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    input_json       TEXT NOT NULL,
    final_json       TEXT,
    error            TEXT,
    owner_id         TEXT,
    created_at       REAL NOT NULL,
    ended_at         REAL
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created_at);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at);

CREATE TABLE IF NOT EXISTS task_runs (
    run_id        TEXT NOT NULL,
    task_key      TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempt       INTEGER NOT NULL DEFAULT 0,
    next_retry_at REAL,
    started_at    REAL,
    ended_at      REAL,
    output_json   TEXT,
    error         TEXT,
    traceback     TEXT,
    seq           INTEGER NOT NULL,
    PRIMARY KEY (run_id, task_key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
    event_id  INTEGER PRIMARY KEY,
    run_id    TEXT NOT NULL,
    task_key  TEXT,
    kind      TEXT NOT NULL,
    at        REAL NOT NULL,
    data_json TEXT
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, event_id);
