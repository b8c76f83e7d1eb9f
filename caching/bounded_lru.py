"""A bounded least-recently-used map: the one every in-process cache of ours is built on.

The API remembers parsed documents, measures, verified tokens, APQ texts and first-page
hints per process; each must stay bounded whatever an attacker sends (unique texts, unique
tokens evict old entries instead of growing memory). ``functools.lru_cache`` memoizes a
function, and these callers decide themselves when an entry is computed, whether it is
still valid, and whether it is kept at all; ``cachetools.LRUCache`` would be one more
dependency, slower on the request path (its lookup runs in Python, ``OrderedDict``'s in C)
and refuses a size of 0, which our settings use to turn a cache off.

Not thread-safe: a caller that shares one between threads holds its own lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """At most ``maxsize`` entries (0 or less: none are kept); the least recently used
    (looked up or stored) is dropped first."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for ``key``, now the most recently used; None when absent."""
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        """Store ``value`` as the most recently used, dropping the least recently used
        beyond ``maxsize``."""
        if self.maxsize <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        """Forget ``key`` (an entry its owner found no longer valid), if present."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
