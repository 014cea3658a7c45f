"""When a schedule is due: cron expressions in a time zone, and poll intervals.

Cron expressions are evaluated by ``cronsim`` (imported on first use), which
follows Debian cron, DST included: a local time skipped when clocks go
forward fires once right after the jump, one repeated when they go back
fires once. Time zones are IANA names read by the stdlib ``zoneinfo``.

Cloaca writes cron expressions with 6 fields, seconds first. cronsim has no
seconds field, so the seconds field is read with cronsim as a minute field
(same syntax, same 0-59 range) and its values are added to every minute the
other five fields match -- no cron parsing of our own. A minute never
straddles a DST change, so this keeps cronsim's DST behaviour.

All times crossing this module's boundary are epoch seconds (UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

CRON_HELP = (
    "give 5 fields 'minute hour day-of-month month day-of-week' (for example '0 2 * * *', "
    "daily at 02:00) or 6 with seconds first (for example '*/10 * * * * *')"
)
TIMEZONE_HELP = "give an IANA time zone name, for example 'UTC' or 'America/New_York'"

#: Candidate minutes looked at before giving up on an expression that never matches.
_MAX_STEPS = 10_000


def zone(name: object) -> ZoneInfo:
    """The time zone named ``name``; ``ValueError`` naming it if there is none."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"invalid timezone {name!r}: {TIMEZONE_HELP}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown timezone {name!r}: {TIMEZONE_HELP}") from None


@dataclass(frozen=True)
class CronSpec:
    """A validated cron expression in its time zone."""

    expression: str
    timezone: str
    minutes: str = field(repr=False)
    seconds: tuple[int, ...] = field(repr=False)

    @staticmethod
    def parse(expression: object, tz: object = "UTC") -> CronSpec:
        """Validate; ``ValueError`` naming the expression (or zone) and the fix."""
        return _parse(expression, tz) if isinstance(expression, str) else _bad(expression)

    def next_after(self, t: float) -> float:
        """The first due time strictly after ``t``."""
        from cronsim import CronSim

        tz = zone(self.timezone)
        floor = int(t // 60) * 60
        base = datetime.fromtimestamp(floor - 60, tz=UTC).astimezone(tz)
        candidates = CronSim(self.minutes, base)
        for _ in range(_MAX_STEPS):
            try:
                minute = next(candidates).timestamp()
            except StopIteration:
                break
            # cronsim may hand back a minute before ``base`` in a repeated hour.
            for second in self.seconds:
                if minute + second > t:
                    return minute + second
        raise ValueError(f"cron expression {self.expression!r} has no due time after {t}")

    def due_times(self, first: float, until: float, limit: int) -> tuple[list[float], float]:
        """Due times from ``first`` (itself due) up to ``until``, at most ``limit`` of them,
        and the first due time not returned."""
        found: list[float] = []
        due = first
        while due <= until and len(found) < limit:
            found.append(due)
            due = self.next_after(due)
        return found, due


def _bad(expression: object) -> CronSpec:
    raise ValueError(f"invalid cron expression {expression!r}: {CRON_HELP}")


@lru_cache(maxsize=1024)
def _parse(expression: str, tz: object) -> CronSpec:
    from cronsim import CronSim, CronSimError

    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"invalid cron expression {expression!r}: it has {len(fields)} fields; {CRON_HELP}"
        )
    zone(tz)
    seconds: tuple[int, ...] = (0,)
    if len(fields) == 6:
        seconds = _seconds(fields[0], expression)
        fields = fields[1:]
    minutes = " ".join(fields)
    try:
        CronSim(minutes, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"invalid cron expression {expression!r} ({exc}): {CRON_HELP}") from None
    assert isinstance(tz, str)
    return CronSpec(expression, tz, minutes, seconds)


def _seconds(text: str, expression: str) -> tuple[int, ...]:
    """The seconds a seconds field names, read by cronsim as a minute field."""
    from cronsim import CronSim, CronSimError

    start = datetime(2000, 1, 1)
    try:
        minutes = CronSim(f"{text} * * * *", start - timedelta(minutes=1))
    except CronSimError:
        raise ValueError(
            f"invalid cron expression {expression!r}: bad seconds field {text!r}; {CRON_HELP}"
        ) from None
    found: list[int] = []
    for match in minutes:
        if match >= start + timedelta(hours=1):
            break
        found.append(match.minute)
    return tuple(found)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_interval(text: object, what: str = "poll_interval") -> float:
    """``"100ms"``, ``"5s"``, ``"2m"``, ``"1h"`` (a bare number is seconds) -> seconds."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    seconds = float(match[1]) * _UNIT[match[2]] if match else 0.0
    if seconds <= 0:
        raise ValueError(
            f"Invalid {what} {text!r}: give a positive duration such as '100ms', '5s', '2m' or '1h'"
        )
    return seconds
