"""Time arithmetic in the sources' local zones.

The simulator keeps every instant as integer epoch seconds (cheap to compare and add) and
turns it into an RFC 3339 string with the offset of the zone the source lives in only when
an event is written, as the contract asks ("when it happened in the source system").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

MINUTE = 60
HOUR = 3600
DAY = 86400


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def rfc3339(epoch: int, tz: str) -> str:
    """``2026-11-21T14:02:11-05:00``: whole seconds, the zone's offset at that instant."""
    return datetime.fromtimestamp(epoch, zone(tz)).isoformat()


def local(epoch: int, tz: str) -> datetime:
    return datetime.fromtimestamp(epoch, zone(tz))


def local_date(epoch: int, tz: str) -> str:
    return datetime.fromtimestamp(epoch, zone(tz)).date().isoformat()


def epoch_of(moment: datetime) -> int:
    """Whole epoch seconds of an aware datetime; naive ones are refused, not guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no timezone: pass an aware datetime")
    return int(moment.timestamp())


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def at_local_time(day: date, tz: str, hour: int, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(tz)).timestamp())


def next_local_time(
    epoch: int, tz: str, hour: int, minute: int = 0, weekdays_only: bool = True
) -> int:
    """The first instant at or after ``epoch`` whose local wall time is ``hour:minute``,
    skipping Saturdays and Sundays when ``weekdays_only``."""
    day = local(epoch, tz).date()
    for _ in range(10):
        candidate = at_local_time(day, tz, hour, minute)
        if candidate >= epoch and not (weekdays_only and day.weekday() >= 5):
            return candidate
        day += timedelta(days=1)
    raise AssertionError("unreachable: a weekday occurs within ten days")


def add_business_days(day: date, count: int) -> date:
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day
