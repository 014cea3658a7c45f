-- Named queries of the distributed task queue (PostgreSQL only).
-- Times are taken from the database clock (clock_timestamp, epoch seconds),
-- never from the worker's, so leases mean the same on every machine.

-- name: insert_queued_run
-- A workflow timeout becomes a deadline on the database clock (NULL without one).
INSERT INTO runs (run_id, workflow_name, workflow_version, kind, status, input_json,
                  owner_id, created_at, distributed, open_tasks,
                  deadline, workflow_timeout, task_timeout)
VALUES (%(run_id)s, %(name)s, %(version)s, %(kind)s, 'Running', %(input_json)s,
        NULL, %(created_at)s, true, %(open_tasks)s,
        extract(epoch FROM clock_timestamp())::float8 + %(workflow_timeout)s::float8,
        %(workflow_timeout)s::float8, %(task_timeout)s::float8);

-- name: insert_queued_tasks
-- Roots are Ready at once; every other task waits for remaining_deps to reach 0.
INSERT INTO task_runs (run_id, task_key, status, attempt, seq, remaining_deps, ready_at,
                       priority, workflow, run_limit, conc_group, group_limit)
SELECT %(run_id)s, k.key, CASE WHEN k.deps = 0 THEN 'Ready' ELSE 'Pending' END, 0,
       (k.ord - 1)::int, k.deps,
       CASE WHEN k.deps = 0 THEN extract(epoch FROM clock_timestamp())::float8 END, k.priority,
       %(workflow)s, %(run_limit)s::int, k.grp, k.group_limit
FROM unnest(%(keys)s::text[], %(deps)s::int[], %(priorities)s::int[], %(groups)s::text[],
            %(group_limits)s::int[])
     WITH ORDINALITY AS k(key, deps, priority, grp, group_limit, ord);

-- name: notify
SELECT pg_notify(%s, %s);

-- name: claim_ready
-- One statement claims up to %(limit)s ready tasks, highest priority first,
-- of the workflow versions the worker registered. SKIP LOCKED lets many
-- workers claim at once without waiting for each other; every claim bumps
-- the fence. The scan starts from the small partial index of ready rows.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
picked AS (
    SELECT t.run_id, t.task_key, t.status AS old_status
    FROM task_runs t
    WHERE t.status IN ('Ready', 'Retrying', 'Suspended')
      AND t.ready_at <= (SELECT now FROM clock)
      AND t.workflow = ANY(%(workflows)s::text[])
      -- Rows under a concurrency limit are claim_limited's.
      AND t.run_limit IS NULL AND t.conc_group IS NULL
    ORDER BY t.priority DESC, t.ready_at
    LIMIT %(limit)s
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE task_runs t
SET status = 'Running',
    claimed_by = %(me)s,
    fence = t.fence + 1,
    attempt = t.attempt + 1,
    deaths = 0,
    lease_until = clock.now + %(lease)s,
    started_at = clock.now,
    ended_at = NULL,
    next_retry_at = NULL
FROM picked JOIN runs r ON r.run_id = picked.run_id, clock
WHERE t.run_id = picked.run_id AND t.task_key = picked.task_key
RETURNING t.run_id, t.task_key, t.attempt, t.fence, picked.old_status,
          r.workflow_name, r.workflow_version, r.input_json, r.kind,
          r.deadline - clock.now, r.task_timeout, t.deaths;

-- name: claim_expired
-- Tasks whose owner's lease ran out (the owner died or froze). Run from the
-- fallback poll only: nothing notifies about a lease expiring.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
picked AS (
    SELECT t.run_id, t.task_key, t.status AS old_status
    FROM task_runs t
    WHERE t.status = 'Running'
      AND t.claimed_by IS NOT NULL
      -- Never our own: we are still running it (our renewals failed while the
      -- database was away) and renew it once we can. Taking it over would run
      -- it twice here, its two attempts under one key of ours.
      AND t.claimed_by <> %(me)s
      AND t.lease_until < (SELECT now FROM clock)
      AND t.workflow = ANY(%(workflows)s::text[])
    ORDER BY t.lease_until
    LIMIT %(limit)s
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE task_runs t
SET claimed_by = %(me)s,
    fence = t.fence + 1,
    -- The attempt cut short by a dead owner does not count against retries,
    -- but its death does count against the attempt (core/deaths.py).
    deaths = t.deaths + 1,
    lease_until = clock.now + %(lease)s,
    started_at = clock.now
FROM picked JOIN runs r ON r.run_id = picked.run_id, clock
WHERE t.run_id = picked.run_id AND t.task_key = picked.task_key
RETURNING t.run_id, t.task_key, t.attempt, t.fence, picked.old_status,
          r.workflow_name, r.workflow_version, r.input_json, r.kind,
          r.deadline - clock.now, r.task_timeout, t.deaths;

-- name: task_states
-- Read after a claim has committed: the states of the claimed tasks'
-- dependencies (readiness) and of their runs (task_key NULL). A cancel (or
-- a fail_fast stop) skips the rows a concurrent claim holds locked, so a
-- task can be claimed from a run that ended at that very moment; read after
-- the claim, the run's status says so, and the task is not started.
SELECT t.run_id, t.task_key, t.status, t.output_json
FROM task_runs t
JOIN unnest(%(run_ids)s::text[], %(keys)s::text[]) AS w(run_id, task_key)
  ON t.run_id = w.run_id AND t.task_key = w.task_key
UNION ALL
SELECT r.run_id, NULL, r.status, NULL
FROM runs r
WHERE r.run_id = ANY(%(runs)s::text[]);

-- name: renew_leases
UPDATE task_runs
SET lease_until = extract(epoch FROM clock_timestamp())::float8 + %s
WHERE claimed_by = %s AND status = 'Running';

-- Accepted in this transaction: the statements sent in the same pipeline as
-- complete_tasks, before its result is read, count a completion only if its
-- row now carries its fence, a final status, no owner *and this
-- transaction's id as xmin* (complete_tasks wrote it just now). Without the
-- last test a batch sent again after its COMMIT's answer was lost (the
-- first COMMIT did land) counted every completion a second time: a join
-- released early, a run finished before its last task.

-- name: keyed_plans
-- Set at the start of every completion transaction. Its statements join the
-- batch's keys to task_runs/runs by primary key, so one plan fits every
-- batch: force_generic_plan plans each once per connection instead of at
-- every execution (re-planning cost more than running them). A generic plan
-- is built from the table's size at that moment; enable_seqscan=off keeps a
-- plan built while the table was nearly empty from being a scan of the
-- whole table, which it would stay after the table has grown.
SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
       set_config('enable_seqscan', 'off', true);

-- name: complete_tasks
-- The fence: only the current owner's claim can record the outcome. A row
-- that was re-claimed by another worker (fence bumped) is not updated, and
-- the caller learns which completions were rejected from what is returned.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
UPDATE task_runs t
SET status = c.status,
    -- A task decided without running (skipped, or its trigger rule failed)
    -- gives back the attempt its claim counted, as in a local run.
    attempt = CASE WHEN c.attempted THEN t.attempt ELSE t.attempt - 1 END,
    started_at = CASE WHEN c.attempted THEN t.started_at END,
    output_json = c.output_json,
    error = c.error,
    traceback = c.traceback,
    ended_at = CASE WHEN c.status IN ('Retrying', 'Suspended') THEN NULL ELSE clock.now END,
    ready_at = CASE
        WHEN c.status = 'Retrying' THEN clock.now + c.delay
        -- A signal sent while the node ran moved ready_at past its start: the
        -- node may not have seen it, so it is claimable again at once.
        WHEN c.status = 'Suspended' AND t.ready_at > t.started_at THEN clock.now
        WHEN c.status = 'Suspended' THEN clock.now + c.wake_in
        ELSE t.ready_at END,
    next_retry_at = CASE WHEN c.status = 'Retrying' THEN clock.now + c.delay
                         WHEN c.status = 'Suspended' THEN clock.now + c.wake_in END,
    claimed_by = NULL,
    lease_until = NULL
FROM unnest(%(run_ids)s::text[], %(keys)s::text[], %(fences)s::bigint[], %(statuses)s::text[],
            %(outputs)s::text[], %(errors)s::text[], %(tracebacks)s::text[],
            %(delays)s::float8[], %(attempted)s::boolean[], %(wake_in)s::float8[])
     AS c(run_id, task_key, fence, status, output_json, error, traceback, delay, attempted,
          wake_in),
     clock
WHERE t.run_id = c.run_id AND t.task_key = c.task_key AND t.fence = c.fence
  AND t.claimed_by = %(me)s AND t.status = 'Running'
  -- A run that ended (cancelled, stopped) records no more outcomes, not even
  -- from a task whose claim its stop skipped (sweep_ended then cancels the
  -- row) -- only that a task of it was cancelled (Worker._run_ended).
  AND (c.status = 'Cancelled'
       OR EXISTS (SELECT 1 FROM runs r WHERE r.run_id = t.run_id AND r.status = 'Running'))
RETURNING t.run_id, t.task_key, clock.now;

-- name: lock_dependents
-- Several workers' completions touch the same dependents (a join) and the
-- same runs; locking them in key order first means two such transactions
-- queue for each other instead of deadlocking.
SELECT 1 FROM task_runs
WHERE (run_id, task_key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY run_id, task_key
FOR UPDATE;

-- name: lock_runs
SELECT 1 FROM runs WHERE run_id = ANY(%s::text[]) ORDER BY run_id FOR UPDATE;

-- name: release_dependents
-- One decrement per finished dependency (a fan-in finishing together is
-- grouped); a task reaching zero becomes Ready.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
dec AS (
    SELECT run_id, task_key, count(*)::int AS n
    FROM unnest(%s::text[], %s::text[]) AS d(run_id, task_key)
    GROUP BY run_id, task_key
)
UPDATE task_runs t
SET remaining_deps = t.remaining_deps - dec.n,
    status = CASE WHEN t.remaining_deps - dec.n <= 0 THEN 'Ready' ELSE t.status END,
    ready_at = CASE WHEN t.remaining_deps - dec.n <= 0 THEN clock.now ELSE t.ready_at END
FROM dec, clock
WHERE t.run_id = dec.run_id AND t.task_key = dec.task_key AND t.status = 'Pending'
RETURNING t.status;

-- name: close_tasks
-- Count finished tasks off their runs; a run reaching zero is finished.
WITH dec AS (
    SELECT run_id, count(*)::int AS n FROM unnest(%s::text[]) AS d(run_id) GROUP BY run_id
)
UPDATE runs r SET open_tasks = r.open_tasks - dec.n
FROM dec
WHERE r.run_id = dec.run_id
RETURNING r.run_id, r.open_tasks, r.workflow_name, r.workflow_version, r.input_json, r.kind;

-- name: outcome_rows
-- What a finished run's result is made of: its failed tasks and its sinks.
SELECT task_key, status, output_json, error FROM task_runs
WHERE run_id = %s AND (status = 'Failed' OR task_key = ANY(%s::text[]));

-- name: finish_run
UPDATE runs SET status = %s, final_json = %s, error = %s,
                ended_at = extract(epoch FROM clock_timestamp())::float8
WHERE run_id = %s AND status = 'Running'
RETURNING ended_at;

-- name: insert_events
INSERT INTO events (run_id, task_key, kind, at, data_json)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[], %s::text[]);

-- name: stop_run
-- Stop a run (fail_fast, or a cancel): every task not yet ended becomes
-- Cancelled, and a running one loses its claim (fence bumped), so its
-- worker's late completion is rejected. Rows locked by a concurrent
-- completion are skipped rather than waited for (no lock-order deadlock):
-- they end on their own, after the run, changing nothing.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
open AS (
    SELECT run_id, task_key FROM task_runs
    WHERE run_id = %(run_id)s AND workflow IS NOT NULL
      AND status IN ('Pending', 'Ready', 'Retrying', 'Suspended', 'Running')
    ORDER BY task_key
    FOR UPDATE SKIP LOCKED
)
UPDATE task_runs t
SET status = 'Cancelled', ended_at = clock.now, claimed_by = NULL, lease_until = NULL,
    fence = t.fence + 1, ready_at = NULL
FROM open, clock
WHERE t.run_id = open.run_id AND t.task_key = open.task_key;

-- name: recorded
-- After a retried commit was rejected: which of its completions an earlier
-- commit (whose answer was lost) did record. Every claim bumps the fence,
-- and a stop bumps it too, so a row carrying the completion's fence, its
-- outcome and no owner was written by that completion and nothing since.
SELECT t.run_id, t.task_key
FROM task_runs t
JOIN unnest(%(run_ids)s::text[], %(keys)s::text[], %(fences)s::bigint[], %(statuses)s::text[])
     AS c(run_id, task_key, fence, status)
  ON t.run_id = c.run_id AND t.task_key = c.task_key AND t.fence = c.fence
WHERE t.status = c.status AND t.claimed_by IS NULL;

-- name: sweep_ended
-- stop_run (a cancel, a fail_fast stop, a deadline) skips the rows another
-- transaction holds locked -- among them the dependents a concurrent
-- completion locked (lock_dependents) -- and such a row stayed Pending (or
-- became Ready) in a run that had ended, and a row a claim held locked went
-- on Running with its fence. So every completion transaction,
-- once its runs are locked, cancels what is still open in those of its runs
-- that no longer run. Rows locked by yet another completion are skipped
-- again: that one sweeps them itself (it locks the run after this one, so
-- it sees the run ended). Nothing here waits, so nothing can deadlock.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
open AS (
    SELECT t.run_id, t.task_key
    FROM runs r
    JOIN task_runs t ON t.run_id = r.run_id
    WHERE r.run_id = ANY(%(run_ids)s::text[]) AND r.status <> 'Running'
      AND t.workflow IS NOT NULL
      AND t.status IN ('Pending', 'Ready', 'Retrying', 'Suspended', 'Running')
    ORDER BY t.run_id, t.task_key
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE task_runs t
SET status = 'Cancelled', ended_at = clock.now, claimed_by = NULL, lease_until = NULL,
    fence = t.fence + 1, ready_at = NULL
FROM open, clock
WHERE t.run_id = open.run_id AND t.task_key = open.task_key;

-- name: zero_open_tasks
UPDATE runs SET open_tasks = 0 WHERE run_id = %s AND status = 'Running'
RETURNING kind, workflow_name, workflow_version, input_json;

-- name: finish_cancelled
-- A cancelled run's result is its input (as a DAG run cancelled before any
-- task completed); flows and step runs raise for a cancelled run anyway.
UPDATE runs SET status = 'Cancelled', final_json = input_json, error = %s,
                ended_at = extract(epoch FROM clock_timestamp())::float8
WHERE run_id = %s AND status = 'Running'
RETURNING ended_at;

-- name: close_tasks_outcome
-- close_tasks, and for each run reaching zero open tasks what its result is
-- made of (failed rows and the plan's result rows), in the same round trip.
-- The subquery sees this transaction's earlier completions.
-- Sent in the same pipeline as complete_tasks, before its result is read:
-- a completion counts only if its row now carries its fence and a final
-- status, i.e. complete_tasks accepted it.
WITH dec AS (
    SELECT d.run_id, count(*)::int AS n
    FROM unnest(%(run_ids)s::text[], %(keys)s::text[], %(fences)s::bigint[])
         AS d(run_id, task_key, fence)
    JOIN task_runs t ON t.run_id = d.run_id AND t.task_key = d.task_key AND t.fence = d.fence
    WHERE t.status IN ('Completed', 'Failed', 'Skipped') AND t.claimed_by IS NULL
      AND t.xmin = pg_current_xact_id()::xid
    GROUP BY d.run_id
),
closed AS (
    UPDATE runs r SET open_tasks = r.open_tasks - dec.n
    FROM dec
    WHERE r.run_id = dec.run_id
    RETURNING r.run_id, r.open_tasks, r.workflow_name, r.workflow_version, r.input_json, r.kind
)
SELECT c.run_id, c.open_tasks, c.workflow_name, c.workflow_version, c.input_json, c.kind,
       CASE WHEN c.open_tasks <= 0 THEN (
           SELECT json_agg(json_build_array(t.task_key, t.status, t.output_json, t.error))
           FROM task_runs t
           WHERE t.run_id = c.run_id
             AND (t.status = 'Failed' OR t.task_key IN (
                 SELECT w.task_key
                 FROM unnest(%(result_runs)s::text[], %(result_keys)s::text[])
                      AS w(run_id, task_key)
                 WHERE w.run_id = c.run_id))
       ) END
FROM closed c;

-- name: finish_run_notify
-- Finish a run, log run_finished and tell its waiters, in one statement: the
-- worker need not read anything back before its commit.
WITH f AS (
    UPDATE runs SET status = %(status)s, final_json = %(final)s, error = %(error)s,
                    ended_at = extract(epoch FROM clock_timestamp())::float8
    WHERE run_id = %(run_id)s AND status = 'Running'
    RETURNING run_id, ended_at
),
e AS (
    INSERT INTO events (run_id, task_key, kind, at, data_json)
    SELECT run_id, NULL, 'run_finished', ended_at, %(event)s FROM f
)
SELECT pg_notify(%(channel)s, run_id || ' ' || %(status)s) FROM f;

-- name: release_accepted
-- release_dependents for completions whose acceptance is not known yet (same
-- pipeline as complete_tasks): a parent counts only if its row now carries
-- its fence and a final status.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
dec AS (
    SELECT d.run_id, d.task_key, count(*)::int AS n
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[])
         AS d(run_id, task_key, parent, fence)
    JOIN task_runs p ON p.run_id = d.run_id AND p.task_key = d.parent AND p.fence = d.fence
    WHERE p.status IN ('Completed', 'Failed', 'Skipped') AND p.claimed_by IS NULL
      AND p.xmin = pg_current_xact_id()::xid
    GROUP BY d.run_id, d.task_key
)
UPDATE task_runs t
SET remaining_deps = t.remaining_deps - dec.n,
    status = CASE WHEN t.remaining_deps - dec.n <= 0 THEN 'Ready' ELSE t.status END,
    ready_at = CASE WHEN t.remaining_deps - dec.n <= 0 THEN clock.now ELSE t.ready_at END
FROM dec, clock
WHERE t.run_id = dec.run_id AND t.task_key = dec.task_key AND t.status = 'Pending'
RETURNING t.status;

-- name: insert_events_accepted
-- The events of the completions complete_tasks accepted (same pipeline, its
-- result not read yet): a completion was accepted if its row now carries its
-- fence, its outcome and no owner. Stamped with the row's end time.
INSERT INTO events (run_id, task_key, kind, at, data_json)
SELECT e.run_id, e.task_key, e.kind,
       coalesce(t.ended_at, extract(epoch FROM clock_timestamp())::float8), e.data_json
FROM unnest(%(run_ids)s::text[], %(keys)s::text[], %(fences)s::bigint[], %(statuses)s::text[],
            %(kinds)s::text[], %(datas)s::text[]) WITH ORDINALITY
     AS e(run_id, task_key, fence, status, kind, data_json, ord)
JOIN task_runs t ON t.run_id = e.run_id AND t.task_key = e.task_key AND t.fence = e.fence
WHERE t.status = e.status AND t.claimed_by IS NULL AND t.xmin = pg_current_xact_id()::xid
ORDER BY e.ord;

-- name: release_accepted_notify
-- release_accepted, and the ready notification if a dependent became Ready,
-- in the same statement (nothing to read before the commit).
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
dec AS (
    SELECT d.run_id, d.task_key, count(*)::int AS n
    FROM unnest(%(run_ids)s::text[], %(keys)s::text[], %(parents)s::text[], %(fences)s::bigint[])
         AS d(run_id, task_key, parent, fence)
    JOIN task_runs p ON p.run_id = d.run_id AND p.task_key = d.parent AND p.fence = d.fence
    WHERE p.status IN ('Completed', 'Failed', 'Skipped') AND p.claimed_by IS NULL
      AND p.xmin = pg_current_xact_id()::xid
    GROUP BY d.run_id, d.task_key
),
released AS (
    UPDATE task_runs t
    SET remaining_deps = t.remaining_deps - dec.n,
        status = CASE WHEN t.remaining_deps - dec.n <= 0 THEN 'Ready' ELSE t.status END,
        ready_at = CASE WHEN t.remaining_deps - dec.n <= 0 THEN clock.now ELSE t.ready_at END
    FROM dec, clock
    WHERE t.run_id = dec.run_id AND t.task_key = dec.task_key AND t.status = 'Pending'
    RETURNING t.status
),
ready AS (SELECT count(*) AS n FROM released WHERE status = 'Ready')
SELECT ready.n, CASE WHEN ready.n > 0 THEN (SELECT true FROM pg_notify(%(channel)s, '')) END
FROM ready;

-- name: close_finish
-- close_tasks_outcome for a one-round-trip commit: count the accepted
-- completions off their runs and, in the same UPDATE, finish each run that
-- reaches zero open tasks with its speculated outcome (spec_*), provided it
-- holds: the run's Failed rows are exactly the batch's failed completions
-- (spec_failed of them). Then log run_finished and notify the waiters; the
-- payload carries the run and its task rows (get_run / get_tasks columns)
-- when they fit in a notification, so a waiting client needs no read. A run
-- that reaches zero without a speculation that holds aborts the transaction
-- (taskloom_unsettled, SQLSTATE TL001): the worker records it the slow way.
-- The verdict is a materialised CTE and the payload's subquery is kept
-- whole (OFFSET 0), so that each is planned and computed once: inlined, the
-- planner copied the Failed count into every CASE and the task rows into
-- every use of the payload, and planning cost more than running. The
-- payload stays inside CASE WHEN fin: it is built only for a finished run
-- (as a lateral join it was built for every run the batch touched).
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
dec AS (
    SELECT d.run_id, count(*)::int AS n
    FROM unnest(%(run_ids)s::text[], %(keys)s::text[], %(fences)s::bigint[])
         AS d(run_id, task_key, fence)
    JOIN task_runs t ON t.run_id = d.run_id AND t.task_key = d.task_key AND t.fence = d.fence
    WHERE t.status IN ('Completed', 'Failed', 'Skipped') AND t.claimed_by IS NULL
      AND t.xmin = pg_current_xact_id()::xid
    GROUP BY d.run_id
),
verdict AS MATERIALIZED (
    -- The runs are locked (lock_runs), so their rows read here are current.
    SELECT v.run_id, v.n, v.status, v.final_json, v.error, v.event_json,
           v.ends AND v.holds AS fin, v.ends AND NOT v.holds AS unsettled
    FROM (
        SELECT dec.run_id, dec.n, s.status, s.final_json, s.error, s.event_json,
               r.open_tasks - dec.n <= 0 AND r.status = 'Running' AS ends,
               s.run_id IS NOT NULL
               AND s.failed = (SELECT count(*) FROM task_runs f
                               WHERE f.run_id = dec.run_id AND f.status = 'Failed') AS holds
        FROM dec
        JOIN runs r ON r.run_id = dec.run_id
        LEFT JOIN unnest(%(spec_runs)s::text[], %(spec_statuses)s::text[],
                         %(spec_finals)s::text[], %(spec_errors)s::text[],
                         %(spec_events)s::text[], %(spec_failed)s::int[])
             AS s(run_id, status, final_json, error, event_json, failed)
          ON s.run_id = dec.run_id
    ) v
),
closed AS (
    UPDATE runs r
    SET open_tasks = r.open_tasks - j.n,
        status = CASE WHEN j.fin THEN j.status ELSE r.status END,
        final_json = CASE WHEN j.fin THEN j.final_json ELSE r.final_json END,
        error = CASE WHEN j.fin THEN j.error ELSE r.error END,
        ended_at = CASE WHEN j.fin THEN clock.now ELSE r.ended_at END
    FROM verdict j, clock
    WHERE r.run_id = j.run_id
    RETURNING r.run_id, r.status, j.fin, j.unsettled, j.event_json, r.ended_at,
              r.workflow_name, r.workflow_version, r.kind, r.input_json, r.created_at,
              r.final_json, r.error, r.owner_id
),
logged AS (
    INSERT INTO events (run_id, task_key, kind, at, data_json)
    SELECT run_id, NULL, 'run_finished', ended_at, event_json FROM closed WHERE fin
)
SELECT c.run_id,
       CASE WHEN c.fin THEN (SELECT true FROM pg_notify(%(channel)s, c.run_id || ' ' || c.status || coalesce(
           (SELECT ' ' || p.payload FROM (
               SELECT json_build_array(
                   json_build_array(c.run_id, c.workflow_name, c.workflow_version, c.kind,
                                    c.status, c.input_json, c.created_at, c.final_json, c.error,
                                    c.owner_id, c.ended_at),
                   (SELECT json_agg(json_build_array(
                               t.run_id, t.task_key, t.status, t.attempt, t.next_retry_at,
                               t.started_at, t.ended_at, t.output_json, t.error, t.traceback,
                               t.seq) ORDER BY t.seq)
                    FROM task_runs t WHERE t.run_id = c.run_id))::text AS payload
               WHERE (SELECT count(*) FROM (SELECT 1 FROM task_runs t
                                            WHERE t.run_id = c.run_id LIMIT 65) few) <= 64
               OFFSET 0) p
            WHERE octet_length(p.payload) < 7900), '')))
       WHEN c.unsettled THEN taskloom_unsettled(c.run_id)
       END
FROM closed c;

-- name: limits_lock
-- claim_limited runs one at a time per schema, so each sees the Running rows
-- of every earlier limited claim (its snapshot is taken after this lock).
SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':taskloom-limits'));

-- name: claim_limited
-- Ready rows under a run limit (max_concurrency) or a group limit (fan_out
-- max_concurrency): a row is taken only if the Running rows of its run and
-- of its group, plus the rows ranked before it in this same claim, stay
-- within the limits. Ranks count every candidate, so a claim may take fewer
-- than allowed, never more. No row locks are needed (the advisory lock
-- serialises limited claims; a concurrent completion only frees capacity);
-- the UPDATE re-checks the status.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
cand AS (
    SELECT t.run_id, t.task_key, t.status AS old_status, t.priority, t.ready_at,
           t.run_limit, t.conc_group, t.group_limit
    FROM task_runs t
    WHERE t.status IN ('Ready', 'Retrying', 'Suspended')
      AND t.ready_at <= (SELECT now FROM clock)
      AND t.workflow = ANY(%(workflows)s::text[])
      AND (t.run_limit IS NOT NULL OR t.conc_group IS NOT NULL)
),
ranked AS (
    SELECT c.*,
           row_number() OVER (PARTITION BY c.run_id
                              ORDER BY c.priority DESC, c.ready_at, c.task_key) AS run_rank,
           row_number() OVER (PARTITION BY c.run_id, c.conc_group
                              ORDER BY c.priority DESC, c.ready_at, c.task_key) AS group_rank,
           (SELECT count(*) FROM task_runs x
            WHERE x.run_id = c.run_id AND x.status = 'Running') AS run_running,
           (SELECT count(*) FROM task_runs x
            WHERE x.run_id = c.run_id AND x.conc_group = c.conc_group
              AND x.status = 'Running') AS group_running
    FROM cand c
),
picked AS (
    SELECT run_id, task_key, old_status FROM ranked
    WHERE (run_limit IS NULL OR run_running + run_rank <= run_limit)
      AND (conc_group IS NULL OR group_running + group_rank <= group_limit)
    ORDER BY priority DESC, ready_at
    LIMIT %(limit)s
)
UPDATE task_runs t
SET status = 'Running',
    claimed_by = %(me)s,
    fence = t.fence + 1,
    attempt = t.attempt + 1,
    deaths = 0,
    lease_until = clock.now + %(lease)s,
    started_at = clock.now,
    ended_at = NULL,
    next_retry_at = NULL
FROM picked JOIN runs r ON r.run_id = picked.run_id, clock
WHERE t.run_id = picked.run_id AND t.task_key = picked.task_key
  AND t.status IN ('Ready', 'Retrying', 'Suspended')
RETURNING t.run_id, t.task_key, t.attempt, t.fence, picked.old_status,
          r.workflow_name, r.workflow_version, r.input_json, r.kind,
          r.deadline - clock.now, r.task_timeout, t.deaths;

-- name: vacuum_stats
-- Dead and live row estimates of this schema's queue tables
-- (postgres_vacuum.py), from the statistics every backend reports within
-- about a second of its commits.
SELECT s.relname, s.n_dead_tup, s.n_live_tup
FROM pg_stat_user_tables s
WHERE s.schemaname = current_schema() AND s.relname = ANY(%s::text[]);

-- name: vacuum_lock
-- One worker at a time vacuums a table of a schema (a session lock: VACUUM
-- cannot run inside a transaction).
SELECT pg_try_advisory_lock(hashtext(current_schema() || ':taskloom-vacuum:' || %s));

-- name: vacuum_unlock
SELECT pg_advisory_unlock(hashtext(current_schema() || ':taskloom-vacuum:' || %s));

-- name: grow_accepted
-- A dynamic fan_out's calls join their run in the transaction that records
-- their upstream's completion. Sent after lock_runs: the runs are locked, so
-- growths of one run are serialised (their rows are numbered apart) and
-- nothing stops the run meanwhile. Only a completion complete_tasks accepted
-- (its row carries its fence, Completed and no owner) of a run still Running
-- grows it. The calls are Ready at once (they depend on the upstream alone).
-- Their collector's edge from the upstream was left out of release_accepted:
-- it now waits for the calls instead, remaining_deps + calls - 1 (an empty
-- list makes it Ready). Idempotent, should a commit whose outcome was lost
-- be sent again: calls that exist are not inserted twice, and a collector
-- and its run are counted only for calls this statement inserted.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
g AS (
    SELECT g.run_id, g.after, g.collector, g.n
    FROM unnest(%(run_ids)s::text[], %(afters)s::text[], %(fences)s::bigint[],
                %(collectors)s::text[], %(sizes)s::int[]) AS g(run_id, after, fence, collector, n)
    JOIN task_runs p ON p.run_id = g.run_id AND p.task_key = g.after AND p.fence = g.fence
    JOIN runs r ON r.run_id = g.run_id
    WHERE p.status = 'Completed' AND p.claimed_by IS NULL AND r.status = 'Running'
      AND p.xmin = pg_current_xact_id()::xid
),
calls AS (
    SELECT * FROM unnest(%(task_runs)s::text[], %(task_collectors)s::text[], %(keys)s::text[],
                         %(numbers)s::int[], %(priorities)s::int[], %(workflows)s::text[],
                         %(run_limits)s::int[], %(groups)s::text[], %(group_limits)s::int[])
         AS k(run_id, collector, task_key, number, priority, workflow, run_limit, grp,
              group_limit)
),
top AS (
    SELECT t.run_id, max(t.seq) AS seq FROM task_runs t
    WHERE t.run_id IN (SELECT run_id FROM g)
    GROUP BY t.run_id
),
added AS (
    INSERT INTO task_runs (run_id, task_key, status, attempt, seq, remaining_deps, ready_at,
                           priority, workflow, run_limit, conc_group, group_limit)
    SELECT k.run_id, k.task_key, 'Ready', 0, top.seq + k.number, 0, clock.now, k.priority,
           k.workflow, k.run_limit, k.grp, k.group_limit
    FROM calls k
    JOIN g ON g.run_id = k.run_id AND g.collector = k.collector
    JOIN top ON top.run_id = k.run_id, clock
    ON CONFLICT (run_id, task_key) DO NOTHING
    RETURNING run_id, task_key
),
counted AS (
    SELECT g.run_id, g.after, g.collector, count(a.task_key)::int AS n
    FROM g
    LEFT JOIN calls k ON k.run_id = g.run_id AND k.collector = g.collector
    LEFT JOIN added a ON a.run_id = k.run_id AND a.task_key = k.task_key
    GROUP BY g.run_id, g.after, g.collector, g.n
    HAVING g.n = 0 OR count(a.task_key) > 0
),
waiting AS (
    UPDATE task_runs t
    SET remaining_deps = t.remaining_deps + c.n - 1,
        status = CASE WHEN t.remaining_deps + c.n - 1 <= 0 THEN 'Ready' ELSE t.status END,
        ready_at = CASE WHEN t.remaining_deps + c.n - 1 <= 0 THEN clock.now ELSE t.ready_at END
    FROM counted c, clock
    WHERE t.run_id = c.run_id AND t.task_key = c.collector AND t.status = 'Pending'
    RETURNING t.status
),
opened AS (
    UPDATE runs r SET open_tasks = r.open_tasks + c.n
    FROM (SELECT run_id, sum(n)::int AS n FROM counted GROUP BY run_id) c
    WHERE r.run_id = c.run_id AND c.n > 0
),
logged AS (
    INSERT INTO events (run_id, task_key, kind, at, data_json)
    SELECT c.run_id, c.collector, 'nodes_added', clock.now,
           jsonb_build_object('after', c.after, 'nodes', c.n)::text
    FROM counted c, clock
),
ready AS (
    SELECT (SELECT count(*) FROM added)
           + (SELECT count(*) FROM waiting WHERE status = 'Ready') AS n
)
SELECT ready.n, CASE WHEN ready.n > 0 THEN (SELECT true FROM pg_notify(%(channel)s, '')) END
FROM ready;

-- name: ready_count
-- Tasks claimable now for these workflow keys (the queue depth a worker reports).
SELECT count(*) FROM task_runs t
WHERE t.status IN ('Ready', 'Retrying', 'Suspended')
  AND t.ready_at <= extract(epoch FROM clock_timestamp())::float8
  AND t.workflow = ANY(%s::text[]);

-- name: trace_contexts
-- The trace context a distributed run was submitted with (its run_started event).
SELECT run_id, data_json FROM events WHERE run_id = ANY(%s) AND kind = 'run_started';

-- name: held_claims
-- Which of these claims (run, task, fence) this worker still holds, locked
-- until the transaction ends: a takeover (claim_expired, FOR UPDATE SKIP
-- LOCKED) cannot slip in between this check and the rows written under it.
SELECT t.run_id, t.task_key
FROM task_runs t
JOIN unnest(%(run_ids)s::text[], %(keys)s::text[], %(fences)s::bigint[])
     AS c(run_id, task_key, fence)
  ON t.run_id = c.run_id AND t.task_key = c.task_key AND t.fence = c.fence
WHERE t.claimed_by = %(me)s AND t.status = 'Running'
FOR SHARE OF t;
