-- taskloom journal, schema version 5 (SQLite): large values are written once.
-- SQLite rewrites a whole row on every UPDATE, so a run's input kept in its
-- runs row was copied again at each status change (and the old copy left as
-- free pages). New runs keep their input in run_inputs, which is never
-- updated. A run whose result is the output of one of its tasks records that
-- task's key in final_task instead of a second copy of the text.
-- (No semicolons in comments: the migration runner splits scripts on them.)

CREATE TABLE IF NOT EXISTS run_inputs (
    run_id     TEXT PRIMARY KEY,
    input_json TEXT NOT NULL
);
ALTER TABLE runs ADD COLUMN final_task TEXT;
