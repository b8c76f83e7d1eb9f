"""Windowed pages on the real store: walking a customer's whole list page by page, forwards
and backwards, in every sort order, gives exactly the store's own single sorted query, ties,
missing values, dense clusters and long gaps included, and so does a first page without a
window hint (a new process: probes find one), for lists of every length (the pure property is
in tests/unit/test_paging_windows.py; that page reads and probes are bounded ranges, in
tests/integration/test_query_plans.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from graph.schema import build_schema
from projections.store import ProjectionStore
from readmodel.server import is_ferretdb
from resolvers import readers
from resolvers.paging import INVOICE_SORTS, ORDER_SORTS, SHIPMENT_SORTS
from resolvers.readers import PROCESS_WINDOW_HINTS, Readers
from tests.helpers import caller, own_database
from tests.integration.world_harness import T0, World, invoice, order, run, shipment

Doc = dict[str, Any]
SCHEMA = build_schema()
BIG, OTHER = "WIN", "NEIGHBOUR"
WHO = caller(BIG, roles=("viewer", "finance"))
#: Customers with short lists (by length), for hint-less first pages.
SHORT = {"EMPTY": 0, "SOLE": 1, "FEW": 5, "PAGEFUL": 21}


def _offset(n: int) -> timedelta:
    """Dense runs of equal values, then gaps from minutes to years."""
    if n < 40:
        return timedelta(minutes=n // 4)  # ties: four documents per minute
    if n < 80:
        return timedelta(days=n)
    return timedelta(days=400 * (n - 79))


def _world() -> World:
    world = World()
    for customer, count in ((BIG, 95), (OTHER, 30), *SHORT.items()):
        for n in range(count):
            at = T0 + _offset(n)
            o = order(f"SO-{customer}-{n:03d}", customer, reference=f"PO-{n}", ordered_at=at)
            s = shipment(
                f"SH-{customer}-{n:03d}",
                customer,
                tracking=f"T-{customer}-{n}",
                planned_pickup_at=at,
            )
            i = invoice(
                f"IN-{customer}-{n:03d}",
                customer,
                number=f"I-{n}",
                issued_at=at,
                due_date=(at + timedelta(days=30)).date().isoformat(),
            )
            # missing sort values: nulls sort first ascending, last descending
            _add(world, o, s, i, without_values=n % 9 == 0)
    return world


def _add(world: World, o: Doc, s: Doc, i: Doc, *, without_values: bool) -> None:
    """An order, a shipment and an invoice into ``world``, ``without_values``: with their
    optional sort values missing (an order's time, an ETA of null, an invoice's due date)."""
    if without_values:
        del o["orderedAt"]
        s["eta"] = None
        del i["dueDate"]
    world.orders.append(o)
    world.shipments.append(s)
    world.invoices.append(i)


CONNECTIONS = {
    "orders": (ORDER_SORTS, "orderId"),
    "shipments": (SHIPMENT_SORTS, "shipmentId"),
    "invoices": (INVOICE_SORTS, "invoiceId"),
}
EVERY_SORT = [(c, s) for c, (sorts, _) in CONNECTIONS.items() for s in sorts]


async def _walk(
    db: AsyncDatabase[Doc],
    connection: str,
    sort: str,
    size: int,
    back: bool,
    who: Any = WHO,
    *,
    pages: int | None = None,
) -> list[str]:
    """The ids of ``who``'s list, page after page (at most ``pages`` of them)."""
    ident = CONNECTIONS[connection][1]
    seen: list[str] = []
    cursor = ""
    while True:
        if back:
            args = f"sort: {sort}, last: {size}{cursor}"
            info = "hasPreviousPage startCursor"
        else:
            args = f"sort: {sort}, first: {size}{cursor}"
            info = "hasNextPage endCursor"
        fields = f"edges {{ node {{ {ident} }} }} pageInfo {{ {info} }}"
        query = f"{{ c: {connection}({args}) {{ {fields} }} }}"
        result = await run(SCHEMA, db, who, query)
        assert not result.errors, result.errors
        page = result.data["c"]
        ids = [edge["node"][ident] for edge in page["edges"]]
        seen = ids + seen if back else seen + ids
        more = page["pageInfo"]["hasPreviousPage" if back else "hasNextPage"]
        if pages is not None:
            pages -= 1
        if not more or pages == 0:
            return seen
        assert ids, "a page with nothing on it claims more"
        edge_cursor = page["pageInfo"]["startCursor" if back else "endCursor"]
        cursor = f', {"before" if back else "after"}: "{edge_cursor}"'


async def _sorted_ids(
    db: AsyncDatabase[Doc], connection: str, sort: str, customer: str
) -> list[str]:
    spec = CONNECTIONS[connection][0][sort]
    found = db[connection].find(
        {"customerId": customer, "known": True}, {"_id": 1}, sort=spec.mongo_sort()
    )
    return [doc["_id"] async for doc in found]


def _stored(make_world: Callable[[], World]) -> Any:
    """A module-scoped fixture: a database holding ``make_world()`` with the store's
    indexes, dropped after the module. Its tests only read it (they differ in the process's
    window hints, which each sets), so they share one instead of storing the same world
    again for each of them."""

    @pytest_asyncio.fixture(scope="module")
    async def stored(mongo_client: AsyncMongoClient[Doc]) -> AsyncIterator[AsyncDatabase[Doc]]:
        async with own_database(mongo_client) as db:
            await ProjectionStore(db).ensure_indexes("")
            await make_world().insert(db)
            yield db

    return stored


@pytest.fixture(autouse=True)
def no_window_hints() -> None:
    """Each test starts knowing no window hint, as it did with a database of its own (hints
    are remembered per collection): the databases are shared, the process's hints are not."""
    PROCESS_WINDOW_HINTS.clear()


world_db = _stored(_world)


@pytest.mark.parametrize(("connection", "sort"), EVERY_SORT)
async def test_every_page_in_turn_gives_the_stores_own_order(
    world_db: AsyncDatabase[Doc], connection: str, sort: str
) -> None:
    expected = await _sorted_ids(world_db, connection, sort, BIG)
    assert len(expected) == 95
    for size in (1, 7, 20):
        # twice: the first walk's first page teaches the window hint the second one uses
        for _ in range(2):
            assert await _walk(world_db, connection, sort, size, back=False) == expected
        assert await _walk(world_db, connection, sort, size, back=True) == expected


@pytest.mark.parametrize(("connection", "sort"), EVERY_SORT)
async def test_a_first_page_without_a_hint_is_the_stores_own_first_page(
    world_db: AsyncDatabase[Doc], connection: str, sort: str
) -> None:
    """The first page of a new process (no window hint: probes find one) is what one plain
    sorted query returns, forwards and backwards, for lists of 0, 1, 5, 21, 30 and 95 items
    (ties, nulls, gaps of years); with probes off it is the plain sorted read itself."""
    for customer in (BIG, OTHER, *SHORT):
        who = caller(customer, roles=("viewer", "finance"))
        expected = await _sorted_ids(world_db, connection, sort, customer)
        for size in (1, 7, 20):
            for back in (False, True):
                for probe in (True, False):
                    PROCESS_WINDOW_HINTS.clear()
                    PROCESS_WINDOW_HINTS.probe = probe
                    try:
                        page = await _walk(world_db, connection, sort, size, back, who, pages=1)
                    finally:
                        PROCESS_WINDOW_HINTS.probe = True
                    assert page == (expected[-size:] if back else expected[:size]), (
                        customer,
                        size,
                        back,
                        probe,
                    )


async def test_a_first_page_is_found_by_probes_on_ferretdb_and_read_plainly_on_mongodb(
    world_db: AsyncDatabase[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    """This store is FerretDB: a new process finds the first page by probes. MongoDB reads a
    sorted page in index order, stopping at the page: probes would be round trips for
    nothing, so a first page there is the plain sorted read (same answer either way)."""
    probes: list[Any] = []
    probed_hint = Readers._probed_hint

    async def counted(readers: Readers, *args: Any) -> Any:
        probes.append(args)
        return await probed_hint(readers, *args)

    monkeypatch.setattr(Readers, "_probed_hint", counted)
    expected = (await _sorted_ids(world_db, "orders", "ORDERED_AT_DESC", BIG))[:7]
    PROCESS_WINDOW_HINTS.clear()
    assert await _walk(world_db, "orders", "ORDERED_AT_DESC", 7, False, pages=1) == expected
    on_ferretdb = await is_ferretdb(world_db)
    assert PROCESS_WINDOW_HINTS.store_needs_probes is on_ferretdb
    assert bool(probes) is on_ferretdb

    PROCESS_WINDOW_HINTS.clear()
    probes.clear()
    PROCESS_WINDOW_HINTS.store_needs_probes = False  # what MongoDB's buildInfo tells
    try:
        assert await _walk(world_db, "orders", "ORDERED_AT_DESC", 7, False, pages=1) == expected
    finally:
        PROCESS_WINDOW_HINTS.clear()
    assert probes == []


async def test_a_server_that_refuses_build_info_still_serves_first_pages_by_probes(
    world_db: AsyncDatabase[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which server it is decides only how a first page is found: a server that refuses
    ``buildInfo`` gets probes, which are right on any server, not an error per page."""

    asked: list[Any] = []

    async def refused(db: Any) -> bool:
        asked.append(db)
        raise OperationFailure("command buildInfo is not allowed", code=13)

    monkeypatch.setattr(readers, "is_ferretdb", refused)
    expected = (await _sorted_ids(world_db, "orders", "ORDERED_AT_DESC", BIG))[:7]
    PROCESS_WINDOW_HINTS.clear()
    try:
        assert await _walk(world_db, "orders", "ORDERED_AT_DESC", 7, False, pages=1) == expected
        assert PROCESS_WINDOW_HINTS.store_needs_probes is True and len(asked) == 1
    finally:
        PROCESS_WINDOW_HINTS.clear()


#: A customer whose documents share few sort values: 240 over three, so each value holds
#: more than a page: invoices due on three days in runs of consecutive ids (issued in
#: order), orders placed at three instants with their ids interleaved (a batch import),
#: shipments picked up and due at three hours; a few without a value.
TIED = "TIED"
TIED_COUNT = 240


def _tied_world() -> World:
    world = World()
    for n in range(TIED_COUNT):
        instant = T0 + timedelta(milliseconds=n % 3)
        hour = T0 + timedelta(hours=n // 80)
        o = order(f"SO-{TIED}-{n:04d}", TIED, reference=f"PO-{n}", ordered_at=instant)
        s = shipment(f"SH-{TIED}-{n:04d}", TIED, tracking=f"T-{TIED}-{n}", planned_pickup_at=hour)
        s["eta"] = hour + timedelta(days=2)
        i = invoice(
            f"IN-{TIED}-{n:04d}",
            TIED,
            number=f"I-{n}",
            issued_at=instant,
            due_date=(T0 + timedelta(days=30 + n // 80)).date().isoformat(),
        )
        _add(world, o, s, i, without_values=n % 50 == 7)
    return world


tied_db = _stored(_tied_world)


@pytest.mark.parametrize(("connection", "sort"), EVERY_SORT)
async def test_pages_through_heavily_tied_values_give_the_stores_own_order(
    tied_db: AsyncDatabase[Doc], connection: str, sort: str
) -> None:
    """Pages inside a value that 80 documents share are read in windows of ``_id`` too:
    walking the list forwards (with and without the first page's hint) and backwards gives
    every document exactly once, in the store's own order."""
    who = caller(TIED, roles=("viewer", "finance"))
    expected = await _sorted_ids(tied_db, connection, sort, TIED)
    assert len(expected) == TIED_COUNT
    for size in (7, 20):
        PROCESS_WINDOW_HINTS.clear()
        for _ in range(2):
            assert await _walk(tied_db, connection, sort, size, False, who) == expected
        assert await _walk(tied_db, connection, sort, size, True, who) == expected


async def _end_cursor(db: AsyncDatabase[Doc], connection: str, sort: str, first: int) -> str:
    """The cursor of the ``first``-th item, as pages of up to 50 items issue it, the last one
    ending there (with the widths those pages learned)."""
    assert first > 0
    after = ""
    while first > 0:
        size = min(first, 50)
        page = f"{connection}(sort: {sort}, first: {size}{after})"
        query = f"{{ c: {page} {{ pageInfo {{ endCursor }} }} }}"
        result = await run(SCHEMA, db, caller(TIED, roles=("viewer", "finance")), query)
        assert not result.errors, result.errors
        cursor: str = result.data["c"]["pageInfo"]["endCursor"]
        after = f', after: "{cursor}"'
        first -= size
    return cursor


@pytest.mark.parametrize(
    ("connection", "sort"),
    [(c, s) for c, s in EVERY_SORT if s.startswith(("DUE_DATE", "ORDERED_AT"))],
)
async def test_cursors_at_a_tie_boundary_page_on_both_ways(
    tied_db: AsyncDatabase[Doc], connection: str, sort: str
) -> None:
    """A cursor on the last document of a value, the first of the next, or one either side:
    the page after it and the page before it are the store's own, across the boundary."""
    who = caller(TIED, roles=("viewer", "finance"))
    ident = CONNECTIONS[connection][1]
    spec = CONNECTIONS[connection][0][sort]
    found = tied_db[connection].find(
        {"customerId": TIED, "known": True}, {spec.field: 1}, sort=spec.mongo_sort()
    )
    ordered = [(doc["_id"], doc.get(spec.field)) async for doc in found]
    expected = [doc_id for doc_id, _ in ordered]
    boundaries = [n for n in range(1, len(ordered)) if ordered[n][1] != ordered[n - 1][1]]
    assert len(boundaries) >= 3
    for boundary in boundaries:
        for at in (boundary - 1, boundary, boundary + 1):  # the cursor's item: expected[at - 1]
            cursor = await _end_cursor(tied_db, connection, sort, at)
            for args, want in (
                (f'first: 7, after: "{cursor}"', expected[at : at + 7]),
                (f'last: 7, before: "{cursor}"', expected[max(0, at - 8) : at - 1]),
            ):
                page = f"{connection}(sort: {sort}, {args})"
                query = f"{{ c: {page} {{ edges {{ node {{ {ident} }} }} }} }}"
                result = await run(SCHEMA, tied_db, who, query)
                assert not result.errors, result.errors
                ids = [edge["node"][ident] for edge in result.data["c"]["edges"]]
                assert ids == want, (boundary, at, args)
