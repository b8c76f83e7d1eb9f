"""Every hot read the API sends is served by an index, and a customer's sorted page by the
``(customerId, <sort field>, _id)`` index of its sort order, never a table scan: checked with
the store's own ``explain`` of the queries the readers really sent, captured from the driver.

DocumentDB sorts whatever the index scan matched before the limit applies (docs/store.md),
so a page must not match the customer's whole list: once a page has taught the readers a
window width, every page read is bounded by a range of its sort field in the index
condition itself (``resolvers/paging_windows.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.caller import Caller
from entitlements.policy import CustomerRule, Policy
from graph.schema import build_schema
from projections.effects import NamingRead
from projections.store import ProjectionStore
from readmodel import documents
from readmodel.documents import EntityKind
from readmodel.links import naming_field, naming_scans
from readmodel.search_keys import MARKERS
from resolvers.readers import PROCESS_WINDOW_HINTS
from tests.helpers import CommandRecorder, Stack, caller
from tests.integration.world_harness import T0, World, invoice, order, run, shipment

Doc = dict[str, Any]
SCHEMA = build_schema()
CUSTOMERS = [f"C{n:02d}" for n in range(12)]
PER_CUSTOMER = 300
BIG = CUSTOMERS[0]
ONE = caller(BIG, roles=("viewer", "finance"))
SEVERAL = caller(*CUSTOMERS[:3], roles=("viewer", "finance"))
#: Each test of a customer's reads runs for a caller of one customer and of several.
EACH_CALLER = pytest.mark.parametrize(
    "caller_", [ONE, SEVERAL], ids=["one customer", "several customers"]
)
FINDS = ("find", "aggregate", "count")
#: A customer whose invoices are all due on one day and issued at one instant: a value with
#: ten pages of ties.
TIED = "CTIED"
TIED_COUNT = 200


#: An order marked as having more shipments than it embeds summaries of.
OVERFLOWING = f"SO-{BIG}-0043"


def _world() -> World:
    """Documents as the projector writes them."""
    world = World()
    for c in CUSTOMERS:
        for n in range(PER_CUSTOMER):
            at = T0 + timedelta(hours=n)
            world.orders.append(order(f"SO-{c}-{n:04d}", c, reference=f"PO-{c}-{n}", ordered_at=at))
            world.shipments.append(
                shipment(
                    f"SH-{c}-{n:04d}",
                    c,
                    order_ids=[f"SO-{c}-{n:04d}"],
                    tracking=f"TR-{c}-{n:04d}",
                    planned_pickup_at=at,
                )
            )
            world.invoices.append(
                invoice(
                    f"IN-{c}-{n:04d}",
                    c,
                    number=f"INV-{c}-{n}",
                    order_ids=[f"SO-{c}-{n:04d}"],
                    issued_at=at,
                    due_date=(at + timedelta(days=30)).date().isoformat(),
                )
            )
    for n in range(TIED_COUNT):
        world.invoices.append(
            invoice(f"IN-{TIED}-{n:04d}", TIED, number=f"INV-{TIED}-{n}", due_date="2026-12-01")
        )
    linked = world.link(summary_extra=True)
    for doc in linked.orders:  # one order overflowing with shipments: they are read by query
        if doc["_id"] == OVERFLOWING:
            doc[documents.RELATED_OVERFLOW] = {"shipments": True}
    return linked


@pytest_asyncio.fixture(scope="module")
async def recorded(stack: Stack) -> AsyncIterator[tuple[AsyncDatabase[Doc], CommandRecorder]]:
    recorder = CommandRecorder()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        stack.mongodb_uri, tz_aware=True, event_listeners=[recorder]
    )
    name = f"test_plans_{id(recorder)}"
    db = client[name]
    store = ProjectionStore(db)
    await store.ensure_collections("")
    await store.ensure_indexes("")
    await _world().insert(db)
    # PostgreSQL plans with table statistics; the stack's autovacuum gathers them within
    # seconds of a bulk load (and a production MongoDB needs none).
    await asyncio.sleep(3)
    yield db, recorder
    if not os.environ.get("KEEP_PLAN_DB"):
        await client.drop_database(name)
    await client.close()


def _plan_of(explained: Doc) -> str:
    return json.dumps(explained.get("queryPlanner", explained), default=str)


async def _explain(db: AsyncDatabase[Doc], command: Doc) -> str:
    name = next(iter(command))
    body = {k: v for k, v in command.items() if k not in ("lsid", "$db", "$readPreference")}
    body.pop("batchSize", None)
    explained = await db.command("explain", body, verbosity="queryPlanner")
    assert name in FINDS
    return _plan_of(explained)


async def _plans(
    db: AsyncDatabase[Doc],
    recorder: CommandRecorder,
    query: str,
    who: Any,
    policy: Policy | None = None,
) -> list[str]:
    recorder.forget()
    result = await run(SCHEMA, db, who, query, policy=policy)
    assert not result.errors, result.errors
    commands = [
        c for c in recorder.commands(*FINDS) if c.get("find") != "read_pointer" and not _marker(c)
    ]
    assert commands, "the query sent no read"
    return [await _explain(db, command) for command in commands]


def _marker(command: Doc) -> bool:
    """Whether ``command`` reads a generation's marker (``search_keys.MARKERS``): once per
    process, by ``_id``."""
    return command.get("filter", {}).get("_id") in MARKERS


def _summary(plan: str) -> list[str]:
    """Node types and index names, in plan order: what an assertion message needs."""
    return re.findall(r'"(?:Node Type|Index Name|stage|indexName)": "([^"]+)"', plan)


def _index_conditions(plan: str) -> list[str]:
    return re.findall(r'"Index Cond": "([^"]+)"', plan)


def _bounded_by_a_range(plan: str) -> bool:
    """Whether an index condition bounds the sort field besides the customer's equality (a
    range, DocumentDB's ``@>``, ``@<=`` ..., or the nulls' equality): the scan, and so the
    sort, covers a window, not the customer's whole list."""
    if '"Node Type"' not in plan:
        return True  # MongoDB reads in index order and stops at the limit
    return any(cond.count("OPERATOR(") >= 2 for cond in _index_conditions(plan))


def _indexed(plan: str) -> bool:
    if '"Node Type"' in plan:  # DocumentDB: PostgreSQL's plan
        return "Index" in plan and "Seq Scan" not in plan
    return "IXSCAN" in plan or "IDHACK" in plan or "EXPRESS" in plan  # MongoDB


#: The index each page's sort order is read through (``documents.INDEXES``).
SORT_INDEX = {
    "ORDERED_AT": "customer_ordered",
    "PLANNED_PICKUP_AT": "customer_planned",
    "ETA": "customer_eta",
    "ISSUED_AT": "customer_issued",
    "DUE_DATE": "customer_due",
}


def _sort_index_of(page: str) -> str:
    sort = page.split()[1].rsplit("_", 1)[0]
    return SORT_INDEX[sort]


def _assert_a_window_of_its_sort_index(plan: str, page: str, context: object) -> None:
    """The read is an index scan of ``page``'s sort index bounded by a range of the sort
    field: a window of the customer's list in the page's order, not the whole list.
    ``context`` (the page, the query) goes in the failure message."""
    summary = _summary(plan)
    assert _indexed(plan) and _sort_index_of(page) in summary, (context, summary)
    assert _bounded_by_a_range(plan), (context, _index_conditions(plan))


#: The index a lookup by a business key must go through: its key's own, not a customer's
#: sort index (which would scan the customer's whole list for one key: 230-360 ms for a
#: tracking number of a 100,000-shipment customer, against 2 ms through its index).
KEY_INDEX = {
    "tracking number": "tracking_key",
    "tracking number as a label prints it": "tracking_key",
    "order reference": "customer_reference",
    "invoice number": "invoice_number",
    "tracking number of a customer": "tracking_key",
    "order reference of a customer": "customer_reference",
    "invoice number of a customer": "invoice_number",
}

LOOKUPS = {
    "tracking number": f'{{ shipmentByTrackingNumber(trackingNumber: "TR-{BIG}-0042") {{ id }} }}',
    "tracking number as a label prints it": (
        f'{{ shipmentByTrackingNumber(trackingNumber: "tr {BIG.lower()} 0042") {{ id }} }}'
    ),
    "order reference": f'{{ orderByReference(customerReference: "PO-{BIG}-42") {{ id }} }}',
    "invoice number": f'{{ invoiceByNumber(invoiceNumber: "INV-{BIG}-42") {{ id }} }}',
    "tracking number of a customer": (
        f'{{ shipmentByTrackingNumber(trackingNumber: "TR-{BIG}-0042", customerId: "{BIG}") '
        "{ id } }"
    ),
    "order reference of a customer": (
        f'{{ orderByReference(customerReference: "PO-{BIG}-42", customerId: "{BIG}") {{ id }} }}'
    ),
    "invoice number of a customer": (
        f'{{ invoiceByNumber(invoiceNumber: "INV-{BIG}-42", customerId: "{BIG}") {{ id }} }}'
    ),
    "order by id": f'{{ order(id: "SO-{BIG}-0042") {{ id }} }}',
    "related shipments": f'{{ order(id: "SO-{BIG}-0042") {{ shipments {{ id status }} }} }}',
}

PAGES = {
    **{
        f"orders {s}": f"orders(sort: {s}, first: 20)"
        for s in ("ORDERED_AT_DESC", "ORDERED_AT_ASC")
    },
    **{
        f"shipments {s}": f"shipments(sort: {s}, first: 20)"
        for s in ("PLANNED_PICKUP_AT_DESC", "PLANNED_PICKUP_AT_ASC", "ETA_DESC", "ETA_ASC")
    },
    **{
        f"invoices {s}": f"invoices(sort: {s}, first: 20)"
        for s in ("ISSUED_AT_DESC", "ISSUED_AT_ASC", "DUE_DATE_DESC", "DUE_DATE_ASC")
    },
}


@pytest.mark.parametrize("name", sorted(LOOKUPS))
@EACH_CALLER
async def test_lookups_use_an_index(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder], name: str, caller_: Caller
) -> None:
    """Every lookup is an index scan, and a lookup by a business key one of its key's own
    index (``KEY_INDEX``): its read of the newest match and, for a caller of several
    customers naming none, its read of another customer's match (one naming a customer reads
    only that customer's)."""
    db, recorder = recorded
    plans = await _plans(db, recorder, LOOKUPS[name], caller_)
    if name.endswith("of a customer"):
        assert len(plans) == 1, (name, [_summary(plan) for plan in plans])
    elif name in KEY_INDEX:
        # one read of the newest match through the key's index, however many customers the
        # caller has; a caller of several also reads for another customer's match
        wanted = 2 if caller_ is SEVERAL and not name.startswith("tracking number") else 1
        assert len(plans) == wanted, (name, [_summary(plan) for plan in plans])
    for plan in plans:
        assert _indexed(plan), (name, _summary(plan))
        if name in KEY_INDEX:
            assert KEY_INDEX[name] in _summary(plan), (name, _summary(plan))


@pytest.mark.parametrize("limited", [False, True], ids=["anyone", "warehouse-limited"])
@EACH_CALLER
async def test_an_overflowing_orders_shipments_are_read_through_the_index_of_their_order_ids(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder], caller_: Caller, limited: bool
) -> None:
    """The shipments of an order overflowing with them are read by the field naming it
    (``links.naming_query``), through its own index, for any caller: not a scan of the
    customer's shipments for the few naming one order."""
    db, recorder = recorded
    policy = Policy(
        customers={BIG: CustomerRule(allowed_warehouses=frozenset({"DC-ATL"}))} if limited else {}
    )
    query = f'{{ order(id: "{OVERFLOWING}") {{ shipments {{ id }} }} }}'
    plans = await _plans(db, recorder, query, caller_, policy)
    assert any("order_ids" in _summary(plan) for plan in plans), [_summary(p) for p in plans]
    for plan in plans:
        assert _indexed(plan), _summary(plan)


@pytest.mark.parametrize(
    ("kind", "customers"),
    [("shipments", None), ("invoices", (BIG,)), ("invoices", tuple(sorted(CUSTOMERS[:2])))],
    ids=["shipments", "invoices", "invoices of two customers"],
)
async def test_the_projectors_read_of_what_names_an_overflowing_order_uses_an_index(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
    kind: EntityKind,
    customers: tuple[str, ...] | None,
) -> None:
    """When an order overflowing for ``kind`` changes, the projector finds every document
    naming it (``ProjectionStore.naming_ids``): shipments through the index of their order
    ids, invoices (no index of that field) through their customers' (the order's, and
    those of other customers' invoices that found no room in it: session 19); never a
    table scan."""
    db, recorder = recorded
    field = naming_field("orders", kind)
    assert field is not None
    assert (customers is not None) == naming_scans("orders", kind)
    read = NamingRead(kind, field, "orders", customers, (OVERFLOWING,))
    recorder.forget()
    found = await ProjectionStore(db).naming_ids("", read)
    assert found == {OVERFLOWING: {f"{kind[:2].upper()}-{OVERFLOWING[3:]}"}}
    commands = [c for c in recorder.commands(*FINDS) if c.get("find") == kind]
    assert len(commands) == 1
    plan = await _explain(db, commands[0])
    assert _indexed(plan), _summary(plan)


@pytest.mark.parametrize("name", sorted(PAGES))
@EACH_CALLER
async def test_customer_pages_are_read_through_their_sort_index(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder], name: str, caller_: Caller
) -> None:
    db, recorder = recorded
    first = await run(
        SCHEMA, db, caller_, f"{{ page: {PAGES[name]} {{ pageInfo {{ endCursor }} }} }}"
    )
    cursor = first.data["page"]["pageInfo"]["endCursor"]
    for query in (
        # the first page read before (above) taught the window hint this one reads with
        f"{{ page: {PAGES[name]} {{ edges {{ node {{ id }} }} }} }}",
        f'{{ page: {PAGES[name][:-1]}, after: "{cursor}") {{ edges {{ node {{ id }} }} }} }}',
    ):
        plans = await _plans(db, recorder, query, caller_)
        page_reads = [p for p in plans if '"Limit"' in p or "LIMIT" in p]
        assert page_reads, (name, plans)
        for plan in page_reads:
            _assert_a_window_of_its_sort_index(plan, name, name)


@pytest.mark.parametrize("name", [name for name in sorted(PAGES) if "orders" not in name])
async def test_a_warehouse_limited_callers_pages_are_read_through_their_sort_index(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder], name: str
) -> None:
    """A warehouse-limited caller's shipments and invoices are decided by the filter (the
    ``warehouseIds`` the projector derives), so their pages are read as anyone's: each read
    a window of the page's sort index, none a read of the whole list to drop in Python."""
    db, recorder = recorded
    limited = Policy(customers={BIG: CustomerRule(allowed_warehouses=frozenset({"DC-ATL"}))})
    first = await run(
        SCHEMA,
        db,
        ONE,
        f"{{ page: {PAGES[name]} {{ pageInfo {{ endCursor }} }} }}",
        policy=limited,
    )
    cursor = first.data["page"]["pageInfo"]["endCursor"]
    assert cursor is not None, first
    for query in (
        f"{{ page: {PAGES[name]} {{ edges {{ node {{ id }} }} }} }}",
        f'{{ page: {PAGES[name][:-1]}, after: "{cursor}") {{ edges {{ node {{ id }} }} }} }}',
    ):
        plans = await _plans(db, recorder, query, ONE, limited)
        reads = [c for c in recorder.commands(*FINDS) if c.get("find") != "read_pointer"]
        assert all(0 < c.get("limit", 0) <= 21 for c in reads), (name, reads)
        for plan in plans:
            _assert_a_window_of_its_sort_index(plan, name, name)


@pytest.mark.parametrize("name", sorted(PAGES))
@EACH_CALLER
async def test_a_page_of_0_reads_a_window_of_its_sort_index(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder], name: str, caller_: Caller
) -> None:
    """``first: 0`` asks whether an item lies ahead: without a cursor in a new process (the
    probes a first page makes, then the read), after a page's cursor, and after the last
    cursor (nothing ahead: the "anything new?" poll), every read is an index scan of the
    sort index bounded by a range of the sort field, and a sorted one sorts about a page,
    not the customer's whole list (an unsorted read over the whole list cost what the list
    holds: 95-110 ms after the last cursor for 72,000 orders)."""
    db, recorder = recorded
    zero = PAGES[name].replace("first: 20", "first: 0")
    ends = {}
    for size in ("first: 20", "last: 1"):
        page = PAGES[name].replace("first: 20", size)
        result = await run(
            SCHEMA, db, caller_, f"{{ page: {page} {{ pageInfo {{ endCursor }} }} }}"
        )
        ends[size] = result.data["page"]["pageInfo"]["endCursor"]
    PROCESS_WINDOW_HINTS.clear()
    for after, ahead in ((None, True), (ends["first: 20"], True), (ends["last: 1"], False)):
        cursor = "" if after is None else f', after: "{after}"'
        query = f"{{ page: {zero[:-1]}{cursor}) {{ pageInfo {{ hasNextPage }} }} }}"
        recorder.forget()
        result = await run(SCHEMA, db, caller_, query)
        assert result.data["page"]["pageInfo"]["hasNextPage"] is ahead, (query, result)
        commands = [c for c in recorder.commands(*FINDS) if c.get("find") != "read_pointer"]
        assert any("sort" in c for c in commands), commands
        for command in commands:
            _assert_a_window_of_its_sort_index(await _explain(db, command), name, query)
            if "sort" in command:
                sorted_by_store = await db[command["find"]].count_documents(command["filter"])
                assert sorted_by_store <= 3 * 21, (query, command["filter"])


def _bounds_sort_value_and_id(plan: str, field: str) -> bool:
    """Whether an index condition bounds both the sort field and ``_id`` (keys as they
    appear in DocumentDB's BSON literals): a window inside one value's ties."""
    if '"Node Type"' not in plan:
        return True  # MongoDB reads in index order and stops at the limit
    key, ident = field.encode().hex(), b"_id\x00".hex()
    return any(key in cond and ident in cond for cond in _index_conditions(plan))


@pytest.mark.parametrize(
    "sort", ["DUE_DATE_DESC", "DUE_DATE_ASC", "ISSUED_AT_DESC", "ISSUED_AT_ASC"]
)
async def test_pages_inside_many_ties_are_windows_of_the_id_too(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder], sort: str
) -> None:
    """200 invoices share one due date (and one issue instant): a window of the sort field
    cannot be narrower than that value, so a page's reads bound the ``_id`` too, in the
    index condition of the sort index, and the store sorts about a page of them, not 200:
    the first page (from the hint the probes found), the next one and the one before it."""
    db, recorder = recorded
    who = caller(TIED, roles=("viewer", "finance"))
    page = f"invoices(sort: {sort}, first: 20)"
    PROCESS_WINDOW_HINTS.clear()
    first = await run(SCHEMA, db, who, f"{{ page: {page} {{ pageInfo {{ endCursor }} }} }}")
    cursor = first.data["page"]["pageInfo"]["endCursor"]
    field = "dueDate" if sort.startswith("DUE") else "issuedAt"
    before = f'invoices(sort: {sort}, last: 20, before: "{cursor}")'
    for query in (
        f"{{ page: {page} {{ edges {{ node {{ id }} }} }} }}",
        f'{{ page: {page[:-1]}, after: "{cursor}") {{ edges {{ node {{ id }} }} }} }}',
        f"{{ page: {before} {{ edges {{ node {{ id }} }} }} }}",
    ):
        recorder.forget()
        result = await run(SCHEMA, db, who, query)
        assert not result.errors and len(result.data["page"]["edges"]) in (19, 20), result
        reads = [c for c in recorder.commands("find") if c["find"] == "invoices" and "sort" in c]
        assert reads, query
        for command in reads[:1]:  # the page's first read holds the page
            plan = await _explain(db, command)
            summary = _summary(plan)
            assert _indexed(plan) and _sort_index_of(f"invoices {sort}") in summary, summary
            assert _bounds_sort_value_and_id(plan, field), _index_conditions(plan)
            sorted_by_store = await db["invoices"].count_documents(command["filter"])
            assert 19 <= sorted_by_store <= 3 * 21, (query, command["filter"])


async def test_a_new_filters_first_page_is_read_in_the_windows_its_unfiltered_list_taught(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """A filter seen for the first time has no hint of its own; its first page borrows the
    one the caller's unfiltered list taught, instead of sorting the whole list, and
    answers what one plain sorted read answers."""
    db, recorder = recorded
    edges = "{ edges { node { orderId } } }"
    at_atlanta = 'filter: {warehouseId: "DC-ATL"}'
    filtered = f"{{ page: orders(sort: ORDERED_AT_DESC, first: 20, {at_atlanta}) {edges} }}"
    PROCESS_WINDOW_HINTS.clear()
    PROCESS_WINDOW_HINTS.probe = False
    try:
        plain = (await run(SCHEMA, db, ONE, filtered)).data["page"]["edges"]
    finally:
        PROCESS_WINDOW_HINTS.probe = True
    PROCESS_WINDOW_HINTS.clear()
    await run(SCHEMA, db, ONE, f"{{ page: orders(sort: ORDERED_AT_DESC, first: 20) {edges} }}")
    recorder.forget()
    windowed = (await run(SCHEMA, db, ONE, filtered)).data["page"]["edges"]
    assert windowed == plain and len(plain) == 20
    reads = [c for c in recorder.commands(*FINDS) if c.get("find") == "orders"]
    assert reads
    for command in reads:
        plan = await _explain(db, command)
        assert _bounded_by_a_range(plan), _index_conditions(plan)


@pytest.mark.parametrize("name", sorted(PAGES))
@EACH_CALLER
async def test_a_first_page_without_a_hint_probes_bounded_ranges_of_its_sort_index(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder], name: str, caller_: Caller
) -> None:
    """A new process has no window hint: the first page finds one by probes, unsorted reads
    of sort values only, each an index scan of the page's sort index bounded by a range of the
    sort field, with no sort in its plan; then the page's own reads are bounded windows."""
    db, recorder = recorded
    PROCESS_WINDOW_HINTS.clear()
    recorder.forget()
    query = f"{{ page: {PAGES[name]} {{ edges {{ node {{ id }} }} }} }}"
    result = await run(SCHEMA, db, caller_, query)
    assert not result.errors and len(result.data["page"]["edges"]) == 20, result
    commands = [c for c in recorder.commands(*FINDS) if c.get("find") != "read_pointer"]
    probes = [c for c in commands if "sort" not in c]
    assert probes and len(probes) < len(commands), (name, commands)
    for command in commands:
        plan = await _explain(db, command)
        _assert_a_window_of_its_sort_index(plan, name, name)
        if command in probes:
            assert "Sort" not in _summary(plan) and "SORT" not in plan, (name, _summary(plan))


async def test_several_customers_page_in_the_order_of_one_query(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """The per-customer reads, merged, give exactly what one ``$in`` query sorted by the store
    gives, ties and all, page after page."""
    db, _ = recorded
    expected = [
        doc["_id"]
        async for doc in db["orders"].find(
            {"known": True, "customerId": {"$in": CUSTOMERS[:3]}},
            {"_id": 1},
            sort=[("orderedAt", -1), ("_id", -1)],
        )
    ]
    seen: list[str] = []
    after = ""
    while True:
        page_info = "pageInfo { hasNextPage endCursor }"
        query = f"{{ orders(first: 100{after}) {{ edges {{ node {{ orderId }} }} {page_info} }} }}"
        page = (await run(SCHEMA, db, SEVERAL, query)).data["orders"]
        seen += [edge["node"]["orderId"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = f', after: "{page["pageInfo"]["endCursor"]}"'
    assert seen == expected


async def test_a_caller_of_several_customers_naming_one_reads_that_customer_alone(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """A page narrowed to one of the caller's customers (``filter: {customerId}``) is read
    for that customer alone: not once per customer of the caller, merged, where the others'
    reads could match nothing."""
    db, recorder = recorded
    named, others = CUSTOMERS[1], {CUSTOMERS[0], CUSTOMERS[2]}
    recorder.forget()
    page = f'orders(filter: {{ customerId: "{named}" }}, first: 20) {{ nodes {{ customerId }} }}'
    result = await run(SCHEMA, db, SEVERAL, f"{{ {page} }}")
    assert not result.errors and len(result.data["orders"]["nodes"]) == 20, result
    assert {node["customerId"] for node in result.data["orders"]["nodes"]} == {named}
    reads = [c for c in recorder.commands(*FINDS) if c.get("find") == "orders"]
    assert reads and not [c for c in reads if others & set(re.findall(r"C\d\d", str(c)))]


async def test_a_page_still_answers_when_its_index_is_missing(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """Documents written by something other than the projector may lack the indexes pages
    name as hints: the answer is the same, only slower."""
    await mongo_db["orders"].insert_many(
        [order(f"SO-{n}", BIG, reference=f"PO-{n}") for n in range(3)]
    )
    result = await run(SCHEMA, mongo_db, ONE, "{ orders(first: 2) { edges { node { orderId } } } }")
    assert not result.errors and len(result.data["orders"]["edges"]) == 2


#: Searches the search documents answer (``readmodel.search_keys``), by who searches.
SEARCHES = {
    "tracking fragment": (ONE, f'searchShipments(text: "TR-{BIG}-004")'),
    "order reference": (ONE, f'searchShipments(text: "PO-{BIG}-42")'),
    "several customers": (SEVERAL, 'searchShipments(text: "-0042")'),
    "support, every customer": (
        caller(BIG, roles=("support",), subject="sam"),
        'searchShipments(text: "-0042", crossCustomer: true)',
    ),
}


@pytest.mark.parametrize("name", sorted(SEARCHES))
async def test_support_search_reads_search_documents_by_their_keys_then_shipments_by_id(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder], name: str
) -> None:
    db, recorder = recorded
    who, search = SEARCHES[name]
    recorder.forget()
    result = await run(SCHEMA, db, who, f"{{ s: {search} {{ nodes {{ shipmentId }} }} }}")
    assert not result.errors and result.data["s"]["nodes"], result
    commands = [c for c in recorder.commands(*FINDS) if c.get("find") != "read_pointer"]
    searched = [c for c in commands if c.get("find") == "search_keys" and "kind" in c["filter"]]
    assert {c["filter"].get("kind") for c in searched} == {"orders", "shipments"}, commands
    for command in searched:
        plan = await _explain(db, command)
        index = "order_ids" if "orderIds" in command["filter"] else "keys"
        assert _indexed(plan) and index in _summary(plan), (name, _summary(plan))
    if name == "order reference":
        assert any("orderIds" in c["filter"] for c in searched), searched
    by_id = [c for c in commands if c.get("find") == "shipments"]
    assert by_id, commands
    for command in by_id:
        plan = await _explain(db, command)
        assert _indexed(plan) and "_id_" in _summary(plan), (name, _summary(plan))


async def test_a_first_page_across_every_customer_is_not_probed(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """Support's search across customers by the pattern (a fragment shorter than a search
    key) pages through shipments with a scope that names no customer: no sort index bounds a
    probe there, so its first page is one plain read, as before probes."""
    db, recorder = recorded
    support = caller(BIG, roles=("support",), subject="sam")
    PROCESS_WINDOW_HINTS.clear()
    recorder.forget()
    query = '{ s: searchShipments(text: "42", crossCustomer: true) { nodes { shipmentId } } }'
    result = await run(SCHEMA, db, support, query)
    assert not result.errors and result.data["s"]["nodes"], result
    pages = [c for c in recorder.commands(*FINDS) if c.get("find") == "shipments"]
    assert pages and all("sort" in c for c in pages), pages
