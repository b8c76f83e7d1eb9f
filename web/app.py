"""The Starlette application: routes, middleware, and the lifespan that owns every client.

The process keeps no state of its own beyond caches: MongoDB holds the projections, Kafka the
change log, so any number of replicas can serve behind a load balancer.

``create_app`` builds the entitlement policy, the token verifier and the persisted operations
once (a bad policy, key or manifest raises there, inside ``python -m web``'s start-up error
handling); HTTP and WebSocket share them. Lifespan order (reverse on shutdown): MongoDB
client, the consumer-lag poller, then ``web.live`` (the subscriptions' live feed). Nothing here
waits for Kafka: the API starts, serves and stays ready with the broker down.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from datetime import timedelta
from typing import Any, Final

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from strawberry.federation import Schema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from entitlements.policy import Policy, load_policy
from entitlements.tokens import TokenVerifier
from graph.context import ConnectionCaller, audit_log, generation_pointer
from graph.freshness import FreshnessCopy
from graph.schema import ExtensionSpec, build_schema
from readmodel.collections import CollectionNames
from web import operations
from web.admission import Lane
from web.auth import build_verifier
from web.consumer_lag import ConsumerLagPoller
from web.document_cache import DocumentCache
from web.freshness import FreshnessExtension, FreshnessRefresher, FreshnessReport
from web.graphiql import STATIC_DIRECTORY, STATIC_PREFIX, render_page
from web.graphiql_examples import build_examples
from web.graphql_http import GraphQLEndpoint
from web.headers import AssetFiles
from web.limits import MeasureCache, QueryLimitsExtension, screen_for
from web.live import ConnectionCap, LiveService
from web.live import lifespan as live_lifespan
from web.masking import CodedErrors
from web.metrics import Metrics, MetricsExtension
from web.operation_admission import OperationLanes, WebSocketAdmission
from web.operation_log import OperationLog
from web.persisted import PersistedOperations
from web.prepared import PreparedOperations
from web.request_envelope import RequestEnvelope
from web.request_id import HEADER as REQUEST_ID_HEADER
from web.settings import Settings, load_settings
from web.tracing import HEADER as TRACE_HEADER
from web.validation_pool import ValidationPool

logger = logging.getLogger("web.app")

#: How long a MongoDB operation may wait for a server before failing (and being reported).
MONGO_SERVER_SELECTION_MS: Final = 5_000


def new_validation_pool(settings: Settings) -> ValidationPool:
    """The worker processes (started on first use) that check new, larger documents."""
    limits = settings.limits
    return ValidationPool(
        Lane(settings.document_check_queue, settings.document_check_per_client),
        processes=settings.document_check_processes,
        max_tokens=limits.max_tokens,
        screen=screen_for(limits),
        max_errors=limits.max_validation_errors,
        timeout_seconds=settings.document_check_timeout_seconds,
    )


def new_document_cache(settings: Settings, pool: ValidationPool | None = None) -> DocumentCache:
    """The one cache of parsed, screened and validated documents: free-form texts and the
    persisted operations pinned in it share it. Without ``pool``, every new document is
    validated on the event loop (for tests of a schema that is not the API's)."""
    limits = settings.limits
    return DocumentCache(
        settings.document_cache_size,
        max_tokens=limits.max_tokens,
        screen=screen_for(limits),
        offload=pool.check if pool is not None else None,
        max_errors=limits.max_validation_errors,
    )


def web_extensions(
    settings: Settings,
    metrics: Metrics,
    lanes: OperationLanes,
    documents: DocumentCache,
    measures: MeasureCache,
    freshness: FreshnessReport | None,
) -> list[ExtensionSpec]:
    """The web layer's schema extensions, in the order they must run.

    Exit hooks run in reverse order, so the metrics extension (first) sees errors after
    ``CodedErrors`` gave them codes and masked them, and masking covers errors raised by
    the limits extension and by any extension the schema adds after these.
    """
    limits = settings.limits
    extensions: list[ExtensionSpec] = [
        lambda: MetricsExtension(metrics),
        OperationLog,
        CodedErrors,
        lambda: QueryLimitsExtension(limits, documents, measures),
        ConnectionCaller,
        lambda: WebSocketAdmission(lanes),
    ]
    if freshness is not None:
        extensions.append(lambda: FreshnessExtension(freshness))
    return extensions


def freshness_report(settings: Settings, copy: FreshnessCopy) -> FreshnessReport | None:
    """What responses report in ``extensions.freshness``; None when it is switched off
    (``FRESHNESS_REFRESH_SECONDS=0``)."""
    return FreshnessReport(copy) if settings.freshness_refresh_seconds > 0 else None


def create_app(settings: Settings | None = None, *, live: bool = True) -> Starlette:
    """Build the app; only configuration files are read here (policy, key, manifests): no
    connection is made until the lifespan starts.

    ``live=False`` leaves out ``web.live`` (subscriptions then answer that live updates are
    unavailable): for tests of the HTTP surface, which should not start a change-log reader.
    """
    settings = settings or load_settings()
    metrics = Metrics()
    validation_pool = new_validation_pool(settings)
    documents = new_document_cache(settings, validation_pool)
    freshness = FreshnessCopy(
        CollectionNames(),
        max_age_seconds=settings.freshness_max_age_seconds,
        stale_after=timedelta(seconds=settings.stale_after_seconds),
    )
    schema, endpoint = graphql_endpoint(settings, metrics, documents, freshness)
    policy = load_policy(settings.entitlements_file, environ={})
    verifier = build_verifier(settings.tokens)
    persisted = PersistedOperations.load(
        settings.persisted_operations_files,
        schema._schema,
        documents,
        apq_cache_size=settings.persisted_query_cache_size,
        apq_max_text_bytes=settings.limits.max_query_bytes,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            validation_pool.start()
            stack.callback(validation_pool.close)
            db = await _open_store(stack, app, settings)
            _start_lag_poller(stack, app, settings, metrics)
            if settings.freshness_refresh_seconds > 0:
                await _start_freshness(stack, freshness, db, settings.freshness_refresh_seconds)
            app.state.live = None
            if live:
                live_context = _live_lifespan(settings, verifier, policy)
                app.state.live = await stack.enter_async_context(live_context)
                endpoint.use_live(app.state.live)
            _log_ready(app, settings)
            yield

    app = Starlette(
        routes=_routes(settings, endpoint),
        middleware=_middleware(settings, metrics),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.policy = policy
    app.state.verifier = verifier
    app.state.persisted = persisted
    app.state.metrics = metrics
    app.state.freshness = freshness
    app.state.readiness = operations.new_readiness()
    app.state.endpoint = endpoint
    app.state.validation_pool = validation_pool
    return app


def graphql_endpoint(
    settings: Settings, metrics: Metrics, documents: DocumentCache, freshness: FreshnessCopy
) -> tuple[Schema, GraphQLEndpoint]:
    """The schema with the web layer's extensions, and the endpoint serving it: both paths
    of execution (``web.prepared`` and Strawberry's) share the document cache, the measures,
    the metrics and the freshness report; HTTP and WebSocket operations share the lanes."""
    measures = MeasureCache(settings.document_cache_size)
    report = freshness_report(settings, freshness)
    lanes = OperationLanes.of(settings)
    extensions = web_extensions(settings, metrics, lanes, documents, measures, report)
    schema = build_schema(extensions=extensions)
    page = render_page(settings.graphql_path, build_examples(settings.graphiql_examples))
    prepared = PreparedOperations(schema, documents, measures, settings.limits, metrics, report)
    return schema, GraphQLEndpoint(schema, settings, page, prepared, in_flight=lanes.requests)


def _log_ready(app: Starlette, settings: Settings) -> None:
    logger.info(
        "portal API ready: GraphQL at %s, MongoDB database %r, live updates %s, "
        "%d persisted operations",
        settings.graphql_path,
        settings.mongodb_database,
        "on" if app.state.live is not None else "off",
        len(app.state.persisted),
    )


async def _open_store(
    stack: AsyncExitStack, app: Starlette, settings: Settings
) -> AsyncDatabase[dict[str, Any]]:
    """The MongoDB client (closed with the app), and what reads through it on ``app.state``."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri,
        tz_aware=True,
        serverSelectionTimeoutMS=MONGO_SERVER_SELECTION_MS,
        appname="portal-api",
    )
    stack.push_async_callback(client.close)
    db = client[settings.mongodb_database]
    app.state.db = db
    app.state.collections = CollectionNames()
    app.state.pointer = generation_pointer(
        app.state.collections, max_age_seconds=settings.read_pointer_cache_seconds
    )
    app.state.audit = audit_log(db, app.state.collections)
    return db


def _start_lag_poller(
    stack: AsyncExitStack, app: Starlette, settings: Settings, metrics: Metrics
) -> None:
    """The projector's consumer lag, polled in the background (the broker may be down)."""
    poller = ConsumerLagPoller(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.projector_group,
        topics=settings.topics.inbound().values(),
        metrics=metrics,
        interval_seconds=settings.lag_poll_interval_seconds,
    )
    app.state.consumer_lag = poller
    poller.start()
    stack.push_async_callback(poller.stop)


async def _start_freshness(
    stack: AsyncExitStack,
    freshness: FreshnessCopy,
    db: AsyncDatabase[dict[str, Any]],
    every_seconds: float,
) -> None:
    """Read the sources' freshness once before serving (bounded: a store that does not
    answer leaves the copy empty and responses say so with "asOf": null), then refresh it."""
    await freshness.refresh(db)
    refresher = FreshnessRefresher(freshness, db, every_seconds)
    refresher.start()
    stack.push_async_callback(refresher.stop)


def _routes(settings: Settings, endpoint: GraphQLEndpoint) -> list[BaseRoute]:
    return [
        Route(settings.graphql_path, endpoint),
        WebSocketRoute(settings.graphql_path, endpoint),
        Mount(STATIC_PREFIX, app=AssetFiles(directory=STATIC_DIRECTORY), name="graphiql"),
        Route(operations.HEALTHZ, operations.healthz, methods=["GET"]),
        Route(operations.READYZ, operations.readyz, methods=["GET"]),
        Route(operations.METRICS, operations.metrics, methods=["GET"]),
    ]


def _middleware(settings: Settings, metrics: Metrics) -> list[Middleware]:
    """Outermost first: the envelope (request id, trace, response codes) sees every answer,
    the WebSocket cap refuses sockets before anything else is spent on them, CORS is decided
    innermost."""
    return [
        Middleware(RequestEnvelope, metrics=metrics, graphql_path=settings.graphql_path),
        Middleware(
            ConnectionCap,
            limit=settings.live.max_connections,
            pending_limit=settings.live.max_pending_connections,
            pending_per_address=settings.live.max_pending_connections_per_address,
            subprotocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        ),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=[
                "authorization",
                "content-type",
                "accept",
                REQUEST_ID_HEADER,
                TRACE_HEADER,
            ],
            expose_headers=[REQUEST_ID_HEADER, TRACE_HEADER],
            max_age=600,
        ),
    ]


def _live_lifespan(
    settings: Settings, verifier: TokenVerifier, policy: Policy
) -> AbstractAsyncContextManager[LiveService]:
    """The subscriptions' live feed for the app's lifespan, sharing its verifier and policy."""
    return live_lifespan(
        settings.live,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        replication_factor=settings.kafka_replication_factor,
        topics=settings.topics,
        verifier=verifier,
        policy=policy,
    )
