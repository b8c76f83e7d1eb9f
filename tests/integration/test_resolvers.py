"""The GraphQL API over real FerretDB: lookups, lists, filters, paging, search, freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.caller import Caller
from entitlements.policy import CustomerRule, Policy
from graph.global_ids import encode
from graph.schema import build_schema
from projections.summaries import summarize
from readmodel import documents
from readmodel.search_keys import COMPLETE_MARKER
from resolvers.generation import GenerationPointer
from resolvers.readers import Readers
from tests.global_ids import numbers
from tests.helpers import caller
from tests.integration.world_harness import T0, MemoryAudit, World, invoice, order, run, shipment

Doc = dict[str, Any]
SCHEMA = build_schema()
ACME = caller("ACME")
FINANCE = caller("ACME", roles=("finance",))


def _world() -> World:
    orders = [
        order(
            "SO-1", "ACME", reference="PO-1", ordered_at=T0, stage="LOADED", ship_to="Zenith Retail"
        ),
        order("SO-2", "ACME", reference="PO-2", ordered_at=T0 + timedelta(hours=1), cancelled=True),
        order(
            "SO-3", "ACME", reference="PO-3", ordered_at=T0 + timedelta(hours=2), stage="SHIPPED"
        ),
        order(
            "SO-4", "ACME", reference="PO-4", ordered_at=T0 + timedelta(hours=3), warehouse="DC-RNO"
        ),
        order("SO-9", "ACME", reference="PO-9", known=False),
    ]
    shipments = [
        shipment("SH-1", "ACME", order_ids=["SO-1"], tracking="1Z999AA10123456784", city="Chicago"),
        shipment(
            "SH-2",
            "ACME",
            order_ids=["SO-3"],
            tracking="PRO-555",
            status="DELIVERED",
            scac="FXFE",
            city="Denver",
            planned_pickup_at=T0 + timedelta(days=1),
        ),
    ]
    invoices = [
        invoice(
            "IN-1",
            "ACME",
            number="INV-1",
            order_ids=["SO-1"],
            shipment_ids=["SH-1"],
            due_date="2020-01-01",
        ),
        invoice(
            "IN-2",
            "ACME",
            number="INV-2",
            order_ids=["SO-3"],
            due_date="2999-01-01",
            issued_at=T0 + timedelta(days=1),
        ),
        invoice(
            "IN-3",
            "ACME",
            number="INV-3",
            status="PAID",
            paid="1150.00",
            issued_at=T0 + timedelta(days=2),
        ),
    ]
    return World(orders, shipments, invoices).link()


@pytest.fixture
async def db(mongo_db: AsyncDatabase[Doc]) -> AsyncDatabase[Doc]:
    await _world().insert(mongo_db)
    return mongo_db


ORDER_FIELDS = """
  id customerId customerReference orderType status orderedAt requestedDeliveryDate
  shipFrom { warehouseId name address { city countryCode } } shipTo { name } shipToName
  lines { lineNumber sku quantity quantityPicked quantityShipped }
  fulfillmentStage
  fulfillment { stage history { stage occurredAt } handlingUnits { sscc weightKg } }
  cancelled cancellation { reason }
  lastUpdatedAt lastEvent { source id type time }
"""


async def test_order_by_id_has_its_fields_provenance_and_nested_shipments(
    db: AsyncDatabase[Doc],
) -> None:
    result = await run(
        SCHEMA,
        db,
        ACME,
        f'{{ order(id: "SO-1") {{ {ORDER_FIELDS}'
        " shipments { id trackingNumber status milestones { rawCode status } } } }",
    )
    assert result.errors == []
    got = result.data["order"]
    assert got["customerReference"] == "PO-1"
    assert got["status"] == "IN_FULFILLMENT"
    assert got["orderedAt"] == "2026-11-02T08:00:00+00:00"
    assert got["requestedDeliveryDate"] == "2026-11-20"
    assert got["shipToName"] == "Zenith Retail"
    assert got["lines"][0] == {
        "lineNumber": 1,
        "sku": "SKU-1",
        "quantity": 40,
        "quantityPicked": 40,
        "quantityShipped": 40,
    }
    assert got["lines"][1]["quantityShipped"] is None
    assert got["fulfillment"]["handlingUnits"] == [
        {"sscc": "003012345678901234", "weightKg": 212.5}
    ]
    assert got["lastEvent"] == {
        "source": "erp/s4-prod",
        "id": "e-SO-1",
        "type": "logistics.order.created.v1",
        "time": "2026-11-02T08:00:00+00:00",
    }
    assert got["lastUpdatedAt"] == "2026-11-02T08:05:00+00:00"
    [ship] = got["shipments"]
    assert ship["trackingNumber"] == "1Z999AA10123456784"
    assert [m["rawCode"] for m in ship["milestones"]] == ["X3", "AF", "AF"]
    assert ship["milestones"][0]["status"] is None


async def test_lookups_by_business_keys(db: AsyncDatabase[Doc]) -> None:
    result = await run(
        SCHEMA,
        db,
        FINANCE,
        """{ orderByReference(customerReference: "PO-2") { id status cancellation { reason } }
             shipmentByTrackingNumber(trackingNumber: "PRO-555") {
               id status carrier { scac } orders { id } }
             invoiceByNumber(invoiceNumber: "INV-1") { id status total { amount currency } }
             missing: order(id: "SO-404") { id }
             unknown: order(id: "SO-9") { id } }""",
    )
    assert result.errors == []
    assert result.data["orderByReference"] == {
        "id": encode("orders", "SO-2"),
        "status": "CANCELLED",
        "cancellation": {"reason": "customer request"},
    }
    assert result.data["shipmentByTrackingNumber"] == {
        "id": encode("shipments", "SH-2"),
        "status": "DELIVERED",
        "carrier": {"scac": "FXFE"},
        "orders": [{"id": encode("orders", "SO-3")}],
    }
    assert result.data["invoiceByNumber"] == {
        "id": encode("invoices", "IN-1"),
        "status": "OVERDUE",
        "total": {"amount": "1150.00", "currency": "USD"},
    }
    # Not found and not yet known (no ERP snapshot) read the same: null, no error.
    assert result.data["missing"] is None and result.data["unknown"] is None


#: A lookup by a business key: the field, its key argument, the key's stem, the id answered.
KEY_LOOKUPS = {
    "orders": ("orderByReference", "customerReference", "PO-", "orderId"),
    "invoices": ("invoiceByNumber", "invoiceNumber", "INV-", "invoiceId"),
}
#: When each document of ``_reused_keys`` was placed or issued. Key 7 is ACME's alone, three
#: times, two of them tied at its newest time; key 9 is ACME's twice and BETA's once, BETA's
#: the oldest (so the two newest matches are one customer's).
REUSED_AT = {
    "A-1": ("7", T0),
    "A-2": ("7", T0 + timedelta(hours=2)),
    "A-3": ("7", T0 + timedelta(hours=2)),
    "A-8": ("9", T0 + timedelta(hours=2)),
    "A-9": ("9", T0 + timedelta(hours=3)),
    "B-2": ("9", T0 + timedelta(hours=1)),
}
#: (the caller's customers, the key, the lookup's customerId, the id or error code answered)
REUSED_KEY_LOOKUPS = [
    (("ACME",), "7", None, "A-3"),
    (("ACME",), "7", "ACME", "A-3"),
    (("ACME",), "9", None, "A-9"),
    (("ACME", "BETA"), "7", None, "A-3"),
    (("ACME", "BETA"), "7", "ACME", "A-3"),
    (("ACME", "BETA"), "9", None, "BAD_USER_INPUT"),
    (("ACME", "BETA"), "9", "ACME", "A-9"),
    (("ACME", "BETA"), "9", "BETA", "B-2"),
]


def _reused_keys(kind: str) -> World:
    stem = KEY_LOOKUPS[kind][2]
    owner = {"A": "ACME", "B": "BETA"}
    if kind == "orders":
        return World(
            [
                order(i, owner[i[0]], reference=stem + key, ordered_at=at)
                for i, (key, at) in REUSED_AT.items()
            ]
        )
    return World(
        invoices=[
            invoice(i, owner[i[0]], number=stem + key, issued_at=at)
            for i, (key, at) in REUSED_AT.items()
        ]
    )


@pytest.mark.parametrize("kind", sorted(KEY_LOOKUPS))
async def test_a_reused_business_key_answers_the_newest_unless_several_customers_match(
    mongo_db: AsyncDatabase[Doc], kind: str
) -> None:
    """A PO number or invoice number one customer used several times answers that
    customer's newest document (ties: the greatest id), with or without customerId; a key
    of several of the caller's customers needs a customerId, even when the newest matches
    are all one customer's."""
    await _reused_keys(kind).insert(mongo_db)
    field, argument, stem, id_field = KEY_LOOKUPS[kind]
    for customers, key, customer_id, expected in REUSED_KEY_LOOKUPS:
        narrowed = f', customerId: "{customer_id}"' if customer_id else ""
        query = f'{{ {field}({argument}: "{stem}{key}"{narrowed}) {{ {id_field} }} }}'
        result = await run(SCHEMA, mongo_db, caller(*customers, roles=("finance",)), query)
        if expected == "BAD_USER_INPUT":
            assert result.codes == [expected], (query, customers, result.errors)
            assert "several customers match; pass customerId" in result.errors[0]["message"]
        else:
            assert result.errors == [], (query, customers, result.errors)
            assert result.data == {field: {id_field: expected}}, (query, customers)


async def _all_pages(
    db: AsyncDatabase[Doc], field: str, args: str, size: int, *, backwards: bool = False
) -> list[str]:
    """Every id of a connection, page by page (forwards, or backwards from the end), in
    the connection's order; checks the page flags on the way."""
    size_arg, cursor_arg, next_cursor, more = (
        ("last", "before", "startCursor", "hasPreviousPage")
        if backwards
        else ("first", "after", "endCursor", "hasNextPage")
    )
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = await run(
            SCHEMA,
            db,
            FINANCE,
            f"query($c: String) {{ {field}({args} {size_arg}: {size}, {cursor_arg}: $c) {{"
            " edges { cursor node { id } }"
            " pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount } }",
            {"c": cursor},
        )
        assert page.errors == []
        conn = page.data[field]
        found = numbers(e["node"] for e in conn["edges"])
        ids = found + ids if backwards else ids + found
        other_side = "hasNextPage" if backwards else "hasPreviousPage"
        assert conn["pageInfo"][other_side] is (cursor is not None)
        if not conn["pageInfo"][more]:
            return ids
        cursor = conn["pageInfo"][next_cursor]


async def test_pages_are_stable_with_ties_and_missing_sort_values(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    same_time = [order(f"SO-{n:02}", "ACME", reference=f"P{n}", ordered_at=T0) for n in range(7)]
    later = [
        order(f"SO-L{n}", "ACME", reference=f"L{n}", ordered_at=T0 + timedelta(days=n))
        for n in (1, 2)
    ]
    no_time = order("SO-NULL", "ACME", reference="PN")
    del no_time["orderedAt"]
    await World([*same_time, *later, no_time]).insert(mongo_db)

    newest_first = await _all_pages(mongo_db, "orders", "", 3)
    assert newest_first == [
        "SO-L2",
        "SO-L1",
        *[f"SO-{n:02}" for n in reversed(range(7))],
        "SO-NULL",
    ]
    oldest_first = await _all_pages(mongo_db, "orders", "sort: ORDERED_AT_ASC,", 4)
    assert oldest_first == list(reversed(newest_first))
    assert await _all_pages(mongo_db, "orders", "", 2, backwards=True) == newest_first
    backwards = await _all_pages(mongo_db, "orders", "sort: ORDERED_AT_ASC,", 4, backwards=True)
    assert backwards == oldest_first


FIRST_THREE_ORDERS = "{ orders(first: 3) { totalCount nodes { id } pageInfo { hasNextPage } } }"


async def test_total_count_and_last_page(db: AsyncDatabase[Doc]) -> None:
    result = await run(SCHEMA, db, ACME, FIRST_THREE_ORDERS)
    assert result.data["orders"] == {
        "totalCount": 4,  # SO-9 is not known yet
        "nodes": [{"id": encode("orders", n)} for n in ("SO-4", "SO-3", "SO-2")],
        "pageInfo": {"hasNextPage": True},
    }


async def _filtered(
    db: AsyncDatabase[Doc],
    connection: str,
    filter_: str,
    reader: Caller = ACME,
    fields: str = "id",
) -> list[str]:
    """The numbers of the ``connection`` nodes ``reader`` reads under ``filter_``, read
    without errors (``fields`` are selected with the nodes)."""
    result = await run(
        SCHEMA, db, reader, f"{{ {connection}(filter: {filter_}) {{ nodes {{ {fields} }} }} }}"
    )
    assert result.errors == []
    return numbers(result.data[connection]["nodes"])


@pytest.mark.parametrize(
    ("connection", "filter_", "expected"),
    [
        ("orders", "{statuses: [CANCELLED]}", ["SO-2"]),
        ("orders", "{statuses: [SHIPPED]}", ["SO-3"]),
        ("orders", "{statuses: [OPEN]}", ["SO-4"]),
        ("orders", "{statuses: [IN_FULFILLMENT, SHIPPED]}", ["SO-3", "SO-1"]),
        ("orders", "{statuses: []}", []),
        ("orders", "{fulfillmentStages: [LOADED]}", ["SO-1"]),
        ("orders", '{warehouseId: "DC-RNO"}', ["SO-4"]),
        (
            "orders",
            '{orderedAt: {from: "2026-11-02T09:00:00Z", to: "2026-11-02T11:00:00Z"}}',
            ["SO-3", "SO-2"],
        ),
        # bounds finer than the stored milliseconds: SO-1 was placed at 08:00:00.000
        ("orders", '{orderedAt: {from: "2026-11-02T08:00:00.0005Z"}}', ["SO-4", "SO-3", "SO-2"]),
        ("orders", '{orderedAt: {to: "2026-11-02T09:00:00.000001+01:00"}}', ["SO-1"]),
        ("orders", "{orderType: RETURN}", []),
        ("orders", '{customerId: "ACME"}', ["SO-4", "SO-3", "SO-2", "SO-1"]),
        ("shipments", "{statuses: [DELIVERED]}", ["SH-2"]),
        ("shipments", '{carrierScac: "odfl"}', ["SH-1"]),
        ("shipments", '{destinationCity: "chicago"}', ["SH-1"]),
        ("shipments", '{destinationCity: "chi"}', []),
        ("shipments", '{destinationCountryCode: "us"}', ["SH-2", "SH-1"]),
        ("shipments", '{plannedPickupAt: {from: "2026-11-03T00:00:00Z"}}', ["SH-2"]),
    ],
)
async def test_filters(
    db: AsyncDatabase[Doc], connection: str, filter_: str, expected: list[str]
) -> None:
    assert await _filtered(db, connection, filter_) == expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ("[OVERDUE]", ["IN-1"]),
        ("[OPEN]", ["IN-2"]),
        ("[PAID]", ["IN-3"]),
        ("[OPEN, OVERDUE]", ["IN-2", "IN-1"]),
    ],
)
async def test_invoice_status_filter_derives_overdue_from_today(
    db: AsyncDatabase[Doc], statuses: str, expected: list[str]
) -> None:
    filter_ = f"{{statuses: {statuses}}}"
    assert await _filtered(db, "invoices", filter_, FINANCE, "id status") == expected


PAGE_OF_0 = """query($after: String, $before: String, $first: Int, $last: Int) {
  %s(first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor } nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def _page_of_0(
    db: AsyncDatabase[Doc],
    field: str = "orders",
    reader: Caller = ACME,
    policy: Policy | None = None,
    **paging: Any,
) -> tuple[int, bool, bool]:
    """``totalCount``, ``hasNextPage``, ``hasPreviousPage`` of a page of 0 items (``paging``:
    ``first``/``after`` or ``last``/``before``), checked to have no items and no cursors."""
    result = await run(SCHEMA, db, reader, PAGE_OF_0 % field, paging, policy=policy)
    assert result.errors == []
    conn = result.data[field]
    assert (conn["edges"], conn["nodes"]) == ([], [])
    info = conn["pageInfo"]
    assert (info["startCursor"], info["endCursor"]) == (None, None)
    return conn["totalCount"], info["hasNextPage"], info["hasPreviousPage"]


async def test_a_page_of_0_items_has_the_count_and_where_it_sits(db: AsyncDatabase[Doc]) -> None:
    """Relay allows ``first: 0`` and ``last: 0``: no items, null cursors, the count, and
    whether an item lies ahead in the reading direction (the other flag: was a cursor
    given, as on any page)."""
    page = await run(SCHEMA, db, ACME, "{ orders(first: 4) { edges { cursor } } }")
    cursors = [edge["cursor"] for edge in page.data["orders"]["edges"]]  # SO-4 .. SO-1
    assert await _page_of_0(db, first=0) == (4, True, False)
    assert await _page_of_0(db, first=0, after=cursors[1]) == (4, True, True)
    assert await _page_of_0(db, first=0, after=cursors[-1]) == (4, False, True)
    assert await _page_of_0(db, last=0) == (4, False, True)
    assert await _page_of_0(db, last=0, before=cursors[1]) == (4, True, True)
    assert await _page_of_0(db, last=0, before=cursors[0]) == (4, True, False)
    assert await _page_of_0(db, "shipments", first=0) == (2, True, False)
    assert await _page_of_0(db, "invoices", FINANCE, last=0) == (3, False, True)


async def test_a_page_of_0_of_an_empty_list_has_nothing_ahead(db: AsyncDatabase[Doc]) -> None:
    query = "{ orders(filter: {statuses: []}, first: 0) { totalCount pageInfo { hasNextPage } } }"
    result = await run(SCHEMA, db, ACME, query)
    assert result.data == {"orders": {"totalCount": 0, "pageInfo": {"hasNextPage": False}}}
    search = '{ searchShipments(text: "Denver", first: 0) { totalCount nodes { id } } }'
    found = await run(SCHEMA, db, ACME, search)
    assert found.data == {"searchShipments": {"totalCount": 1, "nodes": []}}


async def test_a_page_of_0_sees_an_item_ahead_only_where_warehouse_limits_let_it_through(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """Shipments of a warehouse-limited customer: a stored shipment is not yet an item
    ahead, only one from an allowed warehouse. Here the one visible shipment comes last in
    the list's order, after 150 from another warehouse; the count and both ends agree."""
    orders = [order("SO-ATL", "ACME", reference="PO-ATL", ordered_at=T0)]
    shipments = [shipment("SH-ATL", "ACME", order_ids=["SO-ATL"], tracking="T-ATL")]
    for n in range(150):
        orders.append(order(f"SO-R{n}", "ACME", reference=f"PO-R{n}", warehouse="DC-RNO"))
        later = T0 + timedelta(hours=n + 1)
        shipments.append(
            shipment(
                f"SH-R{n}",
                "ACME",
                order_ids=[f"SO-R{n}"],
                tracking=f"T-R{n}",
                planned_pickup_at=later,
            )
        )
    await World(orders, shipments).link(summary_extra=True).insert(mongo_db)

    def limited_to(warehouse: str) -> Policy:
        return Policy(customers={"ACME": CustomerRule(allowed_warehouses=frozenset({warehouse}))})

    atl, sea = limited_to("DC-ATL"), limited_to("DC-SEA")
    assert await _page_of_0(mongo_db, "shipments", policy=atl, first=0) == (1, True, False)
    assert await _page_of_0(mongo_db, "shipments", policy=atl, last=0) == (1, False, True)
    assert await _page_of_0(mongo_db, "shipments", policy=sea, first=0) == (0, False, False)


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("{ orders(first: 101) { nodes { id } } }", "first must be between 0 and 100, got 101"),
        ("{ orders(first: -1) { totalCount } }", "first must be between 0 and 100, got -1"),
        ("{ shipments(last: -1) { totalCount } }", "last must be between 0 and 100, got -1"),
        ('{ orders(after: "not-a-cursor") { nodes { id } } }', "after"),
        (
            '{ orders(filter: {orderedAt: {from: "2026-11-02T09:00:00"}}) { nodes { id } } }',
            "UTC offset",
        ),
        ('{ searchShipments(text: " a ") { nodes { id } } }', "text"),
    ],
)
async def test_bad_arguments_are_bad_user_input(
    db: AsyncDatabase[Doc], query: str, needle: str
) -> None:
    result = await run(SCHEMA, db, ACME, query)
    assert result.codes == ["BAD_USER_INPUT"]
    assert needle in result.errors[0]["message"]


async def test_a_cursor_only_fits_the_sort_it_came_from(db: AsyncDatabase[Doc]) -> None:
    first = await run(SCHEMA, db, ACME, "{ orders(first: 1) { pageInfo { endCursor } } }")
    cursor = first.data["orders"]["pageInfo"]["endCursor"]
    other = await run(
        SCHEMA,
        db,
        ACME,
        "query($c: String) { orders(sort: ORDERED_AT_ASC, after: $c) { nodes { id } } }",
        {"c": cursor},
    )
    assert other.codes == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("field", "given", "named"),
    [
        ("order", encode("shipments", "SH-1"), "the id of a Shipment, not of an Order"),
        ("shipment", encode("orders", "SO-1"), "the id of an Order, not of a Shipment"),
        ("invoice", encode("orders", "SO-1"), "the id of an Order, not of an Invoice"),
    ],
)
async def test_a_global_id_of_another_type_is_refused_saying_where_it_goes(
    db: AsyncDatabase[Doc], field: str, given: str, named: str
) -> None:
    """A shipment's id pasted into ``order(id:)`` names no order: a bare null read as "no
    such order"; the refusal says whose id it is and which field takes it."""
    result = await run(SCHEMA, db, FINANCE, f'{{ {field}(id: "{given}") {{ id }} }}')
    assert result.data == {field: None}
    assert result.codes == ["BAD_USER_INPUT"]
    assert named in result.errors[0]["message"]
    assert given in result.errors[0]["message"]


async def test_anonymous_callers_get_unauthenticated(db: AsyncDatabase[Doc]) -> None:
    result = await run(SCHEMA, db, None, '{ order(id: "SO-1") { id } orders { nodes { id } } }')
    assert result.data is None or result.data.get("order") is None
    assert set(result.codes) == {"UNAUTHENTICATED"}


VIEWER = "{ viewer { subject customers roles isSupport canReadInvoices canSeeAmounts } }"


async def test_viewer(db: AsyncDatabase[Doc]) -> None:
    result = await run(SCHEMA, db, FINANCE, VIEWER)
    assert result.data["viewer"] == {
        "subject": "alice",
        "customers": ["ACME"],
        "roles": ["finance"],
        "isSupport": False,
        "canReadInvoices": True,
        "canSeeAmounts": True,
    }


ORDER_INVOICES_AND_SHIPMENTS = (
    '{ order(id: "SO-1") { id invoices { id } shipments { id } } invoices { nodes { id } } }'
)


async def test_invoices_are_forbidden_without_the_role_but_the_rest_of_the_order_is_served(
    db: AsyncDatabase[Doc],
) -> None:
    result = await run(SCHEMA, db, ACME, ORDER_INVOICES_AND_SHIPMENTS)
    assert result.data["order"] == {
        "id": encode("orders", "SO-1"),
        "invoices": None,
        "shipments": [{"id": encode("shipments", "SH-1")}],
    }
    assert sorted(result.codes) == ["FORBIDDEN", "FORBIDDEN"]
    single = await run(SCHEMA, db, ACME, '{ invoice(id: "IN-1") { id } }')
    assert single.codes == ["FORBIDDEN"]


async def test_amounts_are_hidden_everywhere_for_roles_without_them(db: AsyncDatabase[Doc]) -> None:
    policy = Policy(
        invoice_roles=frozenset({"finance", "viewer"}), amount_roles=frozenset({"finance"})
    )
    query = """{
      invoice(id: "IN-1") {
        invoiceNumber status subtotal { amount } tax { amount } total { amount }
        balance { amount } amountPaid { amount } lines { description amount { amount } } }
      order(id: "SO-1") { invoices { invoiceNumber status total { amount } balance { amount } } }
      shipment(id: "SH-1") { invoices { total { amount } } }
    }"""
    hidden = await run(SCHEMA, db, ACME, query, policy=policy)
    assert hidden.errors == []
    assert hidden.data["invoice"] == {
        "invoiceNumber": "INV-1",
        "status": "OVERDUE",
        "subtotal": None,
        "tax": None,
        "total": None,
        "balance": None,
        "amountPaid": None,
        "lines": [{"description": "Freight", "amount": None}],
    }
    assert hidden.data["order"]["invoices"] == [
        {"invoiceNumber": "INV-1", "status": "OVERDUE", "total": None, "balance": None}
    ]
    assert hidden.data["shipment"]["invoices"] == [{"total": None}]
    shown = await run(SCHEMA, db, FINANCE, query, policy=policy)
    assert shown.data["order"]["invoices"][0]["total"] == {"amount": "1150.00"}
    assert shown.data["invoice"]["lines"][0]["amount"] == {"amount": "1000.00"}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1z999aa10123456784", "SH-1"),  # typed on a phone
        ("1Z 999 AA1 01 2345 6784", "SH-1"),  # as the label prints it
        (" 1z-999-aa1-0123-4567-84\t", "SH-1"),
        (" pro-555 ", "SH-2"),  # a number stored with a dash, typed with it
        ("1Z999AA1", None),  # a lookup is of a whole number (search finds parts)
    ],
)
async def test_a_tracking_number_is_found_however_a_person_types_it(
    db: AsyncDatabase[Doc], typed: str, expected: str | None
) -> None:
    """A mobile app's "track a parcel" box: people type the number off the label, in its
    groups, in lower case, with a stray space; the TMS sent it upper case and whole."""
    result = await run(
        SCHEMA,
        db,
        ACME,
        "query($t: String!) { shipmentByTrackingNumber(trackingNumber: $t) { shipmentId } }",
        {"t": typed},
    )
    assert result.errors == []
    found = result.data["shipmentByTrackingNumber"]
    assert (found and found["shipmentId"]) == expected


async def _searched(db: AsyncDatabase[Doc], text: str) -> list[str]:
    """The shipment numbers ACME's search for ``text`` finds, in the order of its page."""
    result = await run(
        SCHEMA,
        db,
        ACME,
        "query($t: String!) { searchShipments(text: $t) { nodes { id } } }",
        {"t": text},
    )
    assert result.errors == []
    return numbers(result.data["searchShipments"]["nodes"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aa1012", ["SH-1"]),  # part of a tracking number, any case
        ("pro-5", ["SH-2"]),
        ("SH-2", ["SH-2"]),  # shipment id
        ("so-3", ["SH-2"]),  # order id
        ("PO-1", ["SH-1"]),  # the customer's reference, via the order
        ("zenith", ["SH-1"]),  # the consignee's name, via the order
        ("denv", ["SH-2"]),  # destination city
        ("PO.1", []),  # a regex character is just a character
        ("SH-", ["SH-2", "SH-1"]),
    ],
)
async def test_search(db: AsyncDatabase[Doc], text: str, expected: list[str]) -> None:
    assert await _searched(db, text) == expected


@pytest.mark.parametrize("by_keys", [True, False], ids=["search documents", "pattern"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1z 999 aa1 0123 4567 84", ["SH-1"]),  # a tracking number as a label prints it
        ("1Z-999-AA1", ["SH-1"]),
        ("1Z\u00a0999\u2013AA1", ["SH-1"]),  # a no-break space and an en dash, pasted
        ("1Z 9", ["SH-1"]),
        ("1 Z", ["SH-1"]),  # fewer than 3 characters without its space: by the pattern
        ("Zenith Retail", ["SH-1"]),  # a space that is part of the value still matches
        ("PRO 555", ["SH-2"]),  # the value's separators are optional too (session 22)
    ],
)
async def test_search_ignores_the_spaces_and_dashes_in_a_number(
    db: AsyncDatabase[Doc], text: str, expected: list[str], by_keys: bool
) -> None:
    """Support staff paste a tracking number as the customer read it off a label or an
    e-mail, in groups; the TMS sent it without spaces, or with a dash. Both ways of
    searching (the search documents, and the pattern a generation not yet filled is
    searched by) find it."""
    if not by_keys:
        await db[documents.SEARCH_KEYS].delete_one({"_id": COMPLETE_MARKER})
    assert await _searched(db, text) == expected


async def test_search_narrowed_by_status(db: AsyncDatabase[Doc]) -> None:
    result = await run(
        SCHEMA, db, ACME, '{ searchShipments(text: "SH-", statuses: [DELIVERED]) { nodes { id } } }'
    )
    assert numbers(result.data["searchShipments"]["nodes"]) == ["SH-2"]


async def test_data_freshness_reports_staleness_and_declared_maintenance(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    now = datetime.now(UTC)
    await mongo_db[documents.SOURCES].insert_many(
        [
            {
                "_id": "erp/s4-prod",
                "lastEventAt": now - timedelta(minutes=20),
                "lastAppliedAt": now - timedelta(minutes=10),
                "declared": {
                    "status": "MAINTENANCE",
                    "message": "Upgrade",
                    "expectedBackAt": now + timedelta(hours=1),
                    "changedAt": now - timedelta(minutes=30),
                },
            },
            {
                "_id": "tms/us-road",
                "lastEventAt": now - timedelta(seconds=5),
                "lastAppliedAt": now - timedelta(seconds=1),
            },
        ]
    )
    result = await run(
        SCHEMA,
        mongo_db,
        ACME,
        "{ dataFreshness { source status message expectedBackAt lagSeconds stale lastAppliedAt } }",
    )
    assert result.errors == []
    erp, tms = result.data["dataFreshness"]
    assert (erp["source"], erp["status"], erp["message"], erp["stale"]) == (
        "erp/s4-prod",
        "MAINTENANCE",
        "Upgrade",
        True,
    )
    assert 1190 < erp["lagSeconds"] < 1300
    assert (tms["source"], tms["status"], tms["stale"]) == ("tms/us-road", "AVAILABLE", False)


async def test_reads_follow_the_read_pointer_to_the_active_generation(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    await World([order("OLD-1", "ACME", reference="P")]).insert(mongo_db)
    await World([order("NEW-1", "ACME", reference="P")]).insert(mongo_db, suffix="g2")
    query = '{ orders { nodes { orderId } } orderByReference(customerReference: "P") { orderId } }'
    before = await run(SCHEMA, mongo_db, ACME, query)
    assert before.data == {
        "orders": {"nodes": [{"orderId": "OLD-1"}]},
        "orderByReference": {"orderId": "OLD-1"},
    }
    await mongo_db[documents.READ_POINTER].insert_one({"_id": "active", "suffix": "g2"})
    after = await run(SCHEMA, mongo_db, ACME, query)
    assert after.data == {
        "orders": {"nodes": [{"orderId": "NEW-1"}]},
        "orderByReference": {"orderId": "NEW-1"},
    }


async def test_a_process_follows_a_switch_once_its_cached_pointer_has_aged(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """With the process's pointer remembered for one second, requests read the previous
    generation for at most that second after a switch, then the new one."""
    await World([order("OLD-1", "ACME", reference="P")]).insert(mongo_db)
    await World([order("NEW-1", "ACME", reference="P")]).insert(mongo_db, suffix="g2")
    now = [100.0]
    pointer = GenerationPointer(max_age_seconds=1.0, clock=lambda: now[0])
    query = '{ orders { nodes { orderId } } orderByReference(customerReference: "P") { orderId } }'

    async def read() -> tuple[str, str]:
        result = await run(SCHEMA, mongo_db, ACME, query, pointer=pointer)
        assert result.errors == []
        page = result.data["orders"]["nodes"]
        return page[0]["orderId"], result.data["orderByReference"]["orderId"]

    assert await read() == ("OLD-1", "OLD-1")
    await mongo_db[documents.READ_POINTER].insert_one({"_id": "active", "suffix": "g2"})
    now[0] += 0.9
    assert await read() == ("OLD-1", "OLD-1")  # within the second: one generation throughout
    now[0] += 0.1
    assert await read() == ("NEW-1", "NEW-1")


async def test_bookkeeping_fields_never_leave_the_readers(db: AsyncDatabase[Doc]) -> None:
    readers = Readers(db, Policy(), FINANCE, MemoryAudit())
    for kind, entity_id in (("orders", "SO-1"), ("shipments", "SH-1"), ("invoices", "IN-1")):
        doc = await readers.load(kind, entity_id)  # type: ignore[arg-type]
        assert doc is not None
        assert not [k for k in doc if k.startswith("_") and k != "_id"]


def test_embedded_summaries_are_the_projectors_own() -> None:
    o = order("SO-1", "ACME", reference="PO-1", stage="LOADED")
    s = shipment("SH-1", "ACME", order_ids=["SO-1"], tracking="1Z1")
    i = invoice("IN-1", "ACME", number="N-1", order_ids=["SO-1"], shipment_ids=["SH-1"])
    World([o], [s], [i]).link()
    assert o["related"]["shipments"]["SH-1"] == {**summarize("shipments", s), "rev": 2}
    assert o["related"]["invoices"]["IN-1"]["total"] == "1150.00"
    assert s["related"]["orders"]["SO-1"]["customerReference"] == "PO-1"
    assert i["related"]["shipments"]["SH-1"]["trackingNumber"] == "1Z1"
    assert o["fulfillment"]["shipmentIds"] == ["SH-1"]
