"""Prometheus metrics of one API process, in a registry of its own.

A registry per app (not the global default) lets several apps live in one process, as they do
in tests, and keeps ``/metrics`` to what this service owns.

Freshness is computed when scraped: ``now - lastAppliedAt`` per source, from the in-memory
copy of the active generation's ``sources`` collection (re-read at most once per
``FRESHNESS_REFRESH_SECONDS``, whatever the scrape rate), so the value keeps growing while the
projector (or Kafka) is down, which is exactly when an alert must fire.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from graphql import GraphQLError
from prometheus_client import Counter, Gauge, Histogram
from pymongo.asynchronous.database import AsyncDatabase
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext

from graph.freshness import Freshness, FreshnessCopy
from observability.instruments import InstrumentSet
from readmodel.documents import DECLARED_STATUSES
from web.request_head import HeadRefusal


class Metrics(InstrumentSet, declared_in=Path(__file__).with_name("metrics.toml")):
    """The API's instruments; created once per app by the lifespan and shared by every
    request."""

    request_seconds: Histogram
    errors: Counter
    http_responses: Counter
    head_refusals: Counter
    consumer_lag: Gauge
    lag_poll_success: Gauge
    kafka_up: Gauge
    source_freshness: Gauge
    source_last_applied: Gauge
    source_declared: Gauge
    source_expected_back: Gauge

    def count_error(self, code: str) -> None:
        self.errors.labels(code=code).inc()

    def __init__(self) -> None:
        super().__init__()
        # Every reason's series from the start, at 0: a refusal then shows as an increase
        # (``rate``, ``PortalRequestHeadsRefused``) rather than as a series born at 1.
        for reason in get_args(HeadRefusal):
            self.head_refusals.labels(reason=reason)

    def count_head_refusal(self, reason: HeadRefusal) -> None:
        """One connection ``web.request_head`` refused."""
        self.head_refusals.labels(reason=reason).inc()

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
) -> None:
    """The source gauges from the copy responses report too, re-read unless it was read
    within its interval (scrapes at any rate read the store at most once per interval);
    ``now`` is taken per scrape, so freshness keeps growing between reads."""
    await copy.refresh_unless_recent(db)
    metrics.set_freshness(copy.by_source.values(), datetime.now(UTC))


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
