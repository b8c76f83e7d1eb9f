"""``shipmentUpdates(shipmentId:)`` given the global id of another type: refused with its code,
not a subscription to a shipment that cannot exist and so never sends an event."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from graph.global_ids import encode
from graph.schema import build_schema
from graph.subscriptions import LiveNotice, MilestoneSelection, current_feed

FOLLOW = "subscription($s: ID!) { shipmentUpdates(shipmentId: $s) { shipmentId } }"


class _Feed:
    """A feed that records what it was asked to follow and has nothing to send."""

    def __init__(self) -> None:
        self.followed: list[str | None] = []

    async def stream(
        self, selection: MilestoneSelection, after: str | None
    ) -> AsyncIterator[LiveNotice]:
        self.followed.append(selection.shipment_id)
        for _ in ():
            yield _


async def _errors_following(given: str, feed: _Feed) -> list[dict[str, object]]:
    token = current_feed.set(feed)
    try:
        stream = await build_schema().subscribe(FOLLOW, variable_values={"s": given})
        if isinstance(stream, strawberry.types.ExecutionResult):
            return [dict(e.formatted) for e in stream.errors or []]
        return [
            dict(e.formatted) for result in [r async for r in stream] for e in result.errors or []
        ]
    finally:
        current_feed.reset(token)


async def test_an_orders_global_id_is_refused_naming_the_type_it_belongs_to() -> None:
    feed = _Feed()
    given = encode("orders", "SO-1")
    errors = await _errors_following(given, feed)
    assert [e["extensions"] for e in errors] == [{"code": "BAD_USER_INPUT"}]
    assert "the id of an Order, not of a Shipment" in str(errors[0]["message"])
    assert feed.followed == []


async def test_a_shipments_global_id_and_its_number_follow_the_same_shipment() -> None:
    feed = _Feed()
    for given in (encode("shipments", "SH-1"), "SH-1"):
        assert await _errors_following(given, feed) == []
    assert feed.followed == ["SH-1", "SH-1"]
