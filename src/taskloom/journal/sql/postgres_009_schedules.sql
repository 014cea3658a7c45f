-- taskloom journal, schema version 9 (PostgreSQL): schedules (cron and polled triggers).
--
-- Same model as SQLite's schema version 4 (see sqlite_004_schedules.sql):
-- a due time is fired by one transaction that compare-and-sets the
-- schedule's next_due_ms and version, inserts the fire keyed by
-- (schedule_id, due_ms) and inserts the run. Edits are announced with
-- NOTIFY on the schema's taskloom_schedules channel, in their transaction.

CREATE TABLE schedules (
    schedule_id      text PRIMARY KEY,
    name             text UNIQUE,
    kind             text NOT NULL,
    style            text NOT NULL,
    workflow_name    text NOT NULL,
    input_json       text NOT NULL,
    cron_expression  text,
    timezone         text NOT NULL,
    poll_interval_ms bigint,
    allow_concurrent boolean NOT NULL,
    enabled          boolean NOT NULL,
    next_due_ms      bigint,
    last_run_at      double precision,
    last_run_id      text,
    last_poll_at     double precision,
    version          bigint NOT NULL,
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL
);

CREATE TABLE schedule_fires (
    schedule_id   text NOT NULL,
    due_ms        bigint NOT NULL,
    outcome       text NOT NULL,
    run_id        text,
    claimed_at    double precision NOT NULL,
    skipped_count bigint NOT NULL DEFAULT 0,
    context_hash  text,
    detail        text,
    PRIMARY KEY (schedule_id, due_ms)
);
CREATE INDEX schedule_fires_by_run ON schedule_fires (run_id);
CREATE INDEX schedule_fires_by_claimed ON schedule_fires (claimed_at);
