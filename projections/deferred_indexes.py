"""A new generation's indexes built once after its first load, not entry by entry during it.

DocumentDB writes each entry of an index as the row is written, one after another; the
search documents' ``keys`` index has 40-90 entries a document, so a catch-up spent most of
its store time there (the benchmark's indexed ceiling: four fifths of it). Built over a
loaded collection, the same index sorts its entries in one pass: 20,000 search documents
took 24.2 s written into an indexed collection, and 1.4 s written bare plus 4.9 s to build
the index (``bench/projector.py`` prints the projector's figures both ways' outcome).

Which indexes can wait is decided by who may read the generation meanwhile:

* ``run`` defers the search collection's indexes (``SEARCH_COLLECTION``): readers use the
  search documents only once the generation's marker says they are complete
  (``resolvers.readers``), and the marker is written only after those indexes are built, so
  a reader never names an index that is not there; until then support search reads the slow
  way, as for any generation not yet filled. The entity collections keep their indexes from
  the start: portals read a generation while it fills.
* ``rebuild`` defers every index of the generation (``EVERY_COLLECTION``): no reader sees it
  before the switch, and the switch waits for ``caught_up``.

Nothing is held in memory that the store does not also say: a generation without its marker
is one whose indexes may still be missing, so a restarted process (or another member of the
group) finds the same state and completes it the same way. Writes go on as always meanwhile
(each search document is written by its batch, indexes or not), so completing needs no
replay: build the indexes, then write the marker.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from projections.search_writes import ensure_complete, fill_documents, is_complete, mark_complete
from projections.store import ProjectionStore, StoreError
from readmodel import documents

log = logging.getLogger(__name__)

#: ``run``: the search collection's indexes wait for the first catch-up.
SEARCH_COLLECTION: Final = frozenset({documents.SEARCH_KEYS})
#: ``rebuild``: every index of the generation waits (the audit log is not a generation's).
EVERY_COLLECTION: Final = frozenset(documents.INDEXES) - {documents.AUDIT_LOG}


class DeferredIndexes:
    """The generations this process writes, made ready once each, and those whose deferred
    indexes (and search marker) wait for the process to have caught up."""

    def __init__(self, store: ProjectionStore, deferring: frozenset[str] = frozenset()) -> None:
        """``deferring``: the collections whose indexes a generation without its marker
        builds only once caught up (empty: build everything at once, as before)."""
        self._store = store
        self._deferring = deferring
        self._prepared: set[str] = set()
        self._waiting: set[str] = set()

    @property
    def waiting(self) -> bool:
        """Whether a generation still waits for its deferred indexes."""
        return bool(self._waiting)

    async def prepare(self, suffix: str) -> None:
        """Make generation ``suffix`` ready for writing, once per process: its collections,
        the indexes that cannot wait, and the search documents of entities written before
        search documents existed."""
        if suffix in self._prepared:
            return
        if self._deferring and not await is_complete(self._store, suffix):
            await self._store.ensure_indexes(suffix, deferring=self._deferring)
            await fill_documents(self._store, suffix)
            self._waiting.add(suffix)
        else:
            await self._store.ensure_indexes(suffix)
            await ensure_complete(self._store, suffix)
        self._prepared.add(suffix)

    async def caught_up(self) -> bool:
        """Build the waiting generations' indexes and write their markers; whether none
        waits any more. A store refusal is logged and tried again at the next call: the
        projector goes on writing (readers search the slow way meanwhile)."""
        for suffix in sorted(self._waiting):
            started = time.perf_counter()
            try:
                await self._store.ensure_indexes(suffix)
                await mark_complete(self._store, suffix)
            except StoreError as exc:
                log.warning("generation %r: deferred indexes not built yet: %s", suffix, exc)
                continue
            self._waiting.discard(suffix)
            log.info(
                "generation %r: deferred indexes built and search marked complete in %.1f s",
                suffix,
                time.perf_counter() - started,
            )
        return not self._waiting
