"""The projector's writes of the search side collection (``readmodel.search_keys``).

A batch writes the search documents of its orders and shipments after their own documents
and before ``BatchProcessor.process`` returns, so, like every other write of the batch, they
land before its offsets are committed. Only entities whose search document would differ are
written (``search_documents_to_write``): a new entity, one whose searchable values or
entitlement fields changed, and one whose batch repeats events the store already holds;
and only known ones (``known: true``, the entitlement filter's condition): a placeholder gets
its search document with the snapshot that makes it known, whatever created it first. The
last is the re-run of a batch that crashed after its entity writes and before these: its
entities then show no change, so their search documents are derived again from the stored
document. Most events (milestones, fulfillment progress, payments) change nothing searchable
and write nothing here, which is the point of the side collection.

Every write is idempotent and never goes backwards: an insert, and for a document already
there an update guarded by the entity's ``rev`` (a document derived from the same ``rev`` is
the same document; one derived from a newer ``rev`` is left as it is), through the store's
bulk path (``ProjectionStore.insert_or_advance``: its concurrency limit, ``PER_COMMAND``
documents per command). Any other refusal fails the batch, which runs again. So the runner
may write a batch's search documents while the next batch is written
(``BatchProcessor.complete``).

Which of the two goes first is a guess (``likely_stored``): the search document of an entity
that was already known when its batch read it was most likely written by the batch that made
it known (or by the fill), so it goes straight to the guarded update, and only the others are
inserted first (before session 21, every one was inserted first, and the store refused each
existing one as a duplicate: 175-700 of 1,800-2,300 per batch of a 200,000-event catch-up).
The guess is wrong when that batch crashed before its search writes and another member's
batch of the same entity (another topic's partition) comes first, or another writer deleted
or is creating the document: an update that matched nothing is then followed by the insert,
as an insert refused is by the update, so the stored document is the same either way.

A generation written before search documents existed is filled once (``ensure_filled``,
before the projector's first batch in a generation). Readers search the slow way
(``resolvers.readers``) until the marker says the documents and the collection's indexes are
all there (``mark_complete``; a new generation builds the indexes after its catch-up,
``projections.deferred_indexes``).

The generation's markers live in this collection, those of ``ensure_filled``'s other fills
too: the ``warehouseIds`` of shipments and invoices, and the ``trackingKey`` of shipments,
written before those fields existed (``FILLS``). A generation the projector creates gets
every marker without a fill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any, Final

from projections.batch import EntityKey
from projections.effects import Effects
from projections.store import CHUNK, DRIVER_ERRORS, WRITE_CHUNK, ProjectionStore, StoreError
from readmodel.documents import SEARCH_KEYS
from readmodel.search_keys import (
    COMPLETE_MARKER,
    COPIED,
    FILLED_MARKER,
    KEYS_FORMAT,
    KEYS_FORMAT_FIELD,
    SEARCHABLE,
    TRACKING_KEYS_MARKER,
    WAREHOUSES_MARKER,
    SearchDocument,
    document_id,
    search_document,
    search_source,
)

#: Chunks of search documents ``fill`` writes at once.
FILL_WRITES = 4
#: Search documents per insert command: each brings 40-90 index entries (``keys``), which
#: the store writes one after another within a command; a batch's few dozen new ones go
#: in commands that run side by side.
PER_COMMAND = 25
#: Search documents per insert command while the collection's indexes wait for the
#: catch-up (``projections.deferred_indexes``): without them a search document costs what
#: any bare document does, and a catch-up's thousands in commands of ``PER_COMMAND`` paid
#: the store's cost per command four times over (docs/benchmarks.md, "Session 21").
BARE_PER_COMMAND = WRITE_CHUNK


def search_documents_to_write(effects: Sequence[Effects]) -> list[SearchDocument]:
    """The search documents a batch's effects call for (pure; see the module docstring)."""
    out: list[SearchDocument] = []
    for effect in effects:
        kind = effect.key.kind
        if kind not in SEARCHABLE:
            continue
        before = effect.before
        if effect.after.get("known") is not True:
            continue  # not served yet; written once its snapshot makes it known
        if before is not None and search_source(kind, before) == search_source(kind, effect.after):
            continue
        document = search_document(kind, effect.key.id, effect.after)
        if document is not None:
            out.append(document)
    return out


def likely_stored(loaded: Mapping[EntityKey, Mapping[str, Any]]) -> frozenset[str]:
    """The ``_id``s of the search documents most likely stored already, by the documents a
    batch ``loaded`` before its writes (from the store or the projector's cache): those of
    the searched entities that were known then (see the module docstring: only a guess)."""
    return frozenset(
        document_id(key.kind, key.id)
        for key, doc in loaded.items()
        if key.kind in SEARCHABLE and doc.get("known") is True
    )


async def write_search_keys(
    store: ProjectionStore,
    suffix: str,
    effects: Sequence[Effects],
    *,
    indexed: bool = True,
    stored: AbstractSet[str] = frozenset(),
) -> None:
    """Write the search documents ``effects`` call for into generation ``suffix``;
    ``indexed``: whether its search collection has (or may have) its indexes, False while
    they wait for the catch-up (``DeferredIndexes.waiting``), which only sizes the commands;
    ``stored``: those most likely there already (``likely_stored``), which only orders the
    writes."""
    await store.insert_or_advance(
        store.collection_name(SEARCH_KEYS, suffix),
        search_documents_to_write(effects),
        per_command=PER_COMMAND if indexed else BARE_PER_COMMAND,
        present=stored,
    )


async def _write(
    store: ProjectionStore, collection: str, documents: Sequence[SearchDocument]
) -> None:
    """Write ``documents``, none replacing one derived from a newer ``rev``."""
    if documents:
        await store.insert_or_advance(collection, documents, per_command=PER_COMMAND)


async def is_complete(store: ProjectionStore, suffix: str) -> bool:
    """Whether generation ``suffix``'s marker says readers may search its keys."""
    return await _marked(store, suffix, COMPLETE_MARKER)


async def _marked(store: ProjectionStore, suffix: str, marker: str) -> bool:
    return await _marker(store, suffix, marker) is not None


async def _marker(store: ProjectionStore, suffix: str, marker: str) -> Mapping[str, Any] | None:
    collection = store.db[store.collection_name(SEARCH_KEYS, suffix)]
    try:
        return await collection.find_one({"_id": marker})
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot read {collection.name}: {exc}") from exc


async def ensure_filled(store: ProjectionStore, suffix: str, *, created: bool = False) -> None:
    """Each of ``FILLS`` of generation ``suffix`` once: the marker it leaves says so to every
    later start (one that crashed mid-fill fills again: each write is idempotent, and
    several processes may fill at once). ``created``: the generation is new
    (``ProjectionStore.ensure_collections``), every document in it written with what the
    fills derive, so it only gets the markers."""
    for marker, fill_generation in FILLS.items():
        if not await _marked(store, suffix, marker):
            if not created:
                await fill_generation(store, suffix)
            await _mark(store, suffix, marker, _MARKER_FIELDS.get(marker))


async def ensure_complete(store: ProjectionStore, suffix: str) -> None:
    """``fill`` generation ``suffix`` unless its ``complete`` marker is there: every fill
    of ``FILLS`` its markers do not skip, then the markers."""
    if not await is_complete(store, suffix):
        await fill(store, suffix)


async def fill(store: ProjectionStore, suffix: str) -> None:
    """Fill generation ``suffix`` (``ensure_filled``: the search documents and the
    ``warehouseIds``, each unless its marker is there), then write the ``complete`` marker
    (the search collection's indexes must exist)."""
    await ensure_filled(store, suffix)
    await mark_complete(store, suffix)


async def fill_documents(store: ProjectionStore, suffix: str) -> None:
    """Give every order and shipment of generation ``suffix`` its search document.

    Idempotent and safe beside running batches: each write is guarded by ``rev``, and a
    batch writes the search document of every entity it creates or changes searchably.
    Up to ``FILL_WRITES`` chunks are written at once while the next ones are read.
    """
    collection = store.collection_name(SEARCH_KEYS, suffix)
    writing: set[asyncio.Task[None]] = set()
    try:
        for kind, paths in SEARCHABLE.items():
            fields = {path: True for path in (*paths, *COPIED[kind], "rev")}
            pending: list[SearchDocument] = []
            entities = store.db[store.collection_name(kind, suffix)]
            async for doc in entities.find({"known": True}, fields):
                document = search_document(kind, str(doc["_id"]), doc)
                if document is not None:
                    pending.append(document)
                if len(pending) >= CHUNK:
                    if len(writing) >= FILL_WRITES:
                        done, writing = await asyncio.wait(
                            writing, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            task.result()
                    writing.add(asyncio.create_task(_write(store, collection, pending)))
                    pending = []
            await _write(store, collection, pending)
        for task in writing:
            await task
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot fill {collection}: {exc}") from exc
    finally:
        for task in writing:
            task.cancel()


#: What a generation written before a derived field existed lacks, by the marker that says
#: it is filled (``ensure_filled``): the search documents, the shipments' and invoices'
#: ``warehouseIds`` (``ProjectionStore.fill_warehouses``), and the shipments'
#: ``trackingKey`` (``ProjectionStore.fill_tracking_keys``; readers look numbers up by it
#: once its marker is there, ``resolvers.readers``).
FILLS: Final[Mapping[str, Callable[[ProjectionStore, str], Awaitable[None]]]] = {
    FILLED_MARKER: fill_documents,
    WAREHOUSES_MARKER: ProjectionStore.fill_warehouses,
    TRACKING_KEYS_MARKER: ProjectionStore.fill_tracking_keys,
}


async def mark_complete(store: ProjectionStore, suffix: str) -> None:
    """Write the marker that lets readers search generation ``suffix``'s keys: only once
    every search document is written and the collection's indexes exist (without them a
    search by key reads the whole collection).

    The form of keys it names is the one the generation's search documents were filled in
    (its ``filled`` marker's, ``ensure_filled``), not this code's: a generation filled by
    code before session 22 holds keys of the older form whatever code completes it (a
    catch-up that an upgrade interrupted, an index build that failed until then), and keys
    of another form would silently miss values. It is searched the slow way until a rebuild.
    """
    filled = await _marker(store, suffix, FILLED_MARKER)
    keys_format = None if filled is None else filled.get(KEYS_FORMAT_FIELD)
    fields = {} if keys_format is None else {KEYS_FORMAT_FIELD: keys_format}
    await _mark(store, suffix, COMPLETE_MARKER, fields)


#: What a marker records beside its time: the search documents' form of keys is the one
#: they are filled in (``mark_complete`` carries it over).
_MARKER_FIELDS: Final[Mapping[str, Mapping[str, object]]] = {
    FILLED_MARKER: {KEYS_FORMAT_FIELD: KEYS_FORMAT},
}


async def _mark(
    store: ProjectionStore, suffix: str, marker: str, fields: Mapping[str, object] | None = None
) -> None:
    collection = store.collection_name(SEARCH_KEYS, suffix)
    written = {"kind": marker, "at": datetime.now(UTC), **(fields or {})}
    try:
        await store.db[collection].update_one({"_id": marker}, {"$set": written}, upsert=True)
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot mark {collection} {marker}: {exc}") from exc
