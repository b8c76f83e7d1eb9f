"""At most ``MAX_WEBSOCKET_CONNECTIONS`` WebSocket connections open at once in this process.

Every open socket holds memory (about 100 KiB once it subscribes, README "Benchmarks") and a
task, whether or not it ever authenticates: one that sends no ``connection_init`` is held
until ``WS_INIT_TIMEOUT_SECONDS``, and any client may open as many as it likes. Beyond the
cap a new socket is accepted only to be closed at once with 1013 "Try Again Later"
(``web.live.closes.TOO_MANY_CONNECTIONS``): refusing the handshake outright would show the
client a bare HTTP 403 with no reason, and 1013 is the code WebSocket clients (graphql-ws's
included) retry with back-off.

A WebSocket-only count, not uvicorn's ``limit_concurrency``: that one counts HTTP requests
and sockets together, so long-lived subscriptions would take the places of queries, and its
refusal of a socket is an HTTP 503 with no close code.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from web.live.closes import TOO_MANY_CONNECTIONS

logger = logging.getLogger(__name__)


class ConnectionCap:
    """ASGI middleware counting the WebSocket connections it lets through."""

    def __init__(self, app: ASGIApp, *, limit: int, subprotocols: Collection[str]) -> None:
        """``subprotocols``: those the app speaks, one of which the refusal accepts so that
        the client's library completes the handshake and reads the close code."""
        self.app = app
        self.limit = limit
        self.subprotocols = subprotocols
        self.open = 0
        self._refusing = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if self.open >= self.limit:
            await self._refuse(WebSocket(scope, receive, send))
            return
        self._refusing = False
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1

    async def _refuse(self, websocket: WebSocket) -> None:
        if not self._refusing:  # once per spell of refusals, not once per socket
            self._refusing = True
            logger.warning(
                "refusing WebSocket connections: %d open, the limit (MAX_WEBSOCKET_CONNECTIONS)",
                self.limit,
            )
        offered = websocket.scope.get("subprotocols") or []
        chosen = next((p for p in offered if p in self.subprotocols), None)
        await websocket.accept(subprotocol=chosen)
        await websocket.close(TOO_MANY_CONNECTIONS.code, TOO_MANY_CONNECTIONS.reason)
