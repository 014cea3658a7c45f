-- Named queries of the schedule store (SQLite). Each starts with a "-- name:" line.
-- Parameters are named (:name); the PostgreSQL twin is postgres_schedules.sql.

-- name: insert_schedule
INSERT INTO schedules (schedule_id, name, kind, style, workflow_name, input_json,
                       cron_expression, timezone, poll_interval_ms, allow_concurrent, enabled,
                       next_due_ms, last_run_at, last_run_id, last_poll_at, version,
                       created_at, updated_at)
VALUES (:schedule_id, :name, :kind, :style, :workflow_name, :input_json,
        :cron_expression, :timezone, :poll_interval_ms, :allow_concurrent, :enabled,
        :next_due_ms, NULL, NULL, NULL, 1, :now, :now)
ON CONFLICT DO NOTHING;

-- name: get_schedule
SELECT schedule_id, name, kind, style, workflow_name, input_json, cron_expression, timezone,
       poll_interval_ms, allow_concurrent, enabled, next_due_ms, last_run_at, last_run_id,
       last_poll_at, version, created_at, updated_at
FROM schedules WHERE schedule_id = :schedule_id;

-- name: get_schedule_by_name
SELECT schedule_id, name, kind, style, workflow_name, input_json, cron_expression, timezone,
       poll_interval_ms, allow_concurrent, enabled, next_due_ms, last_run_at, last_run_id,
       last_poll_at, version, created_at, updated_at
FROM schedules WHERE name = :name;

-- name: list_schedules
SELECT schedule_id, name, kind, style, workflow_name, input_json, cron_expression, timezone,
       poll_interval_ms, allow_concurrent, enabled, next_due_ms, last_run_at, last_run_id,
       last_poll_at, version, created_at, updated_at
FROM schedules
WHERE (:kind IS NULL OR kind = :kind)
  AND (NOT :enabled_only OR enabled = TRUE)
  AND (NOT :named_only OR name IS NOT NULL)
ORDER BY created_at, schedule_id
LIMIT :limit OFFSET :offset;

-- name: update_cron
UPDATE schedules
SET cron_expression = :cron_expression, timezone = :timezone, next_due_ms = :next_due_ms,
    version = version + 1, updated_at = :now
WHERE schedule_id = :schedule_id;

-- name: set_enabled
UPDATE schedules
SET enabled = :enabled, next_due_ms = :next_due_ms, version = version + 1, updated_at = :now
WHERE schedule_id = :schedule_id;

-- name: redefine
UPDATE schedules
SET kind = :kind, style = :style, workflow_name = :workflow_name,
    cron_expression = :cron_expression, timezone = :timezone,
    poll_interval_ms = :poll_interval_ms, allow_concurrent = :allow_concurrent,
    next_due_ms = :next_due_ms, version = version + 1, updated_at = :now
WHERE schedule_id = :schedule_id;

-- name: delete_schedule
DELETE FROM schedules WHERE schedule_id = :schedule_id;

-- name: bump_changes
UPDATE schedule_changes SET version = version + 1 WHERE singleton = 1;

-- name: change_version
SELECT version FROM schedule_changes WHERE singleton = 1;

-- name: claim_due
-- The compare-and-set that makes one process the owner of a due time.
UPDATE schedules
SET next_due_ms = :next_due_ms, last_poll_at = COALESCE(:poll_at, last_poll_at)
WHERE schedule_id = :schedule_id AND version = :version AND enabled = TRUE
  AND next_due_ms = :due_ms;

-- name: insert_fire
INSERT INTO schedule_fires (schedule_id, due_ms, outcome, run_id, claimed_at, skipped_count,
                            context_hash, detail)
VALUES (:schedule_id, :due_ms, :outcome, :run_id, :claimed_at, :skipped_count,
        :context_hash, :detail)
ON CONFLICT (schedule_id, due_ms) DO NOTHING;

-- name: record_last_run
UPDATE schedules SET last_run_at = :at, last_run_id = :run_id WHERE schedule_id = :schedule_id;

-- name: last_run_status
SELECT r.run_id, r.status
FROM schedules s JOIN runs r ON r.run_id = s.last_run_id
WHERE s.schedule_id = :schedule_id;

-- name: fire_history
SELECT f.schedule_id, f.due_ms, f.outcome, f.run_id, f.claimed_at, f.skipped_count,
       f.context_hash, f.detail, r.status, r.ended_at
FROM schedule_fires f LEFT JOIN runs r ON r.run_id = f.run_id
WHERE f.schedule_id = :schedule_id
ORDER BY f.due_ms DESC
LIMIT :limit OFFSET :offset;

-- name: fire_stats
SELECT COUNT(*),
       COALESCE(SUM(CASE WHEN r.status = 'Completed' THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN r.run_id IS NULL THEN 1 ELSE 0 END), 0)
FROM schedule_fires f LEFT JOIN runs r ON r.run_id = f.run_id
WHERE f.outcome = 'started' AND f.claimed_at >= :since;

-- name: origins
SELECT f.run_id, f.schedule_id, s.kind, s.name
FROM schedule_fires f LEFT JOIN schedules s ON s.schedule_id = f.schedule_id
WHERE f.run_id IN (SELECT value FROM json_each(:run_ids));
