"""The search side collection (``readmodel.search_keys``) as the projector writes it and the
readers search it: it follows what is searchable, is written only when that changes, a
replayed batch writes the same, and a search sees what the caller may see, no more."""

from __future__ import annotations

import copy
import json
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from graph.schema import build_schema
from projections.deferred_indexes import RETRY_SECONDS, SEARCH_COLLECTION, DeferredIndexes
from projections.projector import BatchProcessor
from projections.search_writes import PER_COMMAND, is_complete
from projections.status_mapping import load_status_mapping
from projections.store import WRITE_CHUNK, ProjectionStore, StoreError
from readmodel import documents
from readmodel.search_keys import COMPLETE_MARKER, MARKERS, document_id
from readmodel.topics import TopicNames
from tests.contract import example
from tests.helpers import CommandRecorder, caller
from tests.integration.projector_harness import Record, records_of, snapshot
from tests.integration.world_harness import World, order, run, shipment

Doc = dict[str, Any]
SCHEMA = build_schema()
TOPICS = TopicNames()
ACME = caller("ACME")
SEARCH = "query($t: String!) { searchShipments(text: $t) { nodes { shipmentId } } }"


def _event(name: str, **changes: Any) -> Doc:
    event = example(name)
    data = changes.pop("data", {})
    event.update(changes)
    event["data"].update(data)
    return event


def _records(*events: Doc) -> list[Record]:
    inbound = {str(kind): topic for kind, topic in TOPICS.inbound().items()}
    kind_of = {"order": "orders", "shipment": "shipments"}
    return records_of(
        (
            inbound[kind_of[event["type"].split(".")[1]]],
            event["subject"].encode(),
            json.dumps(event).encode(),
        )
        for event in events
    )


def _processor(db: AsyncDatabase[Doc]) -> BatchProcessor:
    return BatchProcessor(ProjectionStore(db), load_status_mapping(), TOPICS)


async def _found(db: AsyncDatabase[Doc], text: str, who: Any = ACME) -> list[str]:
    result = await run(SCHEMA, db, who, SEARCH, {"t": text})
    assert result.errors == []
    return [node["shipmentId"] for node in result.data["searchShipments"]["nodes"]]


async def _search_document(db: AsyncDatabase[Doc], kind: str, entity_id: str) -> Doc:
    found = await db[documents.SEARCH_KEYS].find_one({"_id": document_id(kind, entity_id)})
    assert found is not None
    return found


CREATED = _event("order-created.json")
PLANNED = _event("shipment-planned.json")


async def test_search_documents_follow_a_changed_reference_and_nothing_else(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    processor = _processor(mongo_db)
    await processor.process(_records(CREATED, PLANNED))
    assert await _found(mongo_db, "PO-88812") == ["SH-55021"]
    assert await _found(mongo_db, "7712093341") == ["SH-55021"]

    updated = _event(
        "order-created.json",
        id="erp-7f3a92",
        type="logistics.order.updated.v1",
        sequence=2,
        data={"customerReference": "PO-77001"},
    )
    await processor.process(_records(updated))
    assert await _found(mongo_db, "PO-88812") == []
    assert await _found(mongo_db, "po-770") == ["SH-55021"]
    assert (await _search_document(mongo_db, "orders", "SO-100234"))["rev"] == 2

    # A milestone changes the shipment but nothing searchable: its search document stays
    # as written (the projector's ordinary writes touch no search key).
    before = await _search_document(mongo_db, "shipments", "SH-55021")
    await processor.process(_records(_event("shipment-milestone.json")))
    stored = await mongo_db[documents.SHIPMENTS].find_one({"_id": "SH-55021"})
    assert stored is not None and stored["rev"] > before["rev"]
    assert await _search_document(mongo_db, "shipments", "SH-55021") == before


async def test_a_replayed_batch_writes_the_same_search_documents(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """A batch re-run after a crash between its entity writes and its search writes finds
    its entities already written (no change to derive from) and still writes them."""
    processor = _processor(mongo_db)
    batch = _records(CREATED, PLANNED, _event("shipment-milestone.json"))
    await processor.process(batch)
    written = await snapshot(mongo_db)

    await processor.process(batch)  # replayed as it was
    assert await snapshot(mongo_db) == written

    await mongo_db[documents.SEARCH_KEYS].delete_many({"_id": {"$nin": list(MARKERS)}})
    await processor.process(batch)  # replayed after a crash before its search writes
    assert await snapshot(mongo_db) == written
    assert await _found(mongo_db, "PO-88812") == ["SH-55021"]


def _world() -> World:
    orders = [
        order("SO-A1", "ACME", reference="PO-SHARED-1"),
        order("SO-B1", "BETA", reference="PO-SHARED-2"),
    ]
    shipments = [
        shipment("SH-A1", "ACME", order_ids=["SO-A1"], tracking="1ZSHARED001"),
        shipment("SH-B1", "BETA", order_ids=["SO-B1"], tracking="1ZSHARED002"),
    ]
    return World(orders, shipments).link()


async def test_a_customer_finds_only_its_own_and_support_finds_every_customers(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    await _world().insert(mongo_db)
    for text in ("1zshared", "PO-SHARED", "SO-B1", "SH-B1"):
        assert "SH-B1" not in await _found(mongo_db, text), text
    assert await _found(mongo_db, "1zshared") == ["SH-A1"]
    assert await _found(mongo_db, "po-shared", caller("BETA")) == ["SH-B1"]

    support = caller("ACME", roles=("support",), subject="sam")
    cross = await run(
        SCHEMA,
        mongo_db,
        support,
        '{ searchShipments(text: "1ZSHARED", crossCustomer: true) { nodes { shipmentId } } }',
    )
    assert sorted(node["shipmentId"] for node in cross.data["searchShipments"]["nodes"]) == [
        "SH-A1",
        "SH-B1",
    ]
    assert await _found(mongo_db, "1ZSHARED", support) == ["SH-A1"]  # own customer by default


async def test_a_search_document_is_only_a_candidate_the_entity_must_confirm(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """Search documents name entities; the entity read by id applies the scope again, so a
    search document that lags (or lies about) its entity's customer discloses nothing."""
    await _world().insert(mongo_db)
    forged = copy.deepcopy(await _search_document(mongo_db, "shipments", "SH-B1"))
    forged.update(_id=document_id("shipments", "SH-FORGED"), customerId="ACME")
    await mongo_db[documents.SEARCH_KEYS].insert_one(forged)
    await mongo_db[documents.SEARCH_KEYS].update_one(
        {"_id": document_id("shipments", "SH-B1")}, {"$set": {"customerId": "ACME"}}
    )
    assert await _found(mongo_db, "1zshared002") == []


class _RacedStore(ProjectionStore):
    """The real store; once given an ``interlude``, runs it just before the batch's folded
    writes: another writer changing the batch's documents after they were loaded."""

    interlude: Any = None

    async def write_all_if_unchanged(self, *args: Any, **kwargs: Any) -> Any:
        interlude, self.interlude = self.interlude, None
        if interlude is not None:
            await interlude()
        return await super().write_all_if_unchanged(*args, **kwargs)


def _order_update(event_id: str, sequence: int, reference: str) -> Doc:
    return _event(
        "order-created.json",
        id=event_id,
        type="logistics.order.updated.v1",
        sequence=sequence,
        data={"customerReference": reference},
    )


async def test_a_reference_another_writer_changed_mid_batch_and_ours_set_back_is_found(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """Our batch loads the order at PO-88812; another writer applies a newer update
    (PO-RACED, with its search document) before our write; ours, newer still, sets PO-88812
    again. What our write landed on (PO-RACED), not what we loaded, is what changed."""
    store = _RacedStore(mongo_db)
    processor = BatchProcessor(store, load_status_mapping(), TOPICS)
    await processor.process(_records(CREATED, PLANNED))

    async def other_writer() -> None:
        await _processor(mongo_db).process(_records(_order_update("erp-race-2", 2, "PO-RACED")))

    store.interlude = other_writer
    await processor.process(_records(_order_update("erp-race-3", 3, "PO-88812")))
    assert store.interlude is None  # the race ran
    stored = await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234"})
    assert stored is not None and stored["customerReference"] == "PO-88812"
    assert (await _search_document(mongo_db, "orders", "SO-100234"))["rev"] == stored["rev"]
    assert await _found(mongo_db, "PO-88812") == ["SH-55021"]
    assert await _found(mongo_db, "PO-RACED") == []


async def _index_names(db: AsyncDatabase[Doc], collection: str) -> set[str]:
    return {index["name"] async for index in await db[collection].list_indexes()}


async def test_a_new_generation_builds_its_search_indexes_once_caught_up(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """A catch-up writes search documents into a collection without its indexes (built in
    one pass afterwards, far cheaper than entry by entry) and readers search the slow way
    until the indexes exist and the marker says so; a restarted process finds the same
    state and completes it."""
    store = ProjectionStore(mongo_db)
    first = BatchProcessor(store, load_status_mapping(), TOPICS, deferring=SEARCH_COLLECTION)
    await first.process(_records(CREATED))
    assert await _index_names(mongo_db, documents.SEARCH_KEYS) == {"_id_"}
    assert await mongo_db[documents.SEARCH_KEYS].find_one({"_id": COMPLETE_MARKER}) is None
    assert first.indexes_due  # the runner will build them once caught up
    # the entity collections the portals read keep their indexes from the start
    assert "customer_ordered" in await _index_names(mongo_db, documents.ORDERS)

    restarted = BatchProcessor(store, load_status_mapping(), TOPICS, deferring=SEARCH_COLLECTION)
    await restarted.process(_records(PLANNED))
    assert restarted.indexes_due and not await is_complete(store, "")
    assert await _found(mongo_db, "PO-88812") == ["SH-55021"]  # the slow way

    assert await restarted.caught_up()
    assert not restarted.indexes_due  # nothing left for the runner to build
    assert await _index_names(mongo_db, documents.SEARCH_KEYS) == {
        "_id_",
        *(name for name, _ in documents.INDEXES[documents.SEARCH_KEYS]),
    }
    assert await mongo_db[documents.SEARCH_KEYS].find_one({"_id": COMPLETE_MARKER}) is not None
    assert await _found(mongo_db, "PO-88812") == ["SH-55021"]  # by the keys
    assert await _found(mongo_db, "7712093341") == ["SH-55021"]
    assert await first.caught_up()  # the other process: nothing left to build


def _orders(count: int) -> list[Record]:
    """``count`` new orders of ACME, each with its own id and reference (searchable)."""
    return _records(
        *(
            _event(
                "order-created.json",
                id=f"erp-bulk-{n}",
                subject=f"SO-9{n:05d}",
                data={"orderId": f"SO-9{n:05d}", "customerReference": f"PO-9{n:05d}"},
            )
            for n in range(count)
        )
    )


def _search_inserts(recorder: CommandRecorder) -> list[int]:
    """The documents of each insert command into the search collection, in order."""
    return [
        len(command["documents"])
        for command in recorder.commands("insert")
        if command["insert"] == documents.SEARCH_KEYS
    ]


async def test_a_catch_up_writes_its_search_documents_in_commands_of_bare_documents(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    """While the search collection's indexes wait for the catch-up, a search document costs
    the store what any bare document does: a batch's go in commands of ``WRITE_CHUNK``, not
    in the small commands that spread an indexed collection's entries over the store's
    cores; once the indexes are built, the small commands again."""
    store, recorder = recorded_store
    processor = BatchProcessor(store, load_status_mapping(), TOPICS, deferring=SEARCH_COLLECTION)
    recorder.forget()
    await processor.process(_orders(WRITE_CHUNK + 10))
    # sorted: a batch's commands run side by side, and are recorded as they are sent
    assert sorted(_search_inserts(recorder)) == [10, WRITE_CHUNK]

    assert await processor.caught_up()
    recorder.forget()
    await processor.process(_orders(2 * WRITE_CHUNK)[WRITE_CHUNK + 10 :])
    assert sorted(_search_inserts(recorder)) == sorted(
        [PER_COMMAND] * 3 + [WRITE_CHUNK - 10 - 3 * PER_COMMAND]
    )
    written = await store.db[documents.SEARCH_KEYS].count_documents({"kind": "orders"})
    assert written == 2 * WRITE_CHUNK


def _references_changed(count: int) -> list[Record]:
    """A newer reference (searchable) for each of the first ``count`` orders of ``_orders``."""
    return _records(
        *(
            _event(
                "order-created.json",
                id=f"erp-bulk-update-{n}",
                type="logistics.order.updated.v1",
                subject=f"SO-9{n:05d}",
                sequence=2,
                data={"orderId": f"SO-9{n:05d}", "customerReference": f"PO-CHANGED-{n}"},
            )
            for n in range(count)
        )
    )


def _search_writes(recorder: CommandRecorder) -> list[tuple[str, list[Any]]]:
    """Per insert and update command into the search collection: its name and ``_id``s."""
    return [
        (name, ids)
        for (name, ids), command in zip(
            recorder.written_ids(), recorder.commands("insert", "update"), strict=True
        )
        if command[name] == documents.SEARCH_KEYS
    ]


async def test_search_documents_of_entities_known_before_their_batch_are_updated_not_inserted(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    """A batch changing the references of orders an earlier batch wrote sends their search
    documents straight to the guarded update; only the new orders' go as inserts. Before,
    each existing one was inserted first, refused by the store as a duplicate, then updated:
    a refused insert per document (175-700 per batch of a 200,000-event catch-up)."""
    store, recorder = recorded_store
    processor = BatchProcessor(store, load_status_mapping(), TOPICS)
    await processor.process(_orders(4))
    recorder.forget()

    await processor.process([*_references_changed(3), *_orders(6)[4:]])

    existing = [document_id("orders", f"SO-9{n:05d}") for n in range(3)]
    new = [document_id("orders", f"SO-9{n:05d}") for n in (4, 5)]
    assert _search_writes(recorder) == [("insert", new), ("update", existing)]
    for n in range(3):
        written = await _search_document(store.db, "orders", f"SO-9{n:05d}")
        assert written["rev"] == 2 and f"PO-CHANGED-{n}" in written["text"]


async def test_a_search_document_missing_though_its_entity_was_known_is_inserted_after_all(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    """The guess is wrong when the batch that made an entity known crashed before its search
    writes and a batch of another partition changes it first (here: the documents deleted):
    the guarded update matches nothing, and the missing ones are inserted."""
    store, recorder = recorded_store
    processor = BatchProcessor(store, load_status_mapping(), TOPICS)
    await processor.process(_orders(3))
    gone = [document_id("orders", f"SO-9{n:05d}") for n in (0, 2)]
    await store.db[documents.SEARCH_KEYS].delete_many({"_id": {"$in": gone}})
    recorder.forget()

    await processor.process(_references_changed(3))

    every = [document_id("orders", f"SO-9{n:05d}") for n in range(3)]
    assert _search_writes(recorder) == [("update", every), ("insert", gone)]
    for n in range(3):
        written = await _search_document(store.db, "orders", f"SO-9{n:05d}")
        assert written["rev"] == 2 and f"PO-CHANGED-{n}" in written["text"]


class _RecordingStore(ProjectionStore):
    """The real store, refusing the first ``refusals`` builds of the deferred indexes and
    noting whether the search marker was already there when each build ran."""

    def __init__(self, db: AsyncDatabase[Doc], refusals: int = 0) -> None:
        super().__init__(db)
        self.refusals = refusals
        self.builds: list[bool] = []

    async def ensure_indexes(self, suffix: str, *, deferring: frozenset[str] = frozenset()) -> bool:
        if not deferring:
            self.builds.append(await is_complete(self, suffix))
            if self.refusals:
                self.refusals -= 1
                raise StoreError("index build refused")
        return await super().ensure_indexes(suffix, deferring=deferring)


async def test_the_marker_is_written_only_after_the_indexes_are_built(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    store = _RecordingStore(mongo_db)
    generations = DeferredIndexes(store, SEARCH_COLLECTION)
    await generations.prepare("")
    assert await generations.caught_up()
    assert store.builds == [False]  # the build ran before the marker existed
    assert await is_complete(store, "")


async def test_a_refused_build_leaves_search_the_slow_way_and_is_tried_again_later(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    now = [100.0]
    store = _RecordingStore(mongo_db, refusals=1)
    generations = DeferredIndexes(store, SEARCH_COLLECTION, clock=lambda: now[0])
    await generations.prepare("")
    assert not await generations.caught_up()
    assert not await is_complete(store, "")
    assert not generations.due()  # the projector does not even ask while the delay runs
    assert not await generations.caught_up()  # too soon: not tried again
    assert len(store.builds) == 1
    now[0] += RETRY_SECONDS[0]
    assert generations.due()
    assert await generations.caught_up()
    assert len(store.builds) == 2 and await is_complete(store, "")


async def test_a_generation_no_longer_written_is_not_built(mongo_db: AsyncDatabase[Doc]) -> None:
    """A rebuild switched readers to another generation while this process caught up on
    the old one: nobody reads the old one, its indexes are not worth a build."""
    store = _RecordingStore(mongo_db)
    generations = DeferredIndexes(store, SEARCH_COLLECTION)
    await generations.prepare("old")
    assert await generations.caught_up(writing="new")
    assert store.builds == [] and not await is_complete(store, "old")


async def test_a_restart_during_a_catch_up_does_not_fill_the_generation_again(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """The fill of entities written before search documents existed runs once per
    generation; a process started again mid-catch-up finds its marker and skips it."""
    store = ProjectionStore(mongo_db)
    first = BatchProcessor(store, load_status_mapping(), TOPICS, deferring=SEARCH_COLLECTION)
    await first.process(_records(CREATED))
    written = await _search_document(mongo_db, "orders", "SO-100234")
    await mongo_db[documents.SEARCH_KEYS].delete_one({"_id": written["_id"]})
    restarted = BatchProcessor(store, load_status_mapping(), TOPICS, deferring=SEARCH_COLLECTION)
    await restarted.prepare()
    assert await mongo_db[documents.SEARCH_KEYS].find_one({"_id": written["_id"]}) is None
