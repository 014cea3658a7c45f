-- taskloom journal, schema version 12 (PostgreSQL): what deploys, retries and cancels need.
--
-- plan_shapes: the graph (task key -> dependency keys) of every workflow
-- version a run was started with, recorded once per distinct graph. When a
-- run is adopted by a newer version of its workflow, the graph it was
-- started with is what its completed tasks are compared against.
--
-- cancel_requests: a cancel asked for a run that another live process
-- executes: that process reads it at its next maintenance tick and cancels
-- the run itself, so everything it records stays consistent.

CREATE TABLE plan_shapes (
    kind             text NOT NULL,
    workflow_name    text NOT NULL,
    workflow_version text NOT NULL,
    shape_hash       text NOT NULL,
    shape_json       text NOT NULL,
    recorded_at      double precision NOT NULL,
    PRIMARY KEY (kind, workflow_name, workflow_version, shape_hash)
);

CREATE TABLE cancel_requests (
    run_id       text PRIMARY KEY,
    reason       text NOT NULL,
    requested_at double precision NOT NULL
);
