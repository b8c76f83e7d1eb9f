"""Rebuild: replay every inbound topic into a fresh generation, then switch readers to it.

Used after a change to the status mapping or the reducers, whose fingerprint it records
with the pointer: a projector still running the old ones then refuses to write the new
generation rather than undo the change (``projections.generation_config``; docs/architecture.md,
"Where a change goes", for the order of the deploy). Readers keep serving the old
generation while the new one fills, and move over with one pointer write, so there is no
read outage. The live projector follows the pointer on its next batch.

The new generation is written without its indexes, which are built in one pass once the
catch-up reaches the log's end (``projections.deferred_indexes``: far cheaper than entry by
entry); what arrived during the build is read before the switch, so readers find the new
generation as current as the old one, up to the drain below.

Why the second drain: events that arrive after the catch-up but before the live projector
sees the new pointer are written by the live projector into the old generation only; the
drain re-reads up to the end offsets taken after the switch, so the new generation has them.
Applying an event twice is harmless (the reducers are idempotent). The drain also publishes
the change notices of what it applies (under the ids the live projector gave them: subscribers
drop repeats): a portal that took its ``liveCursor`` after the live projector announced a
change, and fetched from the new generation before the drain reached that change, would
otherwise never see it (``graph.live_cursor``: a notice at or before the cursor must be of a
change the fetch reads). The catch-ups before the switch publish nothing: no reader sees
that generation yet, and the live projector announced those changes when it applied them.

The new generation counts a shipment's ``rev`` from 1 again, so the pointer write that
switches readers also gives it a revision offset above every notice revision of the one
they leave (``projections.revision_offsets``), read from that generation's highest ``rev``
just before the write, and checked again after it, beside the drain: the live projector may
have raised it meanwhile (its batch in flight at the switch), which the margin covers.

A rebuild is complete only if the inbound logs still hold every record from offset 0:
retention or ``kafka-delete-records`` that moved a log's start leaves a generation without
those events, which verify cannot tell (it checks what the log still holds). So a rebuild
over such a log is refused before anything is written (``TruncatedHistory``) unless the
operator allows it (``allow_truncated_history``, ``--allow-truncated-history``), and records
the log loses while the rebuild reads it fail the rebuild (the consumer resets to no offset):
before the switch refused the same way, naming the partition, the offset and the log's new
start (``_removed_while_read``), after it as a drain that could not finish.

From before its generation's first collection to its end, a rebuild holds a marker
(``projections.build_marker``): ``projections generations drop`` never drops a generation
whose rebuild is alive, and drops one whose rebuild ended or died without switching. The
switch records when and from which generation (``ProjectionStore.set_active_suffix``): the
previous one is dropped only a grace period later.

One rebuild at a time: before it writes anything a rebuild claims the rebuild lease
(``projections.rebuild_lease``), and refuses to start (``RebuildRunning``) while a live one
holds it. Two rebuilds at once switched the pointer in either order: readers could go back
to the generation built first, and notice revisions down (each computed its offset from the
pointer it had read). The lease is not enforced by the store (a rebuild cut off from it
longer than the stale time looks dead), so the switch is also a compare-and-set on the
pointer read just after the claim (``ProjectionStore.set_active_suffix``): if anyone
switched readers meanwhile, the rebuild does not switch (``SwitchRefused``), and readers
keep the pointer as the other writer left it; its generation is then abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from projections.build_marker import building, mark_switching, unmark_switching
from projections.deferred_indexes import EVERY_COLLECTION
from projections.header_names import tolerate_unreadable_header_names
from projections.log_ends import known_within, records_left_below
from projections.metrics import ProjectorMetrics
from projections.projector import BatchOutcome, BatchProcessor
from projections.rebuild_lease import holding
from projections.revision_offsets import (
    REVISION_MARGIN,
    REVISION_OFFSET_CEILING,
    corrected_offset,
    next_revision_offset,
    wrapped,
)
from projections.runner import (
    ensure_projector_topics,
    flatten,
    notices_producer,
    process_until_done,
    processor_for,
    record_outcome,
    send_notices,
    store_client,
)
from projections.settings import ProjectorSettings
from projections.store import ActiveGeneration, PointerMoved, StoreError
from readmodel.kafka_admin import partitions_of
from readmodel.topics import INBOUND_ISOLATION

log = logging.getLogger(__name__)

#: How often a rebuild asks again whether a refused index build may be tried again.
INDEX_RETRY_POLL_SECONDS = 1.0
#: How long a rebuild whose records were removed while it read them waits for the broker to
#: say where the logs start now, for its refusal's line (``_removed_while_read``).
LOG_START_WITHIN_SECONDS = 5.0


async def _build_indexes(processor: BatchProcessor, stop: asyncio.Event, suffix: str) -> None:
    """Build the generation's deferred indexes (``projections.deferred_indexes``), trying
    again after a refusal until they are built or the rebuild is asked to stop."""
    while not stop.is_set() and not await processor.caught_up():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INDEX_RETRY_POLL_SECONDS)
    if stop.is_set():
        raise RuntimeError(f"rebuild of generation {suffix} interrupted before the switch")


class TruncatedHistory(RuntimeError):
    """An inbound log no longer starts at offset 0: a rebuild from it would miss events."""


async def _refuse_truncated_history(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], allowed: bool
) -> dict[TopicPartition, int]:
    """Raise ``TruncatedHistory`` naming each partition whose log starts above offset 0
    (with ``allowed``, log it and go on: the operator accepts the loss); each partition's
    first offset, where the rebuild reads from (not "the beginning" resolved again later:
    records removed after this check would then be skipped, not refused)."""
    starts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
    truncated = ", ".join(
        f"{tp.topic}[{tp.partition}] starts at offset {first}"
        for tp, first in sorted(starts.items())
        if first > 0
    )
    if not truncated:
        return starts
    if allowed:
        log.warning("rebuilding without the records retention removed: %s", truncated)
        return starts
    raise TruncatedHistory(
        f"the inbound logs no longer hold every record: {truncated}; a rebuild would switch "
        "readers to a generation without the events before those offsets. Keep inbound "
        "topics forever (retention.ms=-1); to rebuild from what is left, pass "
        "--allow-truncated-history"
    )


async def _removed_while_read(
    consumer: AIOKafkaConsumer, removed: OffsetOutOfRangeError
) -> TruncatedHistory:
    """The refusal of a rebuild whose next records were removed while it read them (the
    consumer resets to no offset, ``_consumer``): which partitions, from which offset, and
    where each log starts now (when the broker says within ``LOG_START_WITHIN_SECONDS``)."""
    fetched: dict[TopicPartition, int] = removed.args[0] if removed.args else {}
    starts: dict[TopicPartition, int] = await known_within(
        LOG_START_WITHIN_SECONDS, consumer.beginning_offsets(list(fetched)), {}
    )
    lost = ", ".join(
        f"{tp.topic}[{tp.partition}] from offset {offset}"
        + (f" (its log now starts at offset {starts[tp]})" if tp in starts else "")
        for tp, offset in sorted(fetched.items())
    )
    return TruncatedHistory(
        f"records were removed from the inbound logs while the rebuild read them: {lost}; "
        "readers were not switched to the incomplete generation (it is abandoned). Keep "
        "inbound topics forever (retention.ms=-1) and rebuild again; to rebuild from what "
        "is left, rebuild again with --allow-truncated-history"
    )


class RebuildIncomplete(RuntimeError):
    """Readers use the new generation, but records the drain after the switch had to apply
    were not applied (stopped after ``REBUILD_DRAIN_GRACE_SECONDS``): rebuild again."""


async def _consume_until(
    consumer: AIOKafkaConsumer,
    processor: BatchProcessor,
    targets: dict[TopicPartition, int],
    settings: ProjectorSettings,
    stop: asyncio.Event,
    metrics: ProjectorMetrics,
    generation: str,
    announce: Callable[[BatchOutcome], Awaitable[None]] | None = None,
) -> tuple[int, dict[TopicPartition, int]]:
    """Apply records up to ``targets`` (or until ``stop``), each batch then ``announce``d:
    how many events, and the offsets up to which every record is applied (a batch cut off by
    ``stop`` is not)."""
    applied = 0
    reached = {tp: await consumer.position(tp) for tp in targets}
    while not stop.is_set():
        remaining = records_left_below(targets, reached)
        metrics.rebuild_remaining.labels(generation=generation).set(remaining)
        metrics.loop_came_round()
        if not remaining:
            break
        batches = await consumer.getmany(
            timeout_ms=settings.batch_wait_ms, max_records=settings.batch_max_records
        )
        records = flatten(batches)
        if records:
            outcome = await process_until_done(processor, records, stop, metrics)
            if outcome is None:
                break  # stopped before this batch was applied: ``reached`` stays before it
            applied += outcome.applied_events
            record_outcome(metrics, outcome)
            if announce is not None:
                await announce(outcome)
        reached = {tp: await consumer.position(tp) for tp in targets}
    return applied, reached


def _short_of(targets: dict[TopicPartition, int], reached: dict[TopicPartition, int]) -> str:
    """The offset ranges of ``targets`` not reached, as an operator reads them ("" if none)."""
    return ", ".join(
        f"{tp.topic}[{tp.partition}] {reached[tp]}-{end - 1}"
        for tp, end in sorted(targets.items())
        if reached[tp] < end
    )


async def _stop_after_grace(stop: asyncio.Event, drained: asyncio.Event, grace: float) -> None:
    """Set ``drained``'s stop ``grace`` seconds after ``stop``: the drain after the switch
    outlives a stop request long enough to finish in the usual case, and never hangs a
    process whose store or broker is down."""
    await stop.wait()
    log.warning(
        "asked to stop while applying what readers of the new generation lack; "
        "going on for up to %.0f s",
        grace,
    )
    await asyncio.sleep(grace)
    drained.set()


class _Rebuild(NamedTuple):
    """One rebuild: what its steps after the catch-up read, with ``pointer``, the read
    pointer as it was once the rebuild held the lease (the one its switch replaces)."""

    consumer: AIOKafkaConsumer
    processor: BatchProcessor
    partitions: list[TopicPartition]
    settings: ProjectorSettings
    stop: asyncio.Event
    metrics: ProjectorMetrics
    suffix: str
    pointer: ActiveGeneration


async def _drain_after_switch(run: _Rebuild, notices: AIOKafkaProducer) -> int:
    """Apply every record up to the ends as they are now, publishing the notices of what it
    applies (the module docstring); how many events.

    Readers already use this generation, and these records may be in the previous one only
    (the module docstring): a stop request does not cut the drain short at once
    (``_stop_after_grace``), and one that does is an error naming what is missing
    (``RebuildIncomplete``), never a success.
    """
    settings, metrics = run.settings, run.metrics
    ends = await run.consumer.end_offsets(run.partitions)
    drain_stop = asyncio.Event()

    async def announce(outcome: BatchOutcome) -> None:
        sent = await send_notices(notices, outcome.notices, settings.topics.changes, metrics)
        await asyncio.gather(*sent)

    grace = asyncio.create_task(
        _stop_after_grace(run.stop, drain_stop, settings.rebuild_drain_grace_seconds)
    )
    try:
        drained, reached = await _consume_until(
            run.consumer, run.processor, ends, settings, drain_stop, metrics, run.suffix, announce
        )
    finally:
        grace.cancel()
    missing = _short_of(ends, reached)
    if missing:
        raise RebuildIncomplete(
            f"readers use generation {run.suffix}, but these records were not applied to it "
            f"before the rebuild stopped: {missing}; run the rebuild again"
        )
    return drained


class _Switch(NamedTuple):
    """A switch of readers: the generation they left and the new one's revision offset."""

    previous: ActiveGeneration
    revision_offset: int


async def _switch_readers(
    processor: BatchProcessor, suffix: str, previous: ActiveGeneration
) -> _Switch:
    """Point readers at generation ``suffix`` with the fingerprint of the status mapping and
    reducers that built it (from then on a projector running others refuses to write it:
    ``projections.generation_config``) and the revision offset that keeps its notices'
    revisions above the previous generation's (``projections.revision_offsets``), which
    the drain's notices carry too; ``PointerMoved`` (nothing written) if the pointer no
    longer names ``previous`` with its revision offset, which that offset is computed from."""
    store = processor.store
    highest = await store.highest_shipment_rev(previous.suffix)
    offset = next_revision_offset(previous.revision_offset, highest)
    if wrapped(previous.revision_offset, offset):
        log.warning(
            "notice revisions start again from 0 in generation %r (the previous offset %d "
            "and highest revision %d pass %d): subscribers see a shipment's revision go down "
            "once",
            suffix,
            previous.revision_offset,
            highest,
            REVISION_OFFSET_CEILING,
        )
    await store.set_active_suffix(
        suffix, config=processor.config, revision_offset=offset, replacing=previous
    )
    processor.announce_with(offset)
    log.info(
        "readers switched from generation %r to %r, built with %s; notice revisions from %d",
        previous.suffix,
        suffix,
        processor.config,
        offset,
    )
    return _Switch(previous, offset)


async def _correct_revision_offset(processor: BatchProcessor, suffix: str, switch: _Switch) -> None:
    """Raise generation ``suffix``'s revision offset if the live projectors raised a
    shipment's ``rev`` in the generation readers left by more than ``REVISION_MARGIN``
    while the switch was made (``revision_offsets.corrected_offset``: read any time after
    the switch, that ``rev`` bounds the old generation's notices still to come). The
    notices already sent with the lower offset may then be below one of that generation's:
    logged, as the margin was too small for that rate of batches. A store error is logged
    too, not raised: readers use the new generation already, and the margin almost always
    suffices."""
    previous, store = switch.previous, processor.store
    try:
        highest = await store.highest_shipment_rev(previous.suffix)
        corrected = corrected_offset(switch.revision_offset, previous.revision_offset, highest)
        if corrected is None or not await store.raise_revision_offset(suffix, corrected):
            return
    except StoreError as exc:
        log.warning("could not check the revision offset of generation %r: %s", suffix, exc)
        return
    processor.announce_with(corrected)
    log.warning(
        "generation %r reached revision %d while readers switched away from it, more than "
        "%d above what the switch read: notice revisions of generation %r raised from %d to "
        "%d; notices sent in between may be below ones sent before the switch",
        previous.suffix,
        highest,
        REVISION_MARGIN,
        suffix,
        switch.revision_offset,
        corrected,
    )


class SwitchRefused(RuntimeError):
    """Someone switched the read pointer while this rebuild built its generation: readers
    were not switched to it (they keep what the other writer chose) and it is abandoned."""


async def _switch_or_refuse(run: _Rebuild) -> _Switch:
    """``_switch_readers`` from the pointer the rebuild read at its start; ``SwitchRefused``
    if that pointer changed since, with the generation's marker no longer saying it was
    switched to (``build_marker.unmark_switching``: a drop then drops it at once)."""
    try:
        return await _switch_readers(run.processor, run.suffix, run.pointer)
    except PointerMoved as moved:
        await unmark_switching(run.processor.store.db, run.suffix)
        found = moved.found.label
        raise SwitchRefused(
            f"readers were not switched to generation {run.suffix}: the read pointer changed "
            f"while it was built (it named generation {run.pointer.label} "
            f"with revision offset {run.pointer.revision_offset} when this rebuild started, "
            f"and names {found} with revision offset {moved.found.revision_offset} now: "
            f"another rebuild or an operator switched it); readers keep {found}, and "
            f"generation {run.suffix} is abandoned (projections generations drop drops it). "
            f"Rebuild again if readers should not use {found}"
        ) from moved


def new_generation_suffix(now: datetime) -> str:
    """The name of a new generation: its start time, so that names sort by age, and a random
    part, so that two rebuilds started in the same second (by two operators, or a retry)
    never write into one generation, as they did with the time alone."""
    return f"g{now:%Y%m%d%H%M%S}{secrets.token_hex(3)}"


async def rebuild(
    settings: ProjectorSettings,
    stop: asyncio.Event | None = None,
    metrics: ProjectorMetrics | None = None,
    *,
    allow_truncated_history: bool = False,
) -> str:
    """Build generation ``<timestamp>`` from offset 0 and make it the active one; refused
    (``TruncatedHistory``) if a log no longer starts there, unless ``allow_truncated_history``,
    before anything is written (``RebuildRunning``) while another rebuild runs, and at the
    switch (``SwitchRefused``) if someone switched readers meanwhile (the module docstring)."""
    stop = stop or asyncio.Event()
    metrics = metrics or ProjectorMetrics()
    suffix = new_generation_suffix(datetime.now(UTC))
    client = store_client(settings)
    processor = processor_for(
        settings, client, metrics, target_suffix=suffix, deferring=EVERY_COLLECTION
    )
    try:
        # before anything is written: refused while another rebuild runs (the docstring)
        async with holding(processor.store.db, suffix):
            # read once the lease is held: what the switch replaces, compare-and-set
            pointer = await processor.store.active_generation()
            consumer = _consumer(settings)
            await consumer.start()
            try:
                partitions = await _from_first_offsets(consumer, settings, allow_truncated_history)
                run = _Rebuild(
                    consumer, processor, partitions, settings, stop, metrics, suffix, pointer
                )
                # a drop that claims the generation (its marker stale) stops the rebuild
                async with building(processor.store.db, suffix, stop):
                    await _build_switch_and_drain(run)
            finally:
                await consumer.stop()
        return suffix
    finally:
        await client.close()


def _consumer(settings: ProjectorSettings) -> AIOKafkaConsumer:
    """The rebuild's consumer: no group, no commits; it is assigned every partition."""
    tolerate_unreadable_header_names()  # refused as the projector refuses them
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        isolation_level=INBOUND_ISOLATION,
        max_poll_records=settings.batch_max_records,
        # records deleted before they are read fail the rebuild (OffsetOutOfRangeError,
        # refused as ``TruncatedHistory``) rather than moving the read silently to the log's
        # end (the default, "latest")
        auto_offset_reset="none",
    )


async def _from_first_offsets(
    consumer: AIOKafkaConsumer, settings: ProjectorSettings, allowed: bool
) -> list[TopicPartition]:
    """Assign ``consumer`` every inbound partition at its first offset, refused
    (``TruncatedHistory``) unless each is 0 or ``allowed``; the partitions."""
    partitions = await partitions_of(consumer, settings.topics.inbound().values())
    starts = await _refuse_truncated_history(consumer, partitions, allowed)
    consumer.assign(partitions)
    for tp, first in starts.items():
        consumer.seek(tp, first)
    return partitions


async def _build_switch_and_drain(run: _Rebuild) -> None:
    """Fill the generation (``processor.prepare`` creates its collections: inside the
    rebuild's marker, ``projections.build_marker``), then switch and drain."""
    await run.processor.prepare()

    async def catch_up() -> int:
        """Apply every record up to the ends as they are now, then build the deferred
        indexes (readers name them: the new generation has every one before they see
        it); how many events. Stopped: no switch (``_build_indexes`` raises)."""
        ends = await run.consumer.end_offsets(run.partitions)
        try:
            caught, _ = await _consume_until(
                run.consumer, run.processor, ends, run.settings, run.stop, run.metrics, run.suffix
            )
        except OffsetOutOfRangeError as removed:
            raise await _removed_while_read(run.consumer, removed) from removed
        await _build_indexes(run.processor, run.stop, run.suffix)
        return caught

    applied = await catch_up()
    applied += await catch_up()  # what arrived while the indexes were built
    drained = await _switch_and_drain(run)
    log.info("rebuild %s applied %d events", run.suffix, applied + drained)


async def _switch_and_drain(run: _Rebuild) -> int:
    """Switch readers to generation ``suffix``, then drain (``_drain_after_switch``); the
    notices' producer and topic are made sure of first, so a broker that refuses them stops
    the rebuild before readers move."""
    await ensure_projector_topics(run.settings)
    notices = notices_producer(run.settings)
    await notices.start()
    try:
        await mark_switching(run.processor.store.db, run.suffix)
        switch = await _switch_or_refuse(run)
        # beside the drain, not before it: readers wait for the drain, and the check needs
        # nothing of it (``_correct_revision_offset``)
        correction = asyncio.create_task(
            _correct_revision_offset(run.processor, run.suffix, switch)
        )
        try:
            return await _drain_after_switch(run, notices)
        except KafkaError as exc:  # the store's errors are retried within the grace
            raise RebuildIncomplete(
                f"readers use generation {run.suffix}, but the catch-up after the switch failed "
                f"({exc!r}): records the previous generation has may be missing from it; "
                "rebuild again"
            ) from exc
        finally:
            await correction
    finally:
        await notices.stop()
