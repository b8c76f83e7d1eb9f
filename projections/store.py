"""All MongoDB I/O of the projector, behind one small class.

Every operation here is idempotent, because a batch is re-run after a crash between the
document writes and the Kafka offset commit:

* entity writes are ``$set`` of the fields the reducers changed; a redelivered batch
  changes nothing and writes nothing (the planner drops empty diffs);
* summary pushes are guarded by the summarised document's ``rev`` and never go backwards;
  the ``warehouseIds`` derived from a document's order summaries is then derived again from
  the document as stored (``_settle_warehouses``). A failure between the two leaves it
  unsettled until the batch reruns, absent (the push of an order's summary unsets it in
  the same single-document update: ``_push_operation``), so it hides the document from
  warehouse-limited callers who may see it, never the reverse. The rerun's pushes are
  repeats that change nothing, so the projector writes every loaded document whose field
  its summaries do not derive (``warehouses_unsettled``);
* freshness only moves forward (``$max``, and a guarded ``$set`` of the newest event).

Round trips are per batch, not per document: documents are read with one ``$in`` query per
thousand ids, new ones inserted a hundred per command, and updates that do not depend
on each other's results are sent together in unordered ``bulk_write`` calls.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final, NamedTuple, TypeAlias, TypeVar, cast

import bson
from bson.codec_options import CodecOptions
from bson.errors import InvalidDocument
from bson.raw_bson import RawBSONDocument
from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from projections.batch import COLLECTION_OF, EntityChange, EntityKey, SourceSeen
from projections.effects import NamingRead, SummaryPush, place
from projections.metrics import NoStoreObserver, StoreObserver
from readmodel import documents
from readmodel.documents import (
    RELATED_OVERFLOW,
    RELATED_OVERFLOW_CUSTOMERS,
    SHIPMENTS,
    TRACKING_KEY,
    WAREHOUSE_DERIVED_KINDS,
    WAREHOUSE_IDS,
    WRITER,
    WRITES,
    EntityKind,
    base_collection,
)
from readmodel.links import (
    KindBytes,
    named_ids,
    naming_fields,
    naming_query,
    visible_warehouses,
    with_overflow_customer,
)
from readmodel.read_pointer import read_pointer
from readmodel.search_keys import tracking_key
from readmodel.server import is_ferretdb

log = logging.getLogger(__name__)
_INDEX_OPTIONS_CONFLICT = 85
_INDEX_KEY_SPECS_CONFLICT = 86
_STATE_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)


def is_state_field(name: str) -> bool:
    """Reducer bookkeeping fields (``_orderState`` ...): private to the projector."""
    return name.startswith("_") and name.endswith("State")


def encode_state(value: Any) -> bson.Binary:
    """Bookkeeping is stored as one opaque BSON blob.

    Nobody but the projector reads it, so it need not be queryable or indexed, and its shape
    (nested version tuples) can change with the reducers without readers noticing.

    Its facts are stored in name order: a reducer adds each fact when its first event
    arrives, so the same bookkeeping would otherwise encode to other bytes when the events of
    two topics arrive in another order (two processes in a group, a rebuild), and the same
    events would not give the same document.
    """
    canonical = dict(sorted(value.items())) if isinstance(value, Mapping) else value
    return bson.Binary(bson.encode({"s": canonical}))


def decode_state(value: Any) -> Any:
    if isinstance(value, bytes | bson.Binary):
        return bson.decode(bytes(value), codec_options=_STATE_CODEC)["s"]
    return value


def _decoded(doc: dict[str, Any]) -> dict[str, Any]:
    for name in [n for n in doc if is_state_field(n)]:
        doc[name] = decode_state(doc[name])
    return doc


#: Ids per ``$in`` read (one round trip each: the reply carries them all).
CHUNK = 1000

#: Operations per ``bulk_write``. The store applies one command's writes one after another
#: on one backend, so a batch's few hundred updates of one collection in one command take
#: as long as all of them in a row; in commands of this size they run side by side (up to
#: the store concurrency limit), on every core the store has.
WRITE_CHUNK = 100

#: How often one write is tried again because another writer of the same document came
#: first (the projector's replans of an entity's write, ``_settle_warehouses``' rounds),
#: before it gives up with ``StoreError`` and the batch reruns.
CONFLICT_ROUNDS = 30
#: What ``WAREHOUSE_IDS`` derives from, and what a fix of it needs (its guard).
_DERIVED_FROM: Final = {
    name: True
    for name in (
        "orderIds",
        "lines",
        "related.orders",
        f"{RELATED_OVERFLOW}.orders",
        WAREHOUSE_IDS,
        WRITES,
    )
}

_T = TypeVar("_T")


def _advances(docs: Sequence[Mapping[str, Any]]) -> list[UpdateOne]:
    """The update of each of ``docs`` that lands only where the stored ``rev`` is not newer
    (``ProjectionStore.insert_or_advance``)."""
    return [
        UpdateOne(
            {"_id": doc["_id"], "rev": {"$lte": doc["rev"]}},
            {"$set": {name: value for name, value in doc.items() if name != "_id"}},
        )
        for doc in docs
    ]


def _in_id_order(items: Sequence[_T], doc_id: Callable[[_T], Any]) -> list[_T]:
    """``items`` by the ``_id`` they write, for a write command that touches several
    documents (stable: two writes of one document keep their order).

    A write command holds the lock of every document it wrote until it ends (DocumentDB
    runs it as one transaction), so two commands writing the same documents in different
    orders can each wait for the other: PostgreSQL then fails one write after its
    deadlock timeout (a second), as "deadlock detected", and the batch is retried or
    fails. Taken in one order, locks cannot form such a cycle."""
    return sorted(items, key=doc_id)


def _chunks(items: Sequence[_T], size: int = CHUNK) -> list[Sequence[_T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class StoreError(Exception):
    """MongoDB refused or could not be reached; the batch is not committed and will rerun."""


#: What the driver raises for a write the store cannot take: the server's refusals and
#: outages (``PyMongoError``), and the driver's own refusal to encode a document
#: (``InvalidDocument``: ``DocumentTooLarge``, over the server's 16 MiB, is one; it is not a
#: ``PyMongoError``). Each becomes a ``StoreError``: the batch is retried, counted and
#: logged, never a crash of the process at every start. The planner keeps documents under
#: the limit and decoding refuses ids the store could not key (``event_fields``), so what
#: is left is what ``documents.MAX_DOCUMENT_BYTES`` does not bound (docs/limits.md).
DRIVER_ERRORS: Final = (PyMongoError, InvalidDocument)


_Operation: TypeAlias = InsertOne[Any] | UpdateOne


class _BulkResult(NamedTuple):
    """What one unordered ``bulk_write`` (or several) did: the indexes of the operations the
    store refused, and how many documents its updates matched."""

    refused: list[int]
    matched: int


class Landed(NamedTuple):
    """What a batch of document writes did: the ids whose write did NOT land (another
    writer came first; the caller writes them stepwise), and for those that did, what
    derives each document as stored after the write (exactly as a read would return it:
    what ``DocumentCache`` keeps), from the bytes the write sent (``_read_back``) or from
    the document the write landed on.

    Derived only when asked for: a batch keeps every document it writes for the next one,
    and most of a catch-up's are never read again, so they are decoded only once a batch
    takes them from the cache; decoding every one as written cost about 25 µs of CPU per
    event of a catch-up, a sixth of the projector's (docs/benchmarks.md, "Session 21")."""

    missed: set[str]
    stored: Mapping[str, Callable[[], dict[str, Any]]]


class FoldedWrite(NamedTuple):
    """One document of a batch as the batch read it (``seen``), its own change if any, and
    the summaries of the batch's other entities folded into its write."""

    doc_id: str
    seen: Mapping[str, Any]
    change: EntityChange | None
    summaries: Sequence[SummaryPush]


def _guard(doc_id: str, seen: Mapping[str, Any]) -> dict[str, Any]:
    """The filter of a write that lands only on document ``doc_id`` as ``seen`` (by its
    ``_writes``, which every write increments)."""
    writes = seen.get(WRITES)
    return {"_id": doc_id, WRITES: writes if writes is not None else {"$exists": False}}


def _folded_update(
    collection: str, write: FoldedWrite, now: datetime, stamp: str
) -> dict[str, Any]:
    update: dict[str, Any] = (
        _entity_update(write.change, now) if write.change is not None else {"$inc": {WRITES: 1}}
    )
    fields = update.setdefault("$set", {})
    # in order: of two summaries of one source, the later is the newer (``Fold``); one the
    # fold found no room for marks the document instead and takes out an older summary of
    # its source (``effects.place``; the write lands only on the document the fold decided on)
    removed: dict[str, str] = {}
    recorded: dict[str, Any] = dict(write.seen.get(RELATED_OVERFLOW_CUSTOMERS) or {})
    for push in write.summaries:
        if push.room:
            fields[push.path] = push.entry()
            removed.pop(push.path, None)
        else:
            fields.pop(push.path, None)
            removed[push.path] = ""
            fields[push.overflow_path] = True
            kind = cast(EntityKind, push.source_kind)
            held = {RELATED_OVERFLOW_CUSTOMERS: recorded}
            if customers := with_overflow_customer(push.target_kind, held, kind, push.customer_id):
                # the whole list: the write lands only on the document it was read from
                recorded[kind] = customers
                fields[f"{RELATED_OVERFLOW_CUSTOMERS}.{kind}"] = customers
    if removed:
        update["$unset"] = {**update.get("$unset", {}), **removed}
    fields[WRITER] = stamp
    if base_collection(collection) in WAREHOUSE_DERIVED_KINDS:
        _merge(update, _warehouses_update(collection, write.seen, updated(write.seen, update)))
    return update


class ActiveGeneration(NamedTuple):
    """What the read pointer names: the generation readers use, the fingerprint of the
    configuration a rebuild built it with (``projections.generation_config``; None if none
    was recorded), and what its notices add to a shipment's ``rev``
    (``projections.revision_offsets``; 0 if none was recorded)."""

    suffix: str
    config: str | None
    revision_offset: int = 0

    @property
    def label(self) -> str:
        """The generation's name in messages (``generation_label``)."""
        return generation_label(self.suffix)


def generation_label(suffix: str) -> str:
    """Generation ``suffix`` as messages and listings name it: the original one has none."""
    return suffix or "(original)"


class PointerMoved(Exception):
    """A switch's compare-and-set lost: the read pointer no longer names the generation and
    revision offset the switch was to replace (``ProjectionStore.set_active_suffix``);
    nothing was written. ``found`` is the pointer as read just after."""

    def __init__(self, expected: ActiveGeneration, found: ActiveGeneration) -> None:
        super().__init__(
            f"the read pointer names generation {found.label} with revision "
            f"offset {found.revision_offset}, not {expected.label} with "
            f"{expected.revision_offset}"
        )
        self.expected = expected
        self.found = found


def _pointer_as(generation: ActiveGeneration) -> dict[str, Any]:
    """The filter matching the pointer document ``active_generation`` read as ``generation``:
    its suffix and its revision offset, where 0 stands for any value ``read_pointer``
    reads as 0 (absent in a pointer written before session 19)."""
    offset = generation.revision_offset
    return {
        "_id": "active",
        "suffix": generation.suffix,
        documents.REVISION_OFFSET: offset if offset else {"$not": {"$gt": 0}},
    }


class ProjectionStore:
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        concurrency: int = 32,
        observer: StoreObserver | None = None,
    ) -> None:
        """``observer`` counts writes that lost a race (the projector's metrics)."""
        self._db = db
        #: How ``_encoded`` wraps what it encodes: made once (``with_options`` costs as much
        #: as encoding a small document, and every document a batch writes is encoded).
        self._raw_options = db.codec_options.with_options(document_class=RawBSONDocument)
        self._limit = asyncio.Semaphore(concurrency)
        self._observer: StoreObserver = observer or NoStoreObserver()
        #: Per sources collection, the sources whose document this process saw stored
        #: (``touch_sources``); forgetting one costs a round trip, nothing else.
        self._stored_sources: dict[str, set[str]] = {}

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        return self._db

    def collection_name(self, kind_or_collection: str, suffix: str) -> str:
        base = COLLECTION_OF.get(kind_or_collection, kind_or_collection)
        return documents.generation_collection(base, suffix)

    async def active_suffix(self) -> str:
        """The projection generation readers use now ("" until a rebuild switched it)."""
        return (await self.active_generation()).suffix

    async def active_generation(self) -> ActiveGeneration:
        """The generation readers use now and the configuration it was built with."""
        try:
            pointer = await self._db[documents.READ_POINTER].find_one({"_id": "active"})
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot read the projection pointer: {exc}") from exc
        read = read_pointer(pointer)
        return ActiveGeneration(read.suffix, read.config, read.revision_offset)

    async def set_active_suffix(
        self,
        suffix: str,
        *,
        revision_offset: int,
        replacing: ActiveGeneration,
        config: str | None = None,
    ) -> None:
        """Switch readers to generation ``suffix``, built with ``config``
        (``projections.generation_config``; None: any projector may write it), whose
        notices add ``revision_offset`` to a shipment's ``rev``
        (``projections.revision_offsets``): one write, so no reader or projector sees the
        one without the other.

        A compare-and-set: the write lands only on the pointer ``replacing`` describes (its
        suffix and revision offset, as ``active_generation`` read it), else raises
        ``PointerMoved`` and changes nothing. The caller computed ``revision_offset`` from
        that pointer, and chose ``suffix`` over that generation: a pointer another rebuild
        (or an operator) switched meanwhile must not be overwritten, or readers would go
        back to an older generation and notice revisions down (``projections.rebuild``).
        One conditional update of one document (an upsert when no pointer exists yet, which
        a concurrent one fails on the ``_id``): atomic on FerretDB 2 and MongoDB 6 alike.

        The pointer also records when (``switchedAt``, the store's clock: ``$currentDate``,
        as the drop judges it by the store's, ``projections.store_clock``) and from which
        generation (``previous``: ``replacing``'s, which the filter guarantees):
        ``projections generations drop`` keeps the previous one for a grace period counted
        from the switch, as readers and live projectors may still use it for a while.
        """
        fields = {
            "suffix": suffix,
            "config": config,
            documents.REVISION_OFFSET: revision_offset,
            "previous": replacing.suffix,
        }
        switch = {
            "$set": fields,
            "$currentDate": {"switchedAt": True},
            "$unset": {"switchedAtEstimated": ""},
        }
        pointers = self._db[documents.READ_POINTER]
        try:
            result = await pointers.update_one(_pointer_as(replacing), switch)
            switched = result.matched_count == 1 or await self._first_pointer(replacing, switch)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot switch the projection pointer: {exc}") from exc
        if not switched:
            raise PointerMoved(replacing, await self.active_generation())

    async def _first_pointer(self, replacing: ActiveGeneration, switch: dict[str, Any]) -> bool:
        """Write the pointer where ``replacing`` says there was none (readers on the original
        generation); whether it was written (False: some pointer exists, so another writer
        came first, or ``replacing`` described one this filter did not match). An upsert of
        ``switch`` whose filter matches no pointer (every one has a suffix), so that the
        store writes its time (an insert cannot): it inserts, or fails on the ``_id``."""
        if replacing.suffix or replacing.revision_offset:
            return False
        try:
            await self._db[documents.READ_POINTER].update_one(
                {"_id": "active", "suffix": {"$exists": False}}, switch, upsert=True
            )
        except DuplicateKeyError:
            return False
        return True

    async def raise_revision_offset(self, suffix: str, revision_offset: int) -> bool:
        """Raise the revision offset of generation ``suffix`` to ``revision_offset``
        while readers still use it (a rebuild's correction after its switch,
        ``revision_offsets.corrected_offset``); whether it did. Never lowers it: the
        notices of that generation already sent stay below the later ones."""
        try:
            result = await self._db[documents.READ_POINTER].update_one(
                {
                    "_id": "active",
                    "suffix": suffix,
                    documents.REVISION_OFFSET: {"$lt": revision_offset},
                },
                {"$set": {documents.REVISION_OFFSET: revision_offset}},
            )
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot raise the revision offset: {exc}") from exc
        return result.modified_count == 1

    async def highest_shipment_rev(self, suffix: str) -> int:
        """The highest ``rev`` of a shipment in generation ``suffix`` (0 with none): what
        the next generation's revision offset must exceed. A scan of the shipments (no
        index holds ``rev``: every write changes it), which a rebuild makes twice."""
        shipments = self._db[self.collection_name(documents.SHIPMENTS, suffix)]
        try:
            highest = await shipments.find_one({}, {"_id": 0, "rev": 1}, sort=[("rev", -1)])
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot read the highest shipment revision: {exc}") from exc
        return int(highest.get("rev") or 0) if highest is not None else 0

    async def ensure_collections(self, suffix: str) -> bool:
        """Create a generation's collections before its first batch writes them; whether
        this call created every one (a new generation: all it will hold is written by this
        projector, with every derived field, so nothing in it needs a fill).

        Readers switched to a new generation then find every collection present, even those
        no event has touched yet.
        """
        created = True
        try:
            existing = set(await self._db.list_collection_names())
            for base in documents.GENERATION_COLLECTIONS:
                name = self.collection_name(base, suffix)
                if name in existing:
                    created = False
                    continue
                try:
                    await self._db.create_collection(name)
                except CollectionInvalid:
                    created = False  # another projector process created it first
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot create collections: {exc}") from exc
        return created

    async def ensure_indexes(self, suffix: str, *, deferring: frozenset[str] = frozenset()) -> bool:
        """Create a generation's collections and the readers' indexes (``documents.INDEXES``),
        which readers rely on (they name them as hints); a no-op when they exist. The
        indexes of the collections in ``deferring`` are left for a later call
        (``projections.deferred_indexes``). Whether the generation is new
        (``ensure_collections``)."""
        created = await self.ensure_collections(suffix)
        try:
            documentdb = await is_ferretdb(self._db)
            for base, specs in documents.INDEXES.items():
                if base in deferring:
                    continue
                name = base if base == documents.AUDIT_LOG else self.collection_name(base, suffix)
                for index_name, keys in specs:
                    options = (
                        documents.DOCUMENTDB_COMPOUND_INDEX_OPTIONS
                        if documentdb and documents.is_compound_index(keys)
                        else {}
                    )
                    await self._create_index(name, index_name, keys, options)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot create indexes: {exc}") from exc
        return created

    async def _create_index(
        self, collection: str, name: str, keys: list[tuple[str, int]], options: dict[str, Any]
    ) -> None:
        """Create one index; one of that name built without ``options`` (a store written
        before they were introduced) is kept as it is, with a warning: pages are then slower,
        not wrong, until a rebuild writes a new generation with the new indexes."""
        try:
            await self._db[collection].create_index(keys, name=name, **options)
        except OperationFailure as exc:
            if exc.code not in (_INDEX_OPTIONS_CONFLICT, _INDEX_KEY_SPECS_CONFLICT) or not options:
                raise
            log.warning("index %s of %s predates options %s; keeping it", name, collection, options)

    async def _guarded(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run one store operation under the concurrency limit; driver errors become
        ``StoreError`` (the batch is retried whole)."""
        async with self._limit:
            try:
                return await operation()
            except DRIVER_ERRORS as exc:
                raise StoreError(str(exc)) from exc

    async def load(
        self,
        collection: str,
        ids: Iterable[str],
        fields: Mapping[str, Any] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Current documents by ``_id`` (only ``fields``, a projection, when given): one
        ``$in`` query per thousand ids, run concurrently.

        Every match is returned: no limit, and the cursor is read to its end.
        """
        unique = list(dict.fromkeys(ids))
        found = await asyncio.gather(
            *(
                self._guarded(
                    partial(self._find_all, collection, {"_id": {"$in": list(chunk)}}, fields)
                )
                for chunk in _chunks(unique)
            )
        )
        return {doc["_id"]: _decoded(doc) for docs in found for doc in docs}

    async def load_keys(
        self,
        suffix: str,
        keys: Iterable[EntityKey],
        fields: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[EntityKey, dict[str, Any]]:
        """``load`` of entities of several kinds in generation ``suffix``, a read per kind,
        side by side (of a kind in ``fields``, only the fields it maps it to); the documents
        found, by key."""
        ids_by_kind: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            ids_by_kind[key.kind].append(key.id)
        loaded = await asyncio.gather(
            *(
                self.load(self.collection_name(kind, suffix), ids, (fields or {}).get(kind))
                for kind, ids in ids_by_kind.items()
            )
        )
        return {
            EntityKey(kind, doc_id): doc
            for kind, docs in zip(ids_by_kind, loaded, strict=True)
            for doc_id, doc in docs.items()
        }

    async def naming_ids(self, suffix: str, read: NamingRead) -> dict[str, set[str]]:
        """Holder id -> ids of the ``read.kind`` documents naming it (``effects.NamingRead``):
        every match, through the index of the naming field where it has one."""
        query = naming_query(read.field, read.holder_ids)
        if read.customer_ids is not None:
            customers = list(read.customer_ids)
            query = {"customerId": customers[0] if len(customers) == 1 else {"$in": customers}}
            query.update(naming_query(read.field, read.holder_ids))
        collection = self.collection_name(read.kind, suffix)
        found = await self._guarded(
            partial(
                self._find_all,
                collection,
                query,
                {read.field: 1},
                hint=documents.field_index(read.kind, read.field),
            )
        )
        holders = set(read.holder_ids)
        naming: dict[str, set[str]] = defaultdict(set)
        for doc in found:
            for holder_id in holders.intersection(named_ids(doc, read.holder_kind)):
                naming[holder_id].add(str(doc["_id"]))
        return dict(naming)

    async def _find_all(
        self,
        collection: str,
        query: Mapping[str, Any],
        projection: Mapping[str, Any] | None = None,
        *,
        hint: str | None = None,
    ) -> list[dict[str, Any]]:
        # One reply for the whole read: by default the first one holds 101 documents and
        # the rest take another round trip (``getMore``).
        options: dict[str, Any] = {"batch_size": CHUNK}
        if hint is not None:
            options["hint"] = hint
        return await self._db[collection].find(query, projection, **options).to_list()

    async def write_entity(
        self, collection: str, change: EntityChange, now: datetime
    ) -> dict[str, Any] | None:
        """Apply one document's diff if the document is still ``change.before``; returns the
        document as stored after the write, or None (nothing written) if another writer
        changed it since it was read.

        The diff sets whole fields (a reducer's bookkeeping blob, a milestone list) computed
        from ``change.before``: written over a document another writer has changed since,
        it would put back the old values of those fields and silently drop that writer's
        events (two group members briefly own one partition around a rebalance). So it is
        conditional on ``_writes`` like ``write_all_if_unchanged``, and the caller folds its
        events into the document as it now is and tries again.

        ``find_one_and_update`` returns the write's own result, so of two writers of one
        order (ERP fields and WMS fields) the later sees both changes and carries the higher
        ``rev``: its summary is the one that wins wherever the order is summarised.
        """
        collection_ = self._db[collection]
        if change.before is None:
            # A new document goes in whole (an upsert that loses the race to create it fails
            # on FerretDB 2 with an internal error, not a duplicate key).
            doc = _new_document(collection, change, (), now)

            async def insert() -> dict[str, Any] | None:
                try:
                    await collection_.insert_one(doc)
                except DuplicateKeyError:
                    self._observer.write_conflict("replanned")
                    return None  # created by another writer since it was read
                return doc

            inserted = await self._guarded(insert)
            return self.as_stored(inserted) if inserted is not None else None
        writes = change.before.get(WRITES)
        update = _entity_update(change, now)
        _merge(update, _warehouses_update(collection, change.before, change.after))
        result = await self._guarded(
            partial(
                collection_.find_one_and_update,
                {
                    "_id": change.key.id,
                    WRITES: writes if writes is not None else {"$exists": False},
                },
                update,
                return_document=ReturnDocument.AFTER,
            )
        )
        if result is None:
            self._observer.write_conflict("replanned")
            return None
        return _decoded(dict(result))

    async def write_all_if_unchanged(
        self, collection: str, writes: Sequence[FoldedWrite], now: datetime
    ) -> Landed:
        """Each document's own changes and the summaries folded into it, in one write that
        lands only if nobody wrote the document since the batch read it (``seen``); the ids
        whose write did not land, for the caller to write stepwise, and the others as stored.

        Every write increments ``_writes``, so an unchanged counter means the document is
        exactly ``seen``: the caller then knows the result without reading it back (its
        ``rev`` is ``seen``'s plus one). The writes go out as unordered ``bulk_write``s, which
        count the documents they matched but do not say which: when the count falls short,
        the chunk's documents are read back and every one not carrying this call's
        ``_writer`` stamp is reported (a write that landed and was then overwritten by
        another writer is reported too: writing it again stepwise is idempotent).
        """
        stamp = uuid.uuid4().hex
        writes = _in_id_order(writes, lambda write: write.doc_id)
        updates = [
            self._set_encoded(_folded_update(collection, write, now, stamp)) for write in writes
        ]
        operations = [
            UpdateOne(_guard(write.doc_id, write.seen), update)
            for write, update in zip(writes, updates, strict=True)
        ]
        ids = [write.doc_id for write in writes]
        missed: set[str] = set().union(
            *await asyncio.gather(
                *(
                    self._write_chunk(collection, chunk, chunk_ids, stamp)
                    for chunk, chunk_ids in zip(
                        _chunks(operations, WRITE_CHUNK), _chunks(ids, WRITE_CHUNK), strict=True
                    )
                )
            )
        )
        # Nobody wrote a landed document between the batch's read and this write (that is
        # what landing means), so it is ``seen`` with the update applied; ``seen`` is as
        # stored already (read, or kept from a write), the values set are made so.
        stored = {
            write.doc_id: partial(self._updated_as_stored, write.seen, update)
            for write, update in zip(writes, updates, strict=True)
            if write.doc_id not in missed
        }
        return Landed(missed, stored)

    async def _write_chunk(
        self, collection: str, operations: Sequence[UpdateOne], ids: Sequence[str], stamp: str
    ) -> set[str]:
        try:
            async with self._limit:
                result = await self._db[collection].bulk_write(list(operations), ordered=False)
            if result.matched_count == len(operations):
                return set()
            stamped = await self._find_all(
                collection, {"_id": {"$in": list(ids)}, WRITER: stamp}, {"_id": True}
            )
        except DRIVER_ERRORS as exc:
            raise StoreError(str(exc)) from exc
        missed = set(ids) - {str(doc["_id"]) for doc in stamped}
        self._observer.write_conflict("folded", len(missed))
        return missed

    async def insert_new(
        self,
        collection: str,
        changes: Sequence[EntityChange],
        summaries: Mapping[str, Sequence[SummaryPush]],
        now: datetime,
    ) -> Landed:
        """Insert the documents of entities that did not exist when the batch read them,
        whole, with the summaries folded into them; the ids that were NOT written because
        another writer created them meanwhile (the caller writes those stepwise), and the
        others as stored.

        The same documents an upsert would make, but sent a hundred per command with
        nothing read back: creating a document costs what the benchmark's ceiling pays.
        """
        docs = {
            change.key.id: self._encoded(
                _new_document(collection, change, summaries.get(change.key.id, ()), now)
            )
            for change in changes
        }
        refused = await self._insert_missing(collection, docs)
        stored = {
            doc_id: partial(self._read_back, doc)
            for doc_id, doc in docs.items()
            if doc_id not in refused
        }
        return Landed(refused, stored)

    def as_stored(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """``doc`` as a read of it returns it: through BSON with this database's codec
        options (times to the millisecond, tuples as lists), bookkeeping decoded. A fresh
        copy that shares nothing with ``doc``."""
        return self._read_back(self._encoded(doc))

    def _encoded(self, doc: Mapping[str, Any]) -> RawBSONDocument:
        """``doc`` in BSON as the driver would encode it (this database's codec options).

        A batch's writes are encoded once: the driver sends a ``RawBSONDocument``'s bytes
        as they are, and ``_read_back`` reads what the write stores from the same bytes
        (encoding every written document twice was a visible part of the projector's CPU).
        Nothing should look into one (``doc["_id"]`` decodes its top level).
        """
        return RawBSONDocument(
            bson.encode(doc, codec_options=self._db.codec_options),
            codec_options=self._raw_options,
        )

    def _set_encoded(self, update: dict[str, Any]) -> dict[str, Any]:
        """``update`` with its ``$set``, which holds nearly all of it, ``_encoded``: the
        driver reads the operators of an update, which would decode an encoded one."""
        return {**update, "$set": self._encoded(update["$set"])}

    def _read_back(self, doc: RawBSONDocument) -> dict[str, Any]:
        """``as_stored`` of the document ``doc`` encodes."""
        return _decoded(bson.decode(doc.raw, codec_options=self._db.codec_options))

    def _updated_as_stored(
        self, seen: Mapping[str, Any], update: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Document ``seen`` (as stored) after ``update`` (``_set_encoded``), known without
        reading it back: ``updated`` with the values the update sets ``as_stored``."""
        return updated(seen, {**update, "$set": self._read_back(update["$set"])})

    async def insert_placeholders(self, collection: str, pushes: Sequence[SummaryPush]) -> set[str]:
        """Create the missing targets of ``pushes`` as placeholders (``known: False``) holding
        every summary pushed into them, one document per target, a hundred per command;
        returns the targets NOT created because another writer created them meanwhile (the
        caller pushes into those one guarded write at a time).

        The same documents the guarded upserts of ``push_summaries`` would make, in one
        insert each instead of one upsert per summary.
        """
        docs: dict[str, dict[str, Any]] = {}
        measure = KindBytes()
        for push in pushes:  # in order: the later of two summaries of one source is newer
            doc = docs.setdefault(
                push.target_id, {"_id": push.target_id, **_placeholder(push), WRITES: 1}
            )
            place(doc, push, measure)
        placeholders = {doc_id: with_derived(collection, doc) for doc_id, doc in docs.items()}
        return await self._insert_missing(collection, placeholders)

    async def _insert_missing(
        self, collection: str, docs: Mapping[str, Mapping[str, Any]]
    ) -> set[str]:
        """Insert ``docs`` (by ``_id``: they may be ``_encoded``), a hundred per command; the
        ids of those another writer created meanwhile (refused), which the caller writes the
        guarded way instead."""
        ids = _in_id_order(list(docs), lambda doc_id: doc_id)
        refused = (await self._bulk(collection, [InsertOne(docs[i]) for i in ids])).refused
        lost = {ids[i] for i in refused}
        self._observer.write_conflict("inserted", len(lost))
        return lost

    async def insert_or_advance(
        self,
        collection: str,
        docs: Sequence[Mapping[str, Any]],
        *,
        per_command: int = WRITE_CHUNK,
        present: AbstractSet[str] = frozenset(),
    ) -> None:
        """Write ``docs`` (each with an ``_id`` and a ``rev``) so that each stored one ends up
        with the newest ``rev`` any writer gave it: an insert, and for a document already
        there (or one another writer was creating at the same moment) an update that lands
        only if the stored ``rev`` is not newer. A document still missing afterwards means
        the store refused its insert for another reason: ``StoreError``, the batch reruns.

        ``present``: the ``_id``s of documents most likely there already (a search document
        whose entity was known when its batch read it). Those go the other way round: the
        guarded update first, and an insert (then the guarded update again) only for those
        it found missing, which saves each the insert the store refuses as a duplicate. The
        guess only orders the two writes: wrong either way, it costs a round trip, never a
        write, and each document ends as the insert-first path leaves it.

        A derived document (a search document) is the same for the same ``rev``, so writers
        may send theirs in any order. ``per_command``: documents per insert command (fewer for
        documents with many index entries, so that the commands share the store's cores);
        updates go in commands of ``WRITE_CHUNK``. The two groups go side by side; each
        command names its documents in ``_id`` order.
        """
        docs = _in_id_order(docs, lambda doc: doc["_id"])
        await asyncio.gather(
            self._insert_first(
                collection, [doc for doc in docs if doc["_id"] not in present], per_command
            ),
            self._advance_first(
                collection, [doc for doc in docs if doc["_id"] in present], per_command
            ),
        )

    async def _insert_first(
        self, collection: str, docs: Sequence[Mapping[str, Any]], per_command: int
    ) -> None:
        """``insert_or_advance`` for documents (in ``_id`` order) not expected there."""
        if not docs:
            return
        inserts = [InsertOne(dict(doc)) for doc in docs]
        refused = (await self._bulk(collection, inserts, per_command)).refused
        if not refused:
            return
        present = [docs[i] for i in refused]
        advanced = await self._bulk(collection, _advances(present))
        if advanced.refused:
            raise StoreError(f"{len(present)} documents of {collection} were refused twice")
        if advanced.matched == len(present):
            return  # each is there, as new as this write or newer
        ids = sorted({doc["_id"] for doc in present})
        found = await self._guarded(
            partial(self._find_all, collection, {"_id": {"$in": ids}}, {"_id": True})
        )
        if missing := set(ids) - {doc["_id"] for doc in found}:
            raise StoreError(f"documents {sorted(missing)[:5]} of {collection} not created")

    async def _advance_first(
        self, collection: str, docs: Sequence[Mapping[str, Any]], per_command: int
    ) -> None:
        """``insert_or_advance`` for documents (in ``_id`` order) expected there: the
        guarded update; when it matched fewer than all (the store does not say which), those
        not stored at least as new as this write (missing, or created meanwhile from an
        older ``rev``) go the insert-first way, which settles either case."""
        if not docs:
            return
        advanced = await self._bulk(collection, _advances(docs))
        if advanced.refused:
            raise StoreError(f"{len(advanced.refused)} updates of {collection} were refused")
        if advanced.matched == len(docs):
            return
        ids = [doc["_id"] for doc in docs]
        found = await self._guarded(
            partial(self._find_all, collection, {"_id": {"$in": ids}}, {"_id": True, "rev": True})
        )
        stored = {doc["_id"]: doc.get("rev") for doc in found}
        behind = [
            doc
            for doc in docs
            if not isinstance(rev := stored.get(doc["_id"]), int) or rev < doc["rev"]
        ]
        await self._insert_first(collection, behind, per_command)

    async def _bulk(
        self, collection: str, operations: Sequence[_Operation], per_command: int = WRITE_CHUNK
    ) -> _BulkResult:
        """Unordered ``bulk_write`` in chunks; the indexes of the operations the store refused
        one by one (write errors), for the caller to settle, and how many documents the
        updates matched. Refusals are expected to be duplicate keys (an insert or upsert that
        another document was in the way of, which FerretDB 2 may also report as an internal
        error when two writers race to create one ``_id``): every caller sends them again in
        a form that surfaces anything else. A refusal of the whole call is a ``StoreError``:
        the batch is retried whole."""
        chunks = _chunks(operations, per_command)
        results = await asyncio.gather(*(self._bulk_chunk(collection, chunk) for chunk in chunks))
        return _BulkResult(
            [n * per_command + i for n, result in enumerate(results) for i in result.refused],
            sum(result.matched for result in results),
        )

    async def _bulk_chunk(self, collection: str, operations: Sequence[_Operation]) -> _BulkResult:
        try:
            async with self._limit:
                result = await self._db[collection].bulk_write(list(operations), ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or exc.details.get("writeConcernErrors"):
                raise StoreError(str(exc)) from exc
            refused = [int(error["index"]) for error in errors]
            return _BulkResult(refused, int(exc.details.get("nMatched", 0)))
        except DRIVER_ERRORS as exc:
            raise StoreError(str(exc)) from exc
        return _BulkResult([], result.matched_count)

    async def push_summaries(self, suffix: str, pushes: Sequence[SummaryPush]) -> None:
        """Write summaries into related documents, never replacing a newer one.

        Each push is one update guarded by the summary's ``rev``, as an upsert, that embeds
        the summary or, where the target has no room for it, marks the target overflowing
        (``_embed_or_mark``): a target that does not exist yet is created with it, as
        ``known: False`` until its own snapshot arrives. A guarded upsert that finds the
        target holding a newer summary tries to insert and is refused as a duplicate key; so
        is one that lost the race to create the target. Both are sent again without upsert,
        which settles either case: the target exists now, and the guard decides.

        Pushes go out in rounds, one per target and round, each round one unordered
        ``bulk_write`` per collection: two pushes into one document keep their order (a link
        removal before a later summary of the same source), the rest go together.
        """
        rounds: list[list[SummaryPush]] = []
        seen: dict[tuple[str, str], int] = defaultdict(int)
        for push in pushes:
            target = (push.target_kind, push.target_id)
            if seen[target] == len(rounds):
                rounds.append([])
            rounds[seen[target]].append(push)
            seen[target] += 1
        for round_pushes in rounds:
            by_collection: dict[str, list[SummaryPush]] = defaultdict(list)
            for push in round_pushes:
                by_collection[self.collection_name(push.target_kind, suffix)].append(push)
            await asyncio.gather(
                *(self._push_into(name, batch) for name, batch in by_collection.items())
            )
        settle: dict[str, set[str]] = defaultdict(set)
        for push in pushes:
            if _moves_warehouses(push):
                settle[self.collection_name(push.target_kind, suffix)].add(push.target_id)
        await asyncio.gather(*(self._settle_warehouses(name, ids) for name, ids in settle.items()))

    async def _settle_warehouses(self, collection: str, ids: Iterable[str]) -> None:
        """Make the ``WAREHOUSE_IDS`` of documents that order summaries were pushed into
        follow them (a push ``$set``s one summary without reading the others it derives from).

        Each fix lands only on the document as read (``_settle``), so it is derived from
        every summary the document holds when it lands. Every writer of a summary settles
        after its push, so the last fix to land reflects the last push, whoever sent it.
        """
        await self._settle(collection, await self._derived_from(collection, ids))

    async def _derived_from(self, collection: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        """What ``WAREHOUSE_IDS`` of the documents ``ids`` derives from (``_DERIVED_FROM``)."""
        query = {"_id": {"$in": sorted(ids)}}
        return await self._guarded(partial(self._find_all, collection, query, _DERIVED_FROM))

    async def _settle(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """Fix the ``WAREHOUSE_IDS`` of ``docs`` (as read with ``_DERIVED_FROM``) that differs
        from what they derive. A fix lands only on the document as read (``_writes``); one
        that lost to another writer is read and derived again: not every writer derives the
        field (a shipment's summary pushed into an invoice, or back, changes neither what
        it derives from nor it), so a lost race does not say that it is right."""
        await self._fix(
            collection,
            docs,
            lambda doc: _warehouses_update(collection, doc, doc),
            _DERIVED_FROM,
            "warehouses",
        )

    async def _fix(
        self,
        collection: str,
        docs: Sequence[Mapping[str, Any]],
        fix_of: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        fields: Mapping[str, Any],
        what: str,
    ) -> None:
        """Apply to each of ``docs`` (read with ``fields``, ``_writes`` among them) the
        update ``fix_of`` derives from it (none: nothing to fix), each landing only on the
        document as read; those that lost to another writer are read and derived again."""
        for _ in range(CONFLICT_ROUNDS):
            fixes = {
                str(doc["_id"]): UpdateOne(
                    _guard(str(doc["_id"]), doc), {**fix, "$inc": {WRITES: 1}}
                )
                for doc in _in_id_order(docs, lambda doc: str(doc["_id"]))
                if (fix := fix_of(doc))
            }
            if not fixes:
                return
            if (await self._bulk(collection, list(fixes.values()))).matched == len(fixes):
                return
            query = {"_id": {"$in": sorted(fixes)}}
            docs = await self._guarded(partial(self._find_all, collection, query, fields))
        raise StoreError(f"{what} of {collection} kept changing under {CONFLICT_ROUNDS} fixes")

    async def _fill(
        self,
        collection: str,
        query: Mapping[str, Any],
        fields: Mapping[str, Any],
        fix: Callable[[str, Sequence[Mapping[str, Any]]], Awaitable[None]],
        what: str,
    ) -> None:
        """Read the documents of ``collection`` matching ``query`` (``fields`` of them),
        ``CHUNK`` at a time, and ``fix`` each chunk."""
        chunk: list[dict[str, Any]] = []
        try:
            async for doc in self._db[collection].find(query, fields, batch_size=CHUNK):
                chunk.append(doc)
                if len(chunk) >= CHUNK:
                    await fix(collection, chunk)
                    chunk = []
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot fill the {what} of {collection}: {exc}") from exc
        await fix(collection, chunk)

    async def fill_warehouses(self, suffix: str) -> None:
        """Give every shipment and invoice of generation ``suffix`` the ``WAREHOUSE_IDS`` it
        derives where the stored one differs (a generation written before the field
        existed lacks it everywhere): read ``CHUNK`` documents at a time, only what the
        field derives from, and ``_settle`` each chunk. A document that derives none keeps
        none (fail closed).

        Idempotent, and safe beside running batches and other processes filling at once:
        each fix lands only on the document as read, so it is derived from exactly what the
        document holds (a fix derived from a stale read never lands), and one that lost is
        read and derived again. A document the scan does not see (created meanwhile), or
        one changed after its fix, is written by this projector, whose every write derives
        the field, but for summary pushes: an order's is settled after it, and a shipment's
        or an invoice's changes nothing the field derives from."""
        for kind in sorted(WAREHOUSE_DERIVED_KINDS):
            collection = self.collection_name(kind, suffix)
            await self._fill(collection, {}, _DERIVED_FROM, self._settle, "warehouses")

    async def fill_tracking_keys(self, suffix: str) -> None:
        """Give every shipment of generation ``suffix`` the ``TRACKING_KEY`` of its tracking
        number where the stored one differs (a generation written before the field existed
        lacks it everywhere), ``CHUNK`` documents at a time.

        Idempotent, and safe beside running batches and other processes filling at once:
        each fix lands only on the document as read (its ``_writes``), and one that lost is
        read and derived again (every writer of today's code writes the key with the
        number, but the fix does not count on it)."""
        await self._fill(
            self.collection_name(SHIPMENTS, suffix),
            {"trackingNumber": {"$exists": True}},
            _TRACKING_KEY_FROM,
            self._fix_tracking_keys,
            "tracking keys",
        )

    async def _fix_tracking_keys(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """Set the ``TRACKING_KEY`` of ``docs`` (as read) that differs from their number's."""
        await self._fix(collection, docs, _tracking_key_fix, _TRACKING_KEY_FROM, "tracking keys")

    async def _push_into(self, collection: str, pushes: Sequence[SummaryPush]) -> None:
        pushes = _in_id_order(pushes, lambda push: push.target_id)  # one per target: no reorder
        refused = (await self._bulk(collection, [_push_operation(p) for p in pushes])).refused
        if not refused:
            return
        again = [pushes[i] for i in refused]
        without_upsert = [_push_operation(push, upsert=False) for push in again]
        if (await self._bulk(collection, without_upsert)).refused:
            raise StoreError(f"{len(again)} summary pushes into {collection} were refused twice")
        # Without upsert a push into a missing document does nothing: if a target still does
        # not exist, its upsert was refused for another reason than a duplicate.
        targets = {push.target_id for push in again if push.summary is not None}
        found = await self._guarded(
            partial(self._find_all, collection, {"_id": {"$in": sorted(targets)}}, {"_id": True})
        )
        if missing := targets - {str(doc["_id"]) for doc in found}:
            raise StoreError(f"summary targets {sorted(missing)[:5]} in {collection} not created")

    async def touch_sources(
        self, suffix: str, seen: Mapping[str, SourceSeen], now: datetime
    ) -> None:
        """Record, per source, the newest event applied (its source time and id) and when
        an event was last applied (``now``, or the source's ``SourceSeen.applied_at``).

        All only move forward: two batches may finish at once (``runner.consume``), the
        older one's write landing last, and a later batch may bring an older event. Per
        source, one update takes ``lastAppliedAt`` forward and, when this event is newer than
        the stored one, moves the time and the id together, so they stay one event's
        (``_source_touch``). It is not an upsert: a
        source this process has not seen stored yet is first created by a plain insert of
        what the updates would write (a duplicate key means another writer created it; the
        updates then apply to it). An upsert filtered on ``_id`` alone would not do:
        DocumentDB inserts it as ``INSERT ... ON CONFLICT DO UPDATE``, so of two racing to
        create one document the later *replaces* the other's, losing the writes that landed
        on it meanwhile (measured: 30 racing ``$inc`` upserts of one new ``_id`` ended below
        30 in about one round of ten).

        The updates go in one unordered bulk and must match every source, so a document
        missing (an insert refused for another reason, a source document deleted) fails the
        batch, and the process inserts it again when the batch is retried.

        An event time later than when the batch counts as applied (``now``, or the source's
        ``applied_at``) plus ``EVENT_CLOCK_SKEW`` counts as that (``_believable``), its id as
        sent."""
        collection = self.collection_name("sources", suffix)
        known = self._stored_sources.setdefault(collection, set())
        sources = _in_id_order(
            [(source, _believable(info, now)) for source, info in seen.items()],
            lambda item: item[0],
        )
        if missing := [_new_source(s, info, now) for s, info in sources if s not in known]:
            await self._bulk(collection, missing)
        result = await self._bulk(collection, [_source_touch(s, info, now) for s, info in sources])
        if result.refused or result.matched != len(sources):
            known.difference_update(source for source, _ in sources)
            raise StoreError(f"{collection}: the sources' freshness was not recorded")
        known.update(source for source, _ in sources)


#: How far past when a source's event was applied (the projector's clock, or for a rebuild
#: when the record reached the log) its event time may move ``lastEventAt``
#: (``touch_sources``): a producer's clock a little ahead is believed, while an event dated
#: years ahead (a bad clock, a typo) would otherwise hold ``lastEventAt`` there, which only
#: moves forward, and the source's ``lagSeconds`` at 0 until that date.
EVENT_CLOCK_SKEW: Final = timedelta(minutes=5)


def _believable(info: SourceSeen, now: datetime) -> SourceSeen:
    """``info`` with its event time no later than ``EVENT_CLOCK_SKEW`` past when it counts as
    applied (its ``applied_at``, else ``now``), everything else as it came.

    A rebuild sets ``applied_at`` to when the source's newest replayed record reached the
    log (``projector.replayed_sources``), and the cap counts from that: about where the
    live projector, applying the record when it arrived, capped it, and alike for a rebuild
    run twice. Counting from the rebuild's ``now`` would date the event after everything
    the rebuild holds, and show a source silent for days whose last event a bad clock dated
    2099 at ``lagSeconds`` 0 for ``EVENT_CLOCK_SKEW`` after the switch. ``applied_at`` is
    kept as it came: without it ``lastAppliedAt`` falls back to ``now``, and the switch
    would show that source fresh (``stale`` false, no banner, no ``PortalSourceStale``)."""
    latest = (info.applied_at or now) + EVENT_CLOCK_SKEW
    return info if info.last_event_at <= latest else replace(info, last_event_at=latest)


def _new_source(source: str, info: SourceSeen, now: datetime) -> InsertOne[dict[str, Any]]:
    """A source's document as its first applied event leaves it (``known: False`` until
    the source's own status event), so it never shows without its freshness."""
    return InsertOne(
        {
            "_id": source,
            "known": False,
            "lastAppliedAt": info.applied_at or now,
            "lastEventAt": info.last_event_at,
            "lastEventId": info.last_event_id,
            WRITES: 1,
        }
    )


def _source_touch(source: str, info: SourceSeen, now: datetime) -> UpdateOne:
    """One update of a source's document: ``lastAppliedAt`` forward, and the newest event's
    time and id together when this one is newer than the stored one (or none is stored: a
    document the source's own status event created). A pipeline, so that both conditions
    read the document as it was and one write per source does it all: it matches every
    existing document, which makes a missing one show in the count."""
    newer = {"$lt": ["$lastEventAt", info.last_event_at]}  # a missing time sorts first
    return UpdateOne(
        {"_id": source},
        [
            {
                "$set": {
                    "lastAppliedAt": {"$max": ["$lastAppliedAt", info.applied_at or now]},
                    "lastEventAt": {"$cond": [newer, info.last_event_at, "$lastEventAt"]},
                    "lastEventId": {"$cond": [newer, info.last_event_id, "$lastEventId"]},
                    WRITES: {"$add": [{"$ifNull": [f"${WRITES}", 0]}, 1]},
                }
            }
        ],
    )


def _moves_warehouses(push: SummaryPush) -> bool:
    """Whether ``push`` writes what its target's ``WAREHOUSE_IDS`` derives from (an order's
    summary in a shipment or invoice): such a push unsets the field (``_push_operation``)
    and its target is settled after the batch's push rounds (``push_summaries``)."""
    return push.source_kind == documents.ORDERS and push.target_kind in WAREHOUSE_DERIVED_KINDS


def _push_operation(push: SummaryPush, *, upsert: bool = True) -> UpdateOne:
    """The guarded write of one summary (or the removal of one, which never creates).

    A summary lands only if its target has room for it (``links.has_room``); otherwise the
    same update marks the target overflowing for the summary's kind (``_embed_or_mark``).
    An order's summary pushed into a shipment or invoice also unsets the target's
    ``WAREHOUSE_IDS`` in the same update: the push does not read the other summaries the
    field derives from, and ``_settle_warehouses`` derives it again only after the batch's
    push rounds. Until then a stored list lacking the order's new warehouse would let a
    caller limited to the listed ones count a document they may not see; an absent field
    hides it from every warehouse-limited caller instead (fails closed). One
    single-document update, so no reader, on MongoDB or DocumentDB, sees the summary
    without the unset, whatever else is written at the same time; a stale push, which
    its guard stops, unsets nothing.

    A removal lands only while its target does not name the source
    (``links.naming_fields``), checked in the update itself: a removal decided while
    neither named the other must not take a summary that is legitimate again because the
    target was written naming the source since (whose pull of the summary it already held
    wrote nothing). A removal of a summary the target never embedded (it overflowed)
    matches nothing."""
    if push.summary is not None:
        return _embed_or_mark(push, upsert=upsert)
    unset = {push.path: "", **({WAREHOUSE_IDS: ""} if _moves_warehouses(push) else {})}
    held: dict[str, Any] = {push.path: {"$exists": True}}
    for name in naming_fields(push.target_kind, push.source_kind):
        held[name] = {"$ne": push.source_id}
    if push.rev:  # only a summary no newer than the one the removal was decided on
        stored_rev = f"{push.path}.rev"
        held["$or"] = [{stored_rev: {"$exists": False}}, {stored_rev: {"$lte": push.rev}}]
    return UpdateOne({"_id": push.target_id, **held}, {"$unset": unset, "$inc": {WRITES: 1}})


def _embed_or_mark(push: SummaryPush, *, upsert: bool) -> UpdateOne:
    """A summary push as one guarded update (an aggregation pipeline): the filter is the
    ``rev`` guard (never older than the summary held; an ``exact`` push also replaces one of
    its own ``rev``); the update embeds the summary where the target has room for it
    (``links.has_room``, as an expression of the stored document: a summary of the source
    held already, or fewer than ``MAX_RELATED_SUMMARIES`` of its kind, and the kind with
    this summary in place no larger than ``RELATED_KIND_BYTES``, ``_within_budget``; never
    one over ``MAX_SUMMARY_BYTES``) and otherwise sets ``relatedOverflow.<kind>`` instead, so
    the decision and its write are one atomic step whoever else pushes at the same time: a
    single-document update, evaluated on the document as the write finds it, so two pushes
    racing for the last bytes of a kind's budget cannot both land.

    Upserted, a missing target is created as a placeholder (``_placeholder``: fields a
    pipeline sets only where absent, since a pipeline has no ``$setOnInsert``; the filter
    names no ``$expr``, which an upsert's filter may not hold)."""
    stored_rev = f"{push.path}.rev"
    kind = push.source_kind
    held_count = {"$size": {"$objectToArray": {"$ifNull": [f"$related.{kind}", {}]}}}
    room = {
        "$or": [
            {"$ne": [{"$type": f"${push.path}"}, "missing"]},
            {"$lt": [held_count, documents.MAX_RELATED_SUMMARIES]},
        ]
    }
    fits: Any = (
        {"$and": [room, _within_budget(push)]}
        if push.size <= documents.MAX_SUMMARY_BYTES
        else False
    )
    marked = {"$mergeObjects": [{"$ifNull": [f"${RELATED_OVERFLOW}", {}]}, {kind: True}]}
    stage: dict[str, Any] = {
        push.path: {"$cond": [fits, {"$literal": push.entry()}, "$$REMOVE"]},
        RELATED_OVERFLOW: {"$cond": [fits, f"${RELATED_OVERFLOW}", marked]},
        WRITES: {"$add": [{"$ifNull": [f"${WRITES}", 0]}, 1]},
    }
    if with_overflow_customer(push.target_kind, {}, cast(EntityKind, kind), push.customer_id):
        stage[RELATED_OVERFLOW_CUSTOMERS] = _recording(kind, fits, str(push.customer_id))
    if _moves_warehouses(push):
        stage[WAREHOUSE_IDS] = "$$REMOVE"
    if upsert:
        for name, value in _placeholder(push).items():
            stage[name] = {"$ifNull": [f"${name}", {"$literal": value}]}
    return UpdateOne(
        {
            "_id": push.target_id,
            "$or": [
                {stored_rev: {"$exists": False}},
                {stored_rev: {"$lte" if push.exact else "$lt": push.rev}},
            ],
        },
        [{"$set": stage}],
        upsert=upsert,
    )


def _within_budget(push: SummaryPush) -> dict[str, Any]:
    """The pipeline expression of ``links._within_budget``: whether the summaries of
    ``push``'s kind in the stored target, with ``push``'s in place of any held of its source,
    take no more than ``RELATED_KIND_BYTES`` in BSON. Measured exactly (``$bsonSize`` of the
    map as it would be), whatever the count: the store holds the document already, and
    measuring it there takes no round trip."""
    kind = push.source_kind
    held = {"$ifNull": [f"$related.{kind}", {}]}
    embedded = {"$mergeObjects": [held, {"$literal": {push.key: push.entry()}}]}
    return {"$lte": [{"$bsonSize": embedded}, documents.RELATED_KIND_BYTES]}


def _warehouses_update(
    collection: str, stored: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``$set`` or ``$unset`` of ``WAREHOUSE_IDS`` that a document stored as ``stored``
    (None: a new one) needs to hold what ``after`` derives (``links.visible_warehouses``);
    nothing when it does already, or when the collection has no such field."""
    kind = base_collection(collection)
    if kind not in WAREHOUSE_DERIVED_KINDS:
        return {}
    derived = visible_warehouses(kind, after)
    if stored is not None and stored.get(WAREHOUSE_IDS) == derived:
        return {}
    if derived is None:
        return {"$unset": {WAREHOUSE_IDS: ""}} if stored is not None else {}
    return {"$set": {WAREHOUSE_IDS: derived}}


def warehouses_unsettled(collection: str, doc: Mapping[str, Any]) -> bool:
    """Whether the stored ``doc`` of ``collection`` holds a ``WAREHOUSE_IDS`` other than its
    summaries derive (left so by a failure between a summary push and its settle)."""
    return bool(_warehouses_update(collection, doc, doc))


#: What ``ProjectionStore.fill_tracking_keys`` reads of a shipment.
_TRACKING_KEY_FROM: Final = {"trackingNumber": True, TRACKING_KEY: True, WRITES: True}


def _tracking_key_fix(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The update that gives a shipment (as read) its number's ``TRACKING_KEY``; none when
    it holds it, or has no number."""
    number = doc.get("trackingNumber")
    if not isinstance(number, str) or doc.get(TRACKING_KEY) == (key := tracking_key(number)):
        return {}
    return {"$set": {TRACKING_KEY: key}}


def with_derived(collection: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A new document of ``collection`` as the projector inserts it: with the
    ``WAREHOUSE_IDS`` it derives (where there are any)."""
    return {**doc, **_warehouses_update(collection, None, doc).get("$set", {})}


def _merge(update: dict[str, Any], more: Mapping[str, Mapping[str, Any]]) -> None:
    """Add ``more``'s operators' fields to ``update``'s."""
    for operator, fields in more.items():
        update.setdefault(operator, {}).update(fields)


def _recording(kind: str, fits: Any, customer: str) -> dict[str, Any]:
    """The pipeline expression of ``RELATED_OVERFLOW_CUSTOMERS`` after a push of a summary
    of ``customer``'s that ``fits`` or not: as stored, or with ``customer`` among
    ``kind``'s (``links.with_overflow_customer``; a set, whose order the store keeps or
    not: readers of it sort)."""
    stored = f"${RELATED_OVERFLOW_CUSTOMERS}"
    listed = {"$ifNull": [f"{stored}.{kind}", []]}
    added = {kind: {"$setUnion": [listed, {"$literal": [customer]}]}}
    return {"$cond": [fits, stored, {"$mergeObjects": [{"$ifNull": [stored, {}]}, added]}]}


def _placeholder(push: SummaryPush) -> dict[str, Any]:
    """The fields of a target ``push`` creates (``known: False`` until its own snapshot),
    whether by ``_push_operation``'s upsert or ``insert_placeholders``."""
    fields: dict[str, Any] = {"known": False, "rev": 0}
    if push.customer_id is not None:
        fields["customerId"] = push.customer_id
    return fields


def _own_fields(change: EntityChange, now: datetime) -> dict[str, Any]:
    """The fields a change sets on its own document, bookkeeping encoded, with freshness."""
    fields = {
        name: encode_state(value) if is_state_field(name) else value
        for name, value in change.set_fields.items()
    }
    return {**fields, "updatedAt": now, "lastEvent": change.last_event}


def _entity_update(change: EntityChange, now: datetime) -> dict[str, Any]:
    """The update that applies one document's diff (its own fields, ``rev``, freshness)."""
    update: dict[str, Any] = {
        "$set": _own_fields(change, now),
        "$inc": {"rev": 1, WRITES: 1},
    }
    if "known" not in change.set_fields:
        # The same shape whether this write or a related entity's push created it.
        update["$setOnInsert"] = {"known": False}
    if change.unset_fields:
        update["$unset"] = {name: "" for name in change.unset_fields}
    return update


def _new_document(
    collection: str, change: EntityChange, summaries: Sequence[SummaryPush], now: datetime
) -> dict[str, Any]:
    """What ``_entity_update`` upserted into a missing document, plus ``summaries`` (and
    the ``WAREHOUSE_IDS`` these call for)."""
    doc: dict[str, Any] = {"_id": change.key.id, "known": False}
    doc.update(_own_fields(change, now))
    doc.update({"rev": 1, WRITES: 1})
    measure = KindBytes()
    for push in summaries:  # in order: the later of two summaries of one source is newer
        place(doc, push, measure)
    return with_derived(collection, doc)


def updated(doc: Mapping[str, Any], update: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``doc`` after ``update`` as the store applies it to an existing document: the
    ``$set`` and ``$unset`` (dotted paths into nested documents) and ``$inc`` operators the
    writes above use. A new document: nested documents on a changed path are copied once,
    ``doc`` and everything in it are left as they were."""
    out = dict(doc)
    copies: set[int] = {id(out)}
    for path, value in update.get("$set", {}).items():
        if "." not in path:  # most are top-level fields: no nested document on the way
            out[path] = value
            continue
        *parents, name = path.split(".")
        _parent(out, parents, copies)[name] = value
    for path in update.get("$unset", {}):
        *parents, name = path.split(".")
        holder: Any = out
        for step in parents:  # a missing parent is left missing, as the store leaves it
            holder = holder.get(step) if isinstance(holder, Mapping) else None
        if isinstance(holder, Mapping):
            _parent(out, parents, copies).pop(name, None)
    for path, step in update.get("$inc", {}).items():
        *parents, name = path.split(".")
        parent = _parent(out, parents, copies)
        parent[name] = parent.get(name, 0) + step
    return out


def _parent(doc: dict[str, Any], path: Sequence[str], copies: set[int]) -> dict[str, Any]:
    """The nested document at ``path`` of ``doc`` (created where missing, as ``$set`` and
    ``$inc`` do), each one on the way copied the first time (``copies``) so that changing
    it leaves the document ``doc`` was copied from as it was."""
    for name in path:
        child = doc.get(name)
        if not isinstance(child, dict) or id(child) not in copies:
            child = dict(child) if isinstance(child, Mapping) else {}
            copies.add(id(child))
            doc[name] = child
        doc = child
    return doc
