"""The projector's document cache against the real store: what it holds is exactly what the
store holds, and a document another writer changed behind it is read again, losing nothing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import bson
from pymongo.asynchronous.database import AsyncDatabase

from projections.batch import COLLECTION_OF, EntityKey
from projections.document_cache import DocumentCache
from projections.projector import BatchProcessor
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore, encode_state
from readmodel import documents, search_keys
from readmodel.documents import WRITER, WRITES
from readmodel.topics import TopicNames
from tests.integration.projector_harness import (
    Record,
    differences,
    process_in_batches,
    records_of,
    simulated_records,
    snapshot,
    undisturbed_run,
)


class _CountingObserver:
    """Counts the writes that lost a race, by kind (``ProjectionStore``'s observer)."""

    def __init__(self) -> None:
        self.conflicts: Counter[str] = Counter()

    def write_conflict(self, kind: str, count: int = 1) -> None:
        self.conflicts[kind] += count


async def _stored_keys(db: AsyncDatabase[Any]) -> list[EntityKey]:
    keys = []
    for kind in ("orders", "shipments", "invoices"):
        async for doc in db[COLLECTION_OF[kind]].find({}, {"_id": True}):
            keys.append(EntityKey(kind, str(doc["_id"])))
    return keys


async def test_every_cached_document_is_exactly_the_stored_one(
    mongo_db: AsyncDatabase[Any],
    second_db: AsyncDatabase[Any],
) -> None:
    """Entries are computed from the writes (not read back), so this is what makes them
    safe to plan from: after a simulated stream, each compares equal to a read."""
    records, expected = await undisturbed_run(second_db, 900, 100)
    store = ProjectionStore(mongo_db)
    cache = DocumentCache(100_000, serves_related=True)
    await process_in_batches(
        BatchProcessor(store, load_status_mapping(), TopicNames(), cache=cache), records, 100
    )

    keys = await _stored_keys(mongo_db)
    held, _ = cache.split("", keys)
    assert len(held) > len(keys) // 2
    for key, doc in held.items():
        stored = (await store.load(COLLECTION_OF[key.kind], [key.id]))[key.id]
        assert doc == stored, (key, differences({"d": doc}, {"d": stored}))
    actual = await snapshot(mongo_db)
    assert actual == expected, differences(actual, expected)


async def test_cached_documents_another_writer_changed_are_read_again_and_nothing_is_lost(
    mongo_db: AsyncDatabase[Any],
    second_db: AsyncDatabase[Any],
) -> None:
    """Another process writes into documents this one holds (its summary pushes bump
    ``_writes``): every write planned from a stale entry misses, the document is read again
    and the batch comes out exactly as without the cache."""
    records, expected = await undisturbed_run(second_db, 900, 100)
    observer = _CountingObserver()
    cache = DocumentCache(100_000, serves_related=True)
    processor = BatchProcessor(
        ProjectionStore(mongo_db, observer=observer),
        load_status_mapping(),
        TopicNames(),
        cache=cache,
    )
    await process_in_batches(processor, records[:400], 100)
    for kind in ("orders", "shipments", "invoices"):
        await mongo_db[COLLECTION_OF[kind]].update_many({}, {"$inc": {WRITES: 1}})
    await process_in_batches(processor, records[400:], 100)

    assert observer.conflicts["folded"] > 0
    actual = await snapshot(mongo_db)
    assert actual == expected, differences(actual, expected)


async def _notice_ids(processor: BatchProcessor, records: list[Record]) -> set[str]:
    """Process ``records`` in batches of 100; the ids of the change notices they publish."""
    ids: set[str] = set()
    for start in range(0, len(records), 100):
        outcome = await processor.process(records[start : start + 100])
        ids.update(notice.notice_id for notice in outcome.notices)
    return ids


async def test_a_member_whose_entries_another_member_overtook_loses_none_of_its_events(
    mongo_db: AsyncDatabase[Any],
    second_db: AsyncDatabase[Any],
) -> None:
    """Worse than production allows (there a rebalance forgets the cache): member B writes
    the documents of records member A still holds stale entries for, and dies before its
    search documents and notices. A's writes from its entries miss, A plans again on the
    stored documents, finds its events there, and derives again what B never published."""
    topics, mapping = TopicNames(), load_status_mapping()
    records = records_of(simulated_records(topics.inbound(), 900))
    reference = BatchProcessor(ProjectionStore(second_db), mapping, topics)
    await process_in_batches(reference, records[:400], 100)
    announced = await _notice_ids(reference, records[400:600])
    await process_in_batches(reference, records[600:], 100)
    expected = await snapshot(second_db)

    observer = _CountingObserver()
    member_a = BatchProcessor(
        ProjectionStore(mongo_db, observer=observer), mapping, topics, cache=DocumentCache(100_000)
    )
    await process_in_batches(member_a, records[:400], 100)
    member_b = BatchProcessor(ProjectionStore(mongo_db), mapping, topics)
    for start in (400, 500):
        await member_b.apply(records[start : start + 100])  # dies before ``complete``
    republished = await _notice_ids(member_a, records[400:])

    assert observer.conflicts["folded"] > 0
    assert announced and announced <= republished, sorted(announced - republished)[:5]
    actual = await snapshot(mongo_db)
    assert actual == expected, differences(actual, expected)


async def test_a_document_as_stored_compares_equal_to_a_read_of_it(
    mongo_db: AsyncDatabase[Any],
) -> None:
    """What the cache keeps of a write is passed through BSON as a read is: times to the
    millisecond, tuples as lists."""
    store = ProjectionStore(mongo_db)
    doc = {
        "_id": "o1",
        "at": datetime(2026, 11, 30, 6, 0, 0, 123456, tzinfo=UTC),
        "pair": ("a", 1),
        "_orderState": encode_state({"v": ("x", 2)}),
    }
    await mongo_db["orders"].insert_one(dict(doc))
    assert store.as_stored(doc) == (await store.load("orders", ["o1"]))["o1"]


#: What differs between two runs of the same batches by when and by whom they were written.
_WALL_CLOCK = frozenset({"updatedAt", "lastAppliedAt", WRITER})


async def _stored_bytes(db: AsyncDatabase[Any]) -> dict[str, bytes]:
    """Every stored document as BSON (types and field order included), wall clock aside
    (and the search documents' completeness marker, which says when it was written)."""
    stored: dict[str, bytes] = {}
    for base in (*documents.ENTITY_COLLECTIONS, documents.SEARCH_KEYS):
        async for doc in db[base].find({"_id": {"$nin": list(search_keys.MARKERS)}}):
            kept = {name: value for name, value in doc.items() if name not in _WALL_CLOCK}
            stored[f"{base}/{doc['_id']}"] = bson.encode(kept)
    return stored


async def test_the_cache_off_stores_every_document_as_the_cache_on_does(
    mongo_db: AsyncDatabase[Any],
    second_db: AsyncDatabase[Any],
) -> None:
    """``PROJECTOR_CACHE_DOCUMENTS=0`` reads every document a batch plans from the store; on,
    most come from the cache: the same batches store the same documents, byte for byte
    (every type, every bookkeeping counter), either way."""
    topics = TopicNames()
    records = records_of(simulated_records(topics.inbound(), 600))
    for db, cache in ((mongo_db, DocumentCache(0)), (second_db, DocumentCache(100_000))):
        cache.serves_related = True
        store = ProjectionStore(db)
        processor = BatchProcessor(store, load_status_mapping(), topics, cache=cache)
        await process_in_batches(processor, records, 100)
    assert len(cache) > 100, "the second run planned from its cache"
    uncached, cached = await _stored_bytes(mongo_db), await _stored_bytes(second_db)
    assert len(uncached) > 200
    different = [
        key
        for key in sorted(uncached.keys() | cached.keys())
        if uncached.get(key) != cached.get(key)
    ]
    assert not different, different[:5]


class _DecodeCountingStore(ProjectionStore):
    """The real store, counting the documents it derives from the bytes it wrote."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        super().__init__(db)
        self.decoded = 0

    def _read_back(self, doc: Any) -> dict[str, Any]:
        self.decoded += 1
        return super()._read_back(doc)


async def test_a_written_document_is_decoded_only_once_a_batch_takes_it_from_the_cache(
    mongo_db: AsyncDatabase[Any],
) -> None:
    """A batch keeps each document it writes for the next one; most of a catch-up's are
    never taken again, so they are kept as the bytes written and decoded, once, when a batch
    takes them (the CPU of decoding them all was a sixth of a catch-up's)."""
    topics = TopicNames()
    store = _DecodeCountingStore(mongo_db)
    cache = DocumentCache(100_000, serves_related=True)
    processor = BatchProcessor(store, load_status_mapping(), topics, cache=cache)
    await processor.process(records_of(simulated_records(topics.inbound(), 300)))
    assert len(cache) > 50 and store.decoded == 0

    keys = await _stored_keys(mongo_db)
    held, _ = cache.split("", keys)
    assert store.decoded == len(held) > 50
    assert cache.split("", keys)[0] == held and store.decoded == len(held)
    for key, doc in held.items():
        assert doc == (await store.load(COLLECTION_OF[key.kind], [key.id]))[key.id], key
