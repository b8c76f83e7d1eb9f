"""Pending WebSockets per address: one address cannot take every place among the sockets
awaiting ``connection_init``, so other clients still get in (``web.live.connections``).

The cap is driven in-process over ASGI; the inner app stands for a socket that sends no
``connection_init`` until the test says so. Against a real process: ``bounded`` in
``tests/integration/test_subscriptions.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from starlette.types import Message, Receive, Scope, Send

from web.live.closes import TOO_MANY_PENDING, TOO_MANY_PENDING_FROM_ADDRESS
from web.live.connections import ConnectionCap, initialised

PROTOCOL = "graphql-transport-ws"
FLOOD = "203.0.113.7"
OTHER = "198.51.100.1"


@dataclass
class Silent:
    """Sockets let through the cap, each held open until it is initialised or ended."""

    scopes: dict[str, Scope] = field(default_factory=dict)
    entered: dict[str, asyncio.Event] = field(default_factory=dict)
    ended: dict[str, asyncio.Event] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"]
        self.scopes[name] = scope
        self.entered[name].set()
        await self.ended[name].wait()


@dataclass
class Harness:
    cap: ConnectionCap
    silent: Silent
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self, name: str, address: str | None) -> list[Message]:
        """Open socket ``name`` from ``address``: [] if it was let through (and is now held),
        else the messages of its refusal."""
        self.silent.entered[name] = asyncio.Event()
        self.silent.ended[name] = asyncio.Event()
        sent: list[Message] = []
        scope: dict[str, Any] = {
            "type": "websocket",
            "path": name,
            "headers": [],
            "subprotocols": [PROTOCOL],
            "client": (address, 50_000) if address is not None else None,
        }

        async def receive() -> Message:
            return {"type": "websocket.connect"}

        async def send(message: Message) -> None:
            sent.append(message)

        task = asyncio.create_task(self.cap(scope, receive, send))
        self.tasks.append(task)
        entered = asyncio.create_task(self.silent.entered[name].wait())
        await asyncio.wait({task, entered}, return_when=asyncio.FIRST_COMPLETED)
        entered.cancel()
        return sent

    def end(self, name: str) -> None:
        self.silent.ended[name].set()


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    silent = Silent()
    cap = ConnectionCap(
        silent, limit=100, pending_limit=4, pending_per_address=2, subprotocols=(PROTOCOL,)
    )
    harness = Harness(cap, silent)
    yield harness
    for event in silent.ended.values():
        event.set()
    await asyncio.gather(*harness.tasks)


def _closed_with(sent: list[Message]) -> tuple[int, str]:
    accept, close = sent
    assert accept["type"] == "websocket.accept" and accept["subprotocol"] == PROTOCOL
    assert close["type"] == "websocket.close"
    return close["code"], close["reason"]


async def test_one_address_holds_at_most_its_share_of_pending_sockets(harness: Harness) -> None:
    assert await harness.open("flood-1", FLOOD) == []
    assert await harness.open("flood-2", FLOOD) == []
    refused = await harness.open("flood-3", FLOOD)
    assert _closed_with(refused) == (
        1013,
        "Try again later: too many WebSocket connections from your address await connection_init",
    )
    assert TOO_MANY_PENDING_FROM_ADDRESS.code == 1013
    # another client still gets a pending place
    assert await harness.open("other-1", OTHER) == []


async def test_an_address_gets_its_places_back_when_its_sockets_initialise_or_end(
    harness: Harness,
) -> None:
    assert await harness.open("a", FLOOD) == []
    assert await harness.open("b", FLOOD) == []
    initialised(harness.silent.scopes["a"])
    assert await harness.open("c", FLOOD) == [], "an initialised socket is no longer pending"
    harness.end("b")
    await harness.tasks[1]
    assert await harness.open("d", FLOOD) == [], "an ended socket is no longer pending"
    assert _closed_with(await harness.open("e", FLOOD))[0] == 1013
    assert harness.cap.pending_of == {FLOOD: 2}


async def test_the_total_of_pending_sockets_still_applies_across_addresses(
    harness: Harness,
) -> None:
    """Sockets with no address (a Unix socket) count against the total only."""
    for n in range(2):
        assert await harness.open(f"flood-{n}", FLOOD) == []
    for n in range(2):
        assert await harness.open(f"unix-{n}", None) == []
    refused = await harness.open("other", OTHER)
    assert _closed_with(refused) == (TOO_MANY_PENDING.code, TOO_MANY_PENDING.reason)
