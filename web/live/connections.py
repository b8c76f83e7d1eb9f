"""At most ``MAX_WEBSOCKET_CONNECTIONS`` WebSocket connections open at once in this process,
at most ``MAX_PENDING_WEBSOCKETS`` of them not yet initialised, and at most
``MAX_PENDING_WEBSOCKETS_PER_ADDRESS`` of those from one client address.

Every open socket holds memory (about 100 KiB once it subscribes, docs/benchmarks.md) and a
task, whether or not it ever authenticates. A socket that sends no ``connection_init`` is held
until ``WS_INIT_TIMEOUT_SECONDS`` and counts against no client, so anyone may open as many
as they like: were they counted only in the total, one address opening a few hundred a
second would keep every place taken and turn every subscriber away. Hence the smaller cap
on *pending* sockets, those whose ``connection_init`` has not been answered yet
(``initialised``, called by ``web.live.handlers``): a flood of them takes at most
``MAX_PENDING_WEBSOCKETS`` places, and the connections already initialised keep theirs.
That alone would let one address take every pending place, and every new subscriber's
socket would be refused while it lasts; so one address may hold at most
``MAX_PENDING_WEBSOCKETS_PER_ADDRESS`` of them. The address is the one the rest of the app
uses (``web.limits.client_of``): uvicorn's ``scope["client"]``, which holds the forwarded
address behind a proxy ``FORWARDED_ALLOW_IPS`` trusts and the proxy's own otherwise (then
all its clients share one address's places). A socket with no address counts against the
total only.

Beyond either cap a new socket is accepted only to be closed at once with 1013 "Try Again
Later" (``web.live.closes``): refusing the handshake outright would show the client a bare
HTTP 403 with no reason, and 1013 is the code WebSocket clients (graphql-ws's included) retry
with back-off.

A WebSocket-only count, not uvicorn's ``limit_concurrency``: that one counts HTTP requests
and sockets together, so long-lived subscriptions would take the places of queries, and its
refusal of a socket is an HTTP 503 with no close code.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any, Final

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from web.live.closes import (
    TOO_MANY_CONNECTIONS,
    TOO_MANY_PENDING,
    TOO_MANY_PENDING_FROM_ADDRESS,
    CloseReason,
)

logger = logging.getLogger(__name__)

#: The scope key under which a socket's ``_Pending`` place travels to the protocol handler.
_PENDING_KEY: Final = "web.live.connections.pending"


class _Pending:
    """A socket's place among the pending ones (and its address's), given back once
    (``initialised`` or closed)."""

    def __init__(self, cap: ConnectionCap, address: str | None) -> None:
        self._cap: ConnectionCap | None = cap
        self._address = address
        cap.enter_pending(address)

    def release(self) -> None:
        if self._cap is not None:
            self._cap.leave_pending(self._address)
            self._cap = None


def _address_of(scope: Scope) -> str | None:
    """The client's address as uvicorn gives it (the forwarded one behind a trusted proxy),
    or None when the server knows none."""
    client = scope.get("client")
    return str(client[0]) if client else None


def initialised(scope: Mapping[str, Any] | None) -> None:
    """The socket of ``scope`` had its ``connection_init`` answered: it no longer counts
    against ``MAX_PENDING_WEBSOCKETS`` (a refused one is being closed anyway)."""
    pending = (scope or {}).get(_PENDING_KEY)
    if isinstance(pending, _Pending):
        pending.release()


class ConnectionCap:
    """ASGI middleware counting the WebSocket connections it lets through, and those of them
    not yet initialised, in all and per client address."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        pending_limit: int,
        pending_per_address: int,
        subprotocols: Collection[str],
    ) -> None:
        """``subprotocols``: those the app speaks, one of which the refusal accepts so that
        the client's library completes the handshake and reads the close code."""
        self.app = app
        self.limit = limit
        self.pending_limit = pending_limit
        self.pending_per_address = pending_per_address
        self.subprotocols = subprotocols
        self.open = 0
        self.pending = 0
        #: Pending sockets per address; an address leaves the map with its last one.
        self.pending_of: dict[str, int] = {}
        self._refusing: CloseReason | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        address = _address_of(scope)
        refusal = self._refusal(address)
        if refusal is not None:
            await self._refuse(WebSocket(scope, receive, send), refusal, address)
            return
        self._refusing = None
        pending = _Pending(self, address)
        self.open += 1
        try:
            await self.app({**scope, _PENDING_KEY: pending}, receive, send)
        finally:
            self.open -= 1
            pending.release()

    def enter_pending(self, address: str | None) -> None:
        """One more socket of ``address`` awaits its ``connection_init``."""
        self.pending += 1
        if address is not None:
            self.pending_of[address] = self.pending_of.get(address, 0) + 1

    def leave_pending(self, address: str | None) -> None:
        """One socket of ``address`` no longer awaits its ``connection_init``."""
        self.pending -= 1
        if address is None:
            return
        left = self.pending_of.get(address, 0) - 1
        if left > 0:
            self.pending_of[address] = left
        else:
            self.pending_of.pop(address, None)

    def _refusal(self, address: str | None) -> CloseReason | None:
        if self.open >= self.limit:
            return TOO_MANY_CONNECTIONS
        if address is not None and self.pending_of.get(address, 0) >= self.pending_per_address:
            return TOO_MANY_PENDING_FROM_ADDRESS
        if self.pending >= self.pending_limit:
            return TOO_MANY_PENDING
        return None

    async def _refuse(self, websocket: WebSocket, reason: CloseReason, address: str | None) -> None:
        if self._refusing != reason:  # once per spell of refusals, not once per socket
            self._refusing = reason
            logger.warning(
                "refusing WebSocket connections: %d open (MAX_WEBSOCKET_CONNECTIONS %d), "
                "%d of them without connection_init (MAX_PENDING_WEBSOCKETS %d), "
                "%d from %s (MAX_PENDING_WEBSOCKETS_PER_ADDRESS %d)",
                self.open,
                self.limit,
                self.pending,
                self.pending_limit,
                self.pending_of.get(address, 0) if address is not None else 0,
                address,
                self.pending_per_address,
            )
        offered = websocket.scope.get("subprotocols") or []
        chosen = next((p for p in offered if p in self.subprotocols), None)
        await websocket.accept(subprotocol=chosen)
        await websocket.close(reason.code, reason.reason)
