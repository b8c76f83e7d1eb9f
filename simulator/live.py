"""Releasing a live feed in real time, against a clock that tests can replace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from simulator.records import SimRecord, TimedRecord


class Clock(Protocol):
    """Wall-clock seconds since the epoch, and a way to wait."""

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def paced(feed: Iterable[TimedRecord], clock: Clock) -> AsyncIterator[SimRecord]:
    """Yield each record once the clock reaches its due time; overdue ones at once.

    The feed is pulled lazily, one record ahead at most, so an endless feed is fine.
    """
    for timed in feed:
        wait = timed.due - clock.time()
        if wait > 0:
            await clock.sleep(wait)
        yield timed.record
