"""Bounded buffering of live notices per WebSocket connection.

The hub hands a notice to every matching subscriber without waiting (one slow client must not
hold back the others), so each subscriber has a queue. The queues of one connection share one
budget of ``SUBSCRIPTION_BUFFER`` notices: a client that does not read its socket stops
draining them, the budget runs out, and the connection is dropped rather than growing memory
without bound. The client resumes from its last cursor, so nothing is lost to it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueClosed(Exception):
    """The subscription's connection is being closed; no more notices will come."""


class ConnectionBudget:
    """How many notices a connection may have waiting, across all its subscriptions."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.pending = 0
        #: Set once the limit was hit; a connection never recovers from it.
        self.exhausted = False

    def reserve(self) -> bool:
        """Take one slot; False (and exhausted for good) when none is left."""
        if self.exhausted or self.pending >= self.limit:
            self.exhausted = True
            return False
        self.pending += 1
        return True

    def release(self) -> None:
        if self.pending <= 0:
            raise RuntimeError("released more slots than were reserved")
        self.pending -= 1


class SubscriberQueue(Generic[T]):
    """Notices waiting for one subscription, counted against its connection's budget."""

    def __init__(self, budget: ConnectionBudget) -> None:
        self._budget = budget
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self._closed = False

    def offer(self, item: T) -> bool:
        """Queue ``item`` without waiting; False when the connection's budget is exhausted."""
        if self._closed:
            return True
        if not self._budget.reserve():
            return False
        self._items.append(item)
        self._ready.set()
        return True

    async def get(self) -> T:
        """The oldest waiting item; QueueClosed once the queue is closed."""
        while not self._items:
            if self._closed:
                raise QueueClosed
            self._ready.clear()
            await self._ready.wait()
        if self._closed:
            raise QueueClosed
        self._budget.release()
        return self._items.popleft()

    def first(self) -> T | None:
        """The oldest waiting item, left in place (None when none waits): what a checkpoint
        must not pass (``web.live.progress``)."""
        return self._items[0] if self._items else None

    def close(self) -> None:
        """Wake the reader with QueueClosed and give the waiting items' slots back."""
        if self._closed:
            return
        self._closed = True
        for _ in self._items:
            self._budget.release()
        self._items.clear()
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)
