"""A finished request frees its context, readers and documents at once, by reference counting.

Anything a request leaves in a reference cycle waits for CPython's garbage collector, whose
pauses grow with what accumulates between collections (``config.garbage`` lets 50,000
objects build up): those pauses were most of a customer page's p99 (docs/benchmarks.md, "Pages,
session 7"). So no reference cycle may hold a request's context: not graphql-core's executor
(``graph.subscriptions.weak_async_helpers``), not the readers' DataLoaders once the request
has ended (``GraphContext.close``, which the web layer calls).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import ExecutionResult, execute, parse
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.policy import Policy
from graph.context import GraphContext
from graph.schema import build_schema
from tests.helpers import Stack, caller, token_for
from tests.integration.http_harness import settings_for, start
from tests.integration.world_harness import MemoryAudit, World, order, shipment

SCHEMA = build_schema()
#: A page, and each order's shipments through the readers' DataLoader.
PAGE = "{ orders(first: 20) { edges { node { id shipments { id } } } } }"


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _executed(path: str, context: GraphContext) -> Any:
    if path == "strawberry":  # a text the API sees for the first time
        return await SCHEMA.execute(PAGE, context_value=context)
    outcome = execute(  # the lean path of a known text (web.prepared)
        SCHEMA._schema,
        parse(PAGE),
        context_value=context,
        executor_class=SCHEMA.execution_context_class,
    )
    assert not isinstance(outcome, ExecutionResult)
    return await outcome


@pytest.mark.usefixtures("collector_off")
@pytest.mark.parametrize("path", ["strawberry", "graphql-core"])
async def test_a_finished_page_leaves_nothing_for_the_garbage_collector(
    mongo_db: AsyncDatabase[dict[str, Any]], path: str
) -> None:
    await _page_world(mongo_db)
    context = GraphContext.build(mongo_db, Policy(), caller("ACME"), MemoryAudit(), None)
    result = await _executed(path, context)
    context.close()  # what the web layer does when the request ends
    edges = result.data["orders"]["edges"]
    assert not result.errors and len(edges) == 20 and edges[0]["node"]["shipments"]
    readers = weakref.ref(context.readers)
    del context, result, edges
    assert readers() is None, "a reference cycle keeps the finished request's readers alive"


@pytest.mark.usefixtures("collector_off")
async def test_a_page_served_by_the_app_leaves_nothing_for_the_garbage_collector(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through the app: the web layer closes the request's context once answered."""
    await _page_world(mongo_db)
    built: list[weakref.ref[Any]] = []
    build = GraphContext.build

    def recording_build(*args: Any, **kwargs: Any) -> GraphContext:
        context = build(*args, **kwargs)
        built.append(weakref.ref(context.readers))
        return context

    monkeypatch.setattr(GraphContext, "build", recording_build)
    settings = settings_for(stack, mongo_db.name)
    headers = {"authorization": f"Bearer {token_for(['ACME'], tokens=settings.tokens)}"}
    async for api in start(settings):
        for _ in range(2):  # a new text (Strawberry's path), then a known one (the lean path)
            response = await api.client.post("/graphql", json={"query": PAGE}, headers=headers)
            assert _page_answered(response)
        assert len(built) == 2
        assert [readers() for readers in built] == [None, None], (
            "a reference cycle keeps a finished request's readers alive"
        )


def _page_answered(response: httpx.Response) -> bool:
    body = response.json()
    edges = body.get("data", {}).get("orders", {}).get("edges", [])
    return response.status_code == 200 and "errors" not in body and len(edges) == 20


async def _page_world(db: AsyncDatabase[dict[str, Any]]) -> None:
    world = World()
    for n in range(25):
        world.orders.append(order(f"SO-{n:02d}", "ACME", reference=f"PO-{n}"))
        world.shipments.append(
            shipment(f"SH-{n:02d}", "ACME", order_ids=[f"SO-{n:02d}"], tracking=f"T{n}")
        )
    await world.link().insert(db)
