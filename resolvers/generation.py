"""``GenerationPointer``: which projection generation requests read, remembered per process.

Every read names a collection of the active generation (``readmodel.collections``), which the
``read_pointer`` document says. Reading that document on every request doubled the round trips
of a lookup, for a value that changes once per rebuild. One ``GenerationPointer`` per process
remembers it for ``max_age_seconds`` (the API setting ``READ_POINTER_CACHE_SECONDS``):

* after a rebuild flips the pointer, a process keeps reading the previous generation for at
  most that long. The previous generation is complete up to the flip and is never dropped
  automatically, so those answers are correct, at most that much older: the same order of
  delay as the projector's own lag;
* each request still resolves the generation once and reads it throughout (``Readers``
  keeps what it got), so a flip never mixes generations within one response;
* ``max_age_seconds=0`` reads the pointer on every request (the behaviour before the cache);
* when the cached value has expired, concurrent requests wait for one read instead of each
  sending its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from caching.reused import Reused
from readmodel.collections import CollectionNames, Generation
from readmodel.read_pointer import read_pointer
from resolvers.errors import StoreUnavailable


class GenerationPointer:
    def __init__(
        self,
        names: CollectionNames | None = None,
        *,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._names = names or CollectionNames()
        #: A failed read raises, so it is not kept: the next request reads again.
        self._generation: Reused[Generation] = Reused(max_age_seconds, clock=clock)

    async def current(self, db: AsyncDatabase[dict[str, Any]]) -> Generation:
        """The active generation, read from ``db`` unless read less than ``max_age`` ago.

        Raises ``StoreUnavailable`` when the store does not answer (nothing is remembered).
        """
        return await self._generation.get(lambda: self._read(db))

    async def _read(self, db: AsyncDatabase[dict[str, Any]]) -> Generation:
        try:
            pointer = await db[self._names.read_pointer].find_one({"_id": "active"})
        except PyMongoError as exc:
            raise StoreUnavailable("the data store is unavailable; retry shortly") from exc
        return self._names.generation(read_pointer(pointer).suffix)
