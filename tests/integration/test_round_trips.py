"""Database round trips depend on the shape of a query, never on how many items it returns.

A PyMongo ``CommandListener`` on a dedicated client counts every command the readers send.
A process's first page of a list also probes for its window hint, once (bounded: the first
test); the other tests count pages of a list the process has read before.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.policy import CustomerRule, Policy
from graph.context import GraphContext
from graph.schema import build_schema
from resolvers.generation import GenerationPointer
from resolvers.paging_windows import PROBE_MAX
from resolvers.readers import PROCESS_WINDOW_HINTS
from tests.global_ids import numbers
from tests.helpers import CommandRecorder, Stack, caller
from tests.integration.world_harness import T0, World, invoice, order, shipment

Doc = dict[str, Any]
SCHEMA = build_schema()
FINANCE = caller("ACME", roles=("finance",))
#: Connection housekeeping, not reads.
HOUSEKEEPING = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo"})


@pytest.fixture
async def counted(
    stack: Stack, mongo_db: AsyncDatabase[Doc]
) -> AsyncIterator[tuple[AsyncDatabase[Doc], CommandRecorder]]:
    """60 orders, each with two shipments (five milestones each) and an invoice."""
    orders, shipments, invoices = [], [], []
    for n in range(60):
        at = T0 + timedelta(minutes=n)
        orders.append(
            order(f"SO-{n:03}", "ACME", reference=f"PO-{n}", ordered_at=at, stage="LOADED")
        )
        ids = [f"SH-{n:03}-{k}" for k in range(2)]
        shipments += [
            shipment(s, "ACME", order_ids=[f"SO-{n:03}"], tracking=f"T{s}", milestones=5)
            for s in ids
        ]
        invoices.append(
            invoice(
                f"IN-{n:03}", "ACME", number=f"N{n}", order_ids=[f"SO-{n:03}"], shipment_ids=ids
            )
        )
    await World(orders, shipments, invoices).link(summary_extra=True).insert(mongo_db)

    counter = CommandRecorder()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        stack.mongodb_uri, tz_aware=True, event_listeners=[counter]
    )
    await client.admin.command("ping")
    yield client[mongo_db.name], counter
    await client.close()


NESTED = """query($first: Int!) {
  orders(first: $first) {
    nodes {
      id customerReference
      shipments {
        id trackingNumber status eta
        milestones { source milestoneId rawCode status occurredAt location { city } }
        orders { id }
      }
      invoices { id invoiceNumber status total { amount currency } balance { amount } }
    }
  }
}"""


async def _execute(
    db: AsyncDatabase[Doc],
    counter: CommandRecorder,
    query: str,
    variables: dict[str, Any],
    pointer: GenerationPointer | None = None,
    *,
    policy: Policy | None = None,
) -> tuple[Any, list[str]]:
    counter.forget()
    context = GraphContext.build(db, policy or Policy(), FINANCE, pointer=pointer)
    result = await SCHEMA.execute(query, variable_values=variables, context_value=context)
    assert result.errors is None, result.errors
    return result.data, counter.names(ignoring=HOUSEKEEPING)


async def test_a_first_page_in_a_new_process_adds_a_bounded_number_of_probes_once(
    counted: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """A process's first page of a list has no window hint yet: probes find one (sort values
    only; ``paging_windows.EdgeSearch``), at most ``PROBE_MAX`` of them, once: the next page,
    of any size, costs what the tests below count."""
    db, counter = counted
    PROCESS_WINDOW_HINTS.clear()
    _, cold = await _execute(db, counter, NESTED, {"first": 5})
    _, warm = await _execute(db, counter, NESTED, {"first": 50})
    assert warm == ["find", "find", "find"]
    assert set(cold) == {"find"} and 3 < len(cold) <= 3 + PROBE_MAX, cold


async def test_a_page_of_5_and_a_page_of_50_cost_the_same_round_trips(
    counted: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    db, counter = counted
    await _execute(db, counter, NESTED, {"first": 5})  # the process has read this list before
    small, small_commands = await _execute(db, counter, NESTED, {"first": 5})
    large, large_commands = await _execute(db, counter, NESTED, {"first": 50})

    assert len(small["orders"]["nodes"]) == 5 and len(large["orders"]["nodes"]) == 50
    shipments = [s for o in large["orders"]["nodes"] for s in o["shipments"]]
    assert len(shipments) == 100 and all(len(s["milestones"]) == 5 for s in shipments)
    assert all(len(o["invoices"]) == 1 for o in large["orders"]["nodes"])
    # read_pointer, the orders page, one $in for the full shipments (milestones); the
    # invoices come from the summaries embedded in the orders.
    assert small_commands == large_commands == ["find", "find", "find"]


async def test_requests_of_one_process_share_the_generation_pointer_read(
    counted: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """A tracking lookup is one round trip once the process has read the pointer (and the
    generation's ``trackingKeys`` marker, read once per process)."""
    db, counter = counted
    pointer = GenerationPointer(max_age_seconds=60)
    lookup = '{ shipmentByTrackingNumber(trackingNumber: "TSH-007-1") { shipmentId status } }'
    first, first_commands = await _execute(db, counter, lookup, {}, pointer)
    again, again_commands = await _execute(db, counter, lookup, {}, pointer)
    assert (
        first
        == again
        == {"shipmentByTrackingNumber": {"shipmentId": "SH-007-1", "status": "IN_TRANSIT"}}
    )
    assert first_commands == ["find", "find", "find"]  # read_pointer, the marker, the lookup
    assert again_commands == ["find"]


async def test_federation_entities_are_loaded_in_one_batch(
    counted: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    db, counter = counted
    reps = [{"__typename": "Shipment", "id": f"SH-{n:03}-0"} for n in range(40)]
    data, commands = await _execute(
        db,
        counter,
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Shipment { id status } } }",
        {"r": reps},
    )
    # Representations by plain shipment number (as before global ids) still resolve.
    assert numbers(data["_entities"]) == [r["id"] for r in reps]
    assert commands == ["find", "find"]  # read_pointer, then one $in for all forty


async def test_summary_fields_of_related_entities_need_no_query_when_summaries_name_the_customer(
    stack: Stack, mongo_db: AsyncDatabase[Doc]
) -> None:
    orders = [order(f"SO-{n}", "ACME", reference=f"P{n}", ordered_at=T0) for n in range(20)]
    shipments = [
        shipment(f"SH-{n}", "ACME", order_ids=[f"SO-{n}"], tracking=f"T{n}") for n in range(20)
    ]
    await World(orders, shipments).link(summary_extra=True).insert(mongo_db)
    counter = CommandRecorder()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        stack.mongodb_uri, tz_aware=True, event_listeners=[counter]
    )
    try:
        db = client[mongo_db.name]
        summary_only = (
            "{ orders(first: 20) { nodes { shipments { id trackingNumber status carrier { scac } }"
            " } } }"
        )
        await _execute(db, counter, summary_only, {})  # the process has read this list before
        data, commands = await _execute(db, counter, summary_only, {})
        assert {s["trackingNumber"] for o in data["orders"]["nodes"] for s in o["shipments"]} == {
            f"T{n}" for n in range(20)
        }
        assert commands == ["find", "find"]  # read_pointer, orders: shipments from summaries

        beyond_summary = "{ orders(first: 20) { nodes { shipments { id serviceLevel } } } }"
        _, commands = await _execute(db, counter, beyond_summary, {})
        assert commands == ["find", "find", "find"]  # plus one batch of full shipments
    finally:
        await client.close()


ZERO = """query($after: String) {
  orders(first: 0, after: $after) {
    totalCount edges { cursor } nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def _is_window(command: Doc) -> bool:
    """Whether a sorted read of one orders document is a page read through the customer's
    sort index, bounded by a range of its sort field (a window: ``paging_windows``)."""
    bounded = json.dumps(command["filter"], default=str)
    return (
        command.get("hint") == "customer_ordered"
        and command.get("sort") == {"orderedAt": -1, "_id": -1}
        and command.get("limit") == 1
        and re.search(r'"orderedAt": \{"\$(gte|lt|lte|gt)"', bounded) is not None
    )


async def test_a_page_of_0_reads_one_document_as_a_page_reads_it(
    counted: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """``first: 0`` (totalCount and pageInfo only): read_pointer, one read of the first
    document ahead, in a window of the sort index as a page reads (from the first page's
    hint; from the cursor's width after it), and the count. An unsorted read over the
    customer's whole list cost what the list holds on DocumentDB (docs/store.md)."""
    db, counter = counted
    page, _ = await _execute(db, counter, "{ orders(first: 20) { pageInfo { endCursor } } }", {})
    cursor = page["orders"]["pageInfo"]["endCursor"]
    for after, previous in ((None, False), (cursor, True)):
        data, commands = await _execute(db, counter, ZERO, {"after": after})
        assert data["orders"] == {
            "totalCount": 60,
            "edges": [],
            "nodes": [],
            "pageInfo": {
                "hasNextPage": True,
                "hasPreviousPage": previous,
                "startCursor": None,
                "endCursor": None,
            },
        }
        assert commands == ["find", "find", "aggregate"], commands
        ahead = counter.commands("find")[-1]
        assert _is_window(ahead), ahead


async def test_a_page_of_0_teaches_no_window_hint(
    counted: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """The one document a page of 0 reads says nothing about how wide a page is: a process
    that does not probe reads it plainly, and the next first page still has no hint (it
    probes). With probes, a page of 0 in a new process probes as a default first page
    would (the hint is then the probes', for a page of 20): the default first page after it
    is one read (probed for a page of one, its windows were too narrow: more reads)."""
    db, counter = counted
    PROCESS_WINDOW_HINTS.clear()
    PROCESS_WINDOW_HINTS.probe = False
    try:
        data, commands = await _execute(db, counter, ZERO, {"after": None})
    finally:
        PROCESS_WINDOW_HINTS.probe = True
    assert data["orders"]["pageInfo"]["hasNextPage"] is True
    assert commands == ["find", "find", "aggregate"], commands
    _, cold = await _execute(db, counter, NESTED, {"first": 5})
    assert len(cold) > 3, "the page of 0 taught a window hint"
    PROCESS_WINDOW_HINTS.clear()
    _, probed = await _execute(db, counter, ZERO, {"after": None})
    assert 3 < len(probed) <= 3 + PROBE_MAX, probed
    assert _is_window(counter.commands("find")[-1])
    _, default = await _execute(db, counter, NESTED, {"first": 20})
    assert default == ["find", "find", "find"], default


@pytest.mark.parametrize("first", [0, 5])
async def test_a_warehouse_limited_caller_reads_no_shipment_it_may_not_see(
    counted: tuple[AsyncDatabase[Doc], CommandRecorder], first: int
) -> None:
    """The scope filter decides a warehouse-limited caller's shipments (through the
    ``warehouseIds`` the projector derives): all 120 are DC-ATL's, so a caller limited to
    DC-SEA gets no read returning one, however the page is read (windows, probes), while
    one limited to DC-ATL sees them. Reading them all to drop them in Python was what made
    such a page take seconds on DocumentDB."""
    db, counter = counted
    query = "query($n: Int) { shipments(first: $n) { nodes { id } pageInfo { hasNextPage } } }"
    for warehouse, visible in (("DC-ATL", True), ("DC-SEA", False)):
        policy = Policy(customers={"ACME": CustomerRule(allowed_warehouses=frozenset({warehouse}))})
        data, _ = await _execute(db, counter, query, {"n": first}, policy=policy)
        page = data["shipments"]
        assert (len(page["nodes"]), page["pageInfo"]["hasNextPage"]) == (
            (first, True) if visible else (0, False)
        )
        assert any(c["find"] == "shipments" for c in counter.commands("find"))
        returned = [doc for kind, doc in counter.replied() if kind == "shipments"]
        assert bool(returned) == visible  # a page of 0 reads the one item ahead
