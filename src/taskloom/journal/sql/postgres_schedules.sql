-- Named queries of the schedule store (PostgreSQL). Each starts with a "-- name:" line.
-- Parameters use psycopg's %(name)s style; the SQLite twin is sqlite_schedules.sql.

-- name: insert_schedule
INSERT INTO schedules (schedule_id, name, kind, style, workflow_name, input_json,
                       cron_expression, timezone, poll_interval_ms, allow_concurrent, enabled,
                       next_due_ms, last_run_at, last_run_id, last_poll_at, version,
                       created_at, updated_at)
VALUES (%(schedule_id)s, %(name)s, %(kind)s, %(style)s, %(workflow_name)s, %(input_json)s,
        %(cron_expression)s, %(timezone)s, %(poll_interval_ms)s, %(allow_concurrent)s, %(enabled)s,
        %(next_due_ms)s, NULL, NULL, NULL, 1, %(now)s, %(now)s)
ON CONFLICT DO NOTHING;

-- name: get_schedule
SELECT schedule_id, name, kind, style, workflow_name, input_json, cron_expression, timezone,
       poll_interval_ms, allow_concurrent, enabled, next_due_ms, last_run_at, last_run_id,
       last_poll_at, version, created_at, updated_at
FROM schedules WHERE schedule_id = %(schedule_id)s;

-- name: get_schedule_by_name
SELECT schedule_id, name, kind, style, workflow_name, input_json, cron_expression, timezone,
       poll_interval_ms, allow_concurrent, enabled, next_due_ms, last_run_at, last_run_id,
       last_poll_at, version, created_at, updated_at
FROM schedules WHERE name = %(name)s;

-- name: list_schedules
SELECT schedule_id, name, kind, style, workflow_name, input_json, cron_expression, timezone,
       poll_interval_ms, allow_concurrent, enabled, next_due_ms, last_run_at, last_run_id,
       last_poll_at, version, created_at, updated_at
FROM schedules
WHERE (%(kind)s::text IS NULL OR kind = %(kind)s::text)
  AND (NOT %(enabled_only)s::boolean OR enabled = TRUE)
  AND (NOT %(named_only)s::boolean OR name IS NOT NULL)
ORDER BY created_at, schedule_id
LIMIT %(limit)s::bigint OFFSET %(offset)s;

-- name: update_cron
UPDATE schedules
SET cron_expression = %(cron_expression)s, timezone = %(timezone)s, next_due_ms = %(next_due_ms)s,
    version = version + 1, updated_at = %(now)s
WHERE schedule_id = %(schedule_id)s;

-- name: set_enabled
UPDATE schedules
SET enabled = %(enabled)s, next_due_ms = %(next_due_ms)s, version = version + 1, updated_at = %(now)s
WHERE schedule_id = %(schedule_id)s;

-- name: redefine
UPDATE schedules
SET kind = %(kind)s, style = %(style)s, workflow_name = %(workflow_name)s,
    cron_expression = %(cron_expression)s, timezone = %(timezone)s,
    poll_interval_ms = %(poll_interval_ms)s, allow_concurrent = %(allow_concurrent)s,
    next_due_ms = %(next_due_ms)s, version = version + 1, updated_at = %(now)s
WHERE schedule_id = %(schedule_id)s;

-- name: delete_schedule
DELETE FROM schedules WHERE schedule_id = %(schedule_id)s;

-- name: notify
SELECT pg_notify(%(channel)s, '');

-- name: claim_due
-- The compare-and-set that makes one process the owner of a due time.
UPDATE schedules
SET next_due_ms = %(next_due_ms)s, last_poll_at = COALESCE(%(poll_at)s::double precision, last_poll_at)
WHERE schedule_id = %(schedule_id)s AND version = %(version)s AND enabled = TRUE
  AND next_due_ms = %(due_ms)s;

-- name: insert_fire
INSERT INTO schedule_fires (schedule_id, due_ms, outcome, run_id, claimed_at, skipped_count,
                            context_hash, detail)
VALUES (%(schedule_id)s, %(due_ms)s, %(outcome)s, %(run_id)s, %(claimed_at)s, %(skipped_count)s,
        %(context_hash)s, %(detail)s)
ON CONFLICT (schedule_id, due_ms) DO NOTHING;

-- name: record_last_run
UPDATE schedules SET last_run_at = %(at)s, last_run_id = %(run_id)s WHERE schedule_id = %(schedule_id)s;

-- name: last_run_status
SELECT r.run_id, r.status
FROM schedules s JOIN runs r ON r.run_id = s.last_run_id
WHERE s.schedule_id = %(schedule_id)s;

-- name: fire_history
SELECT f.schedule_id, f.due_ms, f.outcome, f.run_id, f.claimed_at, f.skipped_count,
       f.context_hash, f.detail, r.status, r.ended_at
FROM schedule_fires f LEFT JOIN runs r ON r.run_id = f.run_id
WHERE f.schedule_id = %(schedule_id)s
ORDER BY f.due_ms DESC
LIMIT %(limit)s::bigint OFFSET %(offset)s;

-- name: fire_stats
SELECT COUNT(*),
       COALESCE(SUM(CASE WHEN r.status = 'Completed' THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN r.run_id IS NULL THEN 1 ELSE 0 END), 0)
FROM schedule_fires f LEFT JOIN runs r ON r.run_id = f.run_id
WHERE f.outcome = 'started' AND f.claimed_at >= %(since)s;

-- name: origins
SELECT f.run_id, f.schedule_id, s.kind, s.name
FROM schedule_fires f LEFT JOIN schedules s ON s.schedule_id = f.schedule_id
WHERE f.run_id = ANY(%(run_ids)s::text[]);
