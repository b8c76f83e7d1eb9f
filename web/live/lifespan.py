"""Start and stop the live feed with the API process (called from ``web.app``'s lifespan)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from entitlements.policy import load_policy
from web.auth import build_verifier
from web.live.closes import too_slow
from web.live.handlers import LiveGraphQLWSHandler, LiveTransportWSHandler
from web.live.hub import LiveHub
from web.live.log import ChangeLog
from web.live.service import LiveService
from web.live.settings import LiveSettings
from web.settings import Settings


@asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[LiveService]:
    """The process's ``LiveService``, reading the changes topic until the app stops.

    Kafka being down does not stop the API from starting: the hub connects in the background
    and subscriptions answer SERVICE_UNAVAILABLE until it has. On exit every open connection
    is asked to close with 1012 so its client resumes on another replica.
    """
    live = LiveSettings.from_env(
        bootstrap_servers=settings.kafka_bootstrap_servers, changes_topic=settings.topics.changes
    )
    log = ChangeLog(settings.kafka_bootstrap_servers, settings.topics, live.retention_hours)
    hub = LiveHub(log, dedupe_window=live.dedupe_window, overflow_reason=too_slow(live.buffer_size))
    service = LiveService(
        settings=live,
        hub=hub,
        log=log,
        verifier=build_verifier(settings.tokens),
        policy=load_policy(settings.entitlements_file, environ={}),
        graphql_transport_ws_handler_class=LiveTransportWSHandler,
        graphql_ws_handler_class=LiveGraphQLWSHandler,
    )
    hub.start()
    try:
        yield service
    finally:
        await hub.stop()
