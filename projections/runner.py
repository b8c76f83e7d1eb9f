"""The long-running projector process: one member of the ``portal-projector`` consumer group.

Scale out by starting more processes with the same group id: Kafka shares the partitions
among them, and because every write is idempotent and keyed by entity, together they build
the same documents as one process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.partitioner import DefaultPartitioner
from pymongo import AsyncMongoClient

from config.garbage import tune_garbage_collection
from observability.json_logs import log_traced_hop
from projections.dead_letter import DEAD_LETTER_MAX_UNCOMPRESSED
from projections.deferred_indexes import SEARCH_COLLECTION
from projections.document_cache import DocumentCache
from projections.header_names import tolerate_unreadable_header_names
from projections.log_ends import (
    behind,
    log_ends,
    poll_while,
    reached_log_ends,
    records_left,
)
from projections.metrics import ProjectorMetrics
from projections.phases import PhaseClock
from projections.projector import BatchOutcome, BatchProcessor
from projections.removed_records import ReportRemovedOnAssign
from projections.settings import ProjectorSettings
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore, StoreError
from projections.together import stop_all, together
from readmodel.changes import NOTICE_MAX_BYTES, ShipmentChange
from readmodel.kafka_admin import ensure_own_topics
from readmodel.topics import INBOUND_ISOLATION, TopicNames

log = logging.getLogger(__name__)
_T = TypeVar("_T")


#: Bytes of notices (or dead letters) per produce request and partition.
NOTICE_BATCH_BYTES = 512 * 1024

#: Backoff while MongoDB or the broker refuses a batch; the batch is retried, never skipped.
RETRY_DELAYS_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Producers:
    """The projector's two producers (``kafka_clients``): change notices, uncompressed (the
    many small records a live portal waits for), and dead letters, gzip-compressed so a
    record an upstream producer compressed fits the dead-letter topic again (rare records,
    whose compression costs nothing a notice waits for)."""

    notices: AIOKafkaProducer
    dead_letters: AIOKafkaProducer

    async def start(self) -> None:
        await self.notices.start()
        try:
            await self.dead_letters.start()
        except BaseException:
            await self.notices.stop()
            raise

    async def stop(self) -> None:
        try:
            await self.notices.stop()
        finally:
            await self.dead_letters.stop()


async def publish_outcome(
    producers: Producers,
    outcome: BatchOutcome,
    *,
    dead_letter_topic: str,
    changes_topic: str,
    metrics: ProjectorMetrics,
) -> None:
    """Send dead letters and change notices and wait until the broker has them all. Neither
    fails the batch for its size: a dead letter too large for its topic goes cut
    (``DeadLetter.sendable``), a notice too large goes abridged (``sendable_notices``)."""
    letters = [dead.sendable() for dead in outcome.dead_letters]
    sends = [
        await producers.dead_letters.send(
            dead_letter_topic, value=letter.value, key=letter.key, headers=letter.headers()
        )
        for letter in letters
    ]
    sends += await send_notices(producers.notices, outcome.notices, changes_topic, metrics)
    if sends:
        await asyncio.gather(*sends)


async def send_notices(
    producer: AIOKafkaProducer,
    notices: Iterable[ShipmentChange],
    changes_topic: str,
    metrics: ProjectorMetrics,
) -> list[asyncio.Future[Any]]:
    """Hand ``notices`` to ``producer`` (``sendable_notices``); the futures of their
    acknowledgements (one per record batch), which the caller awaits.

    Each notice goes to the partition ``producer.send`` would give it, its key (the shipment
    id) through Kafka's default partitioner (``_notice_partitions``), in the notices' order
    within its partition, so every reader of the changes topic sees a shipment's notices in
    order. They go in record batches filled here (``BatchBuilder``, bounded by the
    producer's ``max_batch_size``: a full one is sent and a new one started), not one
    ``send`` each: the producer's per-record path (metadata wait, partitioner, accumulator,
    a future per record) was half of publishing a catch-up's notices (docs/benchmarks.md,
    "Session 21"; "Session 22": 15 against 5 µs of CPU per notice). Each batch is closed
    before it is handed over, so the producer sends it without lingering for records that
    will not come. A record larger than a batch goes alone in one; a notice is at most
    ``NOTICE_MAX_BYTES``, under the producer's ``max_request_size`` (which ``send`` would
    check per record). The producer stamps each batch's sequence numbers when it sends it,
    as for ``send``'s batches: idempotence holds.
    """
    sendable = sendable_notices(notices, metrics)
    if not sendable:
        return []
    by_partition = await _notice_partitions(producer, changes_topic, sendable)
    sent = await asyncio.gather(
        *(
            _send_in_batches(producer, changes_topic, partition, records)
            for partition, records in by_partition.items()
        )
    )
    return [future for futures in sent for future in futures]


#: The partitioner ``AIOKafkaProducer.send`` uses when given none (``_producer`` gives
#: none): a key's murmur2 hash modulo the partition count, as Kafka's Java client does.
_DEFAULT_PARTITIONER = DefaultPartitioner()


async def _notice_partitions(
    producer: AIOKafkaProducer,
    changes_topic: str,
    sendable: Iterable[tuple[ShipmentChange, bytes]],
) -> dict[int, list[tuple[bytes, bytes]]]:
    """Partition -> the (key, value) records of the notices ``producer.send`` would put
    there, in their order; the partitions as the producer's metadata knows them, which it
    fetches first if it has none for the topic (as ``send`` does). The changes topic has one
    partition (``ensure_own_topics`` refuses more), every key's under the default
    partitioner: no hash is computed for it."""
    partitions = sorted(await producer.partitions_for(changes_topic))
    by_partition: defaultdict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    for notice, value in sendable:
        key = notice.shipment_id.encode()
        partition = (
            partitions[0]
            if len(partitions) == 1
            else _DEFAULT_PARTITIONER(key, partitions, partitions)
        )
        by_partition[partition].append((key, value))
    return by_partition


async def _send_in_batches(
    producer: AIOKafkaProducer, topic: str, partition: int, records: list[tuple[bytes, bytes]]
) -> list[asyncio.Future[Any]]:
    """Send ``records`` to one partition in as few record batches as the producer's batch
    size allows, in order (the producer queues a partition's batches one after the other);
    the futures of the batches' acknowledgements."""
    sent: list[asyncio.Future[Any]] = []
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full, now closed
            sent.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any
    batch.close()
    sent.append(await producer.send_batch(batch, topic, partition=partition))
    return sent


def sendable_notices(
    notices: Iterable[ShipmentChange], metrics: ProjectorMetrics
) -> list[tuple[ShipmentChange, bytes]]:
    """The notices as the changes topic takes them, encoded (``ShipmentChange.sendable``);
    each one abridged or left out for its size is logged and counted."""
    sendable: list[tuple[ShipmentChange, bytes]] = []
    for notice in notices:
        sent = notice.sendable()
        if sent is not None:
            sendable.append(sent)
        if sent is None or sent[0].abridged:
            _report_abridged(notice, None if sent is None else sent[0], metrics)
    return sendable


def _report_abridged(
    notice: ShipmentChange, sent: ShipmentChange | None, metrics: ProjectorMetrics
) -> None:
    if sent is None:
        kind, what = "unsent", "not sent: too large even abridged"
    elif len(sent.order_warehouses) < len(notice.order_warehouses):
        kind, what = "orders", "sent without milestone text and order warehouses"
    else:
        kind, what = "milestone", "sent without milestone text"
    metrics.notice_abridged(kind)
    log.log(
        logging.ERROR if sent is None else logging.WARNING,
        "change notice %s of shipment %s is %d bytes, over %d: %s",
        notice.notice_id,
        notice.shipment_id,
        len(notice.encode()),
        NOTICE_MAX_BYTES,
        what,
    )


def flatten(
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
) -> list[ConsumerRecord[bytes, bytes]]:
    return [record for records in batches.values() for record in records]


def next_offsets(
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
) -> dict[TopicPartition, int]:
    return {tp: records[-1].offset + 1 for tp, records in batches.items() if records}


async def until_done(
    operation: Callable[[], Awaitable[_T]],
    stop: asyncio.Event,
    metrics: ProjectorMetrics | None = None,
) -> _T | None:
    """Run a batch's store work, retrying through store outages and refusals (it is
    idempotent; each retry is logged and counted); None if asked to stop meanwhile.

    Each retry counts as the loop coming round (``/healthz``): a projector waiting out a
    MongoDB outage is doing its job, and an orchestrator that restarted it every 300 s would
    only add restarts, rebalances and a crash-loop back-off to the outage."""
    attempt = 0
    while True:
        try:
            return await operation()
        except StoreError as exc:
            delay = RETRY_DELAYS_SECONDS[min(attempt, len(RETRY_DELAYS_SECONDS) - 1)]
            log.warning("store refused or unavailable (%s); retrying batch in %.1fs", exc, delay)
            attempt += 1
            if metrics is not None:
                metrics.batch_retries.inc()
                metrics.loop_came_round()
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return None
            except TimeoutError:
                continue


async def process_until_done(
    processor: BatchProcessor,
    records: Sequence[ConsumerRecord[bytes, bytes]],
    stop: asyncio.Event,
    metrics: ProjectorMetrics | None = None,
) -> BatchOutcome | None:
    """Process a batch (every write made), retrying through store outages; None if asked
    to stop meanwhile."""
    return await until_done(partial(processor.process, records), stop, metrics)


def record_outcome(metrics: ProjectorMetrics, outcome: BatchOutcome) -> None:
    """Count what a written batch applied and refused; log each traced event once.

    A traced event (CloudEvents ``traceparent``) gets its own log line, carrying the trace
    id an operator follows from the source to the subscriber; untraced events are only
    counted (a line per event would be thousands per batch).
    """
    now = datetime.now(UTC)
    for dead in outcome.dead_letters:
        metrics.dead_lettered(dead.topic, dead.reason)
    metrics.applied(
        (
            (record.topic, event.type, event.time, record.timestamp)
            for event, record in outcome.applied
        ),
        now,
    )
    for event, record in outcome.applied:
        if event.traceparent is None:
            continue  # the decoder keeps only valid ones
        log_traced_hop(
            log,
            "event applied",
            event.traceparent,
            event_id=event.id,
            event_source=event.source,
            event_type=event.type,
            subject=event.subject,
            customer_ids=[event.customer_id],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )


async def track_partitions(consumer: AIOKafkaConsumer, metrics: ProjectorMetrics) -> None:
    """Held partitions, their committed offsets (a new one's position is the group's
    committed offset) and lags against the ends the consumer last fetched."""
    assigned = consumer.assignment()
    new = metrics.holding(assigned)
    known: dict[tuple[str, int], int] = {}
    for topic, partition in new:
        try:
            known[(topic, partition)] = await consumer.position(TopicPartition(topic, partition))
        except IllegalStateError:
            # revoked by a rebalance while its committed offset was read: no longer held
            # (the next round forgets it), and no reason to end the process
            continue
    metrics.offsets(known, last_fetched_ends(consumer, assigned))
    metrics.loop_came_round()


def last_fetched_ends(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> dict[tuple[str, int], int | None]:
    """The log ends the consumer last fetched of those of ``partitions`` it still holds
    (aiokafka asserts on one a rebalance revoked meanwhile)."""
    held = consumer.assignment()
    return {(tp.topic, tp.partition): consumer.highwater(tp) for tp in partitions if tp in held}


def store_client(settings: ProjectorSettings) -> AsyncMongoClient[dict[str, object]]:
    """The store's client of a projector process (``run`` and ``rebuild`` alike)."""
    return AsyncMongoClient(
        settings.mongodb_uri,
        tz_aware=True,
        tzinfo=UTC,  # the decoder's UTC: stored and decoded times compare without conversion
        maxPoolSize=settings.store_concurrency + 4,
    )


def processor_for(
    settings: ProjectorSettings,
    client: AsyncMongoClient[dict[str, object]],
    metrics: ProjectorMetrics,
    *,
    deferring: frozenset[str],
    cache: DocumentCache | None = None,
    target_suffix: str | None = None,
) -> BatchProcessor:
    """The batch processor of a projector process, writing through ``client``'s store."""
    store = ProjectionStore(
        client[settings.mongodb_database],
        concurrency=settings.store_concurrency,
        observer=metrics,
    )
    return BatchProcessor(
        store,
        load_status_mapping(settings.status_map_file),
        settings.topics,
        cache=cache,
        target_suffix=target_suffix,
        deferring=deferring,
    )


async def ensure_projector_topics(settings: ProjectorSettings) -> None:
    """Create the topics the projector writes (dead letters, changes) where missing, as
    ``settings`` configures them: ``run``'s, and a rebuild's before it switches readers."""
    await ensure_own_topics(
        settings.kafka_bootstrap_servers,
        settings.topics,
        changes_retention_hours=settings.changes_retention_hours,
        replication_factor=settings.kafka_replication_factor,
    )


async def run_projector(
    settings: ProjectorSettings, stop: asyncio.Event, metrics: ProjectorMetrics | None = None
) -> None:
    """Consume until ``stop``; ``metrics`` are the process's served instruments, if any."""
    metrics = metrics or ProjectorMetrics()
    client = store_client(settings)
    cache = DocumentCache(settings.cache_documents)
    processor = processor_for(settings, client, metrics, cache=cache, deferring=SEARCH_COLLECTION)
    await processor.prepare()
    await ensure_projector_topics(settings)
    producers, consumer = kafka_clients(settings)
    listener = Listeners(
        ForgetOnRebalance(consumer, cache), ReportRemovedOnAssign(consumer, metrics)
    )
    consumer.subscribe(list(settings.topics.inbound().values()), listener=listener)
    await producers.start()
    await consumer.start()
    tune_garbage_collection()  # now that what the process keeps exists
    log.info("projector started in group %s", settings.group_id)
    try:
        await consume(processor, producers, consumer, settings, stop, metrics)
    except KafkaError:
        log.exception("Kafka failure; stopping without committing the current batch")
        raise
    finally:
        await consumer.stop()
        await producers.stop()
        await client.close()


def _producer(settings: ProjectorSettings, **options: Any) -> AIOKafkaProducer:
    """A producer as the projector needs every one: acknowledged by all replicas and
    idempotent (a retried send is not written twice), lingering 5 ms to batch; ``options``
    add what differs."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **options,
    )


def notices_producer(settings: ProjectorSettings) -> AIOKafkaProducer:
    """The producer of change notices (not started): ``run``'s, and a rebuild's drain after
    its switch (``projections.rebuild``)."""
    return _producer(
        settings,
        # A batch's thousands of notices go out in a few produce requests rather than one
        # per 16 KiB (the default), each a round trip the batch's commit waits for; under
        # the broker's default 1 MiB message limit.
        max_batch_size=NOTICE_BATCH_BYTES,
    )


def kafka_clients(settings: ProjectorSettings) -> tuple[Producers, AIOKafkaConsumer]:
    """The producers of notices and of dead letters, and the group member reading the
    inbound topics (none started)."""
    notices = notices_producer(settings)
    dead_letters = _producer(
        settings,
        # The broker limits the compressed batch (``max.message.bytes``); aiokafka checks
        # this against a record before compressing it. A batch of several dead letters
        # stays under NOTICE_BATCH_BYTES uncompressed; a larger one goes alone, and
        # ``DeadLetter.sendable`` made it fit compressed.
        compression_type="gzip",
        max_batch_size=NOTICE_BATCH_BYTES,
        max_request_size=DEAD_LETTER_MAX_UNCOMPRESSED,
    )
    tolerate_unreadable_header_names()  # such a record is a dead letter, not the end
    consumer = AIOKafkaConsumer(
        *settings.topics.inbound().values(),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=INBOUND_ISOLATION,
        max_poll_records=settings.batch_max_records,
        # The fetcher sends a broker no new fetch while one is in flight, and the broker
        # holds a fetch until data arrives or this wait passes: with the default (500 ms) a
        # fetch of quiet partitions (say invoices) held back the busy ones' records for up
        # to half a second (``fetch_batch``).
        fetch_max_wait_ms=settings.fetch_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        # aiokafka's default ratio (3 s of 10): several heartbeats fit in a session
        heartbeat_interval_ms=max(1, settings.session_timeout_ms * 3 // 10),
        # Partition i of every topic goes to one member: orders and fulfillment are both
        # keyed by order id, so one process writes each order (co-partitioning), as long as
        # the two topics have the same partition count.
        partition_assignment_strategy=(RangePartitionAssignor,),
    )
    return Producers(notices, dead_letters), consumer


class Listeners(ConsumerRebalanceListener):  # type: ignore[misc]
    """Several rebalance listeners as the one a consumer takes, each called in turn."""

    def __init__(self, *listeners: ConsumerRebalanceListener) -> None:
        self._listeners = listeners

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for listener in self._listeners:
            await listener.on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        for listener in self._listeners:
            await listener.on_partitions_assigned(assigned)


class ForgetOnRebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forgets the cached documents whenever the group moves partitions: another member may
    write the documents of partitions this process held, or held while this one did not
    (``projections.document_cache``). Related documents may come from the cache only while
    this process holds every partition of every inbound topic."""

    def __init__(self, consumer: AIOKafkaConsumer, cache: DocumentCache) -> None:
        self._consumer = consumer
        self._cache = cache

    async def on_partitions_revoked(self, _revoked: Iterable[TopicPartition]) -> None:
        self._cache.forget_all(serves_related=False)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        every = {
            TopicPartition(topic, partition)
            for topic in self._consumer.subscription()
            for partition in self._consumer.partitions_for_topic(topic) or ()
        }
        self._cache.forget_all(serves_related=bool(every) and set(assigned) >= every)


async def consume(
    processor: BatchProcessor,
    producers: Producers,
    consumer: AIOKafkaConsumer,
    settings: ProjectorSettings,
    stop: asyncio.Event,
    metrics: ProjectorMetrics,
) -> None:
    """Batches until ``stop``: each applied, then finished (``finish_batch``) while the next
    one is read and applied. A batch's notices go out as soon as its documents are written,
    after the previous batch's notices; it commits only after the previous batch committed.
    At most two batches finish at once: before reading a third, the oldest must have
    committed, and a failure while finishing it surfaces here."""
    finish_with = Finishing(processor, producers, consumer, settings.topics, stop, metrics)
    previous: FinishingBatch | None = None
    older: FinishingBatch | None = None
    try:
        while not stop.is_set():
            fetching = PhaseClock()
            await track_partitions(consumer, metrics)
            batches = await fetch_batch(consumer, settings)
            records = flatten(batches)
            fetching.lap("fetch")
            # this batch (nearly) reaches the log's end: a new generation's deferred indexes
            # are built once it is written (``_build_deferred_indexes``)
            build = await _at_log_ends(processor, consumer, settings, len(records))
            if records:
                started = time.perf_counter()
                outcome = await until_done(partial(processor.apply, records), stop, metrics)
                if outcome is None:
                    break  # stopping mid-retry: nothing committed, the batch reruns next start
                older, previous = (
                    previous,
                    start_finishing(finish_with, batches, outcome, started, previous),
                )
                waiting = PhaseClock()
                if older is not None and not await older.committed:
                    break  # stopped before that batch committed: no later one may commit now
                waiting.lap("wait for the previous batch's finish")
                metrics.phases(fetching)
                metrics.phases(outcome.phases)
                metrics.phases(waiting)
            else:
                _surface_failure(previous)
            if build and not await _build_deferred_indexes(processor, consumer, previous, metrics):
                break  # stopped before the last batch committed
        if previous is not None:
            await previous.committed
    finally:
        await settle(older, previous)


async def _build_deferred_indexes(
    processor: BatchProcessor,
    consumer: AIOKafkaConsumer,
    last: FinishingBatch | None,
    metrics: ProjectorMetrics,
) -> bool:
    """Build a new generation's deferred indexes, once, over what the catch-up wrote
    (``projections.deferred_indexes``): after ``last``, the latest batch, has committed,
    so that its search documents went into the collection before the indexes, not entry
    by entry after them. Built before the batch that reached the log's end was applied, a
    catch-up's last batch (all of it, when one batch held the whole backlog) wrote its
    search documents into an indexed collection: a 20,000-event catch-up in one batch took
    three times the store CPU per event of the same in three batches (docs/benchmarks.md,
    "Session 20"). False: stopped before ``last`` committed, nothing built."""
    clock = PhaseClock()
    if last is not None and not await last.committed:
        return False
    clock.lap("wait for the catch-up's last writes")
    await poll_while(consumer, processor.caught_up())
    clock.lap("build deferred indexes")
    metrics.phases(clock)
    return True


async def _at_log_ends(
    processor: BatchProcessor,
    consumer: AIOKafkaConsumer,
    settings: ProjectorSettings,
    taken: int,
) -> bool:
    """Whether a generation's deferred indexes are due and the batch just taken (nearly)
    reaches the log's end: within a tenth of a full batch (a full batch does not, and costs
    no round trip to say so)."""
    if not processor.indexes_due or taken >= settings.batch_max_records:
        return False
    slack = settings.batch_max_records // 10
    return await reached_log_ends(consumer, settings.batch_wait_ms / 1000, slack)


def _surface_failure(batch: FinishingBatch | None) -> None:
    """Raise what ``batch`` failed with, if it has: with no new records there is no next
    batch to surface it, and the projector would go on polling with the batch uncommitted
    and nothing said (until a record arrived)."""
    if batch is not None and batch.committed.done() and not batch.committed.cancelled():
        batch.committed.result()


async def settle(*batches: FinishingBatch | None) -> None:
    """Stop the batches still finishing and retrieve every one's outcome.

    Failing: no offset may be committed by a task that outlives the consumer. A batch that
    already finished is retrieved too: one that failed because the batch before it failed
    holds the same error, which surfaces once (from ``consume``), not again as an
    unretrieved exception at shutdown."""
    await stop_all([batch.committed for batch in batches if batch is not None])


#: Past a batch's ``batch_wait_ms``, the longest one wait for more of a backlog's records
#: may take (``fetch_batch``), and the longest a batch whose first take is a backlog's may
#: wait for the broker to say where the logs end: while the previous batch finishes beside
#: it (encoding its search documents and notices on the same event loop), a fetch's reply or
#: that answer can take longer than ``batch_wait_ms``, which cut a backlog's batches short.
BACKLOG_WAIT_MS = 500


async def fetch_batch(
    consumer: AIOKafkaConsumer, settings: ProjectorSettings
) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    """The next batch: what arrives within ``batch_wait_ms``, then every record of the held
    partitions that was in the log when it arrived (up to ``batch_max_records``), waiting
    ``batch_wait_ms`` more for the fetches that brings, and, behind, past that as long as
    they come.

    The consumer's buffer is not the log: its fetcher asks the broker for a partition only
    once the records it buffered of that partition were taken, and for none of a broker's
    partitions for ``prefetch_backoff`` after a reply. A reply that came early in the
    previous batch (a record or two of most partitions) would otherwise be this batch, and
    everything written after it would wait for the batch after: a record waited one to
    two batch cycles instead of up to one (measured in ``bench/projector.py``: the freshness
    run's "send -> taken into a batch"). So the batch reads the partitions' ends (one
    ``ListOffsets`` round trip) and takes records until it holds everything up to them.

    Behind (a backlog), the same rule fills batches up to ``batch_max_records``: every
    document is written once per batch, so the larger a backlog's batches, the fewer writes
    per event. Past ``batch_wait_ms`` the batch goes on taking those records for as long as
    each wait brings some, a wait of ``BACKLOG_WAIT_MS`` at most each time: a backlog's
    records come a fetch per partition at a time, and stopping at the first deadline left
    catch-up batches at a third of a 40,000-record maximum (docs/benchmarks.md, "Session
    19: a backlog's batches"). A wait that brings nothing ends the batch: a partition whose
    fetches stall holds a backlog's batch back by one ``BACKLOG_WAIT_MS`` more than the
    deadline alone did.

    Caught up (the first take and what is left in the log up to the ends together no more
    than a tenth of a full batch), a batch stops at the deadline as before: waiting on there
    lengthened a steady flow's batches, and with them every record's wait (freshness p99
    0.5-1.0 s against 0.3 s at 1,000 events/s).
    """
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = await consumer.getmany(
        timeout_ms=settings.batch_wait_ms, max_records=settings.batch_max_records
    )
    count = sum(len(records) for records in batches.values())
    if not count:
        return batches
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.batch_wait_ms / 1000
    tenth = settings.batch_max_records // 10  # ``_at_log_ends``'s slack
    most_ms = max(settings.batch_wait_ms, BACKLOG_WAIT_MS)
    # a first take this large is a backlog's: its batch may wait for the ends' answer
    ends = await log_ends(
        consumer, max(deadline - loop.time(), most_ms / 1000 if count > tenth else 0)
    )
    # a backlog: more left in the log than a tenth of a full batch
    left = await records_left(consumer, ends, max(deadline - loop.time(), 0.001))
    patience_ms = most_ms if count + left > tenth else 0
    while count < settings.batch_max_records and await behind(
        consumer, ends, max(deadline - loop.time(), patience_ms / 1000)
    ):
        remaining_ms = int((deadline - loop.time()) * 1000)
        # what arrives by the deadline; past it, a backlog waits while each wait brings some
        waited = remaining_ms if remaining_ms > 0 else patience_ms
        taken = await _top_up(consumer, batches, waited, settings.batch_max_records - count)
        count += taken
        if remaining_ms <= 0 and not taken:
            break
    return batches


async def _top_up(
    consumer: AIOKafkaConsumer,
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    timeout_ms: int,
    most: int,
) -> int:
    """Add what the consumer returns within ``timeout_ms`` (at most ``most`` records) to
    ``batches``; how many records that was."""
    more = await consumer.getmany(timeout_ms=timeout_ms, max_records=most)
    for tp, records in more.items():
        batches.setdefault(tp, []).extend(records)
    return sum(len(records) for records in more.values())


@dataclass(frozen=True)
class Finishing:
    """What finishing a batch works with (``finish_batch``)."""

    processor: BatchProcessor
    producers: Producers
    consumer: AIOKafkaConsumer
    topics: TopicNames
    stop: asyncio.Event
    metrics: ProjectorMetrics


@dataclass(frozen=True)
class FinishingBatch:
    """A batch being finished: done publishing its notices and dead letters
    (``published``), and done altogether (``committed``: True once its offsets are
    committed, False if it stopped first)."""

    published: asyncio.Future[None]
    committed: asyncio.Task[bool]


def start_finishing(
    finishing: Finishing,
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    outcome: BatchOutcome,
    started: float,
    previous: FinishingBatch | None,
) -> FinishingBatch:
    """Start ``finish_batch`` of an applied batch, after ``previous`` (the batch read
    before it, still finishing or not)."""
    published: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    committed = asyncio.create_task(
        finish_batch(finishing, batches, outcome, started, previous, published)
    )
    return FinishingBatch(published, committed)


async def finish_batch(
    finishing: Finishing,
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    outcome: BatchOutcome,
    started: float,
    previous: FinishingBatch | None = None,
    published: asyncio.Future[None] | None = None,
) -> bool:
    """Make an applied batch's pending writes (``BatchProcessor.complete``) and publish its
    dead letters and notices, concurrently; then, once ``previous`` committed, commit its
    offsets. False: asked to stop while the store refused the writes, or ``previous`` did
    not commit; nothing committed.

    Runs while the next batch is read, planned and written: the search documents, the
    broker's acknowledgements and the commit are round trips the projector need not sit
    idle for. The notices go out as soon as the batch's documents are written, in the order
    the batches were read (after ``previous`` published, which ``published`` then tells
    the next batch), whatever ``previous``'s search writes still take. Exactness holds
    because of what comes before and after: it starts only once every document write of its
    batch has landed (``BatchProcessor.apply`` returned), it commits only after its pending
    writes landed, the broker has every notice and dead letter and ``previous`` committed.
    A crash at any point leaves the offsets of this batch and of any later one uncommitted:
    they rerun, and every write is idempotent (a re-run derives the search documents and
    the notices again from the stored documents; subscribers drop repeated notices). The
    writes and the publication fail as one (``together``): the first failure stops the
    other and is the next batch's failure too, so nothing of a failed batch goes on.
    """
    metrics = finishing.metrics
    writing, publishing = PhaseClock(), PhaseClock()

    async def complete() -> bool:
        await finishing.processor.complete(outcome)
        return True

    async def write() -> bool:
        try:
            done = await until_done(complete, finishing.stop, metrics)
        except Exception as exc:
            # the next batch's turn to publish fails with this error, before ``together``
            # cancels this batch's publication (a cancellation would reach it instead)
            _pass_on(published, exc)
            raise
        writing.lap("finish: write search documents and sources")
        return done is not None

    async def publish() -> bool:
        await publish_in_order(finishing, outcome, previous, published)
        publishing.lap("finish: publish notices and dead letters")
        return True

    written, _ = await together(write(), publish())
    metrics.phases(writing)
    metrics.phases(publishing)
    if not written or (previous is not None and not await previous.committed):
        return False
    await _commit_finished(finishing, batches, outcome, started)
    return True


async def publish_in_order(
    finishing: Finishing,
    outcome: BatchOutcome,
    previous: FinishingBatch | None,
    published: asyncio.Future[None] | None,
) -> None:
    """Publish a batch's dead letters and notices once ``previous`` published its own, then
    tell ``published`` (the next batch's turn), or pass this batch's failure on to it."""
    try:
        if previous is not None:
            await previous.published
        await publish_outcome(
            finishing.producers,
            outcome,
            dead_letter_topic=finishing.topics.dead_letter,
            changes_topic=finishing.topics.changes,
            metrics=finishing.metrics,
        )
    except asyncio.CancelledError:
        if published is not None:
            published.cancel()
        raise
    except Exception as exc:
        _pass_on(published, exc)
        raise
    if published is not None:
        published.set_result(None)


def _pass_on(published: asyncio.Future[None] | None, error: Exception) -> None:
    """Fail the next batch's turn to publish with this batch's ``error`` (unless the turn
    was already given)."""
    if published is not None and not published.done():
        published.set_exception(error)
        published.exception()  # retrieved: the next batch's publish raises it again


async def _commit_finished(
    finishing: Finishing,
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    outcome: BatchOutcome,
    started: float,
) -> None:
    """Count and log a batch whose writes and publications all landed; commit its offsets."""
    metrics = finishing.metrics
    clock = PhaseClock()
    record_outcome(metrics, outcome)
    clock.lap("finish: metrics and trace logs")
    await commit_owned(finishing.consumer, next_offsets(batches), metrics)
    clock.lap("finish: commit offsets")
    metrics.phases(clock)
    records = sum(len(batch) for batch in batches.values())
    metrics.batch_done(records, time.perf_counter() - started)
    if outcome.dead_letters:
        log.warning("dead-lettered %d records", len(outcome.dead_letters))
    log.debug(
        "batch: %d records, %d events applied, %d documents written",
        records,
        outcome.applied_events,
        outcome.written_documents,
    )


async def commit_owned(
    consumer: AIOKafkaConsumer,
    offsets: Mapping[TopicPartition, int],
    metrics: ProjectorMetrics,
) -> None:
    """Everything the batch wrote has landed: its offsets may go. Partitions the group gave
    to another member while we worked are left to it (it re-runs them, which is harmless:
    every write is idempotent); aiokafka refuses to commit them."""
    owned = {tp: offset for tp, offset in offsets.items() if tp in consumer.assignment()}
    if len(owned) < len(offsets):
        log.info("%d partitions moved during the batch: not committed", len(offsets) - len(owned))
    try:
        if owned:
            await consumer.commit(owned)
    except (CommitFailedError, IllegalStateError):
        log.warning("offset commit refused after a rebalance; records will rerun")
    else:
        metrics.offsets(
            {(tp.topic, tp.partition): offset for tp, offset in owned.items()},
            last_fetched_ends(consumer, owned),
        )
