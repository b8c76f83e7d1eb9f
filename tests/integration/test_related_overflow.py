"""A document linked to more entities than it embeds summaries of (docs/limits.md).

With the cap set small for the test (``documents.MAX_RELATED_SUMMARIES``), an order named
by more shipments than the cap, and a shipment consolidating more orders: the projector goes
on (no batch refused, no dead letter), the holder embeds no more than the cap and is marked
overflowing, and GraphQL still lists every linked entity the caller may see; a caller
limited to some warehouses sees only what the rule lets them, and never a shipment whose
orders cannot all be told (fail closed). The store's guarded push decides the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.policy import CustomerRule, Policy
from graph.schema import build_schema
from projections.batch import EntityKey
from projections.effects import SummaryPush, summaries_of
from projections.projector import BatchProcessor
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore
from readmodel import documents
from readmodel.topics import TopicNames
from tests.global_ids import number, numbers
from tests.helpers import CommandRecorder, Stack, caller, summary_push
from tests.integration.projector_harness import Upstream
from tests.integration.world_harness import run

Doc = dict[str, Any]
SCHEMA = build_schema()
CAP = 3
VIEWER = caller("ACME")
#: ACME's users see only what ships from Atlanta.
ATLANTA_ONLY = Policy(customers={"ACME": CustomerRule(allowed_warehouses=frozenset({"DC-ATL"}))})

#: The cap as shipped (fixtures set it small).
REAL_CAP = documents.MAX_RELATED_SUMMARIES


@pytest.fixture(autouse=True)
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_RELATED_SUMMARIES", CAP)


@pytest.fixture
def upstream(mongo_db: AsyncDatabase[Doc]) -> Upstream:
    store = ProjectionStore(mongo_db)
    return Upstream(BatchProcessor(store, load_status_mapping(), TopicNames()))


async def _linked(db: AsyncDatabase[Doc], query: str, policy: Policy | None = None) -> list[str]:
    """The numbers of the entities the one relation list of ``query`` answers."""
    result = await run(SCHEMA, db, VIEWER, query, policy=policy)
    assert not result.errors, result.errors
    (entity,) = result.data.values()
    assert entity is not None, query
    (listed,) = entity.values()
    return sorted(numbers(listed))


async def _stored(db: AsyncDatabase[Doc], collection: str, doc_id: str) -> Doc:
    doc = await db[collection].find_one({"_id": doc_id})
    assert doc is not None, doc_id
    return doc


async def test_an_order_named_by_more_shipments_than_the_cap_lists_every_one(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    """Shipments naming the order in its own batch (folded into its write), in later
    batches (the order loaded as a related document), and before the order exists (its
    placeholder): none refused, the order embeds at most the cap, and its shipments are
    all listed; the Atlanta-only user misses only the one that also carries a Los Angeles
    order."""
    await upstream.project(
        upstream.order("SO-1", "DC-ATL"),
        *(upstream.shipment(f"SH-{n}", "SO-1") for n in range(1, 5)),
    )
    await upstream.project(*(upstream.shipment(f"SH-{n}", "SO-1") for n in range(5, 7)))
    await upstream.project(
        upstream.order("SO-3", "DC-LAX"), upstream.shipment("SH-7", "SO-1", "SO-3")
    )
    await upstream.project(*(upstream.shipment(f"SH-2{n}", "SO-2") for n in range(5)))
    await upstream.project(upstream.order("SO-2", "DC-ATL"))

    for order_id in ("SO-1", "SO-2"):
        order = await _stored(mongo_db, documents.ORDERS, order_id)
        assert len(order["related"]["shipments"]) <= CAP
        assert order[documents.RELATED_OVERFLOW] == {"shipments": True}
    everything = [f"SH-{n}" for n in range(1, 8)]
    query = '{ order(id: "SO-1") { shipments { id } } }'
    assert await _linked(mongo_db, query) == everything
    assert await _linked(mongo_db, query, ATLANTA_ONLY) == everything[:-1]
    query = '{ order(id: "SO-2") { shipments { id } } }'
    assert await _linked(mongo_db, query) == [f"SH-2{n}" for n in range(5)]


async def test_the_shipments_of_a_page_of_overflowing_orders_are_one_read(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream, stack: Stack
) -> None:
    """A page of orders each overflowing with shipments: their shipments are one read of the
    documents naming any of them (through the index of ``orderIds``), not one per order,
    and each order lists its own (round trips follow the query's shape, not the items)."""
    orders = [f"SO-{n}" for n in range(1, 7)]
    await upstream.project(*(upstream.order(order_id, "DC-ATL") for order_id in orders))
    shipments = {o: [f"SH-{o[3:]}{n}" for n in range(CAP + 2)] for o in orders}
    await upstream.project(*(upstream.shipment(s, o) for o in orders for s in shipments[o]))
    recorder = CommandRecorder()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        stack.mongodb_uri, tz_aware=True, event_listeners=[recorder]
    )
    try:
        query = "{ orders(first: 10) { nodes { id shipments { id } } } }"
        result = await run(SCHEMA, client[mongo_db.name], VIEWER, query)
    finally:
        await client.close()
    assert not result.errors, result.errors
    listed = {
        number(o["id"]): sorted(numbers(o["shipments"])) for o in result.data["orders"]["nodes"]
    }
    assert listed == shipments
    reads = [c for c in recorder.commands("find") if c["find"] == documents.SHIPMENTS]
    assert len(reads) == 1, [c["filter"] for c in reads]
    assert reads[0]["hint"] == documents.field_index(documents.SHIPMENTS, "orderIds")


async def test_a_shipment_consolidating_more_orders_than_the_cap_fails_closed_for_limited_users(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    """A shipment of five Atlanta orders embeds three of their summaries: every order is
    listed, but the shipment cannot tell all its orders' warehouses from its summaries, so
    an Atlanta-only user does not see it, though every one of its orders is Atlanta's."""
    orders = [f"SO-{n}" for n in range(1, 6)]
    await upstream.project(*(upstream.order(order_id, "DC-ATL") for order_id in orders))
    await upstream.project(upstream.shipment("SH-1", *orders))

    shipment = await _stored(mongo_db, documents.SHIPMENTS, "SH-1")
    assert len(shipment["related"]["orders"]) == CAP
    assert shipment[documents.RELATED_OVERFLOW] == {"orders": True}
    assert documents.WAREHOUSE_IDS not in shipment
    query = '{ shipment(id: "SH-1") { orders { id } } }'
    assert await _linked(mongo_db, query) == orders
    result = await run(SCHEMA, mongo_db, VIEWER, query, policy=ATLANTA_ONLY)
    assert not result.errors and result.data == {"shipment": None}


async def test_a_push_into_a_full_holder_marks_it_and_a_removal_of_what_it_lacks_is_harmless(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """The store's guarded push: a summary of a new source finds no room in a holder at the
    cap and marks it instead; a newer summary of an embedded source still replaces it; a
    removal of the summary never embedded changes nothing."""
    store = ProjectionStore(mongo_db)
    await store.push_summaries("", [summary_push("SO-1", f"SH-{n}", rev=1) for n in range(CAP)])
    await store.push_summaries("", [summary_push("SO-1", "SH-9", rev=1)])
    await store.push_summaries("", [summary_push("SO-1", "SH-0", rev=2)])
    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    assert sorted(order["related"]["shipments"]) == [f"SH-{n}" for n in range(CAP)]
    assert order["related"]["shipments"]["SH-0"]["rev"] == 2
    assert order[documents.RELATED_OVERFLOW] == {"shipments": True}

    await store.push_summaries("", [summary_push("SO-1", "SH-9", rev=0, removal=True)])
    assert await _stored(mongo_db, documents.ORDERS, "SO-1") == order


async def test_a_push_that_finds_no_room_records_its_invoices_customer(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """The store's guarded push records, with the mark, the customer of an invoice whose
    summary found no room (what the projector's read of the invoices naming the order
    reads through), once each, whatever the customer's characters; an embedded one and a
    shipment (found through its own index) record nothing."""

    def invoice(invoice_id: str, customer: str) -> SummaryPush:
        summary = {"invoiceId": invoice_id, "status": "OPEN", "customerId": customer}
        return SummaryPush("orders", "SO-1", "invoices", invoice_id, 1, summary, customer)

    store = ProjectionStore(mongo_db)
    await store.push_summaries("", [invoice(f"IN-{n}", "ACME") for n in range(CAP)])
    await store.push_summaries("", [summary_push("SO-1", f"SH-{n}", rev=1) for n in range(CAP)])
    assert documents.RELATED_OVERFLOW_CUSTOMERS not in await _stored(
        mongo_db, documents.ORDERS, "SO-1"
    )
    for pushed in (
        invoice("IN-G", "GLOBEX"),
        invoice("IN-D", "$DOLLAR"),
        invoice("IN-H", "GLOBEX"),
    ):
        await store.push_summaries("", [pushed, summary_push("SO-1", "SH-9", rev=1)])

    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    assert order[documents.RELATED_OVERFLOW] == {"invoices": True, "shipments": True}
    recorded = order[documents.RELATED_OVERFLOW_CUSTOMERS]
    assert list(recorded) == ["invoices"] and sorted(recorded["invoices"]) == ["$DOLLAR", "GLOBEX"]


async def test_an_order_already_near_the_store_limit_takes_more_shipments_without_growing(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure the cap ends, at the real cap: an order holding summaries of tens of
    thousands of shipments (as one written before the cap may) is within 500 bytes of the
    store's limit; before the cap the write carrying ten more summaries was refused by the
    store, and its batch for ever. Now the batch lands, the order does not grow, and it is
    marked overflowing."""
    monkeypatch.setattr(documents, "MAX_RELATED_SUMMARIES", REAL_CAP)
    await upstream.project(upstream.order("SO-1", "DC-ATL"))
    held = {
        f"SH-OLD-{n:05d}": {"shipmentId": f"SH-OLD-{n:05d}", "status": "IN_TRANSIT", "rev": 1}
        | {"customerId": "ACME", "carrier": {"scac": "ODFL", "name": "x" * 300}}
        for n in range(36_000)
    }
    keys = list(held)
    for start in range(0, len(keys), 10_000):  # a command of its own per 4 MB
        chunk = {f"related.shipments.{key}": held[key] for key in keys[start : start + 10_000]}
        await mongo_db[documents.ORDERS].update_one({"_id": "SO-1"}, {"$set": chunk})
    size = len(bson.encode(await _stored(mongo_db, documents.ORDERS, "SO-1")))
    # within 500 bytes of the store's limit: the next few summaries would take it over
    padding = "x" * (documents.STORE_DOCUMENT_BYTES - 500 - size - 20)
    await mongo_db[documents.ORDERS].update_one({"_id": "SO-1"}, {"$set": {"padding": padding}})
    before = len(bson.encode(await _stored(mongo_db, documents.ORDERS, "SO-1")))
    assert documents.STORE_DOCUMENT_BYTES - 600 < before < documents.STORE_DOCUMENT_BYTES - 400

    await upstream.project(*(upstream.shipment(f"SH-{n}", "SO-1") for n in range(1, 11)))
    await upstream.project(upstream.shipment("SH-11", "SO-1"))
    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    assert order[documents.RELATED_OVERFLOW] == {"shipments": True}
    assert len(order["related"]["shipments"]) == len(held)
    assert len(bson.encode(order)) < before + 1024
    shipments = mongo_db[documents.SHIPMENTS].find({"orderIds": "SO-1"}, {"_id": True})
    assert len([doc["_id"] async for doc in shipments]) == 11


async def test_a_summary_too_large_is_never_embedded_even_where_there_is_room(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """A push of a summary over ``MAX_SUMMARY_BYTES`` marks its holder, which has room for
    more, and takes away an older summary of the same source: readers of an overflowing kind
    answer from documents."""
    store = ProjectionStore(mongo_db)
    await store.push_summaries("", [summary_push("SO-1", "SH-1", rev=1)])
    large = replace(summary_push("SO-1", "SH-1", rev=2), size=documents.MAX_SUMMARY_BYTES + 1)
    await store.push_summaries("", [large])
    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    assert order.get("related", {}).get("shipments", {}) == {}
    assert order[documents.RELATED_OVERFLOW] == {"shipments": True}


async def test_a_summary_grown_too_large_in_the_holders_own_batch_leaves_it_like_a_push_does(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    """A re-planned shipment whose carrier name makes its summary too large, projected in the
    same batch as its order (folded into the order's write): the order is marked and keeps
    no summary of it (not the older one beside the mark), as the store's guarded push
    leaves it, and still lists the shipment."""
    await upstream.project(upstream.order("SO-1", "DC-ATL"), upstream.shipment("SH-1", "SO-1"))
    grown = upstream.shipment("SH-1", "SO-1")
    grown["data"]["carrier"] = {"scac": "ODFL", "name": "x" * documents.MAX_SUMMARY_BYTES}
    await upstream.project(upstream.order("SO-1", "DC-ATL"), grown)

    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    assert order.get("related", {}).get("shipments", {}) == {}
    assert order[documents.RELATED_OVERFLOW] == {"shipments": True}
    assert await _linked(mongo_db, '{ order(id: "SO-1") { shipments { id } } }') == ["SH-1"]


async def test_an_overflowing_order_that_moves_warehouse_reaches_every_shipment_naming_it(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    """The order embeds summaries of only the cap's worth of its shipments, so only those
    were told of its changes: the others kept its old warehouse, and an Atlanta-only user
    went on seeing shipments of an order that now ships from Los Angeles. Every shipment
    naming it, embedded or not, now holds its new summary."""
    shipments = [f"SH-{n}" for n in range(1, CAP + 4)]
    await upstream.project(upstream.order("SO-1", "DC-ATL"))
    for shipment_id in shipments:  # one batch each: the order is loaded as related
        await upstream.project(upstream.shipment(shipment_id, "SO-1"))
    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    assert order[documents.RELATED_OVERFLOW] == {"shipments": True}
    query = '{ order(id: "SO-1") { shipments { id } } }'
    assert await _linked(mongo_db, query, ATLANTA_ONLY) == shipments

    await upstream.project(upstream.order("SO-1", "DC-LAX"))

    for shipment_id in shipments:
        stored = await _stored(mongo_db, documents.SHIPMENTS, shipment_id)
        assert stored["related"]["orders"]["SO-1"]["warehouseId"] == "DC-LAX", shipment_id
        assert stored[documents.WAREHOUSE_IDS] == ["DC-LAX"], shipment_id
    assert await _linked(mongo_db, query) == shipments
    shipment_query = '{ shipment(id: "SH-%d") { id } }'
    for n in range(1, CAP + 4):
        result = await run(SCHEMA, mongo_db, VIEWER, shipment_query % n, policy=ATLANTA_ONLY)
        assert not result.errors and result.data == {"shipment": None}, n


async def test_an_order_overflowing_with_invoices_reaches_every_invoice_naming_it(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    """The same for invoices naming an order, which no index of their own serves (read
    through the order's customer): each holds the order's summary as it is now."""
    invoices = [f"INV-{n}" for n in range(1, CAP + 3)]
    await upstream.project(upstream.order("SO-1", "DC-ATL"))
    for invoice_id in invoices:
        await upstream.project(upstream.invoice(invoice_id, "SO-1"))
    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    assert order[documents.RELATED_OVERFLOW] == {"invoices": True}

    await upstream.project(upstream.order("SO-1", "DC-LAX"))

    for invoice_id in invoices:
        stored = await _stored(mongo_db, documents.INVOICES, invoice_id)
        assert stored["related"]["orders"]["SO-1"]["warehouseId"] == "DC-LAX", invoice_id


@pytest.mark.parametrize("full_before", [True, False], ids=["full before", "filled after"])
async def test_an_invoice_of_another_customer_naming_an_overflowing_order_is_reached_too(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream, full_before: bool
) -> None:
    """GLOBEX's invoice names ACME's order (the contract fixes neither side's customer by
    the other's). It finds no room in the order, either because the order is full already
    or because ACME's invoices fill it first in the same batches; the order's move to Los
    Angeles reaches it like ACME's invoices (before session 19 the read went through ACME's
    invoices alone, and GLOBEX's kept the Atlanta summary and ``warehouseIds`` for good)."""
    acme = [upstream.invoice(f"INV-{n}", "SO-1") for n in range(1, CAP + 2)]
    globex = upstream.invoice("INV-G", "SO-1")
    globex["customerid"] = globex["data"]["customerId"] = "GLOBEX"
    await upstream.project(upstream.order("SO-1", "DC-ATL"))
    for invoice in [*acme, globex] if full_before else [globex, *acme]:
        await upstream.project(invoice)
    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    assert order[documents.RELATED_OVERFLOW] == {"invoices": True}

    await upstream.project(upstream.order("SO-1", "DC-LAX"))

    for invoice_id in ["INV-G", *(f"INV-{n}" for n in range(1, CAP + 2))]:
        stored = await _stored(mongo_db, documents.INVOICES, invoice_id)
        assert stored["related"]["orders"]["SO-1"]["warehouseId"] == "DC-LAX", invoice_id
        assert stored[documents.WAREHOUSE_IDS] == ["DC-LAX"], invoice_id


#: An order id of 250 three-byte characters: with ``PO-`` before it (the order's customer
#: reference) still within the cap on ids (``event_fields.MAX_IDENTIFIER_LENGTH``), and its
#: summary, which repeats it three times, about 2.5 KB.
WIDE_ORDER = "漢" * 250


async def test_an_order_of_non_ascii_ids_at_their_cap_is_embedded_and_its_shipment_seen(
    mongo_db: AsyncDatabase[Doc], upstream: Upstream
) -> None:
    """An Atlanta order whose id and reference are 250 Chinese characters, and its shipments
    (one in the order's batch, one in a later batch): each embeds the order's summary, so
    the Atlanta-only user sees them. Until session 20 a summary was capped at 1,664 bytes,
    sized for ASCII: this one overflowed both shipments though each names one order, and
    they were hidden from that user for good."""
    await upstream.project(
        upstream.order(WIDE_ORDER, "DC-ATL"), upstream.shipment("SH-1", WIDE_ORDER)
    )
    await upstream.project(upstream.shipment("SH-2", WIDE_ORDER))

    for shipment_id in ("SH-1", "SH-2"):
        shipment = await _stored(mongo_db, documents.SHIPMENTS, shipment_id)
        assert list(shipment["related"]["orders"]) == [WIDE_ORDER], shipment_id
        assert len(bson.encode(shipment["related"]["orders"])) > 2_000
        assert documents.RELATED_OVERFLOW not in shipment, shipment_id
        assert shipment[documents.WAREHOUSE_IDS] == ["DC-ATL"], shipment_id
        query = f'{{ shipment(id: "{shipment_id}") {{ id orders {{ id }} }} }}'
        result = await run(SCHEMA, mongo_db, VIEWER, query, policy=ATLANTA_ONLY)
        assert not result.errors, result.errors
        assert result.data["shipment"] is not None, shipment_id
        assert len(result.data["shipment"]["orders"]) == 1


def _large_summary(shipment_id: str, rev: int, name: str = "x" * 2_500) -> SummaryPush:
    """Shipment ``shipment_id``'s summary, at ``rev``, with a carrier name of ``name``,
    pushed into order SO-1 as the projector measures it."""
    doc = {"_id": shipment_id, "customerId": "ACME", "rev": rev, "status": "IN_TRANSIT"}
    doc["carrier"] = {"scac": "ODFL", "name": name}
    to = [EntityKey("orders", "SO-1")]
    (push,) = summaries_of(doc, "shipments", shipment_id, to=to, exact=False)
    return push


async def test_the_store_embeds_large_summaries_within_their_kinds_budget_and_marks_past_it(
    mongo_db: AsyncDatabase[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's guarded push of summaries of 2.6 KB (over the 1,664 bytes a summary was
    capped at until session 20) into an order whose shipments' budget is set to hold two:
    both are embedded, the third marks the order though it holds fewer than the cap, and a
    newer summary of an embedded source still replaces it, measured in its place."""
    pushes = [_large_summary(f"SH-{n}", rev=1) for n in range(1, 4)]
    assert all(
        documents.SUMMARY_SHARE_BYTES < p.size <= documents.MAX_SUMMARY_BYTES for p in pushes
    )
    monkeypatch.setattr(documents, "RELATED_KIND_BYTES", 2 * pushes[0].size)
    store = ProjectionStore(mongo_db)
    for push in pushes:
        await store.push_summaries("", [push])
    await store.push_summaries("", [_large_summary("SH-1", rev=2, name="y" * 2_500)])

    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    held = order["related"]["shipments"]
    assert sorted(held) == ["SH-1", "SH-2"]
    assert held["SH-1"]["rev"] == 2 and held["SH-1"]["carrier"]["name"] == "y" * 2_500
    assert order[documents.RELATED_OVERFLOW] == {"shipments": True}
    assert len(bson.encode(held)) <= documents.RELATED_KIND_BYTES


async def test_racing_pushes_never_take_a_kind_past_its_budget(
    mongo_db: AsyncDatabase[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve writers each push one large summary into the same order at once, as twelve
    projector processes would (no transaction): the budget, set to hold four, is decided in
    each single-document update, so exactly four land beside the small summary held already,
    whichever four, and the order is marked."""
    pushes = [_large_summary(f"SH-{n:02d}", rev=1) for n in range(12)]
    monkeypatch.setattr(documents, "MAX_RELATED_SUMMARIES", len(pushes))
    monkeypatch.setattr(documents, "RELATED_KIND_BYTES", 4 * pushes[0].size)
    await ProjectionStore(mongo_db).push_summaries("", [summary_push("SO-1", "SH-SMALL", rev=1)])
    stores = [ProjectionStore(mongo_db) for _ in pushes]
    await asyncio.gather(*(s.push_summaries("", [p]) for s, p in zip(stores, pushes, strict=True)))

    order = await _stored(mongo_db, documents.ORDERS, "SO-1")
    held = order["related"]["shipments"]
    assert len(held) == 1 + 4 and "SH-SMALL" in held
    assert len(bson.encode(held)) <= documents.RELATED_KIND_BYTES
    assert order[documents.RELATED_OVERFLOW] == {"shipments": True}
