"""What ``web.live.lifespan`` yields (stored at ``app.state.live``): the process's live feed.

It authenticates WebSocket connections with the same verifier rules as HTTP and opens one
``ConnectionFeed`` per authenticated connection. It is also the ``graph.subscriptions.
LivePosition`` every request's context carries, for ``Query.liveCursor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from entitlements.caller import Caller
from entitlements.errors import AuthenticationError
from entitlements.policy import Policy
from entitlements.tokens import TokenVerifier
from graph.subscriptions import FeedUnavailable
from web.admission import Lane, caller_key
from web.auth import authenticate
from web.live.closes import CloseReason
from web.live.cursor import cursor_before
from web.live.feed import ConnectionFeed, NoticeLog, ResumeBounds
from web.live.hub import LiveHub
from web.live.settings import LiveSettings


def authorization_of(payload: Mapping[str, Any]) -> str | None:
    """The ``Authorization`` value a ``connection_init`` payload carries.

    Browsers cannot set headers on a WebSocket, so clients put the token in the payload as
    ``{"Authorization": "Bearer <jwt>"}``, ``{"authorization": ...}`` or ``{"token": "<jwt>"}``.
    """
    for key in ("Authorization", "authorization"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    token = payload.get("token")
    if isinstance(token, str) and token.strip():
        return f"Bearer {token.strip()}"
    return None


@dataclass(frozen=True)
class LiveService:
    settings: LiveSettings
    hub: LiveHub
    log: NoticeLog
    verifier: TokenVerifier
    policy: Policy
    #: Authenticated connections open now, per client (``MAX_WEBSOCKETS_PER_CLIENT``).
    connections: Lane
    #: How far back a resume may reach and the replay places every connection shares.
    resume: ResumeBounds
    #: The protocol handlers the web app's Strawberry view adopts (``GraphQLEndpoint.use_live``).
    graphql_transport_ws_handler_class: type[Any]
    graphql_ws_handler_class: type[Any]

    async def authenticate(self, payload: Mapping[str, Any]) -> Caller:
        """The caller a ``connection_init`` payload vouches for; AuthenticationError if none.

        Unlike HTTP there is no anonymous WebSocket: every subscription serves customer data.
        """
        caller = await authenticate(authorization_of(payload), self.verifier)
        if caller is None:
            raise AuthenticationError(
                'connection_init payload must carry a token: {"Authorization": "Bearer <jwt>"}'
            )
        if caller.valid_until <= datetime.now(UTC):
            raise AuthenticationError("the token has expired")
        return caller

    def resume_cursor(self) -> str:
        """The cursor of the hub's position: every notice the hub has not read yet follows it.

        The hub's position (the next offset it reads), not the log's end: never past the
        end, so a client resuming from it misses nothing (at worst it receives again what
        its fetch already showed), and read from memory, where the end would cost a request
        to Kafka per call. The replica the client resumes on replays from the cursor, or,
        when its own hub is further behind, skips what precedes it (``ConnectionFeed``).
        """
        position = self.hub.position
        if position is None:
            raise FeedUnavailable(
                "live updates are temporarily unavailable (change log unreachable); retry"
            )
        return cursor_before(position)

    def open_feed(self, caller: Caller, on_close: Callable[[CloseReason], None]) -> ConnectionFeed:
        """The feed of one connection; ``on_close`` must close that connection."""
        return ConnectionFeed(
            hub=self.hub,
            log=self.log,
            scope=self.policy.scope(caller),
            buffer_size=self.settings.buffer_size,
            dedupe_window=self.settings.dedupe_window,
            on_close=on_close,
            resume=self.resume,
            client=caller_key(caller),
        )
