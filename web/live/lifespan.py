"""Start and stop the live feed with the API process (called from ``web.app``'s lifespan)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from entitlements.policy import Policy
from entitlements.tokens import TokenVerifier
from readmodel.topics import TopicNames
from web.admission import Lane
from web.live.closes import too_slow
from web.live.feed import ResumeBounds
from web.live.handlers import LiveGraphQLWSHandler, LiveTransportWSHandler
from web.live.hub import LiveHub
from web.live.log import ChangeLog
from web.live.service import LiveService
from web.live.settings import LiveSettings


@asynccontextmanager
async def lifespan(
    settings: LiveSettings,
    *,
    bootstrap_servers: str,
    replication_factor: int,
    topics: TopicNames,
    verifier: TokenVerifier,
    policy: Policy,
) -> AsyncIterator[LiveService]:
    """The process's ``LiveService``, reading the changes topic until the app stops.

    ``verifier`` and ``policy`` are the ones the HTTP endpoint uses, built once at start-up.
    Kafka being down does not stop the API from starting: the hub connects in the background
    and subscriptions answer SERVICE_UNAVAILABLE until it has. On exit every open connection
    is asked to close with 1012 so its client resumes on another replica.
    """
    log = ChangeLog(bootstrap_servers, topics, settings.retention_hours, replication_factor)
    service = LiveService(
        settings=settings,
        hub=LiveHub(
            log,
            dedupe_window=settings.dedupe_window,
            overflow_reason=too_slow(settings.buffer_size),
        ),
        log=log,
        verifier=verifier,
        policy=policy,
        connections=Lane(None, settings.max_connections_per_client),
        resume=ResumeBounds.of(settings),
        graphql_transport_ws_handler_class=LiveTransportWSHandler,
        graphql_ws_handler_class=LiveGraphQLWSHandler,
    )
    service.hub.start()
    try:
        yield service
    finally:
        await service.hub.stop()
