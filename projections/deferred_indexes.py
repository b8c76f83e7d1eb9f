"""A new generation's indexes built once after its first load, not entry by entry during it.

DocumentDB writes each entry of an index as the row is written, one after another; the
search documents' ``keys`` index has 40-90 entries a document, so a catch-up spent most of
its store time there (the benchmark's indexed ceiling: four fifths of it). Built over a
loaded collection, the same index sorts its entries in one pass: 20,000 search documents
took 24.2 s written into an indexed collection, and 1.4 s written bare plus 4.9 s to build
the index (a scratch probe; ``bench/projector.py`` prints the projector's figures).

Which indexes can wait is decided by who may read the generation meanwhile:

* ``run`` defers the search collection's indexes (``SEARCH_COLLECTION``): readers use the
  search documents only once the generation's marker says they are complete
  (``resolvers.readers``), and the marker is written only after those indexes are built (a
  search by key without them would read the whole collection); until then support search
  reads the slow way, as for any generation not yet filled. The entity collections keep
  their indexes from the start: portals read a generation while it fills, and name them.
* ``rebuild`` defers every index of the generation (``EVERY_COLLECTION``): no reader sees it
  before the switch, and the switch waits for ``caught_up`` (then reads what arrived
  meanwhile, ``projections.rebuild``).

A build holds every write to its collection until it ends (DocumentDB; a scratch probe:
20,000 search documents, 11 s), so the member building pauses its partitions and keeps polling
(``projections.log_ends.poll_while``), and the other members' batches wait for the build.

Nothing is held in memory that the store does not also say: a generation without its marker
is one whose indexes may still be missing, so a restarted process (or another member of the
group) finds the same state and completes it the same way. Writes go on as always meanwhile
(each search document is written by its batch, indexes or not), so completing needs no
replay: build the indexes, then write the marker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from projections.search_writes import ensure_filled, is_complete, mark_complete
from projections.store import ProjectionStore, StoreError
from readmodel import documents

log = logging.getLogger(__name__)

#: ``run``: the search collection's indexes wait for the first catch-up.
SEARCH_COLLECTION: Final = frozenset({documents.SEARCH_KEYS})
#: ``rebuild``: every index of the generation waits (the audit log is not a generation's).
EVERY_COLLECTION: Final = frozenset(documents.INDEXES) - {documents.AUDIT_LOG}
#: Seconds before a build the store refused is tried again, doubling up to the last.
RETRY_SECONDS: Final = (1.0, 2.0, 5.0, 15.0, 60.0)


class DeferredIndexes:
    """The generations this process writes, made ready once each, and those whose deferred
    indexes (and search marker) wait for the process to have caught up."""

    def __init__(
        self,
        store: ProjectionStore,
        deferring: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``deferring``: the collections whose indexes a generation without its marker
        builds only once caught up (empty: build everything at once)."""
        self._store = store
        self._deferring = deferring
        self._clock = clock
        self._prepared: set[str] = set()
        #: Generation -> refusals so far of its build.
        self._waiting: dict[str, int] = {}
        self._next_attempt = 0.0

    def due(self, writing: str | None = None) -> bool:
        """Whether ``caught_up`` would do anything now: a generation waits and its build is
        not held back by a refusal's delay, or one waits that is no longer ``writing``."""
        if not self._waiting:
            return False
        if writing is not None and any(suffix != writing for suffix in self._waiting):
            return True
        return self._clock() >= self._next_attempt

    def waiting(self, suffix: str) -> frozenset[str]:
        """The collections of generation ``suffix`` whose indexes wait for this process's
        catch-up (none once built). Another member of the group may have built them
        meanwhile: a writer that goes by this (``search_writes.write_search_keys``) may
        only choose how it writes, never what."""
        return self._deferring if suffix in self._waiting else frozenset()

    async def prepare(self, suffix: str) -> None:
        """Make generation ``suffix`` ready for writing, once per process: its collections,
        the indexes that cannot wait, and what documents written before a derived field
        existed lack (``search_writes.ensure_filled``: nothing in a generation it creates)."""
        if suffix in self._prepared:
            return
        complete = await is_complete(self._store, suffix)
        deferring = self._deferring if not complete else frozenset()
        created = await self._store.ensure_indexes(suffix, deferring=deferring)
        await ensure_filled(self._store, suffix, created=created)
        if deferring:
            self._waiting.setdefault(suffix, 0)
        elif not complete:
            await mark_complete(self._store, suffix)
        self._prepared.add(suffix)

    async def caught_up(self, writing: str | None = None) -> bool:
        """Build the waiting generations' indexes, then write their markers; whether none
        waits any more. ``writing``: the generation the process writes now; another one
        (a rebuild switched readers away from it) is no longer worth a build. A store
        refusal is logged and tried again at a later call after ``RETRY_SECONDS``: the
        projector goes on writing meanwhile, and readers search the slow way. Whether to
        build now is ``due``'s answer (the runner asks it first; a rebuild does not)."""
        if writing is not None:
            for gone in [suffix for suffix in self._waiting if suffix != writing]:
                log.info("generation %r is no longer written: its indexes are not built", gone)
                del self._waiting[gone]
        if self.due():
            for suffix in sorted(self._waiting):
                await self._complete(suffix)
        return not self._waiting

    async def _complete(self, suffix: str) -> None:
        started = time.perf_counter()
        try:
            await self._store.ensure_indexes(suffix)
            await mark_complete(self._store, suffix)
        except StoreError as exc:
            refusals = self._waiting[suffix] = self._waiting[suffix] + 1
            delay = RETRY_SECONDS[min(refusals, len(RETRY_SECONDS)) - 1]
            self._next_attempt = self._clock() + delay
            log.warning(
                "generation %r: deferred indexes not built (%s); trying again in %.0f s",
                suffix,
                exc,
                delay,
            )
            return
        del self._waiting[suffix]
        log.info(
            "generation %r: deferred indexes built and search marked complete in %.1f s",
            suffix,
            time.perf_counter() - started,
        )
