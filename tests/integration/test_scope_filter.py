"""The scope filter, run by the real store, against the document check (``Scope.allows``).

For every caller, a filter over documents as the projector stores them must match exactly
what ``allows`` accepts: the readers count and page by the filter (an order by its own
``warehouseId``, a shipment or invoice by its ``warehouseIds``). And a ``warehouseIds``
the projector never writes (empty, nulls, numbers, nested arrays, a scalar, an object) must
match no warehouse-limited caller's filter: the store's operators decide that, not a model
of them, so it is checked on the store.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.caller import Caller
from entitlements.policy import CustomerRule, Policy
from projections.store import with_derived
from readmodel.documents import INVOICES, ORDERS, SHIPMENTS, WAREHOUSE_IDS, field_key
from tests.helpers import caller

Doc = dict[str, Any]
POLICY = Policy(
    customers={
        "GLOBEX": CustomerRule(frozenset({"DC-ATL"}), frozenset({"regional-admin"})),
        "INITECH": CustomerRule(frozenset({"DC-LAX", "DC-SEA"})),
    }
)
CUSTOMERS = ("ACME", "GLOBEX", "INITECH")
CALLERS = (
    caller("GLOBEX", roles=("finance",)),
    caller("GLOBEX", roles=("finance", "regional-admin")),
    caller("INITECH", roles=("finance",)),
    caller("ACME", "GLOBEX", "INITECH", roles=("finance",)),
    caller(roles=("support", "finance")),
)
#: Order id -> ship-from warehouse of its summary (None: a summary without one).
SUMMARIES = {"SO-1": "DC-ATL", "SO-2": "DC-LAX", "SO-3": "DC-SEA", "SO-4": None}
#: What a shipment or invoice may name: orders with a summary, and SO-9 without one.
ORDER_SETS = [
    list(orders)
    for size in range(3)
    for orders in itertools.combinations([*SUMMARIES, "SO-9"], size)
]
#: Ship-from warehouses of orders: each one a limit names, and one no limit names.
ORDER_WAREHOUSES = ("DC-ATL", "DC-LAX", "DC-SEA", "DC-ORD")
#: ``warehouseIds`` values the projector never writes, by name.
MALFORMED: dict[str, Any] = {
    "empty": [],
    "null member": [None],
    "allowed and null": ["DC-ATL", None],
    "number": [1],
    "nested": [["DC-ATL"]],
    "nested wider": [["DC-ATL", "DC-LAX"]],
    "scalar": "DC-ATL",
    "null": None,
    "object": {"0": "DC-ATL"},
}


def _summaries(order_ids: list[str]) -> dict[str, Any]:
    return {
        field_key(order_id): {"orderId": order_id, "warehouseId": SUMMARIES[order_id]}
        for order_id in order_ids
        if order_id in SUMMARIES
    }


def _stored(kind: str, doc_id: str, customer: str, order_ids: list[str]) -> Doc:
    """A shipment or invoice naming ``order_ids`` as the projector stores it."""
    doc: Doc = {"_id": doc_id, "customerId": customer, "known": True, "orderIds": order_ids}
    doc["related"] = {"orders": _summaries(order_ids)}
    if kind == INVOICES:
        doc["lines"] = [{"amount": "1.00", "orderId": order_id} for order_id in order_ids]
    return with_derived(kind, doc)


def _documents(kind: str) -> list[Doc]:
    """Every customer's ``kind`` documents as the projector stores them: an order from each
    of ``ORDER_WAREHOUSES`` (and its placeholder, before its own snapshot: no warehouse);
    a shipment or invoice naming each of ``ORDER_SETS``."""
    if kind != ORDERS:
        return [
            _stored(kind, f"{customer}-{n}", customer, orders)
            for customer in CUSTOMERS
            for n, orders in enumerate(ORDER_SETS)
        ]
    orders: list[Doc] = [
        {"_id": f"{customer}-placeholder", "customerId": customer, "known": False, "rev": 0}
        for customer in CUSTOMERS
    ]
    for customer, warehouse in itertools.product(CUSTOMERS, ORDER_WAREHOUSES):
        order = {"_id": f"{customer}-{warehouse}", "customerId": customer, "known": True}
        order |= {"shipFrom": {"warehouseId": warehouse}, "warehouseId": warehouse}
        orders.append(with_derived(kind, order))
    return orders


async def _matched(db: AsyncDatabase[Doc], kind: str, who: Caller) -> set[str]:
    query = POLICY.scope(who).mongo_filter(kind)
    return {doc["_id"] async for doc in db[kind].find(query, {"_id": True})}


@pytest.mark.parametrize("kind", [ORDERS, SHIPMENTS, INVOICES])
async def test_the_filter_matches_what_the_document_check_accepts(
    mongo_db: AsyncDatabase[Doc], kind: str
) -> None:
    docs = _documents(kind)
    await mongo_db[kind].insert_many(docs)
    # Globex's Atlanta users see some of Globex's documents, not all: the warehouse rule decides
    globex = {doc["_id"] for doc in docs if doc["customerId"] == "GLOBEX"}
    atlanta = {doc["_id"] for doc in docs if POLICY.scope(CALLERS[0]).allows(kind, doc)}
    assert set() < atlanta < globex
    for who in CALLERS:
        allowed = {doc["_id"] for doc in docs if POLICY.scope(who).allows(kind, doc)}
        assert await _matched(mongo_db, kind, who) == allowed, who


@pytest.mark.parametrize("kind", [SHIPMENTS, INVOICES])
async def test_no_malformed_warehouse_list_matches_a_limited_callers_filter(
    mongo_db: AsyncDatabase[Doc], kind: str
) -> None:
    """Each document's summaries are all from Atlanta, its stored field one of ``MALFORMED``
    (or none): only the one holding ``["DC-ATL"]`` is matched for Globex's Atlanta users."""
    base = _stored(kind, "well-formed", "GLOBEX", ["SO-1"])
    assert base[WAREHOUSE_IDS] == ["DC-ATL"]
    missing = {key: value for key, value in base.items() if key != WAREHOUSE_IDS}
    await mongo_db[kind].insert_many(
        [
            base,
            {**missing, "_id": "missing"},
            *({**base, "_id": name, WAREHOUSE_IDS: value} for name, value in MALFORMED.items()),
        ]
    )
    assert await _matched(mongo_db, kind, CALLERS[0]) == {"well-formed"}
    assert len(await _matched(mongo_db, kind, CALLERS[1])) == len(MALFORMED) + 2  # exempt
