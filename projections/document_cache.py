"""The documents this projector process last read or wrote, so that its next batch need not
read them from the store again (a write-through cache, bounded).

Correctness comes from the store, never from this cache:

* every write of an entity document increments its ``_writes`` counter, and every write the
  projector plans from a document it read lands only if ``_writes`` is still what it read
  (``ProjectionStore.write_all_if_unchanged``, ``write_entity``). An entry is exactly the
  stored document at its ``_writes``: what a read returned, or what the store holds after
  a write of ours landed (``ProjectionStore`` computes it as the store does and passes it
  through BSON, so it compares equal to a read). If another writer changed the document
  since, the write planned from the entry does not land: the projector drops the entry,
  reads the document and plans again (``BatchProcessor._rewrite_lost``). A stale entry can
  make a write miss; it can never make one land on a document it was not planned from;
* absence is never cached: a document another process creates is read like any other;
* the fields of a document that its own events write (and its ``rev``) change only through
  the process holding its partition, so everything is forgotten when the group moves
  partitions (``forget_all``, from the runner's rebalance listener) and when a batch fails
  (its writes may have landed in part). Other writers only push summaries into it
  (``related``), which neither the reducers nor the summaries read: a stale entry then
  costs a missed write and a re-read, nothing more;
* a related document (one the batch summarises into or pulls from, without events of its
  own in the batch) may belong to another process's partition, whose writes this process
  does not see: its summary pulled from a stale entry would be wrong without any write
  missing. So related documents are served from the cache only while this process holds
  every partition (``serves_related``, set by the runner on each assignment); otherwise
  they are read from the store, and only the batch's own entities come from the cache;
* entries are never changed in place: the reducers and the fold copy what they change. A
  document a batch wrote may be kept undecoded (``remember`` a function that derives it,
  ``store.Landed``): it is derived, once, when a batch first takes it, the same
  document it would have been when kept.

So the process stays stateless in the guide's sense: losing the cache (a restart, a
rebalance) loses nothing, the next batch reads from the store instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias

from caching.bounded_lru import BoundedLRU
from projections.batch import EntityKey

#: Kinds never cached: a source's document is also written by every batch's freshness
#: update (``ProjectionStore.touch_sources``) beside the next batch, so an entry would be
#: stale more often than not.
UNCACHED_KINDS: Final = frozenset({"sources"})

#: Documents kept per process by default (``PROJECTOR_CACHE_DOCUMENTS``).
CACHED_DOCUMENTS: Final = 20_000

#: A document as kept: itself, or what derives it when a batch first takes it.
Kept: TypeAlias = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


class DocumentCache:
    """Stored documents by generation and entity, at most ``maxsize`` (0: none kept).

    ``epoch`` changes whenever everything is forgotten; a batch takes it when it starts and
    its entries are kept only if it has not changed since (``remember``), so a read that
    was in flight when the group moved partitions cannot put back what was forgotten.
    """

    def __init__(self, maxsize: int, *, serves_related: bool = False) -> None:
        self._entries: BoundedLRU[tuple[str, EntityKey], Kept] = BoundedLRU(maxsize)
        self.epoch = 0
        #: Whether related documents may come from here (see the module docstring).
        self.serves_related = serves_related

    def __len__(self) -> int:
        return len(self._entries)

    def split(
        self, suffix: str, keys: Iterable[EntityKey]
    ) -> tuple[dict[EntityKey, Mapping[str, Any]], list[EntityKey]]:
        """The cached documents of ``keys`` in generation ``suffix``, and the keys to read."""
        held: dict[EntityKey, Mapping[str, Any]] = {}
        missing: list[EntityKey] = []
        for key in keys:
            kept = self._entries.get((suffix, key))
            if kept is None:
                missing.append(key)
            elif callable(kept):
                held[key] = doc = kept()
                self._entries.put((suffix, key), doc)
            else:
                held[key] = kept
        return held, missing

    def remember(self, epoch: int, suffix: str, docs: Mapping[EntityKey, Kept]) -> None:
        """Keep ``docs`` (each exactly as stored now, or what derives it so) unless
        everything was forgotten since ``epoch`` was taken."""
        if epoch != self.epoch:
            return
        for key, doc in docs.items():
            if key.kind not in UNCACHED_KINDS:
                self._entries.put((suffix, key), doc)

    def forget(self, suffix: str, keys: Iterable[EntityKey]) -> None:
        """Drop ``keys``: written by a write that does not say what it left (a summary
        push), or whose write did not land."""
        for key in keys:
            self._entries.discard((suffix, key))

    def forget_all(self, *, serves_related: bool | None = None) -> None:
        """Drop every entry (partitions moved, or a batch failed); ``serves_related``: whether
        this process now holds every partition (None: unchanged; see the module docstring)."""
        self._entries.clear()
        self.epoch += 1
        if serves_related is not None:
            self.serves_related = serves_related
