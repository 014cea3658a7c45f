"""The schedule loop: fires due schedules and polls triggers, in every process that runs one.

One thread per loop sleeps until the earliest due time among the schedules
this process can fire, or until the schedules change (PostgreSQL announces
edits with NOTIFY; on SQLite one counter row is read once a second), and
never wakes otherwise: there is no polling floor, and idle cost does not
grow with the number of schedules.

Firing is :meth:`ScheduleStore.fire`: one transaction claims the due time,
records the fire keyed by (schedule, due time) and inserts the run, so any
number of loops on one database start each due time exactly once. A
*launcher* inserts the run in that transaction and then executes it: on this
process's engine (:class:`EngineLauncher`), or queued for distributed workers.

Due times that passed while no process was firing are caught up at most
``max_catchup`` at a time, oldest first; the rest are recorded as one
skipped fire. Trigger polls run on a small thread pool at their own
interval -- a sync trigger function never blocks this thread or an engine --
after claiming the poll slot in the journal, so N processes poll a trigger
once per interval between them.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any, Protocol

from taskloom.core.cron import CronSpec
from taskloom.core.engine import Engine
from taskloom.core.plan import Plan
from taskloom.core.schedule_records import ms, trigger_record
from taskloom.core.schedule_styles import (
    TriggerDefinition,
    lookup_trigger,
    starter_for,
    style_of,
    trigger_definitions,
)
from taskloom.core.scheduler import RunExecution
from taskloom.core.styles import PlanHost
from taskloom.journal.base import Journal
from taskloom.journal.records import RunRecord, RunStatus
from taskloom.journal.schedules import FireOutcome, ScheduleRecord, ScheduleStore

logger = logging.getLogger("taskloom")

#: Due times looked at in one catch-up; more are counted as skipped in batches.
_ENUMERATE_MAX = 100_000
#: ``fire(insert_run) -> recorded``: the fire transaction a launcher runs the insert in.
Fire = Callable[[Callable[[Any], None]], bool]
#: SQLite: how often a loop reads the edit counter other processes bump.
CHANGE_CHECK_S = 1.0


class Launcher(Protocol):
    """Inserts a fired run in the fire's transaction, then gets it executed."""

    @property
    def host(self) -> PlanHost: ...

    def launch(
        self,
        plan: Plan,
        input_json: str,
        run_id: str,
        fire: Callable[[Callable[[Any], None]], bool],
    ) -> None:
        """Call ``fire(insert_run)``; if it returns True the run was recorded: execute it."""


class EngineLauncher:
    """Executes fired runs on this process's engine (a runner, ``serve_schedules``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def host(self) -> PlanHost:
        return self.engine

    def launch(
        self,
        plan: Plan,
        input_json: str,
        run_id: str,
        fire: Callable[[Callable[[Any], None]], bool],
    ) -> None:
        engine = self.engine

        def on_loop() -> None:
            run = RunRecord(
                run_id=run_id,
                workflow_name=plan.workflow_name,
                workflow_version=plan.workflow_version,
                kind=plan.kind,
                status=RunStatus.RUNNING,
                input_json=input_json,
                created_at=time.time(),
                owner_id=engine.runner_id,
            )
            execution = RunExecution(engine, plan, run, workflow_timeout=engine.workflow_timeout)
            records = execution.new_task_records()
            journal: Any = engine.journal
            if not fire(lambda conn: journal.insert_run(conn, run, records)):
                return
            engine.active[run_id] = execution
            logger.info("run %s of %r started by its schedule", run_id, plan.workflow_name)
            execution.start()

        engine.call(on_loop).result()


class ScheduleLoop:
    """Fires the schedules of one journal from a thread of its own."""

    def __init__(
        self,
        journal: Journal,
        launcher: Launcher,
        *,
        max_catchup: int = 100,
        poll_threads: int = 4,
    ) -> None:
        self.store = ScheduleStore(journal)
        self.launcher = launcher
        self.max_catchup = max_catchup
        self._schedules: dict[str, ScheduleRecord] = {}
        #: (schedule id, version) this process cannot fire (workflow or trigger not defined).
        self._blocked: set[tuple[str, int]] = set()
        self._polling: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._changes = -1
        self._next_check = 0.0
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=poll_threads, thread_name_prefix="taskloom-trigger"
        )
        self._listener: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------

    def start(self, *, background: bool = False) -> ScheduleLoop:
        """Record this process's triggers, listen for edits, load the schedules, go.

        ``background``: do all that on the loop's thread, so that the caller
        (a worker starting up) does not wait for it.
        """
        if not background:
            self._setup()
        self._thread = threading.Thread(
            target=self._run, args=(background,), name="taskloom-schedules", daemon=True
        )
        self._thread.start()
        return self

    def _setup(self) -> None:
        # Styles are imported only when needed (a trigger to place, a schedule of a
        # style not imported yet): a runner's start stays as cheap as before.
        register_triggers(self.store)
        if self.store.postgres:
            from taskloom.core.schedule_listener import listen

            self._listener = listen(self.store, self.poke)
        self._reload()

    def poke(self) -> None:
        """The schedules changed (or a poll ended): look again now. Any thread."""
        self._wake.set()

    def stop(self) -> None:
        """Stop firing (idempotent); a poll in flight is waited for."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._listener is not None:
            self._listener.stop()

    # -- the loop -----------------------------------------------------------------

    def _run(self, setup: bool) -> None:
        while setup and not self._stop.is_set():
            try:
                self._setup()
                break
            except Exception:
                logger.exception("taskloom schedule loop could not start; retrying in 1 s")
                self._stop.wait(1.0)
        while not self._stop.is_set():
            try:
                timeout = self._turn()
            except Exception:
                logger.exception("taskloom schedule loop failed; retrying in 1 s")
                timeout = 1.0
            self._wake.wait(timeout)
            if self._wake.is_set():
                self._wake.clear()
                if not self._stop.is_set():
                    self._reload()

    def _turn(self) -> float | None:
        """Fire what is due; the seconds to sleep until the next due time or change check."""
        if not self.store.postgres and time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + CHANGE_CHECK_S
            if self.store.change_version() != self._changes:
                self._reload()
        now_ms = ms(time.time())
        for record in sorted(self._eligible(), key=lambda r: r.next_due_ms or 0):
            if self._stop.is_set():
                return None
            if record.next_due_ms is not None and record.next_due_ms <= now_ms:
                try:
                    self._handle(record, now_ms)
                except Exception:
                    logger.exception("taskloom: firing schedule %s failed", record.schedule_id)
                    self._blocked.add((record.schedule_id, record.version))
        upcoming = [r.next_due_ms for r in self._eligible() if r.next_due_ms is not None]
        wait = max(0.0, (min(upcoming) - time.time() * 1000) / 1000) if upcoming else None
        if not self.store.postgres:
            check = max(0.0, self._next_check - time.monotonic())
            wait = check if wait is None else min(wait, check)
        return wait

    def _eligible(self) -> list[ScheduleRecord]:
        with self._lock:
            polling = set(self._polling)
        return [
            r
            for r in self._schedules.values()
            if r.enabled
            and (r.schedule_id, r.version) not in self._blocked
            and r.schedule_id not in polling
        ]

    def _reload(self) -> None:
        if not self.store.postgres:
            self._changes = self.store.change_version()
        found = self.store.list_schedules(enabled_only=True)
        self._schedules = {r.schedule_id: r for r in found}
        live = {(r.schedule_id, r.version) for r in found}
        self._blocked &= live

    def _refresh(self, record: ScheduleRecord) -> None:
        """Another process moved the schedule (or it was edited): read it again."""
        fresh = self.store.get(record.schedule_id)
        if fresh is None or not fresh.enabled:
            self._schedules.pop(record.schedule_id, None)
        else:
            self._schedules[record.schedule_id] = fresh

    def _block(self, record: ScheduleRecord, why: str) -> None:
        if (record.schedule_id, record.version) not in self._blocked:
            logger.info(
                "taskloom: schedule %s (%r) is left to other processes: %s",
                record.schedule_id,
                record.workflow_name,
                why,
            )
            self._blocked.add((record.schedule_id, record.version))

    # -- cron ------------------------------------------------------------------------

    def _handle(self, record: ScheduleRecord, now_ms: int) -> None:
        if record.kind == "trigger":
            self._claim_poll(record, now_ms)
            return
        if starter_for(record.style) is None:
            self._block(record, f"no style {record.style!r} in this process")
            return
        assert record.cron_expression is not None and record.next_due_ms is not None
        spec = CronSpec.parse(record.cron_expression, record.timezone)
        dues, after = spec.due_times(record.next_due_ms / 1000, now_ms / 1000, _ENUMERATE_MAX)
        pending = [ms(d) for d in dues]
        firing, skipped = pending[: self.max_catchup], pending[self.max_catchup :]
        for index, due in enumerate(firing):
            following = pending[index + 1] if index + 1 < len(pending) else ms(after)
            outcome = self._fire(record, due, following, record.input_json)
            if outcome is None:
                self._refresh(record)
                return
            if (record.schedule_id, record.version) in self._blocked:
                return
            record.next_due_ms = following
        if skipped:
            detail = (
                f"{len(skipped)} due time(s) from {_iso(skipped[0])} to {_iso(skipped[-1])} "
                f"passed while no process fired them; cron_max_catchup_executions="
                f"{self.max_catchup} were started"
            )
            if self.store.record(
                record,
                skipped[0],
                FireOutcome.SKIPPED,
                next_due_ms=ms(after),
                skipped_count=len(skipped),
                detail=detail,
            ):
                logger.warning("taskloom: schedule %s: %s", record.schedule_id, detail)
                record.next_due_ms = ms(after)
            else:
                self._refresh(record)

    def _fire(
        self, record: ScheduleRecord, due_ms: int, next_due_ms: int | None, input_json: str
    ) -> str | None:
        """Start the run of one due time; its outcome, or None if another process had it."""
        run_id = uuid.uuid4().hex
        if record.style == "steps":
            run_id = f"{record.workflow_name}@{_iso(due_ms)}#{record.schedule_id[:8]}"
        starter = starter_for(record.style)
        try:
            built = (
                starter(record.workflow_name, input_json, run_id, self.launcher.host)
                if (starter is not None)
                else None
            )
        except Exception as exc:
            if self.store.record(
                record, due_ms, FireOutcome.ERROR, next_due_ms=next_due_ms, detail=str(exc)
            ):
                logger.error("taskloom: schedule %s could not start: %s", record.schedule_id, exc)
                return FireOutcome.ERROR
            return None
        if built is None:
            self._block(record, f"workflow {record.workflow_name!r} is not defined here")
            return FireOutcome.SKIPPED
        plan, run_input = built
        result: list[str | None] = [None]
        digest = hashlib.sha256(input_json.encode()).hexdigest()[:16]

        def fire(insert_run: Callable[[Any], None]) -> bool:
            result[0] = self.store.fire(
                record, due_ms, next_due_ms, run_id, insert_run, context_hash=digest
            )
            return result[0] == FireOutcome.STARTED

        self.launcher.launch(plan, run_input, run_id, fire)
        if result[0] == FireOutcome.STARTED:
            record.last_run_id = run_id
        return result[0]

    # -- triggers --------------------------------------------------------------------

    def _claim_poll(self, record: ScheduleRecord, now_ms: int) -> None:
        definition = lookup_trigger(record.name or "")
        if definition is None or definition.poll is None:
            self._block(record, f"trigger {record.name!r} is not defined here")
            return
        assert record.next_due_ms is not None and record.poll_interval_ms is not None
        due = record.next_due_ms
        following = now_ms + record.poll_interval_ms
        if not self.store.claim(record, due, following, poll=True):
            self._refresh(record)
            return
        record.next_due_ms = following
        with self._lock:
            self._polling.add(record.schedule_id)
        self._pool.submit(self._poll, record, definition, due)

    def _poll(self, record: ScheduleRecord, definition: TriggerDefinition, due_ms: int) -> None:
        try:
            assert definition.poll is not None
            try:
                fire, context_json = definition.poll()
            except Exception as exc:
                logger.exception("taskloom: trigger %r raised", definition.name)
                text = "".join(traceback.format_exception(exc)).rstrip()
                self.store.record(record, due_ms, FireOutcome.ERROR, detail=text)
                return
            if fire:
                self._fire(record, due_ms, None, context_json or record.input_json)
        except Exception:
            logger.exception("taskloom: firing trigger %r failed", definition.name)
        finally:
            with self._lock:
                self._polling.discard(record.schedule_id)
            self.poke()


def register_triggers(store: ScheduleStore) -> None:
    """Record the triggers defined in this process (new ones, or changed definitions)."""
    for definition in trigger_definitions():
        style = style_of(definition.workflow_name)
        if style is None:
            logger.warning(
                "taskloom: trigger %r fires workflow %r, which this process does not define; "
                "it is recorded as a DAG workflow",
                definition.name,
                definition.workflow_name,
            )
            style = "dag"
        wanted = trigger_record(definition, style)
        existing = store.get_by_name(definition.name)
        if existing is None:
            store.create(wanted)
            continue
        same = (
            existing.kind,
            existing.style,
            existing.workflow_name,
            existing.cron_expression,
            existing.timezone,
            existing.poll_interval_ms,
            existing.allow_concurrent,
        ) == (
            wanted.kind,
            wanted.style,
            wanted.workflow_name,
            wanted.cron_expression,
            wanted.timezone,
            wanted.poll_interval_ms,
            wanted.allow_concurrent,
        )
        if not same:
            wanted.schedule_id = existing.schedule_id
            store.redefine(wanted)


def _iso(due_ms: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(due_ms / 1000, tz=UTC).isoformat()
