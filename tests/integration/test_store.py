"""What the projector relies on the store for, checked on the real store: concurrent updates
of one document never lose one another, a stale summary never replaces a newer one, and id
reads return every match however many ids they name."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from projections import verify
from projections.batch import EntityChange, EntityKey, SourceSeen
from projections.effects import SummaryPush
from projections.store import (
    CONFLICT_ROUNDS,
    EVENT_CLOCK_SKEW,
    ProjectionStore,
    StoreError,
    _BulkResult,
)
from readmodel import documents
from readmodel.documents import WRITES
from readmodel.server import is_ferretdb
from tests.helpers import CommandRecorder, order_summary_push, summary_push


async def test_concurrent_pushes_into_one_document_are_all_kept(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    # Two stores stand for two projector processes; each pushes many shipments' summaries
    # into the same order at the same time.
    stores = [ProjectionStore(mongo_db), ProjectionStore(mongo_db)]
    await stores[0].ensure_collections("")
    sources = [f"SH-{i:03d}" for i in range(40)]
    await asyncio.gather(
        *(
            stores[i % 2].push_summaries("", [summary_push("SO-1", source, rev=1)])
            for i, source in enumerate(sources)
        )
    )

    order = await mongo_db[documents.ORDERS].find_one({"_id": "SO-1"})

    assert order is not None
    assert sorted(order["related"]["shipments"]) == sources
    assert order[WRITES] == len(sources)


async def test_a_stale_summary_never_replaces_a_newer_one_under_concurrency(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("")
    await asyncio.gather(
        *(store.push_summaries("", [summary_push("SO-2", "SH-1", rev)]) for rev in range(1, 21))
    )

    order = await mongo_db[documents.ORDERS].find_one({"_id": "SO-2"})

    assert order is not None
    assert order["related"]["shipments"]["SH-1"]["rev"] == 20


async def test_loading_many_ids_returns_every_document(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = ProjectionStore(mongo_db)
    await store.ensure_indexes("")
    ids = [f"SO-{i:05d}" for i in range(2500)]
    await mongo_db[documents.ORDERS].insert_many([{"_id": i, "known": True} for i in ids])

    loaded = await store.load(documents.ORDERS, [*ids, "SO-missing", ids[0]])

    assert sorted(loaded) == ids


async def test_every_compound_index_is_ordered_on_ferretdb(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """On DocumentDB a compound index without ``enableOrderedIndex`` intersects the
    customer's entries with the other key's: a page's range or a reference's equality then
    costs the customer's whole list. MongoDB refuses the option and needs none."""
    await ProjectionStore(mongo_db).ensure_indexes("")
    on_ferretdb = await is_ferretdb(mongo_db)
    for collection, specs in documents.INDEXES.items():
        found = await mongo_db[collection].index_information()
        for name, keys in specs:
            ordered = found[name].get("enableOrderedIndex") in (1, True)
            assert ordered is (on_ferretdb and len(keys) > 1), (collection, name, found[name])


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _freshness(db: AsyncDatabase[dict[str, Any]], source: str) -> tuple[Any, ...]:
    doc = await db[documents.SOURCES].find_one({"_id": source})
    assert doc is not None
    return _utc(doc["lastEventAt"]), doc["lastEventId"], _utc(doc["lastAppliedAt"])


async def test_a_sources_newest_event_time_and_id_move_together_and_only_forward(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """Two batches may finish at once, the older one's write landing last, and upstream may
    send an older event in a later batch: the source's newest event stays the newest, its
    time and its id one pair, while ``lastAppliedAt`` is the latest application."""
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("")
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    minute, second = timedelta(minutes=1), timedelta(seconds=1)
    await store.touch_sources("", {"erp": SourceSeen(t0 + minute, "E-2")}, t0 + 10 * minute)
    await store.touch_sources("", {"erp": SourceSeen(t0, "E-1")}, t0 + 11 * minute)
    assert await _freshness(mongo_db, "erp") == (t0 + minute, "E-2", t0 + 11 * minute)

    # racing to create the documents (eight sources at once: a lost creation race is rare,
    # about one source in a hundred when creating was an upsert), then racing on them
    sources = [f"wms{n}" for n in range(8)]
    for seconds in (list(range(30)), list(range(30, 60))):
        writes = [(source, s) for source in sources for s in seconds]
        random.Random(7).shuffle(writes)
        await asyncio.gather(
            *(
                store.touch_sources("", {source: SourceSeen(t0 + s * second, f"W-{s}")}, t0)
                for source, s in writes
            )
        )
        newest = max(seconds)
        for source in sources:
            assert await _freshness(mongo_db, source) == (
                t0 + newest * second,
                f"W-{newest}",
                t0,
            )


async def test_an_event_dated_far_ahead_moves_a_sources_event_time_only_to_the_allowed_skew(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """One event dated 2099 (a producer's bad clock) would hold ``lastEventAt`` there, and
    the source's lag at 0, for decades: it counts as ``EVENT_CLOCK_SKEW`` past when it was
    applied, so the source's next events move its freshness again once that has passed."""
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("")
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    await store.touch_sources("", {"tms": SourceSeen(t0 + minute, "T-1")}, t0)
    assert await _freshness(mongo_db, "tms") == (t0 + minute, "T-1", t0)

    future = datetime(2099, 1, 1, tzinfo=UTC)
    await store.touch_sources("", {"tms": SourceSeen(future, "T-2099")}, t0 + minute)
    pinned = t0 + minute + EVENT_CLOCK_SKEW
    assert await _freshness(mongo_db, "tms") == (pinned, "T-2099", t0 + minute)

    later = pinned + minute
    await store.touch_sources("", {"tms": SourceSeen(later, "T-3")}, later)
    assert await _freshness(mongo_db, "tms") == (later, "T-3", later)


async def test_a_replayed_event_dated_far_ahead_keeps_when_its_source_was_applied(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """A rebuild replays a source silent for days whose last event a bad clock dated 2099:
    the source stays applied when its record reached the log (stale, its banner and
    ``PortalSourceStale`` shown), and its event counts as ``EVENT_CLOCK_SKEW`` past that (its
    lag days, not 0). Before, capping the event time dropped ``applied_at``, and the source
    showed applied, and fresh, at the rebuild's time."""
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("")
    rebuilt_at = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
    arrived = rebuilt_at - timedelta(days=3)
    future = datetime(2099, 1, 1, tzinfo=UTC)

    await store.touch_sources(
        "", {"wms/dc-atl": SourceSeen(future, "W-2099", applied_at=arrived)}, rebuilt_at
    )

    assert await _freshness(mongo_db, "wms/dc-atl") == (
        arrived + EVENT_CLOCK_SKEW,
        "W-2099",
        arrived,
    )


async def test_sources_are_never_created_by_an_upsert_on_id_alone(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    """DocumentDB inserts an upsert filtered on ``_id`` alone as INSERT ... ON CONFLICT DO
    UPDATE: of two racing to create a document the later replaces the other's, and the
    writes that landed meanwhile are lost. The race is rare; what causes it is not."""
    store, recorder = recorded_store
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    for n in range(2):  # creating, then on the documents created
        seen = {s: SourceSeen(t0, f"{s}-{n}") for s in ("erp", "tms")}
        await store.touch_sources("", seen, t0)
    updates = recorder.updates()
    assert updates
    assert [s for s in updates if s.get("upsert") and set(s["q"]) == {"_id"}] == []


async def test_a_source_document_gone_fails_the_batch_and_is_made_again_by_its_retry(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """A source's document missing after this process stored it (deleted, or its insert
    refused for another reason than a duplicate key) is not passed over, even when the
    batch's other source moves: the batch fails, and its retry creates the document."""
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("")
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    await store.touch_sources("", {s: SourceSeen(t0, f"{s}-1") for s in ("erp", "wms")}, t0)
    await mongo_db[documents.SOURCES].delete_one({"_id": "erp"})
    later = {s: SourceSeen(t0 + minute, f"{s}-2") for s in ("erp", "wms")}

    with pytest.raises(StoreError):
        await store.touch_sources("", later, t0 + minute)
    await store.touch_sources("", later, t0 + minute)

    assert await _freshness(mongo_db, "erp") == (t0 + minute, "erp-2", t0 + minute)
    assert await _freshness(mongo_db, "wms") == (t0 + minute, "wms-2", t0 + minute)


async def test_a_source_known_only_from_its_status_takes_its_first_event(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("")
    await mongo_db[documents.SOURCES].insert_one({"_id": "tms", "declared": {"status": "DOWN"}})
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    await store.touch_sources("", {"tms": SourceSeen(t0, "T-1")}, t0)
    assert await _freshness(mongo_db, "tms") == (t0, "T-1", t0)


@pytest.mark.parametrize("write", ["insert_new", "write_entity"])
async def test_a_document_the_driver_cannot_send_is_a_store_error(
    mongo_db: AsyncDatabase[dict[str, Any]], write: str
) -> None:
    """A new document over the store's 16 MiB is refused by the driver before it is sent
    (``DocumentTooLarge``, which is no ``PyMongoError``): it must fail the batch as every
    refusal does (retried, counted, logged), not escape as an error that ends the process
    at every start."""
    huge = {
        "known": True,
        "customerId": "ACME",
        "notes": "x" * (documents.STORE_DOCUMENT_BYTES + (2 << 20)),
    }
    change = EntityChange(
        key=EntityKey("orders", "SO-HUGE"),
        before=None,
        after=huge,
        set_fields=huge,
        unset_fields=(),
        last_event=documents.EventRef(source="erp", id="e-1", type="t", time=datetime.now(UTC)),
        customer_id="ACME",
    )
    store = ProjectionStore(mongo_db)
    with pytest.raises(StoreError):
        if write == "insert_new":
            await store.insert_new(documents.ORDERS, [change], {}, datetime.now(UTC))
        else:
            await store.write_entity(documents.ORDERS, change, datetime.now(UTC))
    assert await mongo_db[documents.ORDERS].find_one({"_id": "SO-HUGE"}) is None


async def test_documents_already_there_are_advanced_whichever_command_refused_them(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """An insert the store refuses (the document is there) becomes a guarded update of that
    very document, also when the commands carry different numbers of documents."""
    collection = mongo_db[documents.SEARCH_KEYS]
    await collection.insert_many([{"_id": "d5", "rev": 1}, {"_id": "d3", "rev": 9}])
    store = ProjectionStore(mongo_db)
    docs = [{"_id": f"d{i}", "rev": 5, "text": [f"t{i}"]} for i in range(7)]

    await store.insert_or_advance(documents.SEARCH_KEYS, docs, per_command=3)

    stored = {doc["_id"]: doc async for doc in collection.find({})}
    assert {doc_id: doc["rev"] for doc_id, doc in stored.items()} == {
        **{f"d{i}": 5 for i in range(7)},
        "d3": 9,  # newer: left as it was
    }
    assert stored["d5"]["text"] == ["t5"]


async def test_documents_guessed_there_or_not_end_as_newest_whichever_guess_was_wrong(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """``present`` only orders the two writes: a document guessed there but missing is
    inserted, one guessed there and older advanced, one newer left alone, and one guessed
    new but there advanced after its refused insert."""
    collection = mongo_db[documents.SEARCH_KEYS]
    await collection.insert_many(
        [{"_id": "old", "rev": 1}, {"_id": "newer", "rev": 9}, {"_id": "unguessed", "rev": 1}]
    )
    store = ProjectionStore(mongo_db)
    docs = [
        {"_id": doc_id, "rev": 5, "text": [doc_id]}
        for doc_id in ("missing", "old", "newer", "unguessed", "new")
    ]

    await store.insert_or_advance(
        documents.SEARCH_KEYS, docs, per_command=2, present={"missing", "old", "newer"}
    )

    stored = {doc["_id"]: doc["rev"] async for doc in collection.find({})}
    assert stored == {"missing": 5, "old": 5, "newer": 9, "unguessed": 5, "new": 5}


async def test_concurrent_pushes_naming_documents_in_other_orders_all_land(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """Each call pushes one shipment's summary into six orders (three not created yet),
    the orders named in another order each time, twenty calls at once from two processes.
    A write command holds every document it wrote until it ends, so two commands taking the
    same documents in other orders waited for each other: the store failed one write of the
    cycle ("deadlock detected", after its one-second timeout) and a call that met it twice
    failed (session 12's stress: 14 calls of 100 failed, 130 s instead of 0.4 s). A race
    meets that only now and then; the order itself is checked command by command in
    ``test_store_id_order``."""
    stores = [ProjectionStore(mongo_db), ProjectionStore(mongo_db)]
    await stores[0].ensure_collections("")
    orders = [f"SO-{n}" for n in range(6)]
    await mongo_db[documents.ORDERS].insert_many(
        [{"_id": order, "rev": 1, WRITES: 1} for order in orders[:3]]
    )
    shipments = [f"SH-{n:02d}" for n in range(20)]
    rng = random.Random(12)
    calls = [
        [summary_push(order, shipment, rev=1) for order in rng.sample(orders, 6)]
        for shipment in shipments
    ]

    await asyncio.gather(
        *(stores[n % 2].push_summaries("", pushes) for n, pushes in enumerate(calls))
    )

    async for order in mongo_db[documents.ORDERS].find({}):
        assert sorted(order["related"]["shipments"]) == shipments, order["_id"]


async def test_concurrent_search_writes_naming_documents_in_other_orders_all_land(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """Forty writers at once each write the same sixteen search documents (half of them not
    created yet), named in another order each time: every call succeeds and each document
    ends at the newest ``rev``. Before, two commands taking them in other orders could
    deadlock, and a call whose guarded update lost that way failed (refused twice). Half
    the writers guess the eight created beforehand there (``present``: updated first)."""
    collection = mongo_db[documents.SEARCH_KEYS]
    ids = [f"d{n:02d}" for n in range(16)]
    await collection.insert_many([{"_id": doc_id, "rev": 0, "text": ["r0"]} for doc_id in ids[::2]])
    store = ProjectionStore(mongo_db)
    rng = random.Random(12)
    revs = list(range(1, 41))
    rng.shuffle(revs)

    await asyncio.gather(
        *(
            store.insert_or_advance(
                documents.SEARCH_KEYS,
                [
                    {"_id": doc_id, "rev": rev, "text": [f"r{rev}"]}
                    for doc_id in rng.sample(ids, 16)
                ],
                present=set(ids[::2]) if rev % 2 else set(),
            )
            for rev in revs
        )
    )

    stored = {doc["_id"]: (doc["rev"], doc["text"]) async for doc in collection.find({})}
    assert stored == {doc_id: (40, ["r40"]) for doc_id in ids}


async def test_a_settle_that_keeps_losing_gives_up_with_the_document_hidden(
    mongo_db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer changes the shipment between every read and fix of its warehouses:
    after ``CONFLICT_ROUNDS`` the push fails (the batch reruns), and meanwhile the shipment
    has no ``warehouseIds``, so no warehouse-limited caller sees it."""
    shipments = mongo_db[documents.SHIPMENTS]
    await shipments.insert_one(
        {"_id": "SH-1", "rev": 1, "orderIds": ["SO-1"], "warehouseIds": ["DC-LAX"], WRITES: 1}
    )
    store = ProjectionStore(mongo_db)
    find_all = store._find_all
    reads = 0

    async def another_writer_first(*args: Any) -> list[dict[str, Any]]:
        nonlocal reads
        reads += 1
        found = await find_all(*args)
        await shipments.update_one({"_id": "SH-1"}, {"$inc": {WRITES: 1}})
        return found

    monkeypatch.setattr(store, "_find_all", another_writer_first)
    push = order_summary_push("SH-1", "DC-ATL", rev=1)
    with pytest.raises(StoreError, match="kept changing"):
        await store.push_summaries("", [push])

    assert reads == 1 + CONFLICT_ROUNDS  # the first read, and one after each lost fix
    stored = await shipments.find_one({"_id": "SH-1"})
    assert stored is not None and documents.WAREHOUSE_IDS not in stored


def _no_settle(store: ProjectionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The projector fails right after its push rounds, before it settles them."""

    async def crash(*_: Any) -> None:
        raise StoreError("stopped before the settle")

    monkeypatch.setattr(store, "_settle_warehouses", crash)


async def test_an_order_push_hides_its_targets_from_limited_callers_before_any_settle(
    mongo_db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order moved from DC-ATL to DC-LAX: however many shipments its summary is pushed
    into (more than one command's worth), none is left listed as DC-ATL's alone when the
    projector stops before settling, so an Atlanta-only caller cannot count them."""
    shipments = mongo_db[documents.SHIPMENTS]
    ids = [f"SH-{i:03d}" for i in range(250)]
    await shipments.insert_many(
        [
            {
                "_id": shipment_id,
                "rev": 1,
                "orderIds": ["SO-1"],
                "related": {"orders": {"SO-1": {"orderId": "SO-1", "warehouseId": "DC-ATL"}}},
                "warehouseIds": ["DC-ATL"],
                WRITES: 1,
            }
            for shipment_id in ids
        ]
    )
    store = ProjectionStore(mongo_db)
    _no_settle(store, monkeypatch)

    with pytest.raises(StoreError, match="before the settle"):
        await store.push_summaries("", [order_summary_push(id_, "DC-LAX") for id_ in ids])

    assert await shipments.count_documents({"warehouseIds": "DC-ATL"}) == 0
    assert await shipments.count_documents({"related.orders.SO-1.warehouseId": "DC-LAX"}) == 250


async def test_a_push_retried_after_a_creation_race_still_hides_its_target(
    mongo_db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer creates the shipment (from DC-ATL's order SO-2) between the push's
    look for it and its upsert, which the store refuses as a duplicate: the push sent again
    without upsert still leaves no DC-ATL-only list behind a DC-LAX order."""
    shipments = mongo_db[documents.SHIPMENTS]
    store = ProjectionStore(mongo_db)
    _no_settle(store, monkeypatch)
    bulk = store._bulk
    raced = False

    async def created_meanwhile(collection: str, operations: Any, *args: Any) -> Any:
        nonlocal raced
        if raced:
            return await bulk(collection, operations, *args)
        raced = True
        await shipments.insert_one(
            {
                "_id": "SH-1",
                "rev": 1,
                "orderIds": ["SO-2"],
                "related": {"orders": {"SO-2": {"orderId": "SO-2", "warehouseId": "DC-ATL"}}},
                "warehouseIds": ["DC-ATL"],
                WRITES: 1,
            }
        )
        return _BulkResult(refused=[0], matched=0)  # the upsert: a duplicate key

    monkeypatch.setattr(store, "_bulk", created_meanwhile)
    with pytest.raises(StoreError, match="before the settle"):
        await store.push_summaries("", [order_summary_push("SH-1", "DC-LAX")])

    stored = await shipments.find_one({"_id": "SH-1"})
    assert stored is not None and set(stored["related"]["orders"]) == {"SO-1", "SO-2"}
    assert documents.WAREHOUSE_IDS not in stored


async def test_removing_an_order_summary_hides_its_target_until_the_settle(
    mongo_db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link dropped: the order's summary goes, and with it the shipment's warehouses, in
    one update, so a caller limited to DC-ATL does not count a shipment it cannot tell."""
    shipments = mongo_db[documents.SHIPMENTS]
    await shipments.insert_one(
        {
            "_id": "SH-1",
            "rev": 1,
            "related": {"orders": {"SO-1": {"orderId": "SO-1", "warehouseId": "DC-ATL"}}},
            "warehouseIds": ["DC-ATL"],
            WRITES: 1,
        }
    )
    store = ProjectionStore(mongo_db)
    _no_settle(store, monkeypatch)
    removal = dataclasses.replace(order_summary_push("SH-1", "DC-ATL"), summary=None)

    with pytest.raises(StoreError, match="before the settle"):
        await store.push_summaries("", [removal])

    stored = await shipments.find_one({"_id": "SH-1"})
    assert stored is not None and stored["related"] == {"orders": {}}
    assert documents.WAREHOUSE_IDS not in stored


async def test_a_removal_decided_on_a_revision_leaves_a_newer_summary(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """The removal of a dropped link's summary, decided when the shipment was at rev 3,
    does not take the summary the shipment pushed at rev 4, naming the order again; one
    decided at rev 4 does, and a removal of no revision takes any."""
    store = ProjectionStore(mongo_db)
    await store.push_summaries(
        "", [summary_push("SO-1", "SH-1", 4), summary_push("SO-2", "SH-1", 4)]
    )

    await store.push_summaries("", [summary_push("SO-1", "SH-1", 3, removal=True)])
    order = await mongo_db[documents.ORDERS].find_one({"_id": "SO-1"})
    assert order is not None and order["related"]["shipments"]["SH-1"]["rev"] == 4

    await store.push_summaries(
        "",
        [
            summary_push("SO-1", "SH-1", 4, removal=True),
            summary_push("SO-2", "SH-1", 0, removal=True),
        ],
    )
    async for order in mongo_db[documents.ORDERS].find({}):
        assert order["related"] == {"shipments": {}}


@pytest.mark.parametrize("decided_at", [5, 0], ids=["guarded by revision", "any revision"])
@pytest.mark.parametrize(
    ("holder_kind", "source_kind", "naming"),
    [
        ("shipments", "orders", lambda source: {"orderIds": ["SO-1", source]}),
        ("orders", "shipments", lambda source: {"fulfillment": {"shipmentIds": [source]}}),
        ("invoices", "orders", lambda source: {"orderIds": [source]}),
        ("invoices", "shipments", lambda source: {"shipmentIds": ["SH-1", source]}),
    ],
)
async def test_a_removal_never_takes_a_summary_its_holder_names_again(
    holder_kind: str,
    source_kind: str,
    naming: Callable[[str], dict[str, Any]],
    decided_at: int,
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """Writer A decided to remove X's summary (rev 5) from a document that named X no
    more; writer B then wrote the document naming X again, its pull of X's summary a no-op
    as the document still held it. A's removal lands after: it must leave the summary where
    the document names X, and take it where it does not."""
    source = "X-3"
    path = f"related.{source_kind}.{source}"
    holders = mongo_db[ProjectionStore(mongo_db).collection_name(holder_kind, "")]
    summary = {"rev": 5, "warehouseId": "DC-ATL"}
    for doc_id, names in (("NAMES", naming(source)), ("NAMES-NOT", naming("X-9"))):
        await holders.insert_one(
            {"_id": doc_id, "rev": 2, **names, "related": {source_kind: {source: summary}}}
        )
    removals = [
        SummaryPush(holder_kind, doc_id, source_kind, source, decided_at, None, None)
        for doc_id in ("NAMES", "NAMES-NOT")
    ]

    await ProjectionStore(mongo_db).push_summaries("", removals)

    kept = await holders.find_one({"_id": "NAMES", path: {"$exists": True}})
    assert kept is not None and kept["related"][source_kind][source] == summary
    gone = await holders.find_one({"_id": "NAMES-NOT"})
    assert gone is not None and gone["related"] == {source_kind: {}}


async def test_verify_reports_only_warehouses_that_stay_unsettled(
    mongo_db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two shipments whose warehouses their summaries do not derive: one a running
    projector settles while verify waits (not reported), one that stays so however often
    it is written meanwhile (reported)."""
    shipments = mongo_db[documents.SHIPMENTS]
    summary = {"orders": {"SO-1": {"orderId": "SO-1", "warehouseId": "DC-LAX"}}}
    await shipments.insert_many(
        [
            {"_id": shipment_id, "rev": 1, "related": summary, "warehouseIds": ["DC-ATL"]}
            for shipment_id in ("SH-SETTLED", "SH-STUCK")
        ]
    )
    store = ProjectionStore(mongo_db)
    keys = [
        EntityKey(documents.SHIPMENTS, "SH-SETTLED"),
        EntityKey(documents.SHIPMENTS, "SH-STUCK"),
    ]
    docs = await store.load_keys("", keys)

    async def meanwhile(_: float) -> None:
        await shipments.update_one({"_id": "SH-SETTLED"}, {"$set": {"warehouseIds": ["DC-LAX"]}})
        await shipments.update_one({"_id": "SH-STUCK"}, {"$inc": {WRITES: 1}})

    monkeypatch.setattr(verify, "sleep", meanwhile)  # verify waits for nothing else
    assert await verify._still_found(store, "", docs, verify._unsettled) == {
        EntityKey(documents.SHIPMENTS, "SH-STUCK"): []
    }
