-- taskloom journal, schema version 4 (SQLite): schedules (cron and polled triggers).
--
-- A schedule row holds the next due time not yet recorded (next_due_ms, epoch
-- milliseconds) and a version bumped by every edit. Firing a due time is one
-- transaction: a compare-and-set of next_due_ms (and the version), the insert
-- of the fire keyed by (schedule_id, due_ms), and the insert of the run it
-- starts. So each due time starts at most one run whatever the number of
-- processes, and a run never lacks its fire nor a fire its run.
-- Fires outlive their schedule (a deleted schedule's runs still say who started them).
-- schedule_changes counts edits: SQLite cannot notify other processes, so
-- they read this one row to learn that the schedules changed.

CREATE TABLE IF NOT EXISTS schedules (
    schedule_id      TEXT PRIMARY KEY,
    name             TEXT UNIQUE,
    kind             TEXT NOT NULL,
    style            TEXT NOT NULL,
    workflow_name    TEXT NOT NULL,
    input_json       TEXT NOT NULL,
    cron_expression  TEXT,
    timezone         TEXT NOT NULL,
    poll_interval_ms INTEGER,
    allow_concurrent INTEGER NOT NULL,
    enabled          INTEGER NOT NULL,
    next_due_ms      INTEGER,
    last_run_at      REAL,
    last_run_id      TEXT,
    last_poll_at     REAL,
    version          INTEGER NOT NULL,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS schedule_fires (
    schedule_id   TEXT NOT NULL,
    due_ms        INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    run_id        TEXT,
    claimed_at    REAL NOT NULL,
    skipped_count INTEGER NOT NULL DEFAULT 0,
    context_hash  TEXT,
    detail        TEXT,
    PRIMARY KEY (schedule_id, due_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS schedule_fires_by_run ON schedule_fires (run_id);
CREATE INDEX IF NOT EXISTS schedule_fires_by_claimed ON schedule_fires (claimed_at);

CREATE TABLE IF NOT EXISTS schedule_changes (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version   INTEGER NOT NULL
);
INSERT OR IGNORE INTO schedule_changes (singleton, version) VALUES (1, 0);
