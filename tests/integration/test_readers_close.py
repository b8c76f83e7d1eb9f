"""A request's readers closed when it ends: loads left pending are cancelled, not failed.

graphql-core does not cancel a field's siblings when one of them fails, so an operation can
end with a load still waiting for its batch, awaited by a task no one reads. Such a load
must end quietly, without querying the store and without an error in the event loop's log
(with the loaders held through a weak proxy it raised ``ReferenceError`` once the readers
were gone), and the readers' documents must be freed at once (``test_request_garbage``).
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.policy import Policy
from graph.context import GraphContext
from resolvers.filters import OrderFilter
from resolvers.paging import ORDER_SORTS, PageRequest
from tests.helpers import caller
from tests.integration.world_harness import MemoryAudit, World, order


async def _context(db: AsyncDatabase[dict[str, Any]]) -> GraphContext:
    world = World()
    world.orders += [
        order("SO-1", "ACME", reference="PO-1"),
        order("SO-2", "ACME", reference="PO-2"),
    ]
    await world.link().insert(db)
    return GraphContext.build(db, Policy(), caller("ACME"), MemoryAudit(), None)


def _loop_errors() -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
    return errors


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_load_left_pending_when_the_request_ends_is_cancelled_without_a_read(
    mongo_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    context = await _context(mongo_db)
    readers = context.readers
    reads: list[list[str]] = []
    load_by_ids = readers._load_by_ids

    async def counted(kind: Any, ids: list[str]) -> Any:
        reads.append(ids)
        return await load_by_ids(kind, ids)

    monkeypatch.setattr(readers, "_load_by_ids", counted)
    errors = _loop_errors()
    orphan = asyncio.ensure_future(readers.load("orders", "SO-1"))  # awaited by no one
    await asyncio.sleep(0)  # the orphan asks; its batch is due on the next tick
    context.close()
    del context, readers
    gc.collect()
    await _settle()
    assert orphan.cancelled()
    assert reads == [], "the batch of a cancelled load still queried the store"
    assert errors == []


async def test_a_load_in_flight_when_the_request_ends_is_cancelled(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    context = await _context(mongo_db)
    errors = _loop_errors()
    orphan = asyncio.ensure_future(context.readers.load("orders", "SO-1"))
    for _ in range(3):  # the batch is dispatched and its query sent
        await asyncio.sleep(0)
    batch = context.readers.loader("orders").batch
    assert batch is not None and batch.dispatched
    del batch
    context.close()
    del context
    gc.collect()
    await _settle()
    assert orphan.cancelled()
    assert errors == []


async def test_readers_closed_still_answer_a_later_load_under_the_same_entitlements(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    context = await _context(mongo_db)
    assert (await context.readers.load("orders", "SO-1") or {}).get("_id") == "SO-1"
    context.close()
    again = await context.readers.load("orders", "SO-2")
    assert again is not None and again["_id"] == "SO-2"
    other = GraphContext.build(mongo_db, Policy(), caller("GLOBEX"), MemoryAudit(), None)
    assert await other.readers.load("orders", "SO-1") is None
    other.close()
    assert await other.readers.load("orders", "SO-1") is None


async def test_a_count_still_running_when_the_request_ends_is_cancelled(
    mongo_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's count runs in a task of its own (``Page.total``, shielded for the aliases
    of ``totalCount`` that share it): when the client goes away (its asker cancelled) and
    the request ends, that task is cancelled too rather than reading on for up to the
    store's time limit."""
    context = await _context(mongo_db)
    readers = context.readers
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_count(*args: Any) -> int:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 0

    monkeypatch.setattr(readers, "_count", slow_count)
    page = await readers.orders(OrderFilter(), PageRequest(ORDER_SORTS["ORDERED_AT_DESC"], first=1))
    asker = asyncio.ensure_future(page.total())
    await asyncio.wait_for(started.wait(), 5)
    asker.cancel()  # the client disconnected: the operation's tasks are cancelled
    await _settle()
    assert not cancelled.is_set(), "the shielded count ends with the request, not its asker"
    context.close()
    await asyncio.wait_for(cancelled.wait(), 5)
