"""Customer A never receives customer B's data, whatever the way in; support reads are audited.

B's identifiers are chosen so that any leak shows up in the serialized response: every test
asserts that none of them appears anywhere in what A gets back, not only in the field the
test is about.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.policy import CustomerRule, Policy
from graph.context import GraphContext
from graph.global_ids import encode
from graph.schema import build_schema
from readmodel import documents
from tests.global_ids import number, numbers, with_numbers
from tests.helpers import caller
from tests.integration.world_harness import (
    T0,
    MemoryAudit,
    Result,
    World,
    invoice,
    order,
    run,
    shipment,
)

Doc = dict[str, Any]
SCHEMA = build_schema()
A = caller("ACME", roles=("viewer", "finance"))
B = caller("BETA", roles=("viewer", "finance"), subject="bob")
SUPPORT = caller(roles=("support",), subject="sam")

#: Strings only B's documents contain.
B_MARKERS = ("BETA", "SO-B", "SH-B", "IN-B", "BTRACK", "PO-B", "INV-B", "Bravo Consignee")


def _world() -> World:
    from datetime import timedelta

    orders = [
        order("SO-A1", "ACME", reference="PO-A1", ordered_at=T0, stage="LOADED"),
        order("SO-A2", "ACME", reference="PO-A2", ordered_at=T0 + timedelta(hours=2)),
        order(
            "SO-B1",
            "BETA",
            reference="PO-B1",
            ordered_at=T0 + timedelta(hours=1),
            ship_to="Bravo Consignee",
            stage="LOADED",
        ),
        order("SO-B2", "BETA", reference="PO-B2", ordered_at=T0 + timedelta(hours=3)),
    ]
    shipments = [
        # A's shipment wrongly also names B's order; B's shipment wrongly names A's order.
        shipment("SH-A1", "ACME", order_ids=["SO-A1", "SO-B1"], tracking="ATRACK1"),
        shipment(
            "SH-B1",
            "BETA",
            order_ids=["SO-B1", "SO-A1"],
            tracking="BTRACK1",
            planned_pickup_at=T0 + timedelta(hours=1),
        ),
    ]
    invoices = [
        invoice("IN-A1", "ACME", number="INV-A1", order_ids=["SO-A1"], shipment_ids=["SH-A1"]),
        invoice(
            "IN-B1",
            "BETA",
            number="INV-B1",
            order_ids=["SO-B1", "SO-A1"],
            shipment_ids=["SH-B1", "SH-A1"],
        ),
    ]
    return World(orders, shipments, invoices).link()


@pytest.fixture
async def db(mongo_db: AsyncDatabase[Doc]) -> AsyncDatabase[Doc]:
    await _world().insert(mongo_db)
    return mongo_db


def assert_nothing_of_b(result: Result) -> None:
    text = with_numbers(result.text() + repr(result.errors))
    leaked = [marker for marker in B_MARKERS if marker in text]
    assert not leaked, f"B's data leaked: {leaked} in {text}"


SHIPMENT = "id trackingNumber customerId orders { id customerReference shipToName } invoices { id }"
ORDER = (
    "id customerReference customerId shipments { id trackingNumber } invoices { id invoiceNumber }"
)
INVOICE = "id invoiceNumber customerId orders { id } shipments { id trackingNumber }"


@pytest.mark.parametrize(
    "query",
    [
        '{ order(id: "SO-B1") { id } }',
        '{ orderByReference(customerReference: "PO-B1") { id } }',
        '{ shipment(id: "SH-B1") { id } }',
        '{ shipmentByTrackingNumber(trackingNumber: "BTRACK1") { id } }',
        '{ invoice(id: "IN-B1") { id } }',
        '{ invoiceByNumber(invoiceNumber: "INV-B1") { id } }',
    ],
)
async def test_lookups_of_b_read_as_not_found(db: AsyncDatabase[Doc], query: str) -> None:
    result = await run(SCHEMA, db, A, query)
    assert result.errors == []
    assert list(result.data.values()) == [None]
    assert_nothing_of_b(result)


async def test_lists_hold_only_a(db: AsyncDatabase[Doc]) -> None:
    result = await run(
        SCHEMA,
        db,
        A,
        f"""{{ orders {{ totalCount nodes {{ {ORDER} }} }}
              shipments {{ totalCount nodes {{ {SHIPMENT} }} }}
              invoices {{ totalCount nodes {{ {INVOICE} }} }} }}""",
    )
    assert result.errors == []
    assert numbers(result.data["orders"]["nodes"]) == ["SO-A2", "SO-A1"]
    assert numbers(result.data["shipments"]["nodes"]) == ["SH-A1"]
    assert numbers(result.data["invoices"]["nodes"]) == ["IN-A1"]
    assert [result.data[f]["totalCount"] for f in ("orders", "shipments", "invoices")] == [2, 1, 1]
    assert_nothing_of_b(result)


async def test_nested_relations_omit_bs_entities_linked_to_as(db: AsyncDatabase[Doc]) -> None:
    result = await run(
        SCHEMA,
        db,
        A,
        f"""{{ order(id: "SO-A1") {{ {ORDER} }}
              shipment(id: "SH-A1") {{ {SHIPMENT} }}
              invoice(id: "IN-A1") {{ {INVOICE} }} }}""",
    )
    assert result.errors == []
    assert numbers(result.data["order"]["shipments"]) == ["SH-A1"]
    assert numbers(result.data["order"]["invoices"]) == ["IN-A1"]
    assert numbers(result.data["shipment"]["orders"]) == ["SO-A1"]
    assert_nothing_of_b(result)


@pytest.mark.parametrize("summary_extra", [False, True])
async def test_summaries_of_b_embedded_in_as_documents_are_not_served(
    mongo_db: AsyncDatabase[Doc], summary_extra: bool
) -> None:
    await _world().link(summary_extra=summary_extra).insert(mongo_db)
    result = await run(
        SCHEMA,
        mongo_db,
        A,
        '{ order(id: "SO-A1") { shipments { id trackingNumber status } '
        "invoices { id invoiceNumber status total { amount } } } }",
    )
    assert result.errors == []
    assert numbers(result.data["order"]["shipments"]) == ["SH-A1"]
    assert_nothing_of_b(result)


async def test_federation_entities_of_b_resolve_to_null(db: AsyncDatabase[Doc]) -> None:
    result = await run(
        SCHEMA,
        db,
        A,
        """query($reps: [_Any!]!) { _entities(representations: $reps) {
             __typename
             ... on Order { id customerReference shipments { id } }
             ... on Shipment { id trackingNumber }
             ... on Invoice { id invoiceNumber } } }""",
        {
            "reps": [
                {"__typename": "Order", "id": "SO-B1"},
                {"__typename": "Shipment", "id": "SH-B1"},
                {"__typename": "Invoice", "id": "IN-B1"},
                {"__typename": "Order", "id": "SO-A1"},
                {"__typename": "Shipment", "id": "SH-A1"},
                {"__typename": "Invoice", "id": "IN-A1"},
            ]
        },
    )
    assert result.errors == []
    entities = result.data["_entities"]
    assert entities[:3] == [None, None, None]
    assert numbers(entities[3:]) == ["SO-A1", "SH-A1", "IN-A1"]
    assert_nothing_of_b(result)


async def test_relay_node_and_nodes_with_bs_global_ids_resolve_to_null(
    db: AsyncDatabase[Doc],
) -> None:
    """A's client forging B's global ids (base64 of ``Order:SO-B1``...) for Relay's refetch
    fields reads them as not found, as ``_entities`` does, beside A's own (session 20)."""
    b_ids = [encode("orders", "SO-B1"), encode("shipments", "SH-B1"), encode("invoices", "IN-B1")]
    a_ids = [encode("orders", "SO-A1"), encode("shipments", "SH-A1"), encode("invoices", "IN-A1")]
    result = await run(
        SCHEMA,
        db,
        A,
        """query($one: ID!, $ids: [ID!]!) {
             node(id: $one) { id ... on Shipment { trackingNumber } }
             nodes(ids: $ids) {
               id
               ... on Order { customerReference shipToName }
               ... on Shipment { trackingNumber }
               ... on Invoice { invoiceNumber } } }""",
        {"one": b_ids[1], "ids": [*b_ids, *a_ids]},
    )
    assert result.errors == []
    assert result.data["node"] is None
    assert result.data["nodes"][:3] == [None, None, None]
    assert numbers(result.data["nodes"][3:]) == ["SO-A1", "SH-A1", "IN-A1"]
    assert_nothing_of_b(result)


async def test_a_cursor_taken_from_bs_data_only_positions_a_in_as_data(
    db: AsyncDatabase[Doc],
) -> None:
    from_b = await run(
        SCHEMA, db, B, "{ orders(first: 1) { nodes { id } pageInfo { endCursor } } }"
    )
    assert numbers(from_b.data["orders"]["nodes"]) == ["SO-B2"]  # ordered at T0+3h
    cursor = from_b.data["orders"]["pageInfo"]["endCursor"]
    assert await _as_orders_from(db, "after: $c", cursor) == ["SO-A2", "SO-A1"]
    assert set(await _as_orders_from(db, "last: 5, before: $c", cursor)) <= {"SO-A1", "SO-A2"}


async def _as_orders_from(db: AsyncDatabase[Doc], paging: str, cursor: str) -> list[str]:
    """The order numbers A reads paging from ``cursor``, checked to hold nothing of B's."""
    result = await run(
        SCHEMA,
        db,
        A,
        f"query($c: String) {{ orders({paging}) {{ nodes {{ id customerReference }} }} }}",
        {"c": cursor},
    )
    assert result.errors == []
    assert_nothing_of_b(result)
    return numbers(result.data["orders"]["nodes"])


NAMING_A_CUSTOMER = [
    "orders(filter: {customerId: $c}) { totalCount nodes { id } }",
    "shipments(filter: {customerId: $c}) { totalCount nodes { id } }",
    "invoices(filter: {customerId: $c}) { totalCount nodes { id } }",
    'searchShipments(text: "TRACK", customerId: $c) { totalCount nodes { id } }',
    'orderByReference(customerReference: "PO-B1", customerId: $c) { id }',
    'invoiceByNumber(invoiceNumber: "INV-B1", customerId: $c) { id }',
    'shipmentByTrackingNumber(trackingNumber: "BTRACK1", customerId: $c) { id }',
]


@pytest.mark.parametrize("field", NAMING_A_CUSTOMER)
async def test_naming_a_customer_a_does_not_act_for_is_forbidden(
    db: AsyncDatabase[Doc], field: str
) -> None:
    """The live feed's answer (FORBIDDEN, the same message), on every list, search and
    lookup; the same whether that customer exists (BETA) or not: nothing about B is told."""
    query = f"query($c: String) {{ {field} }}"
    name = field.partition("(")[0]
    refusals = {}
    for customer in ("BETA", "NOBODY"):
        result = await run(SCHEMA, db, A, query, {"c": customer})
        assert result.data == {name: None}
        assert result.codes == ["FORBIDDEN"]
        [error] = result.errors
        assert error["message"] == f"customer {customer!r} is not one of the accounts you act for"
        refusals[customer] = {**error, "message": error["message"].replace(customer, "X")}
    assert refusals["BETA"] == refusals["NOBODY"]
    assert (await run(SCHEMA, db, A, query, {"c": "ACME"})).errors == []


async def test_support_names_any_customer_only_in_a_cross_customer_search(
    db: AsyncDatabase[Doc],
) -> None:
    """A cross-customer search's scope names no customers: ``customerId`` narrows it. Out
    of one, support staff act for the customers of their token, like anyone (here none)."""
    search = 'searchShipments(text: "TRACK", customerId: "BETA"{0}) {{ nodes {{ customerId }} }}'
    across = await run(SCHEMA, db, SUPPORT, "{ " + search.format(", crossCustomer: true") + " }")
    assert across.errors == []
    assert across.data == {"searchShipments": {"nodes": [{"customerId": "BETA"}]}}
    own = await run(SCHEMA, db, SUPPORT, "{ " + search.format("") + " }")
    assert own.codes == ["FORBIDDEN"]
    listed = await run(
        SCHEMA, db, SUPPORT, '{ orders(filter: {customerId: "BETA"}) { totalCount } }'
    )
    assert listed.codes == ["FORBIDDEN"]


@pytest.mark.parametrize(
    "args", ['text: "TRACK"', 'text: "PO-B1"', 'text: "bravo"', 'text: "TRACK", customerId: "ACME"']
)
async def test_search_finds_only_as_shipments(db: AsyncDatabase[Doc], args: str) -> None:
    result = await run(SCHEMA, db, A, f"{{ searchShipments({args}) {{ nodes {{ {SHIPMENT} }} }} }}")
    assert result.errors == []
    assert numbers(result.data["searchShipments"]["nodes"]) in ([], ["SH-A1"])
    assert_nothing_of_b(result)


async def test_only_support_may_search_across_customers(db: AsyncDatabase[Doc]) -> None:
    audit = MemoryAudit()
    result = await run(
        SCHEMA,
        db,
        A,
        '{ searchShipments(text: "TRACK", crossCustomer: true) { nodes { id } } }',
        audit=audit,
    )
    assert result.codes == ["FORBIDDEN"]
    assert result.data == {"searchShipments": None}
    assert audit.entries == []


async def test_support_cross_customer_search_returns_both_and_is_audited(
    db: AsyncDatabase[Doc],
) -> None:
    context = GraphContext.build(db, Policy(), SUPPORT)  # the audit goes to the database
    result = await SCHEMA.execute(
        """query FindTracking($t: String!, $s: [ShipmentStatus!]) {
             searchShipments(text: $t, statuses: $s, crossCustomer: true) {
               nodes { id customerId orders { id } } } }""",
        variable_values={"t": "TRACK", "s": ["IN_TRANSIT", "DELIVERED"]},
        context_value=context,
    )
    assert result.errors is None and result.data is not None
    nodes = result.data["searchShipments"]["nodes"]
    assert [(number(n["id"]), n["customerId"]) for n in nodes] == [
        ("SH-B1", "BETA"),
        ("SH-A1", "ACME"),
    ]
    # Related entities stay under the support user's own scope (no customers): only the
    # audited search reads across customers.
    assert [n["orders"] for n in nodes] == [[], []]

    [entry] = await db[documents.AUDIT_LOG].find({}, {"_id": False}).to_list()
    assert entry["subject"] == "sam"
    assert entry["roles"] == ["support"]
    assert entry["operation"] == "FindTracking"
    assert "searchShipments(text: $t, statuses: $s, crossCustomer: true)" in entry["query"]
    assert entry["variables"] == {"t": "TRACK", "s": ["IN_TRANSIT", "DELIVERED"]}  # enums by name
    assert (entry["answered"], entry["customerIds"], entry["more"]) == (
        "page",
        ["ACME", "BETA"],
        False,
    )


async def test_a_cross_customer_count_is_audited_with_its_value_and_the_customers_counted(
    db: AsyncDatabase[Doc],
) -> None:
    """A support search of 0 items returns no shipment, yet its ``hasNextPage`` and
    ``totalCount`` reveal matches across customers: the page's entry says more lie beyond it,
    and the count's entry (written when the count is answered) its value and whose
    shipments it counted."""
    audit = MemoryAudit()
    query = (
        '{ searchShipments(text: "TRACK", crossCustomer: true, first: 0) '
        "{ totalCount pageInfo { hasNextPage } } }"
    )
    result = await run(SCHEMA, db, SUPPORT, query, audit=audit)
    assert result.data == {"searchShipments": {"totalCount": 2, "pageInfo": {"hasNextPage": True}}}
    page, count = audit.entries
    assert (page["answered"], page["customerIds"], page["more"]) == ("page", [], True)
    assert "count" not in page
    assert (count["answered"], count["count"], count["customerIds"]) == (
        "count",
        2,
        ["ACME", "BETA"],
    )
    assert "more" not in count


async def test_support_without_cross_customer_sees_only_own_customers(
    db: AsyncDatabase[Doc],
) -> None:
    audit = MemoryAudit()
    result = await run(
        SCHEMA, db, SUPPORT, '{ searchShipments(text: "TRACK") { nodes { id } } }', audit=audit
    )
    assert result.data == {"searchShipments": {"nodes": []}}
    assert audit.entries == []


async def test_warehouse_restricted_users_see_only_their_warehouses(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    orders = [
        order(f"SO-{w}{n}", "ACME", reference=f"PO-{w}{n}", warehouse=w, ordered_at=T0)
        for w in ("ATL", "RNO")
        for n in range(3)
    ]
    shipments = [
        shipment(f"SH-{w}{n}", "ACME", order_ids=[f"SO-{w}{n}"], tracking=f"T-{w}{n}")
        for w in ("ATL", "RNO")
        for n in range(3)
    ]
    await World(orders, shipments).link(summary_extra=True).insert(mongo_db)
    policy = Policy(customers={"ACME": CustomerRule(allowed_warehouses=frozenset({"ATL"}))})
    viewer = caller("ACME")

    async def pages(field: str, *, backwards: bool = False) -> list[str]:
        size_arg, cursor_arg, next_cursor, more = (
            ("last", "before", "startCursor", "hasPreviousPage")
            if backwards
            else ("first", "after", "endCursor", "hasNextPage")
        )
        ids: list[str] = []
        cursor = None
        while True:
            result = await run(
                SCHEMA,
                mongo_db,
                viewer,
                f"query($c: String) {{ {field}({size_arg}: 1, {cursor_arg}: $c) {{ totalCount "
                "nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }",
                {"c": cursor},
                policy=policy,
            )
            conn = result.data[field]
            assert conn["totalCount"] == 3
            found = numbers(conn["nodes"])
            ids = found + ids if backwards else ids + found
            if not conn["pageInfo"][more]:
                return ids
            cursor = conn["pageInfo"][next_cursor]

    assert await pages("orders") == ["SO-ATL2", "SO-ATL1", "SO-ATL0"]
    assert await pages("shipments") == ["SH-ATL2", "SH-ATL1", "SH-ATL0"]
    assert await pages("orders", backwards=True) == ["SO-ATL2", "SO-ATL1", "SO-ATL0"]
    assert await pages("shipments", backwards=True) == ["SH-ATL2", "SH-ATL1", "SH-ATL0"]
    hidden = await run(
        SCHEMA,
        mongo_db,
        viewer,
        '{ order(id: "SO-RNO1") { id } shipment(id: "SH-RNO1") { id } '
        'searchShipments(text: "RNO") { nodes { id } } }',
        policy=policy,
    )
    assert hidden.data == {"order": None, "shipment": None, "searchShipments": {"nodes": []}}
