"""A long-lived subscription must not grow the server's memory with every event it delivers."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime

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
    schema = strawberry.Schema(
        query=_Query,
        subscription=Subscription,
        execution_context_class=SubscriptionExecutionContext,
    )
    growth = await _growth_between_first_and_last_event(schema)
    # graphql-core 3.3's default executor keeps ~2 KB per event (~3 MB here).
    assert growth < 256 * 1024, f"grew {growth / 1024:.0f} KiB over {EVENTS} events"
