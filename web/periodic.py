"""A background task that does one piece of work every interval until it is stopped.

The API process keeps a few of them (consumer lag, the freshness copy); each subclass says
what one tick does, and whether the first tick runs at once or after one interval.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

logger = logging.getLogger("web.periodic")


class PeriodicTask:
    """Runs ``tick`` every ``interval_seconds`` from ``start`` until ``stop``.

    ``stop`` lets a tick in flight finish rather than cancelling it at an arbitrary await
    (aiokafka, for one, leaks the socket of a client cancelled while it bootstraps); with
    ``stop_timeout_seconds`` it cancels a tick that takes longer than that.
    """

    #: The asyncio task's name, as shown in task dumps and the warning below.
    task_name: ClassVar[str]
    #: True: tick at once, then every interval; False: the first tick after one interval.
    tick_at_start: ClassVar[bool] = True

    def __init__(self, interval_seconds: float, stop_timeout_seconds: float | None = None) -> None:
        self.interval_seconds = interval_seconds
        self.stop_timeout_seconds = stop_timeout_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        """One piece of work; must not raise for a failure the next tick may not meet."""
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping.set()
        if task is None:
            return
        try:
            await asyncio.wait_for(task, self.stop_timeout_seconds)
        except TimeoutError:
            logger.warning("%s did not stop in time; cancelled", self.task_name)

    async def _run(self) -> None:
        if self.tick_at_start:
            await self.tick()
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self.interval_seconds)
                return
            except TimeoutError:
                pass
            await self.tick()
