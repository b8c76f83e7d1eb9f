"""Doubles of the live feed's collaborators, for tests that drive ``web.live`` in-process:
a change log held in memory, and a ``LiveService`` whose hub is fed by hand (``begin_at``,
``dispatch``) instead of reading Kafka."""

from __future__ import annotations

from entitlements.policy import Policy
from entitlements.tokens import TokenVerifier
from graph.subscriptions import CursorExpired
from readmodel.changes import ShipmentChange
from readmodel.topics import TopicNames
from tests.helpers import TOKENS
from web.admission import Lane
from web.live.closes import too_slow
from web.live.feed import ResumeBounds
from web.live.handlers import LiveGraphQLWSHandler, LiveTransportWSHandler
from web.live.hub import LiveHub
from web.live.log import ChangeLog, Chunk
from web.live.service import LiveService
from web.live.settings import LiveSettings


class ScriptedLog:
    """A change log held in memory: offsets 0..n-1, the first ``earliest`` of them deleted."""

    def __init__(self, changes: list[ShipmentChange], earliest: int = 0) -> None:
        self.changes = changes
        self.earliest = earliest
        self.replays: list[tuple[int, int]] = []

    async def read(self, start: int, stop: int, limit: int) -> Chunk:
        self.replays.append((start, stop))
        if start < self.earliest:
            raise CursorExpired("the cursor is older than the change log's retention window")
        end = min(stop, len(self.changes), start + limit)
        return Chunk([(offset, self.changes[offset]) for offset in range(start, end)], end)

    async def check_cursor_issued(self, offset: int) -> None:
        return None


def live_service(
    *, buffer: int = 16, ping: float = 30.0, pong: float = 30.0, log: ScriptedLog | None = None
) -> LiveService:
    """A service whose hub has no broker to read (``127.0.0.1:1``): it is not ready until a
    test calls ``begin_at``."""
    settings = LiveSettings(
        buffer_size=buffer,
        ping_interval_seconds=ping,
        pong_timeout_seconds=pong,
    )
    hub = LiveHub(
        ChangeLog("127.0.0.1:1", TopicNames(), 72),
        dedupe_window=100,
        overflow_reason=too_slow(buffer),
    )
    return LiveService(
        settings=settings,
        hub=hub,
        log=log or ScriptedLog([]),
        verifier=TokenVerifier(TOKENS),
        policy=Policy(),
        connections=Lane(None, settings.max_connections_per_client),
        resume=ResumeBounds.of(settings),
        graphql_transport_ws_handler_class=LiveTransportWSHandler,
        graphql_ws_handler_class=LiveGraphQLWSHandler,
    )
