"""Projector configuration, read once from the environment at start-up by
``load_projector_settings``.

Built directly (tests, benchmarks) a ``ProjectorSettings`` reads nothing from the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, InstanceOf

from config.env import EnvReader, check_existing_file
from config.process import ProcessSettings
from config.topics import read_topic_names
from projections.document_cache import CACHED_DOCUMENTS
from readmodel.topics import TopicNames


class ProjectorSettings(ProcessSettings):
    group_id: str = Field("portal-projector", validation_alias="PROJECTOR_GROUP", min_length=1)
    topics: InstanceOf[TopicNames] = Field(default_factory=TopicNames, exclude=True)
    #: Most records taken from Kafka per batch. A backlog goes in large batches: the more of
    #: an entity's events one batch holds, the fewer writes it needs (each document is
    #: written once per batch, and each related document once per batch that changes a
    #: summary it holds). Caught up, a batch holds what arrived during the last one, so this
    #: bounds only a catch-up's batches: 40,000 made about half the updates 10,000 did over
    #: ``bench/projector.py``'s 200,000 events, for about 0.3 GB more memory at the peak
    #: (docs/benchmarks.md, "Session 19: a backlog's batches").
    batch_max_records: int = Field(40_000, validation_alias="PROJECTOR_BATCH_MAX", ge=1)
    #: How long to wait for a batch to fill before processing what arrived.
    batch_wait_ms: int = Field(100, validation_alias="PROJECTOR_BATCH_WAIT_MS", ge=0)
    #: How long the broker may hold a fetch of partitions without new records. The consumer
    #: fetches nothing else from that broker meanwhile, so this bounds how long a new record
    #: can wait behind a quiet partition's fetch (an idle member sends one fetch per wait).
    fetch_wait_ms: int = Field(20, validation_alias="PROJECTOR_FETCH_WAIT_MS", ge=1)
    #: How long the group waits to hear from a member before it hands that member's
    #: partitions to the others: a member that died without leaving (SIGKILL, a lost host)
    #: holds its partitions, and every member that joins meanwhile waits, this long. Members
    #: heartbeat every 3/10 of it. The broker refuses a value outside its
    #: ``group.min.session.timeout.ms`` .. ``group.max.session.timeout.ms`` (6 s .. 30 min by
    #: default); a short one evicts a member whose event loop is held up that long. aiokafka
    #: gives a rebalance the same time to be joined by every member (its
    #: ``rebalance_timeout_ms`` defaults to this): a member that takes longer to give its
    #: partitions up is evicted too.
    session_timeout_ms: int = Field(10_000, validation_alias="PROJECTOR_SESSION_TIMEOUT_MS", ge=1)
    #: Concurrent MongoDB operations per batch (reads of current documents, per-entity writes).
    store_concurrency: int = Field(16, validation_alias="PROJECTOR_STORE_CONCURRENCY", ge=1)
    #: Documents each process keeps of those it last read or wrote, so that the next batch
    #: need not read them again (``projections.document_cache``; 0: none). Correctness does
    #: not depend on it: every write is conditional on the stored document.
    cache_documents: int = Field(
        CACHED_DOCUMENTS, validation_alias="PROJECTOR_CACHE_DOCUMENTS", ge=0
    )
    #: Raw carrier code -> portal status per source; None means the packaged map.
    status_map_file: Annotated[Path | None, AfterValidator(check_existing_file)] = None
    #: How long a rebuild asked to stop goes on applying what readers of the new generation
    #: lack (the drain after the switch) before it stops with an error naming the records
    #: left out.
    rebuild_drain_grace_seconds: float = Field(
        30.0, validation_alias="REBUILD_DRAIN_GRACE_SECONDS", ge=0
    )
    #: How long after a rebuild's switch ``projections generations drop`` keeps the
    #: generation readers left (and those left before): longer than the API's
    #: ``READ_POINTER_CACHE_SECONDS`` plus its longest request, and than a live projector's
    #: ``POINTER_REFRESH_SECONDS`` plus its longest batch, which may still write it
    #: (``projections.generations``). At least a minute: a shorter one would drop what a
    #: reader of the defaults may still read.
    generation_drop_grace_seconds: float = Field(
        600.0, validation_alias="GENERATION_DROP_GRACE_SECONDS", ge=60
    )
    #: Hours the changes topic keeps notices: the subscription resume window.
    changes_retention_hours: int = Field(72, ge=1)
    #: Where this process serves ``/metrics`` and ``/healthz``. Give each process on one host
    #: its own port; 0 picks a free one (logged), for tests.
    metrics_host: str = Field("127.0.0.1", validation_alias="PROJECTOR_METRICS_HOST", min_length=1)
    metrics_port: int = Field(9464, validation_alias="PROJECTOR_METRICS_PORT", ge=0, le=65535)


def load_projector_settings(environ: Mapping[str, str] | None = None) -> ProjectorSettings:
    """Every projector setting from ``environ`` (default ``os.environ``); ``SettingsError``
    naming every bad variable."""
    reader = EnvReader("projector", environ)
    topics = read_topic_names(reader)
    settings = reader.read(ProjectorSettings, topics=topics)
    reader.raise_problems()
    assert settings is not None
    return settings
