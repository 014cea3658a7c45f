-- taskloom journal, schema version 8 (SQLite): the accumulators of reactors.
-- Every value pushed into an accumulator is a row, kept until a firing of its
-- reactor consumes it (fire_id set in the transaction that records the
-- firing and creates its runs), so a pushed value survives a crash and a
-- firing happens at most once.

CREATE TABLE IF NOT EXISTS reactor_values (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    reactor     TEXT NOT NULL,
    accumulator TEXT NOT NULL,
    value_json  TEXT NOT NULL,
    pushed_at   REAL NOT NULL,
    fire_id     TEXT
);
CREATE INDEX IF NOT EXISTS reactor_values_pending ON reactor_values (reactor, fire_id);
CREATE INDEX IF NOT EXISTS reactor_values_latest ON reactor_values (reactor, accumulator, seq);

CREATE TABLE IF NOT EXISTS reactor_fires (
    fire_id     TEXT PRIMARY KEY,
    reactor     TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    run_ids     TEXT NOT NULL,
    fired_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reactor_fires_by_reactor ON reactor_fires (reactor, fired_at);
