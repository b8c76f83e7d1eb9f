"""The last answer of an awaited call, reused for a while: the one way a process keeps a
dependency's answer so that callers at any rate cause at most one call per interval.

Requests that anyone can send (a scrape of ``/metrics``, a readiness probe) must not each
reach the store: whoever can reach the port could otherwise make the process query MongoDB
as fast as they can send. Reused:

* ages an answer from when its call *began*: what it describes may have changed since;
  but keeps one whose call outlasted the interval (a ping timing out after 2 s, reused for
  1 s) for half an interval after it ended, so callers that queued behind a slow call take
  its answer instead of each making another one, one after the other;
* keeps whatever the call returned, a failure the call reports as a value included (a
  store that does not answer is asked again one interval later, not once per request);
* does not keep an exception: the next caller calls again;
* makes concurrent callers that find the answer expired wait for one call, not each send
  their own;
* with ``max_age_seconds=0`` keeps nothing and calls every time, concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Reused(Generic[T]):
    def __init__(
        self, max_age_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_age_seconds < 0:
            raise ValueError("max_age_seconds must not be negative")
        self._max_age = max_age_seconds
        self._clock = clock
        #: (when the call began, until when its answer serves, what it returned) of the
        #: newest call that returned.
        self._kept: tuple[float, float, T] | None = None
        self._lock = asyncio.Lock()

    def _recent(self) -> tuple[float, float, T] | None:
        kept = self._kept
        if kept is not None and self._clock() < kept[1]:
            return kept
        return None

    async def get(self, call: Callable[[], Awaitable[T]]) -> T:
        """What ``call`` returned less than ``max_age_seconds`` ago, else its answer now."""
        if self._max_age == 0:
            return await call()
        kept = self._recent()
        if kept is not None:
            return kept[2]
        async with self._lock:
            kept = self._recent()  # another caller may have called meanwhile
            if kept is not None:
                return kept[2]
            return await self.renew(call)

    async def renew(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call``'s answer now, whatever the age of the kept one (a background refresh),
        kept for ``get``'s callers unless a call that began later returned first."""
        began = self._clock()
        answer = await call()
        serves_until = max(began + self._max_age, self._clock() + self._max_age / 2)
        if self._kept is None or self._kept[0] <= began:
            self._kept = (began, serves_until, answer)
        return answer
