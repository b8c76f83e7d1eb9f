"""Warehouse-limited callers over documents the real projector wrote: the shipments and
invoices they see, page by page, while order summaries arrive late or change warehouse.

Their visibility is decided by the filter on ``warehouseIds``, which the projector derives
from the order summaries (``readmodel.links.visible_warehouses``): these tests check that
the field follows every way a summary reaches a document, through the pages a user sees.
Kafka is not needed: records are handed to the batch processor as a consumer would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.policy import CustomerRule, Policy
from graph.schema import build_schema
from projections import store as store_module
from projections.deferred_indexes import EVERY_COLLECTION, SEARCH_COLLECTION
from projections.effects import SummaryPush
from projections.projector import BatchProcessor
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore, StoreError
from readmodel import documents
from readmodel.search_keys import WAREHOUSES_MARKER
from readmodel.topics import TopicNames
from tests.global_ids import numbers
from tests.helpers import CommandRecorder, caller
from tests.integration.projector_harness import Upstream
from tests.integration.world_harness import run

Doc = dict[str, Any]
SCHEMA = build_schema()
TOPICS = TopicNames()
#: ACME's users see only what ships from Atlanta.
ATLANTA_ONLY = Policy(customers={"ACME": CustomerRule(allowed_warehouses=frozenset({"DC-ATL"}))})
#: ACME's users see only what ships from Los Angeles.
LA_ONLY = Policy(customers={"ACME": CustomerRule(allowed_warehouses=frozenset({"DC-LAX"}))})
FINANCE = caller("ACME", roles=("finance",))
PAGE = """query($after: String) {
  shipments(first: 2, after: $after) { totalCount nodes { id } pageInfo { endCursor hasNextPage } }
}"""
INVOICES = "{ invoices(first: 10) { totalCount nodes { id } } }"


@pytest.fixture
def upstream(mongo_db: AsyncDatabase[Doc]) -> Upstream:
    return Upstream(BatchProcessor(ProjectionStore(mongo_db), load_status_mapping(), TOPICS))


async def _shipments_seen(db: AsyncDatabase[Doc]) -> tuple[list[str], int]:
    """Every shipment the Atlanta-only caller sees, read page by page (two a page), and
    the count the first page states."""
    seen: list[str] = []
    after = None
    count = None
    while True:
        result = await run(SCHEMA, db, FINANCE, PAGE, {"after": after}, policy=ATLANTA_ONLY)
        assert not result.errors, result.errors
        page = result.data["shipments"]
        count = page["totalCount"] if count is None else count
        seen += numbers(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen, count
        after = page["pageInfo"]["endCursor"]


async def _invoices_seen(db: AsyncDatabase[Doc]) -> tuple[list[str], int]:
    """The invoices the Atlanta-only finance user sees (sorted), and their count."""
    result = await run(SCHEMA, db, FINANCE, INVOICES, policy=ATLANTA_ONLY)
    assert not result.errors, result.errors
    page = result.data["invoices"]
    return sorted(numbers(page["nodes"])), page["totalCount"]


async def _ahead(db: AsyncDatabase[Doc], direction: str) -> bool:
    """Whether a page of no shipments (``first: 0`` or ``last: 0``) of the Atlanta-only
    user says one lies ahead."""
    more = "hasNextPage" if direction == "first" else "hasPreviousPage"
    query = f"{{ shipments({direction}: 0) {{ pageInfo {{ {more} }} }} }}"
    result = await run(SCHEMA, db, FINANCE, query, policy=ATLANTA_ONLY)
    assert not result.errors, result.errors
    return bool(result.data["shipments"]["pageInfo"][more])


async def _warehouses(db: AsyncDatabase[Doc], kind: str, doc_id: str) -> Any:
    doc = await db[kind].find_one({"_id": doc_id})
    assert doc is not None, doc_id
    return doc.get(documents.WAREHOUSE_IDS)


async def test_pages_follow_order_summaries_that_arrive_late_and_change_warehouse(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    # The shipments come before their orders: nothing is known of their warehouses yet.
    await upstream.project(
        *(upstream.shipment(f"SH-{n}", f"SO-{n}", hour=n) for n in range(1, 6)),
        upstream.shipment("SH-6", "SO-1", "SO-3", hour=6),
    )
    assert await _shipments_seen(mongo_db) == ([], 0)
    assert await _warehouses(mongo_db, "shipments", "SH-1") is None

    await upstream.project(
        *(upstream.order(f"SO-{n}", "DC-ATL") for n in (1, 2, 4)),
        *(upstream.order(f"SO-{n}", "DC-LAX") for n in (3, 5)),
    )
    assert await _shipments_seen(mongo_db) == (["SH-4", "SH-2", "SH-1"], 3)
    assert await _warehouses(mongo_db, "shipments", "SH-6") == ["DC-ATL", "DC-LAX"]

    # SO-4 moves to Los Angeles, SO-3 to Atlanta: SH-6's orders are all from Atlanta now.
    await upstream.project(upstream.order("SO-4", "DC-LAX"), upstream.order("SO-3", "DC-ATL"))
    assert await _shipments_seen(mongo_db) == (["SH-6", "SH-3", "SH-2", "SH-1"], 4)
    assert await _warehouses(mongo_db, "shipments", "SH-4") == ["DC-LAX"]
    assert await _warehouses(mongo_db, "shipments", "SH-6") == ["DC-ATL"]


async def test_a_shipment_that_names_other_orders_follows_their_warehouses(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    """A re-planned shipment drops the link to its old order (a batch written stepwise: the
    summaries are pushed into the stored shipment, not folded into its write)."""
    await upstream.project(upstream.order("SO-1", "DC-ATL"), upstream.order("SO-2", "DC-LAX"))
    await upstream.project(upstream.shipment("SH-1", "SO-2"))
    assert await _shipments_seen(mongo_db) == ([], 0)

    await upstream.project(upstream.shipment("SH-1", "SO-1"))
    assert await _shipments_seen(mongo_db) == (["SH-1"], 1)
    assert await _warehouses(mongo_db, "shipments", "SH-1") == ["DC-ATL"]

    await upstream.project(upstream.shipment("SH-1", "SO-1", "SO-2"))
    assert await _shipments_seen(mongo_db) == ([], 0)
    await upstream.project(upstream.shipment("SH-1", "SO-1"))
    assert await _shipments_seen(mongo_db) == (["SH-1"], 1)


async def test_invoices_need_every_line_attributed_to_an_allowed_order(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    await upstream.project(
        upstream.order("SO-1", "DC-ATL"),
        upstream.invoice("INV-1", "SO-1", "SO-1"),
        upstream.invoice("INV-2", "SO-1", None),  # a line no order accounts for
        upstream.invoice("INV-3", "SO-1", "SO-9"),  # SO-9 has not arrived yet
    )
    assert await _invoices_seen(mongo_db) == (["INV-1"], 1)
    assert await _warehouses(mongo_db, "invoices", "INV-2") is None

    await upstream.project(upstream.order("SO-9", "DC-ATL"))
    assert await _invoices_seen(mongo_db) == (["INV-1", "INV-3"], 2)

    await upstream.project(upstream.order("SO-9", "DC-SEA"))
    assert await _invoices_seen(mongo_db) == (["INV-1"], 1)
    assert await _warehouses(mongo_db, "invoices", "INV-3") == ["DC-ATL", "DC-SEA"]


async def _written_before_the_field(db: AsyncDatabase[Doc], upstream: Upstream) -> None:
    """A generation as the projector before ``warehouseIds`` left it: written by the
    projector, then the field and the fill's marker taken away."""
    await upstream.project(
        upstream.order("SO-1", "DC-ATL"),
        upstream.order("SO-2", "DC-LAX"),
        upstream.order("SO-3", "DC-ATL"),
        upstream.shipment("SH-1", "SO-1", hour=1),
        upstream.shipment("SH-2", "SO-2", hour=2),
        upstream.shipment("SH-3", "SO-1", "SO-3", hour=3),
        upstream.shipment("SH-4", "SO-9", hour=4),  # SO-9 never arrives
        upstream.invoice("INV-1", "SO-1", "SO-1"),
        upstream.invoice("INV-2", "SO-1", None),  # a line no order accounts for
        upstream.invoice("INV-3", "SO-1", "SO-2"),
        upstream.invoice("INV-4", "SO-3"),
    )
    assert await _shipments_seen(db) == (["SH-3", "SH-1"], 2)
    assert await _invoices_seen(db) == (["INV-1", "INV-4"], 2)
    for kind in documents.WAREHOUSE_DERIVED_KINDS:
        await db[kind].update_many({}, {"$unset": {documents.WAREHOUSE_IDS: ""}})
    await db[documents.SEARCH_KEYS].delete_one({"_id": WAREHOUSES_MARKER})
    assert await _shipments_seen(db) == ([], 0)  # what users saw after the upgrade
    assert await _invoices_seen(db) == ([], 0)


def _started(store: ProjectionStore) -> BatchProcessor:
    """A projector process as ``runner.run_projector`` starts it (``prepare`` next)."""
    return BatchProcessor(store, load_status_mapping(), TOPICS, deferring=SEARCH_COLLECTION)


async def _marked(db: AsyncDatabase[Doc], suffix: str = "") -> bool:
    markers = db[documents.generation_collection(documents.SEARCH_KEYS, suffix)]
    return await markers.find_one({"_id": WAREHOUSES_MARKER}) is not None


async def test_a_generation_written_before_the_field_is_filled_when_the_projector_starts(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes start at once, reading two documents at a time (so the scans go on
    between fixes); documents no warehouse set can be told of stay without one (and a
    wrong one stored on such a document goes)."""
    await _written_before_the_field(mongo_db, upstream)
    monkeypatch.setattr(store_module, "CHUNK", 2)
    await mongo_db["invoices"].update_one(
        {"_id": "INV-2"}, {"$set": {documents.WAREHOUSE_IDS: ["DC-ATL"]}}
    )
    await asyncio.gather(
        _started(ProjectionStore(mongo_db)).prepare(),
        _started(ProjectionStore(mongo_db)).prepare(),
    )
    assert await _shipments_seen(mongo_db) == (["SH-3", "SH-1"], 2)
    assert await _invoices_seen(mongo_db) == (["INV-1", "INV-4"], 2)
    assert await _warehouses(mongo_db, "shipments", "SH-2") == ["DC-LAX"]
    assert await _warehouses(mongo_db, "shipments", "SH-4") is None
    assert await _warehouses(mongo_db, "invoices", "INV-2") is None
    assert await _warehouses(mongo_db, "invoices", "INV-3") == ["DC-ATL", "DC-LAX"]
    assert await _marked(mongo_db)


def _scans(recorder: CommandRecorder, suffix: str = "") -> list[dict[str, Any]]:
    """The reads ``recorder`` saw of the generation's entity collections."""
    entities = {
        documents.generation_collection(base, suffix) for base in documents.ENTITY_COLLECTIONS
    }
    return [command for command in recorder.commands("find") if command["find"] in entities]


async def test_a_later_start_does_not_fill_again(
    mongo_db: AsyncDatabase[Doc],
    upstream: Upstream,
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    store, recorder = recorded_store
    await _written_before_the_field(mongo_db, upstream)
    recorder.forget()
    await _started(store).prepare()
    assert {command["find"] for command in _scans(recorder)} == {"shipments", "invoices"}

    recorder.forget()
    await _started(store).prepare()
    assert _scans(recorder) == []
    assert await _invoices_seen(mongo_db) == (["INV-1", "INV-4"], 2)


async def test_a_new_generation_is_marked_without_a_fill(
    mongo_db: AsyncDatabase[Doc], recorded_store: tuple[ProjectionStore, CommandRecorder]
) -> None:
    """Every document of a generation this projector creates is written with the field."""
    store, recorder = recorded_store
    recorder.forget()
    rebuilding = BatchProcessor(
        store, load_status_mapping(), TOPICS, target_suffix="g1", deferring=EVERY_COLLECTION
    )
    await rebuilding.prepare()
    assert await _marked(mongo_db, "g1")
    assert _scans(recorder, "g1") == []


class _PushedMeanwhile(ProjectionStore):
    """The real store; when its fill has read the invoices and before it fixes them, a
    shipment's summary is pushed into INV-4: a write that derives no warehouses."""

    pushed = False

    async def _settle(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> None:
        if docs and collection == "invoices" and not self.pushed:
            self.pushed = True
            summary = {"shipmentId": "SH-9", "status": "IN_TRANSIT"}
            push = SummaryPush("invoices", "INV-4", "shipments", "SH-9", 1, summary, "ACME")
            await self.push_summaries("", [push])
        await super()._settle(collection, docs)


async def test_a_fix_that_lost_to_a_summary_push_is_derived_again(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    await _written_before_the_field(mongo_db, upstream)
    store = _PushedMeanwhile(mongo_db)
    await _started(store).prepare()
    assert store.pushed
    assert await _invoices_seen(mongo_db) == (["INV-1", "INV-4"], 2)
    assert await _warehouses(mongo_db, "invoices", "INV-4") == ["DC-ATL"]


async def test_a_rerun_repairs_warehouses_a_failure_left_behind_their_summaries(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails after an order's new summary landed in its shipment and before the
    shipment's ``warehouseIds`` followed it; the batch's rerun (its events are repeats now,
    the summary already stored) must still put the field right."""
    await upstream.project(upstream.order("SO-1", "DC-ATL"), upstream.shipment("SH-1", "SO-1"))
    assert await _shipments_seen(mongo_db) == (["SH-1"], 1)

    async def store_restarted(*_: object) -> None:
        raise StoreError("store restarted")

    records = upstream._records([upstream.order("SO-1", "DC-LAX")])
    with monkeypatch.context() as failing:
        failing.setattr(ProjectionStore, "_settle_warehouses", store_restarted)
        with pytest.raises(StoreError):
            await upstream._processor.process(records, stepwise=True)
    # meanwhile SH-1 fails closed: no Atlanta-only user may see a shipment from Los Angeles
    assert await _shipments_seen(mongo_db) == ([], 0)
    assert await _ahead(mongo_db, "first") is False

    outcome = await upstream._processor.process(records)  # the rerun, as the runner's
    assert not outcome.dead_letters
    assert await _warehouses(mongo_db, "shipments", "SH-1") == ["DC-LAX"]
    assert await _shipments_seen(mongo_db) == ([], 0)
    result = await run(SCHEMA, mongo_db, FINANCE, PAGE, {"after": None}, policy=LA_ONLY)
    assert not result.errors, result.errors
    assert numbers(result.data["shipments"]["nodes"]) == ["SH-1"]


async def test_a_page_of_none_says_nothing_is_ahead_when_only_a_rejected_shipment_is(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    """A stored ``warehouseIds`` the summaries no longer justify (a write between a push and
    its settle) matches the filter; the document check rejects it, and pages of no items
    must not announce it."""
    await upstream.project(upstream.order("SO-1", "DC-LAX"), upstream.shipment("SH-1", "SO-1"))
    await mongo_db["shipments"].update_one(
        {"_id": "SH-1"}, {"$set": {documents.WAREHOUSE_IDS: ["DC-ATL"]}}
    )
    assert await _ahead(mongo_db, "first") is False
    assert await _ahead(mongo_db, "last") is False
    await upstream.project(upstream.order("SO-2", "DC-ATL"), upstream.shipment("SH-2", "SO-2"))
    assert await _ahead(mongo_db, "first") is True
    assert await _ahead(mongo_db, "last") is True
