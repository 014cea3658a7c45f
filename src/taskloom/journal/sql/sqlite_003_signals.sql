-- taskloom journal, schema version 3 (SQLite): the signal inbox.
-- A signal (an event sent to a run) is kept here until the run consumes it;
-- runs consume their inbox in signal_id order with a cursor, so rows are
-- never updated. AUTOINCREMENT: ids are never reused, even after deletes.

CREATE TABLE IF NOT EXISTS signals (
    signal_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    sent_at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS signals_by_run ON signals (run_id, signal_id);
