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

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from readmodel.collections import CollectionNames, Generation, suffix_from_pointer
from resolvers.errors import StoreUnavailable


class GenerationPointer:
    def __init__(
        self,
        names: CollectionNames | None = None,
        *,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age_seconds < 0:
            raise ValueError("max_age_seconds must not be negative")
        self._names = names or CollectionNames()
        self._max_age = max_age_seconds
        self._clock = clock
        self._generation: Generation | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> Generation | None:
        generation = self._generation
        if generation is not None and self._clock() - self._read_at < self._max_age:
            return generation
        return None

    async def current(self, db: AsyncDatabase[dict[str, Any]]) -> Generation:
        """The active generation, read from ``db`` unless read less than ``max_age`` ago.

        Raises ``StoreUnavailable`` when the store does not answer (nothing is remembered).
        """
        if self._max_age == 0:
            return await self._read(db)
        generation = self._fresh()
        if generation is not None:
            return generation
        async with self._lock:
            generation = self._fresh()  # another request may have read it meanwhile
            if generation is not None:
                return generation
            started = self._clock()  # aged from when the read was sent: it may flip since
            generation = await self._read(db)
            self._generation, self._read_at = generation, started
            return generation

    async def _read(self, db: AsyncDatabase[dict[str, Any]]) -> Generation:
        try:
            pointer = await db[self._names.read_pointer].find_one({"_id": "active"})
        except PyMongoError as exc:
            raise StoreUnavailable("the data store is unavailable; retry shortly") from exc
        return self._names.generation(suffix_from_pointer(pointer))
