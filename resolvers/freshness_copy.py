"""The in-memory copy of every source's freshness that each API response reports.

Refreshed by a background task every few seconds (``FRESHNESS_REFRESH_SECONDS``), never per
request: a response's ``extensions.freshness`` costs a dictionary lookup, not a query, and
``/metrics`` scrapes re-read it at most once per interval. The copy is at most one refresh
interval old; ``as_of`` says when it was read. A failed refresh
keeps the previous copy (MongoDB down: the data served is as old as the copy says, and
``stale`` still turns true as ``lastAppliedAt`` ages, because it is recomputed on refresh
attempts from the kept documents).

Only the ``sources`` collection is read: per-source operational data, no tenant's data, so
no entitlement applies. The same copy feeds the per-source metrics on ``/metrics``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from caching.reused import Reused
from readmodel.collections import CollectionNames
from readmodel.read_pointer import read_pointer
from resolvers.freshness import DEFAULT_STALE_AFTER, SourceFreshness, source_freshness, sources_for
from resolvers.readers import Clock, utc_now

#: A read of the sources that takes longer is given up (the copy kept as it was).
READ_WITHIN_SECONDS: Final = 2.0


class FreshnessCopy:
    def __init__(
        self,
        names: CollectionNames | None = None,
        *,
        max_age_seconds: float,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        clock: Clock = utc_now,
    ) -> None:
        self._names = names or CollectionNames()
        self._stale_after = stale_after
        self._clock = clock
        self._docs: list[dict[str, Any]] = []
        #: The newest read's outcome, for ``refresh_unless_recent``'s callers.
        self._reads: Reused[bool] = Reused(max_age_seconds)
        #: When the documents were last read; None until the first successful refresh.
        self.as_of: datetime | None = None
        self.by_source: dict[str, SourceFreshness] = {}

    async def refresh(self, db: AsyncDatabase[dict[str, Any]]) -> bool:
        """Read every source document again; False (previous copy kept) when MongoDB fails.

        The database is passed in rather than held: the copy exists (and is empty) before
        the app's lifespan opens the client.
        """
        return await self._reads.renew(lambda: self._read(db))

    async def refresh_unless_recent(self, db: AsyncDatabase[dict[str, Any]]) -> bool:
        """``refresh``, unless a refresh began less than ``max_age_seconds`` ago (then what
        it returned): callers at any rate, such as ``/metrics`` scrapes, cause at most one
        read per interval, failed reads included."""
        return await self._reads.get(lambda: self._read(db))

    async def _read(self, db: AsyncDatabase[dict[str, Any]]) -> bool:
        try:
            async with asyncio.timeout(READ_WITHIN_SECONDS):
                pointer = await db[self._names.read_pointer].find_one({"_id": "active"})
                generation = self._names.generation(read_pointer(pointer).suffix)
                docs = await db[generation.of("sources")].find({}).to_list()
        except (PyMongoError, TimeoutError):
            self._recompute()
            return False
        self._docs = docs
        self.as_of = self._clock()
        self._recompute()
        return True

    def _recompute(self) -> None:
        now = self._clock()
        self.by_source = {
            str(doc["_id"]): source_freshness(doc, now=now, stale_after=self._stale_after)
            for doc in self._docs
        }

    def for_kinds(self, kinds: Iterable[str]) -> list[SourceFreshness]:
        """Freshness of the sources whose data a response that read ``kinds`` may hold."""
        by_source = self.by_source
        return [by_source[s] for s in sources_for(kinds, by_source)]
