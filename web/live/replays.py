"""Turns at reading the change log for resumes: few reads at once per process and per client,
taken in order of arrival.

A resume reads the log from its cursor with a Kafka consumer of its own and decodes every
notice on the way, every customer's (the topic is one partition), on the event loop. Many
reads at once would hold the loop and the broker: a client with
``MAX_SUBSCRIPTIONS_PER_CLIENT`` subscriptions resubscribing in a loop could start dozens. So
each read takes a place in a ``web.admission.Lane`` (at most ``MAX_SUBSCRIPTION_REPLAYS`` in
the process, ``MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT`` of one client).

A place is held for one *chunk* of the replay only (``web.live.feed.REPLAY_CHUNK`` notices,
about 10 ms of reading), never while its notices are sent: a client that reads its socket
slowly must not keep others from resuming. A long replay takes a turn per chunk, queued
behind the resumes that came first, so it shares the loop instead of taking it.

Unlike a request, a resume *waits* for its first turn, in a queue served in order of arrival,
up to ``SUBSCRIPTION_REPLAY_WAIT_SECONDS``: after a replica stops, hundreds of its clients
resume at once on the others, each replay of a short gap takes milliseconds, and a client
refused then (graphql-ws clients do not resubscribe by themselves) would silently stop
receiving notices. Only a resume still without a turn after that is refused, with
RATE_LIMITED and ``retryAfter`` (the subscription's first and only message, then
``complete``). Later turns of a replay that has begun wait as long as it takes: the
subscription is live already, and the queue moves.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final

from web.admission import RETRY_AFTER_SECONDS, Lane, LaneFull, LaneRefusal


@dataclass(eq=False)
class _Waiter:
    client: Hashable
    #: Resolved once a place was taken for ``client`` on its behalf.
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ReplayPlaces:
    """The process's places for reading the log; one instance per ``LiveService``."""

    def __init__(self, total: int, per_client: int, wait_seconds: float) -> None:
        self._lane = Lane(total, per_client)
        self._wait_seconds = wait_seconds
        self._queue: deque[_Waiter] = deque()

    @property
    def in_use(self) -> int:
        return self._lane.in_use

    @asynccontextmanager
    async def place(self, client: Hashable, *, first: bool = True) -> AsyncIterator[None]:
        """Hold a place for ``client`` while the block runs, waiting in turn for one: the
        ``first`` turn of a resume up to ``SUBSCRIPTION_REPLAY_WAIT_SECONDS`` (then the
        RATE_LIMITED refusal), a later turn as long as it takes."""
        await self._enter(client, self._wait_seconds if first else None)
        try:
            yield
        finally:
            self._leave(client)

    async def _enter(self, client: Hashable, wait_seconds: float | None) -> None:
        try:
            self._lane.enter(client)  # a free place no one waiting can take
            return
        except LaneFull as exc:
            full = exc
        if wait_seconds is not None and wait_seconds <= 0:
            raise REPLAYS_FULL.of(full)
        waiter = _Waiter(client)
        self._queue.append(waiter)
        try:
            async with asyncio.timeout(wait_seconds):
                await waiter.granted
        except TimeoutError:
            if self._withdraw(waiter):
                raise REPLAYS_FULL.of(full) from None
        except BaseException:  # cancelled: the client completed while waiting
            if not self._withdraw(waiter):
                self._leave(client)  # taken for it just now: hand it on
            raise

    def _withdraw(self, waiter: _Waiter) -> bool:
        """Take ``waiter`` out of the queue; False if a place was already taken for it."""
        if waiter.granted.done() and not waiter.granted.cancelled():
            return False
        waiter.granted.cancel()
        if waiter in self._queue:
            self._queue.remove(waiter)
        return True

    def _leave(self, client: Hashable) -> None:
        """Give ``client``'s place back, and every free place to the first waiters that may
        take one (a waiter whose client holds its share lets the next ones pass)."""
        self._lane.leave(client)
        for waiter in list(self._queue):
            if waiter.granted.done():
                continue  # cancelled, about to withdraw
            try:
                self._lane.enter(waiter.client)
            except LaneFull as full:
                if full.per_client:
                    continue
                return
            self._queue.remove(waiter)
            waiter.granted.set_result(None)


#: The refusal of a resume that found no replay place in time: retrying later works.
REPLAYS_FULL: Final = LaneRefusal(
    one="resume",
    many="resumes",
    doing="already replaying the change log on this server",
    per_client_setting="MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT",
    total_setting="MAX_SUBSCRIPTION_REPLAYS",
    advice=f"resubscribe with the same cursor after {RETRY_AFTER_SECONDS} s.",
)
