-- taskloom journal, schema version 5 (PostgreSQL): one-round-trip completions.
--
-- A worker sends a group commit's statements and its COMMIT together, with
-- the outcome of each run it may finish computed in advance (speculated:
-- "if this batch ends the run, its status and result are these"). If a run
-- ends but the speculation does not hold (another task of the run failed
-- earlier, or the batch lacks the run's result rows), the statement calls
-- this function, which aborts the transaction; the worker then records the
-- batch again the slow way (read the result rows, then finish). SQLSTATE
-- TL001 tells the worker that this is what happened.

CREATE FUNCTION taskloom_unsettled(run text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'run % ended without a speculated outcome', run USING ERRCODE = 'TL001';
END
$$;
