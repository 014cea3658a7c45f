-- taskloom journal, schema version 4 (PostgreSQL): suspended distributed nodes.
--
-- A step run's node that waits (sleep, wait for an event, a child) ends its
-- claim as 'Suspended': ready_at is the wake-up time, or NULL while only a
-- signal can wake it. A claim then treats it like a retry timer, so the
-- index of claimable rows must cover it too.

DROP INDEX task_runs_ready;
CREATE INDEX task_runs_ready ON task_runs (priority DESC, ready_at)
    WHERE status IN ('Ready', 'Retrying', 'Suspended');
