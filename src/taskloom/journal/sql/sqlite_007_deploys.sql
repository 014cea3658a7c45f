-- taskloom journal, schema version 7 (SQLite): what deploys, retries and cancels need.
--
-- plan_shapes: the graph (task key -> dependency keys) of every workflow
-- version a run was started with, recorded once per distinct graph. When a
-- run is adopted by a newer version of its workflow, the graph it was
-- started with is what its completed tasks are compared against.
--
-- cancel_requests: a cancel asked for a run that another live process
-- executes: that process reads it at its next maintenance tick and cancels
-- the run itself, so everything it records stays consistent.

CREATE TABLE IF NOT EXISTS plan_shapes (
    kind             TEXT NOT NULL,
    workflow_name    TEXT NOT NULL,
    workflow_version TEXT NOT NULL,
    shape_hash       TEXT NOT NULL,
    shape_json       TEXT NOT NULL,
    recorded_at      REAL NOT NULL,
    PRIMARY KEY (kind, workflow_name, workflow_version, shape_hash)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS cancel_requests (
    run_id       TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    requested_at REAL NOT NULL
);
