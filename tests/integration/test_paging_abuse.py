"""What a client can make a page cost: a cursor it made up reads the same page in the same
bounded windows as the cursor the server issued, and aliases of ``totalCount`` share one
count (the security review of session 16: hand-made cursors sorted everything past them,
100 times the issued cursor's time on a customer of 100,000 orders, and every alias of
``totalCount`` counted the list again). Reads carry the store's time limit (``maxTimeMS``).

Plans are seen as the driver sends them (``CommandRecorder``), not timed."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.policy import Policy
from graph.context import GraphContext
from graph.schema import build_schema
from resolvers.readers import PROCESS_WINDOW_HINTS
from tests.helpers import CommandRecorder, Stack, caller
from tests.integration.world_harness import T0, World, order

Doc = dict[str, Any]
SCHEMA = build_schema()
VIEWER = caller("ACME")
#: Orders a minute apart: a page of 20 spans 20 minutes, so a window 1 ms wide (and the
#: three growing after it, 85 ms in all) holds nothing, and the open-ended rest after them
#: would sort the whole list past the cursor.
ORDERS = 300
MAX_TIME_MS = 4321


@pytest.fixture
async def recorded(
    stack: Stack, mongo_db: AsyncDatabase[Doc]
) -> AsyncIterator[tuple[AsyncDatabase[Doc], CommandRecorder]]:
    orders = [
        order(f"SO-{n:04}", "ACME", reference=f"PO-{n}", ordered_at=T0 + timedelta(minutes=n))
        for n in range(ORDERS)
    ]
    await World(orders).link(summary_extra=True).insert(mongo_db)
    recorder = CommandRecorder()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        stack.mongodb_uri, tz_aware=True, event_listeners=[recorder]
    )
    yield client[mongo_db.name], recorder
    await client.close()


async def _run(
    db: AsyncDatabase[Doc], recorder: CommandRecorder, query: str, **variables: Any
) -> Any:
    recorder.forget()
    context = GraphContext.build(db, Policy(), VIEWER, store_max_time_ms=MAX_TIME_MS)
    result = await SCHEMA.execute(query, variable_values=variables, context_value=context)
    assert result.errors is None, result.errors
    return result.data


def _forged(cursor: str, **changes: Any) -> str:
    """``cursor`` with its fields changed (None: left out), as a client could make it."""
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def _page_reads(recorder: CommandRecorder) -> list[Doc]:
    """The sorted reads of orders (a page's; probes for a window hint are unsorted)."""
    return [c for c in recorder.commands("find") if c.get("sort")]


def _conditions(query: Any) -> list[Any]:
    """The conditions ``query`` puts on ``orderedAt``, but for those of a ``$nor`` (what the
    cursor leaves out: it bounds nothing that is read)."""
    if isinstance(query, list):
        return [c for part in query for c in _conditions(part)]
    if not isinstance(query, dict):
        return []
    found = [query["orderedAt"]] if "orderedAt" in query else []
    return found + [c for key, part in query.items() if key != "$nor" for c in _conditions(part)]


def _bounded(command: Doc) -> bool:
    """Whether a read bounds ``orderedAt`` on both sides, or names one value of it (a window
    of the sort index, or one inside a value's ties: ``resolvers.paging_windows``), rather
    than reading everything past the cursor."""
    return any(
        not isinstance(c, dict) or ({"$gt", "$gte"} & c.keys() and {"$lt", "$lte"} & c.keys())
        for c in _conditions(command["filter"])
    )


PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  orders(first: $first, after: $after, last: $last, before: $before) {
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

FORGERIES = {
    "no width": {"w": None},
    "a width of 1 ms": {"w": 1},
    "a width of 30,000 years": {"w": 10**15},
    "no width, a tie width of 1": {"w": None, "t": 1},
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
@pytest.mark.parametrize(
    "paging",
    [
        {"first": 20, "cursor": "endCursor", "as": "after"},
        {"last": 20, "cursor": "startCursor", "as": "before"},
        {"first": 0, "cursor": "endCursor", "as": "after"},
    ],
    ids=["forwards", "backwards", "a page of 0"],
)
@pytest.mark.parametrize("hints", ["known", "new process"])
async def test_a_made_up_cursor_reads_the_issued_cursors_page_in_bounded_windows(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
    forgery: dict[str, Any],
    paging: dict[str, Any],
    hints: str,
) -> None:
    """A cursor's window widths are only hints, kept within the process's own hint for the
    list: a cursor without them, or with absurd ones, gets the page the issued cursor gets,
    every read of it a bounded window (a new process probes for its hint first, as its first
    page would)."""
    db, recorder = recorded
    size = {k: v for k, v in paging.items() if k in ("first", "last")}
    start = await _run(db, recorder, PAGE, **{k: max(v, 20) for k, v in size.items()})
    cursor = start["orders"]["pageInfo"][paging["cursor"]]
    issued = await _run(db, recorder, PAGE, **size, **{paging["as"]: cursor})
    assert all(_bounded(c) for c in _page_reads(recorder)), _page_reads(recorder)
    if hints == "new process":
        PROCESS_WINDOW_HINTS.clear()
    made_up = _forged(cursor, **forgery)
    forged = await _run(db, recorder, PAGE, **size, **{paging["as"]: made_up})
    reads = _page_reads(recorder)
    assert forged["orders"]["nodes"] == issued["orders"]["nodes"]
    assert (
        forged["orders"]["pageInfo"]["hasNextPage"] == issued["orders"]["pageInfo"]["hasNextPage"]
    )
    assert reads and all(_bounded(c) for c in reads), reads


async def test_aliases_of_total_count_run_one_count(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """``c0: totalCount ... c28: totalCount`` on one connection is one count of the list,
    answered to every alias."""
    db, recorder = recorded
    aliases = " ".join(f"c{n}: totalCount" for n in range(29))
    data = await _run(db, recorder, f"{{ orders(first: 0) {{ {aliases} }} }}")
    assert data["orders"] == {f"c{n}": ORDERS for n in range(29)}
    assert len(recorder.commands("aggregate")) == 1, recorder.names()


async def test_list_and_count_reads_carry_the_stores_time_limit(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """Every read of a page and its count asks the store to stop at ``STORE_MAX_TIME_MS``
    (FerretDB 2 honours ``maxTimeMS``: the store stops the read, which is answered
    SERVICE_UNAVAILABLE, ``resolvers.readers.store_failed``)."""
    db, recorder = recorded
    await _run(db, recorder, "{ orders(first: 5) { totalCount nodes { id } } }")
    reads = [
        c
        for c in recorder.commands("find", "aggregate")
        if "orders" in str(c.get("find", c.get("aggregate")))
    ]
    assert len(reads) >= 2 and [c.get("maxTimeMS") for c in reads] == [MAX_TIME_MS] * len(reads), (
        reads
    )


async def test_a_made_up_cursor_among_the_nulls_reads_on_in_bounded_windows(
    recorded: tuple[AsyncDatabase[Doc], CommandRecorder],
) -> None:
    """Ascending, documents without a sort value come first, so a cursor at one of them
    (made up here: no order lacks ``orderedAt``) has the whole list ahead: its page is the
    first page, read in windows from the process's hint, not one sort of the whole list."""
    db, recorder = recorded
    query = """query($after: String) {
      orders(first: 20, sort: ORDERED_AT_ASC, after: $after) { nodes { id } pageInfo { endCursor } }
    }"""
    first = await _run(db, recorder, query)
    at_a_null = _forged(first["orders"]["pageInfo"]["endCursor"], v=None, i="SO-")
    forged = await _run(db, recorder, query, after=at_a_null)
    reads = _page_reads(recorder)
    assert forged["orders"]["nodes"] == first["orders"]["nodes"]
    assert reads and all(_bounded(c) for c in reads), reads
