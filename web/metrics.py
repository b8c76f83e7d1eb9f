"""Prometheus metrics of one API process, in a registry of its own.

A registry per app (not the global default) lets several apps live in one process, as they do
in tests, and keeps ``/metrics`` to what this service owns.

Freshness is computed when scraped: ``now - lastAppliedAt`` per source, read from the active
generation's ``sources`` collection, so the value keeps growing while the projector (or Kafka)
is down, which is exactly when an alert must fire.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pymongo.asynchronous.database import AsyncDatabase
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext

from graph.freshness import Freshness, FreshnessCopy
from readmodel.documents import DECLARED_STATUSES

logger = logging.getLogger("web.metrics")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The instruments; created once per app by the lifespan and shared by every request."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "portal_graphql_request_duration_seconds",
            "Time to execute one GraphQL query or mutation (subscriptions are not timed).",
            ["operation_type"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "portal_graphql_errors",
            "Errors returned to clients, by extensions.code (HTTP-level refusals included).",
            ["code"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "portal_projector_consumer_lag",
            "Records the projector's consumer group has not committed yet, per partition.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.lag_poll_success = Gauge(
            "portal_projector_consumer_lag_last_success_timestamp_seconds",
            "When the consumer lag was last read from Kafka (unix time; 0 = never).",
            registry=self.registry,
        )
        self.kafka_up = Gauge(
            "portal_kafka_up",
            "1 when the last consumer-lag poll reached Kafka, else 0.",
            registry=self.registry,
        )
        self.source_freshness = Gauge(
            "portal_source_freshness_seconds",
            "Seconds since the projector last applied an event from each source.",
            ["source"],
            registry=self.registry,
        )
        self.source_last_applied = Gauge(
            "portal_source_last_applied_timestamp_seconds",
            "When the projector last applied an event from each source (unix time).",
            ["source"],
            registry=self.registry,
        )
        self.source_declared = Gauge(
            "portal_source_declared_status",
            "1 for the status each source last declared on ops.source-status.v1 "
            "(AVAILABLE when it never did), 0 for the others.",
            ["source", "status"],
            registry=self.registry,
        )
        self.source_expected_back = Gauge(
            "portal_source_expected_back_timestamp_seconds",
            "When a source in MAINTENANCE or DEGRADED said it would be back (unix time); "
            "absent while it is AVAILABLE or gave no time.",
            ["source"],
            registry=self.registry,
        )
        self.http_responses = Counter(
            "portal_http_responses",
            "HTTP responses by status code (WebSocket upgrades excluded).",
            ["code"],
            registry=self.registry,
        )

    def count_error(self, code: str) -> None:
        self.errors.labels(code=code).inc()

    def record_operation(
        self, operation_type: str, seconds: float, errors: Iterable[GraphQLError]
    ) -> None:
        """One finished query or mutation: its duration (subscriptions are not timed: they
        last as long as the client listens) and its errors by code (after masking)."""
        if operation_type != "subscription":
            self.request_seconds.labels(operation_type=operation_type).observe(seconds)
        for error in errors:
            self.count_error(error_code(error))

    def set_freshness(self, sources: Iterable[Freshness], now: datetime) -> None:
        for gauge in (
            self.source_freshness,
            self.source_last_applied,
            self.source_declared,
            self.source_expected_back,
        ):
            gauge.clear()
        for source in sources:
            applied = source.last_applied_at
            if applied is not None:
                self.source_freshness.labels(source=source.source).set(
                    max((now - applied).total_seconds(), 0)
                )
                self.source_last_applied.labels(source=source.source).set(applied.timestamp())
            for status in DECLARED_STATUSES:
                self.source_declared.labels(source=source.source, status=status).set(
                    1 if status == source.declared_status else 0
                )
            if source.declared_status != "AVAILABLE" and source.expected_back_at is not None:
                self.source_expected_back.labels(source=source.source).set(
                    source.expected_back_at.timestamp()
                )


async def refresh_freshness(
    metrics: Metrics, copy: FreshnessCopy, db: AsyncDatabase[dict[str, Any]]
) -> bool:
    """Re-read every source (the copy responses report too); False (values kept) when
    MongoDB fails."""
    refreshed = await copy.refresh(db)
    if not refreshed:
        logger.warning("source freshness not refreshed: the store did not answer")
    metrics.set_freshness(copy.by_source.values(), datetime.now(UTC))
    return refreshed


def error_code(error: GraphQLError) -> str:
    """The code an error leaves the API with (``web.masking`` gave every error one)."""
    return str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR"))


def operation_type_of(context: ExecutionContext) -> str:
    """``query``, ``mutation``, ``subscription``, or ``unknown`` when the document did not
    parse or named no operation."""
    try:
        return str(context.operation_type.value)
    except RuntimeError:
        return "unknown"


class MetricsExtension(SchemaExtension):
    """Times each query/mutation and counts the errors it returns, by code.

    List it *before* ``web.masking.CodedErrors`` so it sees the errors after codes were added
    (extension exit hooks run in reverse order).
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.metrics.record_operation(
            operation_type_of(self.execution_context),
            time.perf_counter() - started,
            getattr(self.execution_context.result, "errors", None) or (),
        )
