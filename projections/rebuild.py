"""Rebuild: replay every inbound topic into a fresh generation, then switch readers to it.

Used after a change to the status mapping or the reducers. Readers keep serving the old
generation while the new one fills, and move over with one pointer write, so there is no
read outage. The live projector follows the pointer on its next batch.

Why the second drain: events that arrive after the catch-up but before the live projector
sees the new pointer are written by the live projector into the old generation only; the
drain re-reads up to the end offsets taken after the switch, so the new generation has them.
Applying an event twice is harmless (the reducers are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from projections.metrics import ProjectorMetrics
from projections.projector import BatchProcessor
from projections.runner import flatten, process_until_done, record_outcome
from projections.settings import ProjectorSettings
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore
from readmodel.kafka_admin import partitions_of

log = logging.getLogger(__name__)


async def _consume_until(
    consumer: AIOKafkaConsumer,
    processor: BatchProcessor,
    targets: dict[TopicPartition, int],
    settings: ProjectorSettings,
    stop: asyncio.Event,
    metrics: ProjectorMetrics,
    generation: str,
) -> int:
    applied = 0
    while not stop.is_set():
        positions = {tp: await consumer.position(tp) for tp in targets}
        remaining = sum(max(end - positions[tp], 0) for tp, end in targets.items())
        metrics.rebuild_remaining.labels(generation=generation).set(remaining)
        metrics.loop_came_round()
        if not remaining:
            return applied
        batches = await consumer.getmany(
            timeout_ms=settings.batch_wait_ms, max_records=settings.batch_max_records
        )
        records = flatten(batches)
        if records:
            outcome = await process_until_done(processor, records, stop, metrics)
            if outcome is not None:
                applied += outcome.applied_events
                record_outcome(metrics, outcome)
    return applied


async def rebuild(
    settings: ProjectorSettings,
    stop: asyncio.Event | None = None,
    metrics: ProjectorMetrics | None = None,
) -> str:
    """Build generation ``<timestamp>`` from offset 0 and make it the active one."""
    stop = stop or asyncio.Event()
    metrics = metrics or ProjectorMetrics()
    suffix = datetime.now(UTC).strftime("g%Y%m%d%H%M%S")
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongodb_uri, tz_aware=True
    )
    store = ProjectionStore(
        client[settings.mongodb_database],
        concurrency=settings.store_concurrency,
        observer=metrics,
    )
    processor = BatchProcessor(
        store, load_status_mapping(settings.status_map_file), settings.topics, target_suffix=suffix
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        max_poll_records=settings.batch_max_records,
    )
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, settings.topics.inbound().values())
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        await store.ensure_indexes(suffix)

        async def catch_up(until: asyncio.Event) -> int:
            """Apply every record up to the partitions' current ends (or ``until``); how
            many events."""
            ends = await consumer.end_offsets(partitions)
            return await _consume_until(consumer, processor, ends, settings, until, metrics, suffix)

        applied = await catch_up(stop)
        if stop.is_set():
            raise RuntimeError(f"rebuild of generation {suffix} interrupted before the switch")
        previous = await store.active_suffix()
        await store.set_active_suffix(suffix)
        log.info("readers switched from generation %r to %r", previous, suffix)
        # Not stopped by ``stop``: readers now use this generation, and the records this
        # drain reads may be in the previous one only (see the module docstring). It is
        # bounded by the ends read now; stopping it would lose them for good.
        applied += await catch_up(asyncio.Event())
        log.info("rebuild %s applied %d events", suffix, applied)
        return suffix
    finally:
        await consumer.stop()
        await client.close()
