-- taskloom journal, schema version 13 (PostgreSQL): the accumulators of
-- reactors, as in SQLite (sqlite_008_reactors.sql). Pushes to one reactor
-- are serialised by an advisory lock (see postgres_reactors.sql: lock).

CREATE TABLE reactor_values (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reactor     text NOT NULL,
    accumulator text NOT NULL,
    value_json  text NOT NULL,
    pushed_at   double precision NOT NULL,
    fire_id     text
);
CREATE INDEX reactor_values_pending ON reactor_values (reactor, fire_id);
CREATE INDEX reactor_values_latest ON reactor_values (reactor, accumulator, seq);

CREATE TABLE reactor_fires (
    fire_id     text PRIMARY KEY,
    reactor     text NOT NULL,
    inputs_json text NOT NULL,
    run_ids     text NOT NULL,
    fired_at    double precision NOT NULL
);
CREATE INDEX reactor_fires_by_reactor ON reactor_fires (reactor, fired_at);
