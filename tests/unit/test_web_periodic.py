"""The API's background loops: when they tick, and how they stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from web.periodic import PeriodicTask


class Recorder(PeriodicTask):
    task_name = "recorder"

    def __init__(
        self,
        interval_seconds: float,
        *,
        tick_seconds: float = 0.0,
        stop_timeout_seconds: float | None = None,
    ) -> None:
        super().__init__(interval_seconds, stop_timeout_seconds)
        self.tick_seconds = tick_seconds
        self.started = 0
        self.finished = 0
        self.ticking = asyncio.Event()
        self.ticked = asyncio.Event()

    async def tick(self) -> None:
        self.started += 1
        self.ticking.set()
        await asyncio.sleep(self.tick_seconds)
        self.finished += 1
        self.ticked.set()

    async def until(self, finished: int) -> None:
        """Wait (generously: the machine may be loaded) for ``finished`` ticks."""
        async with asyncio.timeout(30):
            while self.finished < finished:
                self.ticked.clear()
                await self.ticked.wait()


class LateRecorder(Recorder):
    tick_at_start = False


async def test_the_first_tick_runs_at_once_then_every_interval() -> None:
    at_once = Recorder(interval_seconds=60)
    at_once.start()
    await at_once.until(1)  # long before the first interval ends
    await at_once.stop()
    assert at_once.started == 1
    repeating = Recorder(interval_seconds=0.01)
    repeating.start()
    await repeating.until(3)
    await repeating.stop()


async def test_a_late_first_tick_waits_one_interval_and_stop_before_it_means_no_tick() -> None:
    task = LateRecorder(interval_seconds=60)
    task.start()
    await asyncio.sleep(0.05)
    await task.stop()
    assert task.started == 0


async def test_stop_lets_the_tick_in_flight_finish() -> None:
    task = Recorder(interval_seconds=60, tick_seconds=0.1)
    task.start()
    await task.ticking.wait()
    await task.stop()
    assert (task.started, task.finished) == (1, 1)


async def test_a_tick_longer_than_the_stop_timeout_is_cancelled_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = Recorder(interval_seconds=60, tick_seconds=10, stop_timeout_seconds=0.05)
    task.start()
    await task.ticking.wait()
    with caplog.at_level(logging.WARNING, logger="web.periodic"):
        await task.stop()
    assert (task.started, task.finished) == (1, 0)
    assert "recorder did not stop in time; cancelled" in caplog.text


async def test_start_twice_runs_one_loop_and_a_stopped_task_starts_again() -> None:
    task = Recorder(interval_seconds=60)
    task.start()
    task.start()
    await task.until(1)
    await task.stop()
    assert task.started == 1
    task.start()
    await task.until(2)
    await task.stop()
    assert task.started == 2
