"""A long-lived subscription must not grow the server's memory with every event it delivers."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import strawberry

from graph.subscriptions import (
    LiveNotice,
    MilestoneSelection,
    Subscription,
    SubscriptionExecutionContext,
    current_feed,
)
from readmodel.changes import ShipmentChange

EVENTS = 1500
FEED = "subscription { milestoneFeed { cursor shipmentId status milestone { rawCode } } }"


@strawberry.type(description="Unused; a schema needs a query root.")
class _Query:
    ok: bool = strawberry.field(default=True, description="Always true.")


class _Feed:
    async def stream(
        self, selection: MilestoneSelection, after: str | None
    ) -> AsyncIterator[LiveNotice]:
        for n in range(EVENTS):
            change = ShipmentChange(
                notice_id=f"n{n}",
                shipment_id="SH-1",
                customer_id="ACME",
                tracking_number=None,
                status="IN_TRANSIT",
                milestone={"source": "s", "milestoneId": f"m{n}", "rawCode": "AF"},
                rev=n,
                projected_at=datetime.now(UTC),
            )
            yield LiveNotice(f"c{n}", change)


async def _growth_between_first_and_last_event(schema: strawberry.Schema) -> int:
    token = current_feed.set(_Feed())
    try:
        stream = await schema.subscribe(FEED)
        assert not isinstance(stream, strawberry.types.ExecutionResult)
        tracemalloc.start()
        count = start = end = 0
        async for result in stream:  # measured while the subscription is still open
            assert not result.errors
            count += 1
            if count in (100, EVENTS):
                gc.collect()
                end = tracemalloc.get_traced_memory()[0]
                start = start or end
        tracemalloc.stop()
    finally:
        current_feed.reset(token)
    assert count == EVENTS
    return end - start


async def test_memory_stays_flat_while_a_subscription_delivers_events() -> None:
    schema = strawberry.federation.Schema(
        query=_Query,
        subscription=Subscription,
        execution_context_class=SubscriptionExecutionContext,
    )
    growth = await _growth_between_first_and_last_event(schema)
    # graphql-core 3.3's default executor keeps ~2 KB per event (~3 MB here).
    assert growth < 256 * 1024, f"grew {growth / 1024:.0f} KiB over {EVENTS} events"


class _Recording(SubscriptionExecutionContext):
    """Keeps each (subscription executor, per-event executor) pair it builds."""

    pairs: ClassVar[list[tuple[Any, Any]]] = []

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        _Recording.pairs.append((self, executor))
        return executor


async def test_the_graphql_core_patch_is_in_effect() -> None:
    """``SubscriptionExecutionContext`` replaces a private graphql-core attribute; if a new
    graphql-core renames or drops it, the patch would silently do nothing. This fails then:
    re-measure the growth and adapt the patch (graphql-core is pinned in constraints.txt)."""
    schema = strawberry.federation.Schema(
        query=_Query, subscription=Subscription, execution_context_class=_Recording
    )
    _Recording.pairs.clear()
    token = current_feed.set(_Feed())
    try:
        stream = await schema.subscribe(FEED)
        assert not isinstance(stream, strawberry.types.ExecutionResult)
        async for result in stream:
            assert not result.errors
            if len(_Recording.pairs) >= 2:
                break
    finally:
        current_feed.reset(token)
    assert len(_Recording.pairs) >= 2
    for subscription, per_event in _Recording.pairs:
        assert "_relevant_sub_fields" in vars(subscription), "graphql-core renamed the memo"
        assert "_relevant_sub_fields" in vars(per_event)
        assert per_event._relevant_sub_fields is not subscription._relevant_sub_fields
    first, second = (per_event for _, per_event in _Recording.pairs[:2])
    assert first._relevant_sub_fields is not second._relevant_sub_fields
