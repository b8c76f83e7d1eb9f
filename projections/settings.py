"""Projector configuration, read once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from readmodel.topics import TopicNames


class ConfigurationError(ValueError):
    """An environment variable has a value the projector cannot use."""


def _int(environ: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class ProjectorSettings:
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "portal"
    group_id: str = "portal-projector"
    topics: TopicNames = field(default_factory=TopicNames)
    #: Most records taken from Kafka per batch. A backlog goes in large batches: the more of
    #: an entity's events one batch holds, the fewer writes it needs (each document is
    #: written once per batch). Caught up, a batch holds what arrived during the last one.
    batch_max_records: int = 10_000
    #: How long to wait for a batch to fill before processing what arrived.
    batch_wait_ms: int = 100
    #: Concurrent MongoDB operations per batch (reads of current documents, per-entity writes).
    store_concurrency: int = 16
    status_map_file: Path | None = None
    #: Hours the changes topic keeps notices: the subscription resume window.
    changes_retention_hours: int = 72
    #: Where this process serves ``/metrics`` and ``/healthz``. Give each process on one host
    #: its own port; 0 picks a free one (logged), for tests.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProjectorSettings:
        status_map = environ.get("STATUS_MAP_FILE")
        if status_map and not Path(status_map).is_file():
            raise ConfigurationError(f"STATUS_MAP_FILE={status_map!r} is not a readable file")
        return cls(
            kafka_bootstrap_servers=environ.get(
                "KAFKA_BOOTSTRAP_SERVERS", cls.kafka_bootstrap_servers
            ),
            mongodb_uri=environ.get("MONGODB_URI", cls.mongodb_uri),
            mongodb_database=environ.get("MONGODB_DATABASE", cls.mongodb_database),
            group_id=environ.get("PROJECTOR_GROUP", cls.group_id),
            topics=TopicNames.from_env(environ),
            batch_max_records=_int(environ, "PROJECTOR_BATCH_MAX", cls.batch_max_records),
            batch_wait_ms=_int(environ, "PROJECTOR_BATCH_WAIT_MS", cls.batch_wait_ms, minimum=0),
            store_concurrency=_int(environ, "PROJECTOR_STORE_CONCURRENCY", cls.store_concurrency),
            status_map_file=Path(status_map) if status_map else None,
            changes_retention_hours=_int(
                environ, "CHANGES_RETENTION_HOURS", cls.changes_retention_hours
            ),
            metrics_host=environ.get("PROJECTOR_METRICS_HOST") or cls.metrics_host,
            metrics_port=_int(environ, "PROJECTOR_METRICS_PORT", cls.metrics_port, minimum=0),
        )
