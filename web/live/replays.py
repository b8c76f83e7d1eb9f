"""Places for resumes that read the change log: few at once per process and per client.

A resume reads the log from its cursor with a Kafka consumer of its own and decodes every
notice on the way, every customer's (the topic is one partition), on the event loop. However
short each replay is (``SUBSCRIPTION_RESUME_MAX_NOTICES``), many at once would hold the loop
and the broker: a client with ``MAX_SUBSCRIPTIONS_PER_CLIENT`` subscriptions resubscribing in
a loop could start dozens. So a resume takes a place in a ``web.admission.Lane`` (at most
``MAX_SUBSCRIPTION_REPLAYS`` in the process, ``MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT`` of one
client) for as long as it reads the log, and gives it back before following the live feed.

Unlike a request, a resume *waits* for a place, up to ``SUBSCRIPTION_REPLAY_WAIT_SECONDS``:
an app reconnecting resumes all its subscriptions at once, and each replay of a short gap
takes milliseconds, so the ones beyond the client's share should follow, not fail. Only a
resume still without a place after that is refused, with RATE_LIMITED and ``retryAfter``
(the subscription's first and only message, then ``complete``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Final

from web.admission import RETRY_AFTER_SECONDS, Lane, LaneFull, LaneRefusal


class ReplayPlaces:
    """The process's places for replays; one instance per ``LiveService``."""

    def __init__(self, total: int, per_client: int, wait_seconds: float) -> None:
        self._lane = Lane(total, per_client)
        self._wait_seconds = wait_seconds
        #: Set (and replaced) whenever a place is given back, to wake the resumes waiting.
        self._freed = asyncio.Event()

    @property
    def in_use(self) -> int:
        return self._lane.in_use

    @asynccontextmanager
    async def place(self, client: Hashable) -> AsyncIterator[None]:
        """Hold a place for ``client`` while the block runs; waits for one if need be, and
        raises the RATE_LIMITED refusal if none came free in time."""
        await self._enter(client)
        try:
            yield
        finally:
            self._lane.leave(client)
            freed, self._freed = self._freed, asyncio.Event()
            freed.set()

    async def _enter(self, client: Hashable) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_seconds
        while True:
            try:
                self._lane.enter(client)
                return
            except LaneFull as full:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise REPLAYS_FULL.of(full) from None
            try:
                async with asyncio.timeout(remaining):
                    await self._freed.wait()
            except TimeoutError:
                pass  # one last try above, then the refusal


#: The refusal of a resume that found no replay place in time: retrying later works.
REPLAYS_FULL: Final = LaneRefusal(
    one="resume",
    many="resumes",
    doing="already replaying the change log on this server",
    per_client_setting="MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT",
    total_setting="MAX_SUBSCRIPTION_REPLAYS",
    advice=f"resubscribe with the same cursor after {RETRY_AFTER_SECONDS} s.",
)
