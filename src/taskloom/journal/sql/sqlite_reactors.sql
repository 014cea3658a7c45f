-- Named statements of reactors' durable accumulators (taskloom.journal.reactors).

-- name: lock
SELECT ?;

-- name: insert_value
INSERT INTO reactor_values (reactor, accumulator, value_json, pushed_at) VALUES (?, ?, ?, ?);

-- name: pending_accumulators
SELECT DISTINCT accumulator FROM reactor_values WHERE reactor = ? AND fire_id IS NULL;

-- name: latest_value
SELECT value_json FROM reactor_values WHERE reactor = ? AND accumulator = ?
ORDER BY seq DESC LIMIT 1;

-- name: consume
UPDATE reactor_values SET fire_id = ? WHERE reactor = ? AND fire_id IS NULL;

-- name: insert_fire
INSERT INTO reactor_fires (fire_id, reactor, inputs_json, run_ids, fired_at) VALUES (?, ?, ?, ?, ?);

-- name: list_fires
SELECT fire_id, reactor, inputs_json, run_ids, fired_at FROM reactor_fires
WHERE reactor = ? ORDER BY fired_at, fire_id;

-- name: pending_counts
SELECT accumulator, count(*) FROM reactor_values WHERE reactor = ? AND fire_id IS NULL
GROUP BY accumulator;

-- name: prune
-- Consumed values are history once a newer value of the same accumulator exists
-- (the firings keep their inputs): the table holds one row per accumulator plus
-- the values waiting.
DELETE FROM reactor_values
WHERE reactor = ? AND fire_id IS NOT NULL
  AND seq < (SELECT max(v.seq) FROM reactor_values v
             WHERE v.reactor = reactor_values.reactor
               AND v.accumulator = reactor_values.accumulator);
