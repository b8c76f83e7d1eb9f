"""At most ``MAX_WEBSOCKET_CONNECTIONS`` WebSocket connections open at once in this process,
and at most ``MAX_PENDING_WEBSOCKETS`` of them not yet initialised.

Every open socket holds memory (about 100 KiB once it subscribes, README "Benchmarks") and a
task, whether or not it ever authenticates. A socket that sends no ``connection_init`` is held
until ``WS_INIT_TIMEOUT_SECONDS`` and counts against no client, so anyone may open as many
as they like: were they counted only in the total, one address opening a few hundred a
second would keep every place taken and turn every subscriber away. Hence the smaller cap
on *pending* sockets, those whose ``connection_init`` has not been answered yet
(``initialised``, called by ``web.live.handlers``): a flood of them takes at most
``MAX_PENDING_WEBSOCKETS`` places, and the connections already initialised keep theirs.
Which address a flood comes from is the ingress's to judge: behind it this process sees the
proxy's address only.

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

from web.live.closes import TOO_MANY_CONNECTIONS, TOO_MANY_PENDING, CloseReason

logger = logging.getLogger(__name__)

#: The scope key under which a socket's ``_Pending`` place travels to the protocol handler.
_PENDING_KEY: Final = "web.live.connections.pending"


class _Pending:
    """A socket's place among the pending ones, given back once (``initialised`` or closed)."""

    def __init__(self, cap: ConnectionCap) -> None:
        self._cap: ConnectionCap | None = cap

    def release(self) -> None:
        if self._cap is not None:
            self._cap.pending -= 1
            self._cap = None


def initialised(scope: Mapping[str, Any] | None) -> None:
    """The socket of ``scope`` had its ``connection_init`` answered: it no longer counts
    against ``MAX_PENDING_WEBSOCKETS`` (a refused one is being closed anyway)."""
    pending = (scope or {}).get(_PENDING_KEY)
    if isinstance(pending, _Pending):
        pending.release()


class ConnectionCap:
    """ASGI middleware counting the WebSocket connections it lets through, and those of them
    not yet initialised."""

    def __init__(
        self, app: ASGIApp, *, limit: int, pending_limit: int, subprotocols: Collection[str]
    ) -> None:
        """``subprotocols``: those the app speaks, one of which the refusal accepts so that
        the client's library completes the handshake and reads the close code."""
        self.app = app
        self.limit = limit
        self.pending_limit = pending_limit
        self.subprotocols = subprotocols
        self.open = 0
        self.pending = 0
        self._refusing: CloseReason | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal()
        if refusal is not None:
            await self._refuse(WebSocket(scope, receive, send), refusal)
            return
        self._refusing = None
        pending = _Pending(self)
        self.open += 1
        self.pending += 1
        try:
            await self.app({**scope, _PENDING_KEY: pending}, receive, send)
        finally:
            self.open -= 1
            pending.release()

    def _refusal(self) -> CloseReason | None:
        if self.open >= self.limit:
            return TOO_MANY_CONNECTIONS
        if self.pending >= self.pending_limit:
            return TOO_MANY_PENDING
        return None

    async def _refuse(self, websocket: WebSocket, reason: CloseReason) -> None:
        if self._refusing != reason:  # once per spell of refusals, not once per socket
            self._refusing = reason
            logger.warning(
                "refusing WebSocket connections: %d open (MAX_WEBSOCKET_CONNECTIONS %d), "
                "%d of them without connection_init (MAX_PENDING_WEBSOCKETS %d)",
                self.open,
                self.limit,
                self.pending,
                self.pending_limit,
            )
        offered = websocket.scope.get("subprotocols") or []
        chosen = next((p for p in offered if p in self.subprotocols), None)
        await websocket.accept(subprotocol=chosen)
        await websocket.close(reason.code, reason.reason)
