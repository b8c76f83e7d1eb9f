"""All MongoDB I/O of the projector, behind one small class.

Every operation here is idempotent, because a batch is re-run after a crash between the
document writes and the Kafka offset commit:

* entity writes are ``$set`` of the fields the reducers changed; a redelivered batch
  changes nothing and writes nothing (the planner drops empty diffs);
* summary pushes are guarded by the summarised document's ``rev`` and never go backwards;
* freshness uses ``$max`` for the source time.

Only ``_id`` lookups are used on the write path: FerretDB 1.24 pushes nothing else down.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, TypeVar

import bson
from bson.codec_options import CodecOptions
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)
from pymongo.results import UpdateResult

from projections import documents
from projections.batch import COLLECTION_OF, EntityChange, SourceSeen
from projections.effects import SummaryPush
from projections.metrics import NoStoreObserver, StoreObserver

_STATE_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


def is_state_field(name: str) -> bool:
    """Reducer bookkeeping fields (``_orderState`` ...): private to the projector."""
    return name.startswith("_") and name.endswith("State")


def encode_state(value: Any) -> bson.Binary:
    """Bookkeeping is stored as one opaque BSON blob.

    It holds nested arrays (version tuples), which FerretDB 1.24 refuses inside documents,
    and nobody but the projector reads it, so it need not be queryable.
    """
    return bson.Binary(bson.encode({"s": value}))


def decode_state(value: Any) -> Any:
    if isinstance(value, bytes | bson.Binary):
        return bson.decode(bytes(value), codec_options=_STATE_CODEC)["s"]
    return value


def _decoded(doc: dict[str, Any]) -> dict[str, Any]:
    for name in [n for n in doc if is_state_field(n)]:
        doc[name] = decode_state(doc[name])
    return doc


#: Counts every write to a projection document. FerretDB overwrites whole documents without
#: a row lock, so two concurrent updates of one document could lose one; our local stack's
#: PostgreSQL trigger (scripts/lib/ferretdb_postgresql.sql) refuses a write whose count is
#: not one more than the stored one, and ``_guarded`` retries it. MongoDB ignores it.
WRITES = "_writes"

CONFLICT_RETRIES = 30

#: Documents per ``insert_many`` (the benchmark's ceiling sends as many).
INSERT_CHUNK = 1000

DUPLICATE_KEY = 11000

_T = TypeVar("_T")


def is_write_conflict(exc: PyMongoError) -> bool:
    """A write that lost a race and did nothing: safe to run again.

    Duplicate keys come from two upserts of one new ``_id``; SQLSTATE 40001 from the local
    stack's lost-update trigger, passed through by FerretDB as an internal error.
    """
    if isinstance(exc, DuplicateKeyError):
        return True
    return isinstance(exc, OperationFailure) and "SQLSTATE 40001" in str(exc)


class StoreError(Exception):
    """MongoDB refused or could not be reached; the batch is not committed and will rerun."""


class _Update(NamedTuple):
    filter: Mapping[str, Any]
    document: Mapping[str, Any]
    upsert: bool = False


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
        self._limit = asyncio.Semaphore(concurrency)
        self._observer: StoreObserver = observer or NoStoreObserver()

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        return self._db

    def collection_name(self, kind_or_collection: str, suffix: str) -> str:
        base = COLLECTION_OF.get(kind_or_collection, kind_or_collection)
        return documents.generation_collection(base, suffix)

    async def active_suffix(self) -> str:
        """The projection generation readers use now ("" until a rebuild switched it)."""
        try:
            pointer = await self._db[documents.READ_POINTER].find_one({"_id": "active"})
        except PyMongoError as exc:
            raise StoreError(f"cannot read the projection pointer: {exc}") from exc
        return str(pointer["suffix"]) if pointer else ""

    async def set_active_suffix(self, suffix: str) -> None:
        try:
            await self._db[documents.READ_POINTER].update_one(
                {"_id": "active"}, {"$set": {"suffix": suffix}}, upsert=True
            )
        except PyMongoError as exc:
            raise StoreError(f"cannot switch the projection pointer: {exc}") from exc

    async def ensure_collections(self, suffix: str) -> None:
        """Create a generation's collections before any concurrent write touches them.

        FerretDB 1.24 on PostgreSQL serialises collection creation behind one lock; many
        concurrent upserts into a missing collection stall there for minutes.
        """
        try:
            existing = set(await self._db.list_collection_names())
            for base in documents.ENTITY_COLLECTIONS:
                name = self.collection_name(base, suffix)
                if name not in existing:
                    try:
                        await self._db.create_collection(name)
                    except CollectionInvalid:
                        pass  # another projector process created it first
        except PyMongoError as exc:
            raise StoreError(f"cannot create collections: {exc}") from exc

    async def ensure_indexes(self, suffix: str) -> None:
        """Create the readers' indexes (needed on MongoDB; accepted and cheap on FerretDB)."""
        try:
            for base, specs in documents.INDEXES.items():
                name = base if base == documents.AUDIT_LOG else self.collection_name(base, suffix)
                for index_name, keys in specs:
                    await self._db[name].create_index(keys, name=index_name)
        except PyMongoError as exc:
            raise StoreError(f"cannot create indexes: {exc}") from exc

    async def _guarded(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run one store operation under the concurrency limit, retrying write conflicts.

        A conflict means the write did not happen (see ``is_write_conflict``) and every
        operation here is idempotent, so running it again is safe.
        """
        async with self._limit:
            for attempt in range(CONFLICT_RETRIES):
                try:
                    return await operation()
                except PyMongoError as exc:
                    if not is_write_conflict(exc) or attempt == CONFLICT_RETRIES - 1:
                        raise StoreError(str(exc)) from exc
                    self._observer.write_conflict("retried")
                await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
        raise AssertionError("unreachable")

    async def load(self, collection: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Current documents by ``_id``: one equality lookup each, run concurrently.

        ``{_id: {$in: [...]}}`` would be one round trip on MongoDB but a full collection scan
        on FerretDB 1.24, which pushes only plain equality down.
        """
        unique = list(dict.fromkeys(ids))
        found = await asyncio.gather(
            *(self._guarded(partial(self._db[collection].find_one, {"_id": i})) for i in unique)
        )
        return {doc["_id"]: _decoded(doc) for doc in found if doc is not None}

    async def write_entity(
        self, collection: str, change: EntityChange, now: datetime
    ) -> dict[str, Any]:
        """Apply one document's diff; returns the document as stored after the write.

        ``find_one_and_update`` returns the write's own result, so of two writers of one
        order (ERP fields and WMS fields) the later sees both changes and carries the higher
        ``rev``: its summary is the one that wins wherever the order is summarised.
        """
        result = await self._guarded(
            partial(
                self._db[collection].find_one_and_update,
                {"_id": change.key.id},
                _entity_update(change, now),
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        )
        assert result is not None  # upsert always returns a document
        return _decoded(dict(result))

    async def write_if_unchanged(
        self,
        collection: str,
        doc_id: str,
        seen: Mapping[str, Any] | None,
        *,
        change: EntityChange | None,
        summaries: Sequence[SummaryPush],
        now: datetime,
    ) -> bool:
        """One write of a document's own changes and the summaries folded into it, landing
        only if nobody wrote the document since ``seen`` was read (None: it did not exist).

        Every write increments ``_writes``, so an unchanged counter means the document is
        exactly ``seen``: the caller then knows the result without reading it back (its
        ``rev`` is ``seen``'s plus one) and compared summary revisions against the truth.
        False (nothing written) when another writer came first; the caller falls back to
        the guarded step-by-step writes. MongoDB checks the filter atomically; FerretDB via
        the local stack's trigger (a conflict error, also reported as False here).
        """
        update: dict[str, Any] = (
            _entity_update(change, now) if change is not None else {"$inc": {WRITES: 1}}
        )
        if summaries:
            # in order: of two summaries of one source, the later is the newer (``Fold``)
            update.setdefault("$set", {}).update({push.path: push.entry() for push in summaries})
        writes = seen.get(WRITES) if seen is not None else None
        unchanged = {"_id": doc_id, WRITES: writes if writes is not None else {"$exists": False}}
        try:
            async with self._limit:
                result = await self._db[collection].update_one(
                    unchanged, update, upsert=seen is None
                )
        except PyMongoError as exc:
            if is_write_conflict(exc):
                self._observer.write_conflict("folded")
                return False
            raise StoreError(str(exc)) from exc
        landed = result.matched_count == 1 or result.upserted_id is not None
        if not landed:
            self._observer.write_conflict("folded")
        return landed

    async def insert_new(
        self,
        collection: str,
        changes: Sequence[EntityChange],
        summaries: Mapping[str, Sequence[SummaryPush]],
        now: datetime,
    ) -> set[str]:
        """Insert the documents of entities that did not exist when the batch read them,
        whole, with the summaries folded into them; returns the ids that were NOT written
        because another writer created them meanwhile (the caller writes those stepwise).

        The same documents an upsert would make, but ``insert_many`` sends a thousand per
        round trip and, on FerretDB, reads nothing back: creating a document costs about
        what the benchmark's ceiling pays for it.
        """
        docs = [_new_document(change, summaries.get(change.key.id, ()), now) for change in changes]
        chunks = [docs[i : i + INSERT_CHUNK] for i in range(0, len(docs), INSERT_CHUNK)]
        refused = await asyncio.gather(*(self._insert(collection, chunk) for chunk in chunks))
        lost: set[str] = set().union(*refused)
        self._observer.write_conflict("inserted", len(lost))
        return lost

    async def _insert(self, collection: str, docs: Sequence[dict[str, Any]]) -> set[str]:
        try:
            async with self._limit:
                await self._db[collection].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise StoreError(str(exc)) from exc
            return {str(docs[error["index"]]["_id"]) for error in errors}
        except PyMongoError as exc:
            raise StoreError(str(exc)) from exc
        return set()

    async def push_summaries(
        self,
        suffix: str,
        pushes: Sequence[SummaryPush],
        *,
        existing: Container[tuple[str, str]] = frozenset(),
    ) -> None:
        """Write summaries into related documents, never replacing a newer one.

        Each push is one guarded ``$set``. A target that is not in ``existing`` (kind, id)
        and that the guarded write did not find is created first, as ``known: False`` until
        its own snapshot arrives, and written again. Pushes into one document run in order;
        different documents concurrently (within the store's concurrency limit), because
        every write is a round trip and FerretDB takes milliseconds per write.
        """
        by_target: dict[tuple[str, str], list[SummaryPush]] = {}
        for push in pushes:
            by_target.setdefault((push.target_kind, push.target_id), []).append(push)
        await asyncio.gather(
            *(
                self._push_into(suffix, target, target_pushes, exists=target in existing)
                for target, target_pushes in by_target.items()
            )
        )

    async def _push_into(
        self, suffix: str, target: tuple[str, str], pushes: Sequence[SummaryPush], *, exists: bool
    ) -> None:
        collection = self.collection_name(target[0], suffix)
        for push in pushes:
            if push.summary is None:
                present = {"_id": push.target_id, push.path: {"$exists": True}}
                await self._update(
                    collection, _Update(present, {"$unset": {push.path: ""}, "$inc": {WRITES: 1}})
                )
                continue
            stored_rev = f"{push.path}.rev"
            newer = _Update(
                {
                    "_id": push.target_id,
                    "$or": [{stored_rev: {"$exists": False}}, {stored_rev: {"$lt": push.rev}}],
                },
                {"$set": {push.path: push.entry()}, "$inc": {WRITES: 1}},
            )
            if (await self._update(collection, newer)).matched_count or exists:
                continue
            on_insert: dict[str, Any] = {"known": False, "rev": 0}
            if push.customer_id is not None:
                on_insert["customerId"] = push.customer_id
            await self._update(
                collection, _Update({"_id": push.target_id}, {"$setOnInsert": on_insert}, True)
            )
            # again, whoever created it: a newer summary may have landed meanwhile (guarded)
            await self._update(collection, newer)
            exists = True

    async def _update(self, collection: str, update: _Update) -> UpdateResult:
        """One ``update_one``.

        Not ``bulk_write``: FerretDB 1.24 kept PostgreSQL connections after the projector's
        bulk writes until its pool ran dry and it froze; single updates did not.
        """
        return await self._guarded(
            partial(
                self._db[collection].update_one,
                update.filter,
                update.document,
                upsert=update.upsert,
            )
        )

    async def touch_sources(
        self, suffix: str, seen: Mapping[str, SourceSeen], now: datetime
    ) -> None:
        """Record, per source, the newest event time applied and when it was applied."""
        collection = self.collection_name("sources", suffix)
        await asyncio.gather(
            *(self._touch_source(collection, source, info, now) for source, info in seen.items())
        )

    async def _touch_source(
        self, collection: str, source: str, info: SourceSeen, now: datetime
    ) -> None:
        await self._update(
            collection,
            _Update(
                {"_id": source},
                {
                    "$max": {"lastEventAt": info.last_event_at},
                    "$set": {"lastAppliedAt": now, "lastEventId": info.last_event_id},
                    "$inc": {WRITES: 1},
                    # the same shape whether this or the source's own event created it
                    "$setOnInsert": {"known": False},
                },
                True,
            ),
        )


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
    change: EntityChange, summaries: Sequence[SummaryPush], now: datetime
) -> dict[str, Any]:
    """What ``_entity_update`` upserted into a missing document, plus ``summaries``."""
    doc: dict[str, Any] = {"_id": change.key.id, "known": False}
    doc.update(_own_fields(change, now))
    doc.update({"rev": 1, WRITES: 1})
    related: dict[str, dict[str, Any]] = {}
    for push in summaries:  # in order: the later of two summaries of one source is newer
        related.setdefault(push.source_kind, {})[push.key] = push.entry()
    if related:
        doc["related"] = related
    return doc
