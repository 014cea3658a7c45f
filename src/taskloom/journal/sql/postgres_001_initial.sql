-- taskloom journal, schema version 1 (PostgreSQL): the same tables as SQLite.
-- Times are Unix epoch seconds (double precision), as in SQLite, so records
-- are identical across backends. JSON columns hold JSON text.
-- Tables are created in the connection's current schema (search_path).

CREATE TABLE runners (
    runner_id    text PRIMARY KEY,
    hostname     text NOT NULL,
    pid          integer NOT NULL,
    started_at   double precision NOT NULL,
    heartbeat_at double precision NOT NULL
);

CREATE TABLE runs (
    run_id           text PRIMARY KEY,
    workflow_name    text NOT NULL,
    workflow_version text NOT NULL,
    kind             text NOT NULL,
    status           text NOT NULL,
    input_json       text NOT NULL,
    final_json       text,
    error            text,
    owner_id         text,
    created_at       double precision NOT NULL,
    ended_at         double precision,
    -- Insertion order, to break ties between runs created in the same instant.
    seq              bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX runs_by_status ON runs (status, created_at);
CREATE INDEX runs_by_created ON runs (created_at, seq);

CREATE TABLE task_runs (
    run_id        text NOT NULL,
    task_key      text NOT NULL,
    status        text NOT NULL,
    attempt       integer NOT NULL DEFAULT 0,
    next_retry_at double precision,
    started_at    double precision,
    ended_at      double precision,
    output_json   text,
    error         text,
    traceback     text,
    seq           integer NOT NULL,
    PRIMARY KEY (run_id, task_key)
);

CREATE TABLE events (
    event_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id    text NOT NULL,
    task_key  text,
    kind      text NOT NULL,
    at        double precision NOT NULL,
    data_json text
);
CREATE INDEX events_by_run ON events (run_id, event_id);
