"""Prometheus metrics of one API process, in a registry of its own.

A registry per app (not the global default) lets several apps live in one process, as they do
in tests, and keeps ``/metrics`` to what this service owns.

Freshness is computed when scraped: ``now - lastAppliedAt`` per source, read from the active
generation's ``sources`` collection, so the value keeps growing while the projector (or Kafka)
is down, which is exactly when an alert must fire.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from strawberry.extensions import SchemaExtension

from resolvers.collections import CollectionNames
from resolvers.system import last_applied_by_source

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

    def count_error(self, code: str) -> None:
        self.errors.labels(code=code).inc()

    def set_freshness(self, last_applied: Mapping[str, datetime], now: datetime) -> None:
        self.source_freshness.clear()
        self.source_last_applied.clear()
        for source, applied in last_applied.items():
            self.source_freshness.labels(source=source).set(max((now - applied).total_seconds(), 0))
            self.source_last_applied.labels(source=source).set(applied.timestamp())


async def refresh_freshness(
    metrics: Metrics,
    db: AsyncDatabase[dict[str, Any]],
    names: CollectionNames,
    *,
    within_seconds: float = 2.0,
) -> bool:
    """Re-read every source's ``lastAppliedAt``; False (values kept) when MongoDB fails."""
    try:
        async with asyncio.timeout(within_seconds):
            last_applied = await last_applied_by_source(db, names)
    except (PyMongoError, TimeoutError) as exc:
        logger.warning("source freshness not refreshed: %s", exc)
        return False
    metrics.set_freshness(last_applied, datetime.now(UTC))
    return True


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
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except RuntimeError:
            operation_type = "unknown"  # the document did not parse or named no operation
        if operation_type != "subscription":
            self.metrics.request_seconds.labels(operation_type=operation_type).observe(
                time.perf_counter() - started
            )
        result = context.result
        for error in getattr(result, "errors", None) or ():
            code = (error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR")
            self.metrics.count_error(str(code))
