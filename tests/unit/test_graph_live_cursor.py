"""``Query.liveCursor`` as a client meets it: who may have one, what an unavailable feed
answers, and that listed first it is taken before the query reads the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

from pymongo.errors import ServerSelectionTimeoutError

from entitlements.policy import Policy
from graph.context import GraphContext
from graph.schema import build_schema
from graph.subscriptions import FeedUnavailable, LivePosition
from tests.helpers import caller

SCHEMA = build_schema()


class NoAudit:
    async def record(self, entry: Any) -> None:
        raise AssertionError("nothing here is audited")


@dataclass
class Position:
    """The process's position as ``web.live`` reports it; None: no position yet (no Kafka).
    ``events`` is shared with the store double: what happened, in order."""

    cursor: str | None
    events: list[str] = field(default_factory=list)

    def resume_cursor(self) -> str:
        self.events.append("cursor taken")
        if self.cursor is None:
            raise FeedUnavailable("live updates are temporarily unavailable; retry")
        return self.cursor


@dataclass
class Store:
    """A store whose every read is recorded in ``events`` and fails: nothing here needs data."""

    events: list[str]

    def __getitem__(self, name: str) -> Store:
        return self

    async def find_one(self, *args: Any, **kwargs: Any) -> NoReturn:
        self.events.append("store read")
        raise ServerSelectionTimeoutError("down")


async def _run(query: str, live: LivePosition | None, who: Any = None) -> Any:
    events = live.events if isinstance(live, Position) else []
    context = GraphContext.build(
        Store(events),  # type: ignore[arg-type]
        Policy(),
        who,
        NoAudit(),
        live=live,
    )
    return await SCHEMA.execute(query, context_value=context)


def _codes(result: Any) -> list[str]:
    return [error.extensions["code"] for error in result.errors or []]


async def test_a_caller_who_may_subscribe_gets_the_processs_cursor() -> None:
    result = await _run("{ liveCursor }", Position("YzE6NDI"), caller("ACME"))
    assert result.errors is None
    assert result.data == {"liveCursor": "YzE6NDI"}


async def test_without_a_valid_token_it_is_refused_as_a_subscription_is() -> None:
    """No token, or an expired one: UNAUTHENTICATED, and the position is not even read."""
    expired = caller("ACME", valid_for=timedelta(seconds=-1))
    for who in (None, expired):
        position = Position("YzE6NDI")
        result = await _run("{ liveCursor }", position, who)
        assert result.data == {"liveCursor": None}
        assert _codes(result) == ["UNAUTHENTICATED"]
        assert position.events == []


async def test_an_unavailable_feed_is_service_unavailable_and_leaves_the_rest_in_place() -> None:
    """No position yet (Kafka not reached), or a process serving no live feed: the field is
    null with SERVICE_UNAVAILABLE, and the fields beside it still answer."""
    for live in (Position(None), None):
        result = await _run("{ liveCursor viewer { subject } }", live, caller("ACME"))
        assert result.data == {"liveCursor": None, "viewer": {"subject": "alice"}}
        assert _codes(result) == ["SERVICE_UNAVAILABLE"]
        assert "retry" in result.errors[0].message


async def test_listed_first_it_is_taken_before_the_query_reads_the_store() -> None:
    position = Position("YzE6NDI")
    result = await _run('{ liveCursor order(id: "SO-1") { id } }', position, caller("ACME"))
    assert result.data["liveCursor"] == "YzE6NDI"
    assert position.events[0] == "cursor taken"
    assert "store read" in position.events[1:]
