"""Poison tasks: a task whose process dies is not run again for ever.

A task that kills the process running it (``os._exit``, a segfault in a C
extension, the OOM killer) would be resumed by the next runner, kill it too,
and so on. So the deaths that strike a task's attempt are counted in the
journal (``task_runs.deaths``) by whoever takes the attempt over:

* a runner resuming an orphaned run, for the tasks the dead owner had
  recorded Running, in the transaction that takes the run over
  (``Journal.claim_run``);
* a PostgreSQL worker claiming a task whose lease expired (its worker died
  or froze), in the claim.

At ``max_process_deaths`` the attempt fails with :class:`ProcessDiedError`
instead of running, and the task's retry policy decides what follows.

The hot path pays nothing for it: a task's start is still recorded lazily
(riding along with the next commit). A runner that resumes a run records
the starts of the run's ready tasks *before* their bodies run, so that a
task that kills its resumer is seen Running -- and counted -- by the next
one. A process that dies within milliseconds of starting a task in a run
it did not resume may go uncounted once, so a poison task takes at most
``max_process_deaths + 1`` processes with it.
"""

from __future__ import annotations

import os

from taskloom.errors import ProcessDiedError

#: Environment variable with the default limit of every runner, worker and shared engine.
ENV_VAR = "TASKLOOM_MAX_PROCESS_DEATHS"
DEFAULT_MAX_PROCESS_DEATHS = 3


def death_limit(value: int | None = None) -> int | None:
    """The limit in force: ``value``, else ``$TASKLOOM_MAX_PROCESS_DEATHS``, else 3.

    0 turns the limit off (returns None).
    """
    source = "max_process_deaths"
    if value is None:
        raw = os.environ.get(ENV_VAR, "").strip()
        if not raw:
            return DEFAULT_MAX_PROCESS_DEATHS
        source = f"${ENV_VAR}"
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(
                f"{source}={raw!r}: give a whole number of process deaths (0 turns the limit off)"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{source}={value!r}: give an int >= 1 (the deaths of its process a task's "
            "attempt survives), or 0 for no limit"
        )
    return value or None


def reached(deaths: int, limit: int | None) -> bool:
    """Has an attempt whose processes died ``deaths`` times reached the limit?"""
    return limit is not None and deaths >= limit


def died(label: str, deaths: int) -> ProcessDiedError:
    """The failure of an attempt whose processes died ``deaths`` times."""
    return ProcessDiedError(
        f"task {label!r}: the process running it died {deaths} times (os._exit, a crash, a "
        f"signal or the OOM killer); its attempt fails instead of running again. Raise "
        f"max_process_deaths (or ${ENV_VAR}) if its process is restarted that often for "
        "other reasons"
    )
