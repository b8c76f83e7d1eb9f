"""The projector against the real broker and database: documents, dead letters, crashes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import random
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from pymongo.asynchronous.database import AsyncDatabase

from projections import rebuild as rebuild_module
from projections import rebuild as rebuilding
from projections import runner
from projections.batch import EntityKey
from projections.dead_letter import DEAD_LETTER_MAX_UNCOMPRESSED, DeadLetter, KafkaRecord
from projections.effects import SummaryPush
from projections.event_fields import MAX_IDENTIFIER_LENGTH
from projections.generation_config import ConfigMismatch, projection_config
from projections.generations import Status, list_generations
from projections.metrics import ProjectorMetrics
from projections.projector import BatchOutcome, BatchProcessor
from projections.rebuild import RebuildIncomplete, TruncatedHistory, rebuild
from projections.revision_offsets import REVISION_MARGIN
from projections.runner import flatten, run_projector
from projections.settings import ProjectorSettings
from projections.status_mapping import DEFAULT_PATH as DEFAULT_STATUS_MAP
from projections.status_mapping import load_status_mapping
from projections.store import FoldedWrite, Landed, ProjectionStore, StoreError
from projections.verify import check, write_metrics
from readmodel import documents
from readmodel.changes import ShipmentChange
from readmodel.documents import WRITES
from readmodel.kafka_admin import TopicMisconfigured, ensure_own_topics
from readmodel.search_keys import COMPLETE_MARKER, MARKERS
from readmodel.topics import TopicNames
from resolvers.freshness import source_freshness
from tests.contract import example
from tests.helpers import Stack, wait_for_leaders
from tests.integration.projector_harness import (
    TOPIC_OF_EXAMPLE,
    differences,
    process_in_batches,
    produce,
    projector_env,
    projector_settings,
    read_topic,
    records_of,
    simulated_records,
    snapshot,
    start_projector,
    stop_projector,
    topic_names_from,
    undisturbed_run,
    wait_caught_up,
)
from tests.record_batches import RawRecord, record_batch, send_batch


def _record(topics: dict[str, str], kind: str, event: dict[str, Any]) -> tuple[str, bytes, bytes]:
    return topics[kind], event["subject"].encode(), json.dumps(event).encode()


async def _stopped(task: asyncio.Task[Any], stop: asyncio.Event) -> None:
    """Stop an in-process projector and wait until it has ended."""
    stop.set()
    await asyncio.wait_for(task, timeout=120)


@contextlib.asynccontextmanager
async def _running(
    settings: ProjectorSettings, metrics: ProjectorMetrics | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """An in-process projector for the block, stopped when the block ends (an error it
    ended with is raised then)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_projector(settings, stop, metrics))
    try:
        yield task
    finally:
        await _stopped(task, stop)


async def _project(
    settings: ProjectorSettings,
    *,
    within: float = 300.0,
    metrics: ProjectorMetrics | None = None,
) -> None:
    """Run an in-process projector until it has committed everything produced so far
    (``TimeoutError`` if it has not within ``within`` seconds)."""
    async with _running(settings, metrics) as task:
        caught_up = asyncio.create_task(
            wait_caught_up(
                settings.kafka_bootstrap_servers, settings.group_id, settings.topics, within=within
            )
        )
        try:
            # a projector that stops on an error fails the test at once instead of never
            # catching up
            await asyncio.wait([task, caught_up], return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
                raise AssertionError("the projector stopped before it caught up")
            caught_up.result()
        finally:
            caught_up.cancel()


async def test_contract_examples_become_linked_documents(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    # Deliberately out of order across topics: invoice and milestone before their plan/order.
    order = [
        "invoice-issued.json",
        "shipment-milestone.json",
        "fulfillment-progressed.json",
        "shipment-planned.json",
        "order-created.json",
        "shipment-pod-captured.json",
        "source-status-changed.json",
    ]
    await produce(
        stack.kafka_bootstrap,
        [_record(topic_names, TOPIC_OF_EXAMPLE[n], example(n)) for n in order],
    )
    settings = projector_settings(stack, mongo_db, topic_names)
    await _project(settings)

    order_doc = await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234"})
    assert order_doc is not None and order_doc["known"] is True
    assert order_doc["customerReference"] == "PO-88812"
    assert order_doc["fulfillmentStage"] == "LOADED"
    shipment_summary = order_doc["related"]["shipments"]["SH-55021"]
    assert shipment_summary["trackingNumber"] == "7712093341"
    assert shipment_summary["status"] == "PICKED_UP"
    assert order_doc["related"]["invoices"]["INV-2026-004411"]["total"] == "909.89"

    shipment = await mongo_db[documents.SHIPMENTS].find_one({"_id": "SH-55021"})
    assert shipment is not None and shipment["pod"]["signedBy"] == "J. RIVERA"
    assert shipment["related"]["orders"]["SO-100234"]["customerReference"] == "PO-88812"
    assert shipment["lastEvent"]["id"] and shipment["updatedAt"].tzinfo is not None

    invoice = await mongo_db[documents.INVOICES].find_one({"_id": "INV-2026-004411"})
    assert invoice is not None
    assert invoice["related"]["orders"]["SO-100234"]["orderId"] == "SO-100234"
    assert invoice["related"]["shipments"]["SH-55021"]["trackingNumber"] == "7712093341"

    erp = await mongo_db[documents.SOURCES].find_one({"_id": "erp/s4-prod"})
    assert erp is not None and erp["declared"]["status"] == "MAINTENANCE"
    assert erp["lastEventAt"] == datetime(2026, 11, 28, 21, 0, tzinfo=UTC)

    notices = await read_topic(stack.kafka_bootstrap, topic_names["changes"])
    decoded = [ShipmentChange.decode(r.value) for r in notices]
    assert [n.notice_id for n in decoded] == ["tms/us-road|ms-99120|3"]
    assert decoded[0].tracking_number == "7712093341"
    # the catch-up's last fetch reached the log's end: the search collection's indexes,
    # deferred in a new generation, are built and its search marked complete
    assert await _missing_indexes(mongo_db, "") == {}
    assert await mongo_db[documents.SEARCH_KEYS].find_one({"_id": COMPLETE_MARKER}) is not None


async def test_a_catch_up_builds_its_search_indexes_after_its_last_batch_is_written(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new generation's search indexes are built over the catch-up's search documents,
    the last batch's included (one batch here, the whole backlog): written into an indexed
    collection, entry by entry, they cost the store several times the CPU (docs/
    benchmarks.md, "Session 20"), and a marker written before them told readers the search
    documents were complete while that batch's were still missing."""
    search = mongo_db[documents.SEARCH_KEYS]
    found_at_build: list[int] = []
    build = BatchProcessor.caught_up

    async def counting_build(processor: BatchProcessor) -> bool:
        found_at_build.append(await search.count_documents({"_id": {"$nin": list(MARKERS)}}))
        return await build(processor)

    monkeypatch.setattr(BatchProcessor, "caught_up", counting_build)
    names = ["order-created.json", "shipment-planned.json", "invoice-issued.json"]
    await produce(
        stack.kafka_bootstrap,
        [_record(topic_names, TOPIC_OF_EXAMPLE[n], example(n)) for n in names],
    )
    await _project(projector_settings(stack, mongo_db, topic_names))

    written = await search.count_documents({"_id": {"$nin": list(MARKERS)}})
    assert written > 0
    assert found_at_build == [written]
    assert await _missing_indexes(mongo_db, "") == {}
    assert await search.find_one({"_id": COMPLETE_MARKER}) is not None


async def _missing_indexes(db: AsyncDatabase[Any], suffix: str) -> dict[str, set[str]]:
    """The readers' indexes (``documents.INDEXES``) generation ``suffix`` lacks."""
    missing: dict[str, set[str]] = {}
    for base, specs in documents.INDEXES.items():
        if base == documents.AUDIT_LOG:
            continue
        collection = db[documents.generation_collection(base, suffix)]
        present = {index["name"] async for index in await collection.list_indexes()}
        if lacking := {name for name, _ in specs} - present:
            missing[base] = lacking
    return missing


async def test_broken_records_are_dead_lettered_and_consumption_continues(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    good = example("order-created.json")
    wrong_type = dict(good, id="x-1", sequence="seven")
    broken = [b"not json at all", b"[1, 2, 3]", json.dumps(wrong_type).encode()]
    await produce(
        stack.kafka_bootstrap,
        [(topic_names["orders"], b"SO-100234", value) for value in broken]
        + [_record(topic_names, "orders", good)],
    )
    await _project(projector_settings(stack, mongo_db, topic_names))

    assert await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234", "known": True})
    dead = [
        DeadLetter.from_headers(r.key, r.value, r.headers)
        for r in await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    ]
    assert sorted(d.value for d in dead if d.value) == sorted(broken)
    for letter in dead:
        assert letter.topic == topic_names["orders"]
        assert letter.offset >= 0 and letter.reason
    assert len({(d.partition, d.offset) for d in dead}) == 3


async def test_a_dead_letter_keeps_the_original_records_headers(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """An order that breaks the contract, sent with headers as an upstream producer sets
    them (a trace id, a content type, one named like a dead letter's own, one without a
    value): its dead letter carries them after its own, in order, and reads back with them
    as the original had them, so re-published it is the original. Before, they were
    dropped."""
    headers = [
        ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("content-type", b"application/cloudevents+json"),
        ("dlq.reason", b"set upstream"),
        ("empty", None),
    ]
    broken = json.dumps(dict(example("order-created.json"), sequence="seven")).encode()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic_names["orders"], broken, key=b"SO-100234", headers=headers
        )
    finally:
        await producer.stop()

    letter = await _the_dead_letter_and_the_order_after_it(stack, topic_names, mongo_db)

    assert (letter.topic, letter.key, letter.value) == (topic_names["orders"], b"SO-100234", broken)
    assert letter.reason.startswith("sequence")
    assert letter.kept_headers == tuple(headers)
    [sent] = await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    assert list(sent.headers)[-len(headers) :] == headers


async def test_records_without_a_value_are_dead_lettered_and_consumption_continues(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """Two records that are no event at all: a tombstone of the order (a key, no value) and
    a record with neither key nor value, which Kafka takes and aiokafka's producer cannot
    send (it refuses to, so this test writes the record batch itself). Both are dead
    letters saying so, where they came from, and read back with no value; the order after
    them is projected. Before, the dead letter of the second failed its batch on every
    restart: the projector stopped at it for good."""
    orders = topic_names["orders"]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        tombstone = await producer.send_and_wait(orders, None, key=b"SO-100234", partition=0)
        nothing = producer.create_batch()
        nothing.append(key=None, value=None, timestamp=None)
        empty = await (await producer.send_batch(nothing, orders, partition=0))
        good = example("order-created.json")
        await producer.send_and_wait(
            orders, json.dumps(good).encode(), key=b"SO-100234", partition=0
        )
    finally:
        await producer.stop()

    await _project(projector_settings(stack, mongo_db, topic_names), within=60)

    assert await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234", "known": True})
    dead = [
        DeadLetter.from_headers(r.key, r.value, r.headers)
        for r in await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    ]
    assert sorted((d.offset, d.key, d.value, d.reason) for d in dead) == [
        (tombstone.offset, b"SO-100234", None, "record has no value"),
        (empty.offset, None, None, "record has no value"),
    ]
    assert {(d.topic, d.partition) for d in dead} == {(orders, 0)}


async def test_records_of_an_aborted_transaction_are_no_events(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """An upstream producer writing in transactions (an outbox relay, exactly-once Kafka
    Connect) aborts one holding an order: the producer took the record back, so neither
    the projector, nor a rebuild, nor verify takes it for an event, while the orders of a
    committed transaction and of a producer without transactions are projected. Before,
    the inbound topics were read uncommitted and the aborted order was in the portal."""
    orders = topic_names["orders"]

    def order(order_id: str) -> bytes:
        event = example("order-created.json")
        event.update(id=f"erp-{order_id}", subject=order_id)
        event["data"]["orderId"] = order_id
        return json.dumps(event).encode()

    upstream = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap, transactional_id=f"outbox-{uuid.uuid4().hex}"
    )
    await upstream.start()
    try:
        await upstream.begin_transaction()
        taken_back = order("SO-TAKEN-BACK")
        await (await upstream.send(orders, taken_back, key=b"SO-TAKEN-BACK", partition=0))
        await upstream.abort_transaction()
        async with upstream.transaction():
            await upstream.send(orders, order("SO-COMMITTED"), key=b"SO-COMMITTED", partition=0)
    finally:
        await upstream.stop()
    # last on the partition: the group commits the offset after it, the log's end (one
    # after a transaction's marker would stay one short of it: Known limits)
    plain = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await plain.start()
    try:
        await plain.send_and_wait(orders, order("SO-PLAIN"), key=b"SO-PLAIN", partition=0)
    finally:
        await plain.stop()
    settings = projector_settings(stack, mongo_db, topic_names)

    await _project(settings, within=60)

    projected = {doc["_id"] async for doc in mongo_db[documents.ORDERS].find({}, {"_id": 1})}
    assert projected == {"SO-COMMITTED", "SO-PLAIN"}
    report = await check(settings)
    assert (report.events_checked, report.behind) == (2, [])
    suffix = await rebuild(settings)
    rebuilt = mongo_db[documents.generation_collection(documents.ORDERS, suffix)]
    assert {doc["_id"] async for doc in rebuilt.find({}, {"_id": 1})} == projected
    assert await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"]) == []


@pytest.mark.parametrize("codec", ["zstd", "lz4", "snappy"])
async def test_records_compressed_with_any_of_kafkas_codecs_are_projected(
    codec: str,
    stack: Stack,
    kafka_admin: AIOKafkaAdminClient,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
) -> None:
    """An inbound topic whose broker compresses with ``codec`` (``compression.type``, as an
    upstream producer may compress its own batches): the projector reads it. Before, the
    consumer had only gzip, failed on the first such batch (``UnsupportedCodecError``) and
    the projector stopped there after every restart."""
    orders = topic_names["orders"]
    config = ConfigResource(ConfigResourceType.TOPIC, orders, {"compression.type": codec})
    await kafka_admin.alter_configs([config])
    for _ in range(50):  # until the partitions' leader applies it
        if (await _topic_configs(kafka_admin, orders)).get("compression.type") == codec:
            break
        await asyncio.sleep(0.1)
    await produce(
        stack.kafka_bootstrap, [_record(topic_names, "orders", example("order-created.json"))]
    )

    await _project(projector_settings(stack, mongo_db, topic_names), within=60)

    assert await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234", "known": True})


async def test_batches_of_broken_records_alone_are_dead_lettered_and_committed(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """A batch with nothing to write (every record refused) still finishes: its records are
    dead-lettered and its offsets committed, and the next batch is projected."""
    broken = [b"not json at all", b"[1, 2, 3]"]
    await produce(
        stack.kafka_bootstrap,
        [(topic_names["orders"], b"SO-100234", value) for value in broken]
        + [_record(topic_names, "orders", example("order-created.json"))],
    )
    settings = projector_settings(stack, mongo_db, topic_names)
    await _project(settings.model_copy(update={"batch_max_records": 1}))

    assert await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234", "known": True})
    dead = await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    assert sorted(r.value for r in dead) == sorted(broken)


async def test_the_largest_record_a_topic_accepts_is_dead_lettered_whole(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """A record refused for its size (far beyond any event of the contract) still fits the
    dead-letter topic with the headers that say where it came from: otherwise its batch
    could never finish, and the projector would stop at it for good."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, max_request_size=2 << 20)
    await producer.start()
    try:
        # the broker's default limit (1 MiB + 12 bytes per record batch), less the batch's
        # and the record's own framing
        huge = b"x" * (1_048_588 - 61 - 30)
        await producer.send_and_wait(topic_names["orders"], huge, key=b"SO-100234")
    finally:
        await producer.stop()
    await produce(
        stack.kafka_bootstrap, [_record(topic_names, "orders", example("order-created.json"))]
    )

    await _project(projector_settings(stack, mongo_db, topic_names))

    assert await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234", "known": True})
    dead = await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    assert [r.value for r in dead] == [huge]


def _long_milestone(number: int, signed_by_bytes: int) -> dict[str, Any]:
    """A milestone of the contract example's shipment whose ``signedBy`` is that long (the
    contract bounds no text field)."""
    event = example("shipment-milestone.json")
    data = dict(event["data"], milestoneId=f"ms-{number}", signedBy="x" * signed_by_bytes)
    return dict(event, id=f"tms-long-{number}", sequence=10 + number, data=data)


async def test_an_event_that_would_make_a_document_too_large_is_a_dead_letter(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """A runaway shipment near the store's 16 MiB: the milestones that would take it over
    the limit are dead-lettered with the reason, the document stays as it was, and the
    partition goes on (a later event of another entity, on the same partition, is
    projected). Without the limit the store refuses the write and the batch never ends."""
    kept, runaway, size = 20, 4, 700_000  # 20 x 0.7 MB fit in 14 MiB; 4 more pass 16 MiB
    shipment, key = example("shipment-planned.json"), b"SH-55021"
    other = dict(shipment, id="tms-other-1", subject="SH-OTHER")
    other["data"] = dict(shipment["data"], shipmentId="SH-OTHER")
    milestones = [_long_milestone(n, size) for n in range(kept + runaway)]
    await produce(
        stack.kafka_bootstrap,
        [_record(topic_names, "shipments", shipment)]
        + [_record(topic_names, "shipments", m) for m in milestones]
        # keyed as the runaway shipment: the same partition, after its refused events
        + [(topic_names["shipments"], key, json.dumps(other).encode())],
    )

    await _project(projector_settings(stack, mongo_db, topic_names), within=60)

    stored = await mongo_db[documents.SHIPMENTS].find_one({"_id": "SH-55021"})
    assert stored is not None
    assert sorted(m["milestoneId"] for m in stored["milestones"]) == sorted(
        f"ms-{n}" for n in range(kept)
    )
    assert await mongo_db[documents.SHIPMENTS].find_one({"_id": "SH-OTHER", "known": True})
    dead = [
        DeadLetter.from_headers(r.key, r.value, r.headers)
        for r in await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    ]
    assert sorted(json.loads(d.value or b"")["id"] for d in dead) == sorted(
        m["id"] for m in milestones[kept:]
    )
    for letter in dead:
        assert letter.reason.startswith(
            "document-too-large: applying it would make shipments 'SH-55021' "
        ), letter.reason
        assert letter.reason.endswith(f"over the limit of {documents.MAX_DOCUMENT_BYTES:,}")


async def _send_upstream(
    bootstrap: str, topic: str, value: bytes, *, compression: str | None = None
) -> Any:
    """``value`` sent as an upstream producer would, compressing its batches if it chooses;
    the broker's acknowledgement (where the record went)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type=compression, max_request_size=16 << 20
    )
    await producer.start()
    try:
        return await producer.send_and_wait(topic, value, key=b"SO-100234")
    finally:
        await producer.stop()


async def test_a_record_its_producer_compressed_beyond_the_limits_is_dead_lettered_whole(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """The broker limits a topic's *compressed* batches: a producer using gzip writes a
    broken record of 3 MiB to a topic at the default limits. Its dead letter (compressed
    too) goes whole, and the projector goes on past it instead of stopping there for good."""
    broken = b'{"specversion":"1.0","data":"' + b"A" * (3 << 20) + b'"'
    await _send_upstream(stack.kafka_bootstrap, topic_names["orders"], broken, compression="gzip")
    letter = await _the_dead_letter_and_the_order_after_it(stack, topic_names, mongo_db)
    assert letter.value == broken and letter.original_size is None


async def test_notices_too_large_for_the_changes_topic_go_abridged(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """Valid events an upstream producer compressed: a milestone with 3 MiB of location
    text, and a shipment naming 50,000 orders. Their notices go abridged (the milestone's
    identity and status; then without the orders' warehouses) instead of being refused by
    the changes topic, which would stop the projector at them for good; a later record is
    projected, and the shipment document keeps everything."""
    shipments = topic_names["shipments"]
    texty = example("shipment-milestone.json")
    texty["data"]["location"]["city"] = "Atlanta " * (3 << 17)
    many = example("shipment-planned.json")
    many["subject"] = many["data"]["shipmentId"] = "SH-MANY"
    many["data"]["orderIds"] = [f"SO-ACME-{n:07d}" for n in range(50_000)]
    on_many = example("shipment-milestone.json")
    on_many["subject"] = on_many["data"]["shipmentId"] = "SH-MANY"
    await produce(
        stack.kafka_bootstrap, [_record(topic_names, "shipments", example("shipment-planned.json"))]
    )
    for event in (texty, many, on_many):
        await _send_upstream(
            stack.kafka_bootstrap, shipments, json.dumps(event).encode(), compression="gzip"
        )
    await produce(
        stack.kafka_bootstrap, [_record(topic_names, "orders", example("order-created.json"))]
    )

    await _project(projector_settings(stack, mongo_db, topic_names))

    assert await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234", "known": True})
    stored = await mongo_db[documents.SHIPMENTS].find_one({"_id": "SH-55021"})
    assert stored is not None and stored["milestones"][0]["location"]["city"].startswith("Atlanta")
    notices = {
        n.shipment_id: n
        for n in map(
            ShipmentChange.decode,
            (r.value for r in await read_topic(stack.kafka_bootstrap, topic_names["changes"])),
        )
    }
    assert notices["SH-55021"].abridged and notices["SH-55021"].milestone == {
        "source": "tms/us-road",
        "milestoneId": "ms-99120",
        "rawCode": "AF",
        "status": "PICKED_UP",
        "occurredAt": "2026-11-21T20:42:00+00:00",
        "estimatedDeliveryAt": "2026-11-24T17:00:00+00:00",
    }
    assert list(notices["SH-55021"].order_warehouses) == ["SO-100234"]
    assert notices["SH-MANY"].abridged and notices["SH-MANY"].order_warehouses == {}
    assert notices["SH-MANY"].milestone is not None
    assert notices["SH-MANY"].milestone["milestoneId"] == "ms-99120"


async def test_a_restated_milestone_that_moves_the_status_reaches_the_changes_topic(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """The TMS restates a milestone (same milestoneId, a higher sequence) from out for
    delivery to delivered, in a later batch: a second notice goes out with the new status,
    under an id subscribers have not seen (they drop ids they have)."""
    stated = example("shipment-milestone.json")
    stated["data"]["statusCode"] = "X6"
    restated = json.loads(json.dumps(stated))
    restated["id"], restated["sequence"] = "tms-us-4503", stated["sequence"] + 1
    restated["data"]["statusCode"] = "D1"
    settings = projector_settings(stack, mongo_db, topic_names)
    for batch in ([example("shipment-planned.json"), stated], [restated]):
        await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", e) for e in batch])
        await _project(settings)

    records = await read_topic(stack.kafka_bootstrap, topic_names["changes"])
    sent = [ShipmentChange.decode(r.value) for r in records]
    assert [(n.notice_id, n.status) for n in sent] == [
        ("tms/us-road|ms-99120|3", "OUT_FOR_DELIVERY"),
        ("tms/us-road|ms-99120|4", "DELIVERED"),
    ]
    assert sent[1].milestone is not None and sent[1].milestone["rawCode"] == "D1"


def _milestone(sequence: int, milestone_id: str, code: str, at: str) -> dict[str, Any]:
    """The contract's example milestone of SH-55021 (the pickup, ms-99120, sequence 3) as
    its TMS states ``milestone_id`` with ``code``, happened and sent ``at``."""
    event = example("shipment-milestone.json")
    event["id"], event["sequence"], event["time"] = f"tms-us-{4500 + sequence}", sequence, at
    event["data"].update(milestoneId=milestone_id, statusCode=code, occurredAt=at)
    return event


PICKUP: Final = example("shipment-milestone.json")
DELIVERY: Final = _milestone(4, "ms-99121", "D1", "2026-11-24T10:00:00-05:00")


async def test_a_pickup_stored_with_its_delivery_is_announced_as_picked_up(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """A pickup and its delivery reach the projector together (a burst, a catch-up after an
    outage) and are stored in one write: the pickup's notice says PICKED_UP, the status it
    left the shipment in, so a feed filtered on PICKED_UP receives it; both carry the one
    revision they were stored under."""
    settings = projector_settings(stack, mongo_db, topic_names)
    for batch in ([example("shipment-planned.json")], [PICKUP, DELIVERY]):
        await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", e) for e in batch])
        await _project(settings)

    records = await read_topic(stack.kafka_bootstrap, topic_names["changes"])
    sent = [ShipmentChange.decode(r.value) for r in records]
    stored = await mongo_db[documents.SHIPMENTS].find_one({"_id": "SH-55021"})
    assert stored is not None and stored["status"] == "DELIVERED"
    assert [(n.notice_id, n.status, n.rev) for n in sent] == [
        ("tms/us-road|ms-99120|3", "PICKED_UP", stored["rev"]),
        ("tms/us-road|ms-99121|4", "DELIVERED", stored["rev"]),
    ]


async def _send_to_a_larger_topic(
    bootstrap: str,
    admin: AIOKafkaAdminClient,
    topic: str,
    value: bytes,
    *,
    compression: str | None = None,
) -> Any:
    """``value`` sent upstream to ``topic`` once it takes records of up to 8 MiB, more than
    the dead-letter topic takes; the broker's acknowledgement."""
    limit = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(8 << 20)})
    await admin.alter_configs([limit])
    for _ in range(50):  # until the partition's leader applies the new limit
        try:
            return await _send_upstream(bootstrap, topic, value, compression=compression)
        except MessageSizeTooLargeError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"{topic} does not take records of 8 MiB")


async def test_a_dead_letter_too_large_even_compressed_goes_cut_naming_the_original(
    stack: Stack,
    kafka_admin: AIOKafkaAdminClient,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
) -> None:
    """An inbound topic configured for records larger than the dead-letter topic takes
    (here 8 MiB), and a record that does not compress: its dead letter holds the value's
    first bytes and says how large the original is and where it stays (topic, partition,
    offset), rather than failing its batch on every restart."""
    orders = topic_names["orders"]
    original = random.Random(7).randbytes(5 << 20)
    sent = await _send_to_a_larger_topic(stack.kafka_bootstrap, kafka_admin, orders, original)
    letter = await _the_dead_letter_and_the_order_after_it(stack, topic_names, mongo_db)
    assert (letter.topic, letter.partition, letter.offset) == (orders, sent.partition, sent.offset)
    assert letter.original_size == len(original) and letter.reason.startswith("not UTF-8")
    assert letter.key == b"SO-100234" and letter.value
    assert 1 << 20 < len(letter.value) < 2 << 20 and original.startswith(letter.value)


async def test_a_huge_id_is_dead_lettered_with_its_reason_quoting_it_cut_short(
    stack: Stack,
    kafka_admin: AIOKafkaAdminClient,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
) -> None:
    """A record whose id of 3.2 million characters (ending in a control character),
    compressed upstream to a topic that takes it. Its reason quotes the id cut short, start
    and end: quoted whole, the reason alone was larger than the dead-letter topic takes, and
    the batch failed on every restart."""
    shipments = topic_names["shipments"]
    event = example("shipment-planned.json")
    long_id = base64.b64encode(random.Random(11).randbytes(2_400_000)).decode() + "\x01"
    event["data"]["shipmentId"] = long_id
    original = json.dumps(event).encode()
    sent = await _send_to_a_larger_topic(
        stack.kafka_bootstrap, kafka_admin, shipments, original, compression="gzip"
    )
    letter = await _the_dead_letter_and_the_order_after_it(stack, topic_names, mongo_db)
    assert (letter.topic, letter.offset) == (shipments, sent.offset)
    assert letter.reason.startswith("data.shipmentId: longer than 256 characters")
    assert letter.reason.endswith("\\x01' (3,200,001 characters)") and len(letter.reason) < 1000
    assert letter.original_size == len(original) and original.startswith(letter.value or b"-")


#: Where an over-long id goes in a valid shipment plan; the first is the field its reason
#: names.
_OVERLONG: Final = {
    "entity id": (("subject",), ("data", "shipmentId")),
    "source": (("source",),),
    "indexed reference": (("data", "trackingNumber"),),
}


@pytest.mark.parametrize("where", list(_OVERLONG))
async def test_an_id_too_long_for_the_stores_keys_is_a_dead_letter(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    where: str,
) -> None:
    """A shipment plan whose shipment id, source or tracking number has 3,000 characters.
    The id and the source are stored as ``_id`` (the shipment's, the source's), which
    DocumentDB refuses over 2,704 bytes on every retry: the partition stopped there for
    good. The tracking number is indexed (DocumentDB indexes a shortened term of it). Each
    is refused when decoded, a dead letter naming the field, and the partition goes on."""
    event = example("shipment-planned.json")
    # random: the store compresses a key row, so a repetitive id of this length would fit
    overlong = "SH-" + base64.b32encode(random.Random(3).randbytes(1_875)).decode()[:2_997]
    for path in _OVERLONG[where]:
        *parents, name = path
        target = event
        for parent in parents:
            target = target[parent]
        target[name] = overlong
    await produce(
        stack.kafka_bootstrap,
        [(topic_names["shipments"], event["subject"].encode(), json.dumps(event).encode())],
    )
    letter = await _the_dead_letter_and_the_order_after_it(stack, topic_names, mongo_db)
    field = ".".join(_OVERLONG[where][0])
    assert letter.reason.startswith(f"{field}: longer than {MAX_IDENTIFIER_LENGTH} characters")
    assert letter.reason.endswith("(3,000 characters)") and len(letter.reason) < 1000
    assert await mongo_db[documents.SHIPMENTS].count_documents({}) == 0


async def _the_dead_letter_and_the_order_after_it(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> DeadLetter:
    """Send an order after what the test sent upstream, project everything, check that the
    order was projected (the partition went on past the refused record) and return the one
    dead letter."""
    await produce(
        stack.kafka_bootstrap, [_record(topic_names, "orders", example("order-created.json"))]
    )

    await _project(projector_settings(stack, mongo_db, topic_names))

    assert await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234", "known": True})
    [dead] = await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    return DeadLetter.from_headers(dead.key, dead.value, dead.headers)


async def _topic_configs(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    """A topic's configuration; asked again while the broker does not know it yet (a topic
    created a moment ago)."""
    for _ in range(50):
        [config] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, None)]
        )
        [resource] = config.to_object()["resources"]
        if resource["error_code"] == 0:
            return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
        await asyncio.sleep(0.1)
    raise AssertionError(f"the broker does not describe {topic}: {resource}")


def _letter_of_framed_size(record: KafkaRecord, reason: str, size: int) -> DeadLetter:
    """A dead letter of ``record`` (a value of one repeated byte) that takes ``size`` bytes
    framed as a record batch, as the producer measures it before compressing."""
    headers = DeadLetter.of(record, reason).headers()
    n = size - DefaultRecordBatchBuilder.estimate_size_in_bytes(record.key, b"", headers)
    while DefaultRecordBatchBuilder.estimate_size_in_bytes(record.key, b"a" * n, headers) > size:
        n -= 1  # the value's length takes a few bytes more to say than none
    return DeadLetter.of(dataclasses.replace(record, value=b"a" * n), reason)


async def test_dead_letters_around_the_producers_limit_are_all_sent(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """Dead letters that compress well, framed just under, at and just over what the
    dead-letter producer takes before compressing (``DEAD_LETTER_MAX_UNCOMPRESSED``): each
    is sent, whole or cut naming its original size. Sized by hand without the framing, one
    a few dozen bytes over went whole and the producer refused it, failing its batch on
    every restart."""
    record = KafkaRecord(topic_names["orders"], 0, 123_456, 1_700_000_000_000, b"SO-1", None)
    reason = "not JSON: Expecting value: line 1 column 1 (char 0)"
    limit = DEAD_LETTER_MAX_UNCOMPRESSED
    letters = [_letter_of_framed_size(record, reason, limit + d) for d in (-1, 0, 1, 40, 80)]
    producers, consumer = runner.kafka_clients(projector_settings(stack, mongo_db, topic_names))
    await consumer.stop()  # not used
    await producers.start()
    try:
        await runner.publish_outcome(
            producers,
            BatchOutcome(dead_letters=letters),
            dead_letter_topic=topic_names["dead_letter"],
            changes_topic=topic_names["changes"],
            metrics=ProjectorMetrics(),
        )
    finally:
        await producers.stop()

    sent = [
        DeadLetter.from_headers(r.key, r.value, r.headers)
        for r in await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    ]
    assert [(d.offset, d.original_size) for d in sent] == [
        (123_456, None if n < 2 else len(letter.value or b"")) for n, letter in enumerate(letters)
    ]
    for letter, back in zip(letters, sent, strict=True):
        assert (letter.value or b"-").startswith(back.value or b"")


async def test_the_projector_creates_the_dead_letter_topic_for_the_largest_dead_letters(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient
) -> None:
    """The limit the test above relies on is the one the projector gives the topic."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    topics = TopicNames(**{k: f"{prefix}.{v}" for k, v in dataclasses.asdict(TopicNames()).items()})
    await ensure_own_topics(kafka_bootstrap, topics, changes_retention_hours=1)
    try:
        found = await _topic_configs(kafka_admin, topics.dead_letter)
    finally:
        await kafka_admin.delete_topics([topics.changes, topics.dead_letter])
    assert found["max.message.bytes"] == str(2 * 1024 * 1024)
    assert found["retention.ms"] == "-1"


async def test_a_dead_letter_topic_too_small_for_the_largest_dead_letters_is_reported(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A dead-letter topic created before the 2 MiB limit keeps its own: the projector says
    so at start-up, naming the command that raises it."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    topics = TopicNames(**{k: f"{prefix}.{v}" for k, v in dataclasses.asdict(TopicNames()).items()})
    await kafka_admin.create_topics([NewTopic(topics.dead_letter, 1, 1)])  # the broker's limit
    try:
        with caplog.at_level(logging.ERROR, logger="readmodel.kafka_admin"):
            await ensure_own_topics(kafka_bootstrap, topics, changes_retention_hours=1)
    finally:
        await kafka_admin.delete_topics([topics.changes, topics.dead_letter])
    [message] = [r.getMessage() for r in caplog.records if r.name == "readmodel.kafka_admin"]
    assert topics.dead_letter in message and "max.message.bytes=2097152" in message


async def test_a_changes_topic_of_several_partitions_is_refused(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient
) -> None:
    """Created by hand with the cluster's default of 3 partitions, the changes topic would
    take two thirds of the notices where the live feed never reads (it reads partition 0):
    the projector and the API refuse it, naming the fix."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    topics = TopicNames(**{k: f"{prefix}.{v}" for k, v in dataclasses.asdict(TopicNames()).items()})
    await kafka_admin.create_topics([NewTopic(topics.changes, 3, 1)])
    await wait_for_leaders(kafka_admin, {topics.changes: 3})
    try:
        with pytest.raises(TopicMisconfigured, match="has 3 partitions; it must have exactly 1"):
            await ensure_own_topics(kafka_bootstrap, topics, changes_retention_hours=1)
    finally:
        await kafka_admin.delete_topics([topics.changes, topics.dead_letter])


async def _two_batches_of_one(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> ProjectorSettings:
    """Two records produced, and a projector's settings that take them one batch each."""
    await produce(
        stack.kafka_bootstrap,
        [
            _record(topic_names, "shipments", example("shipment-planned.json")),
            _record(topic_names, "orders", example("order-created.json")),
        ],
    )
    return projector_settings(stack, mongo_db, topic_names).model_copy(
        update={"batch_max_records": 1}
    )


async def _assert_nothing_committed(kafka_bootstrap: str, group_id: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert await admin.list_consumer_group_offsets(group_id) == {}
    finally:
        await admin.close()


async def test_a_batch_is_committed_only_after_its_notices_even_while_the_next_is_written(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Publishing and committing overlap the next batch: the first batch's broker round trip
    is held up, the second batch is written meanwhile, and neither offset is committed until
    the first batch's notices are out (then both are, in order)."""
    settings = await _two_batches_of_one(stack, topic_names, mongo_db)
    held_up = asyncio.Event()
    release = asyncio.Event()
    published: list[int] = []
    original = runner.publish_outcome

    async def slow_first_publish(*args: Any, **kwargs: Any) -> None:
        if not published:
            held_up.set()
            await release.wait()
        await original(*args, **kwargs)
        published.append(len(published))

    monkeypatch.setattr(runner, "publish_outcome", slow_first_publish)
    async with _running(settings):
        try:
            await asyncio.wait_for(held_up.wait(), timeout=60)
            for _ in range(600):  # both batches written, whichever came first
                order = await mongo_db[documents.ORDERS].find_one({"_id": "SO-100234"})
                shipment = await mongo_db[documents.SHIPMENTS].find_one({"_id": "SH-55021"})
                if order and shipment and order["known"] and shipment["known"]:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the second batch was not written while the first published")
            # Both batches are written; the first is still publishing: nothing may be committed.
            await asyncio.sleep(1.0)
            await _assert_nothing_committed(stack.kafka_bootstrap, settings.group_id)
            assert published == []
            release.set()
            await wait_caught_up(
                stack.kafka_bootstrap, settings.group_id, settings.topics, within=60
            )
            assert published == [0, 1]
        finally:
            release.set()  # the held-up batch goes on, so the projector can stop


async def test_a_batchs_notices_go_out_while_the_previous_batch_still_writes_its_search_documents(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch's notices wait for its own documents and the previous batch's notices, not
    for the previous batch's search documents: with the first batch's pending writes held
    up, the second batch publishes, and nothing is committed until both finished."""
    settings = await _two_batches_of_one(stack, topic_names, mongo_db)
    held_up = asyncio.Event()
    release = asyncio.Event()
    published: list[int] = []
    original_complete = BatchProcessor.complete
    original_publish = runner.publish_outcome

    async def slow_first_complete(self: BatchProcessor, outcome: Any) -> None:
        if not held_up.is_set():
            held_up.set()
            await release.wait()
        await original_complete(self, outcome)

    async def counted_publish(*args: Any, **kwargs: Any) -> None:
        await original_publish(*args, **kwargs)
        published.append(len(published))

    monkeypatch.setattr(BatchProcessor, "complete", slow_first_complete)
    monkeypatch.setattr(runner, "publish_outcome", counted_publish)
    async with _running(settings):
        try:
            await asyncio.wait_for(held_up.wait(), timeout=60)
            for _ in range(600):
                if len(published) == 2:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the second batch's notices waited for the first's writes")
            await _assert_nothing_committed(stack.kafka_bootstrap, settings.group_id)
            release.set()
            await wait_caught_up(
                stack.kafka_bootstrap, settings.group_id, settings.topics, within=60
            )
        finally:
            release.set()  # the held-up batch goes on, so the projector can stop


async def test_a_batch_takes_every_record_in_the_log_when_it_starts(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """The consumer fetches no more of a partition while it holds records of it not taken
    yet: records written after those would otherwise wait for the batch after. A batch
    reads the partitions' ends and takes everything up to them."""
    settings = projector_settings(stack, mongo_db, topic_names).model_copy(
        update={"batch_wait_ms": 5000}
    )
    topic = topic_names["shipments"]
    producer, consumer = runner.kafka_clients(settings)  # subscribed to the inbound topics
    await consumer.start()
    try:
        await produce(stack.kafka_bootstrap, [(topic, b"k0", b"first")])
        first: list[Any] = []
        for _ in range(12):  # joining the group
            first += flatten(await runner.fetch_batch(consumer, settings))
            if first:
                break
        assert [record.value for record in first] == [b"first"]
        # Fetched and held by the consumer, so its partition is not fetched again ...
        await produce(stack.kafka_bootstrap, [(topic, b"k0", b"held")])
        await asyncio.sleep(1.0)
        # ... while these arrive, in its partition and the others.
        later = [(topic, f"k{n % 8}".encode(), f"later {n}".encode()) for n in range(40)]
        await produce(stack.kafka_bootstrap, later)
        batch = flatten(await runner.fetch_batch(consumer, settings))
        assert sorted(record.value for record in batch) == sorted(
            [b"held"] + [value for _, _, value in later]
        )
    finally:
        await consumer.stop()
        await producer.stop()


@dataclasses.dataclass
class _AgainstReference:
    """Projector processes of one group over simulated records, checked against one
    in-process projection of the same records into a second database."""

    stack: Stack
    topics: dict[str, str]
    db: AsyncDatabase[Any]
    reference_db: AsyncDatabase[Any]
    group: str = ""
    expected: dict[str, Any] = dataclasses.field(default_factory=dict)

    async def produce(self, records: int, group_prefix: str) -> dict[str, str]:
        """Produce ``records`` and project the reference; the environment of the group's
        processes, with batches of 200: many batches, so that what befalls a process lands
        mid-stream."""
        await produce(self.stack.kafka_bootstrap, simulated_records(self.topics, records))
        await _project(projector_settings(self.stack, self.reference_db, self.topics))
        self.expected = await snapshot(self.reference_db)
        self.group = f"{group_prefix}-{uuid.uuid4().hex[:8]}"
        env = projector_env(self.stack.kafka_bootstrap, self.db.name, self.group, self.topics)
        env["PROJECTOR_BATCH_MAX"] = "200"
        return env

    async def assert_caught_up(self, processes: list[subprocess.Popen[bytes]]) -> None:
        """Once ``processes`` have consumed everything (then they are stopped), the documents
        are the reference's, to the field."""
        try:
            await wait_caught_up(
                self.stack.kafka_bootstrap, self.group, topic_names_from(self.topics)
            )
        finally:
            for process in processes:
                stop_projector(process)
        actual = await snapshot(self.db)
        assert actual == self.expected, differences(actual, self.expected)


@pytest.fixture
def against_reference(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    second_db: AsyncDatabase[Any],
) -> _AgainstReference:
    return _AgainstReference(stack, topic_names, mongo_db, second_db)


async def test_sigkill_at_any_moment_loses_nothing_and_doubles_nothing(
    against_reference: _AgainstReference, tmp_path: Path
) -> None:
    env = await against_reference.produce(2000, "kill")
    rng = random.Random(5)
    for _ in range(4):
        process = start_projector(env, tmp_path / "projector.log")
        try:  # an interrupted run must not leave the process behind
            await asyncio.sleep(rng.uniform(1.5, 4.0))
        finally:
            stop_projector(process, kill=True)
    await against_reference.assert_caught_up([start_projector(env, tmp_path / "projector.log")])


async def test_two_processes_in_one_group_build_the_same_documents(
    against_reference: _AgainstReference, tmp_path: Path
) -> None:
    env = await against_reference.produce(1500, "pair")
    processes = [start_projector(env, tmp_path / f"p{i}.log") for i in range(2)]
    await against_reference.assert_caught_up(processes)


async def test_rebuild_fills_a_new_generation_and_switches_readers(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 800))
    settings = projector_settings(stack, mongo_db, topic_names)
    await _project(settings)
    before = await snapshot(mongo_db)

    suffix = await rebuild(settings)

    pointer = await mongo_db[documents.READ_POINTER].find_one({"_id": "active"})
    assert pointer is not None and pointer["suffix"] == suffix
    after = await snapshot(mongo_db, suffix)
    assert after == before, differences(after, before)
    # written without indexes, built in one pass before readers were switched to it
    assert await _missing_indexes(mongo_db, suffix) == {}
    search = mongo_db[documents.generation_collection(documents.SEARCH_KEYS, suffix)]
    assert await search.find_one({"_id": COMPLETE_MARKER}) is not None


async def test_a_rebuild_leaves_a_source_silent_for_days_stale(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """A TMS last published three days ago, the ERP a moment ago, a WMS three days ago too
    with its last event dated 2099 by a bad clock. The rebuild replays them all; readers
    switched to it still see the TMS and the WMS stale (their banners,
    ``PortalSourceStale``), the WMS's lag days and not 0, and the ERP fresh. Before, every
    replayed source was reported applied at the rebuild's time, so the switch hid the TMS's
    outage; then the cap on the 2099 event still reported the WMS so."""
    silent_since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    planned, created = example("shipment-planned.json"), example("order-created.json")
    progressed = example("fulfillment-progressed.json") | {"time": "2099-01-01T00:00:00Z"}
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for topic, event, at in [
            ("shipments", planned, silent_since),
            ("fulfillment", progressed, silent_since),
            ("orders", created, None),
        ]:
            await producer.send_and_wait(
                topic_names[topic],
                json.dumps(event).encode(),
                key=event["subject"].encode(),
                timestamp_ms=None if at is None else int(at.timestamp() * 1000),
            )
    finally:
        await producer.stop()

    suffix = await rebuild(projector_settings(stack, mongo_db, topic_names))

    now = datetime.now(UTC)
    sources = mongo_db[documents.generation_collection(documents.SOURCES, suffix)]
    seen = {doc["_id"]: source_freshness(doc, now=now) async for doc in sources.find({})}
    tms, wms = seen[planned["source"]], seen[progressed["source"]]
    assert tms.stale and tms.last_applied_at == silent_since
    assert wms.stale and wms.last_applied_at == silent_since
    assert wms.lag_seconds is not None and wms.lag_seconds > timedelta(days=2).total_seconds()
    assert not seen[created["source"]].stale


async def test_a_rebuild_over_a_log_that_lost_its_start_is_refused_unless_allowed(
    stack: Stack,
    kafka_admin: AIOKafkaAdminClient,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
) -> None:
    """Retention (here delete-records) moved an inbound log's start past an order: a
    rebuild would switch readers to a generation without it, and verify could not tell. It
    is refused, naming the partition and its first offset, and readers stay where they
    were; the operator's ``--allow-truncated-history`` rebuilds from what is left."""
    lost = await _send_upstream(
        stack.kafka_bootstrap,
        topic_names["orders"],
        json.dumps(example("order-created.json")).encode(),
    )
    kept = dict(example("order-created.json"), id="erp-2", subject="SO-2")
    kept["data"] = dict(kept["data"], orderId="SO-2")
    await produce(stack.kafka_bootstrap, [_record(topic_names, "orders", kept)])
    settings = projector_settings(stack, mongo_db, topic_names)
    await _project(settings)
    partition = TopicPartition(topic_names["orders"], lost.partition)
    await kafka_admin.delete_records({partition: RecordsToDelete(before_offset=lost.offset + 1)})
    pointer = await mongo_db[documents.READ_POINTER].find_one({"_id": "active"})

    with pytest.raises(TruncatedHistory) as refused:
        await rebuild(settings)

    named = f"{partition.topic}[{partition.partition}] starts at offset {lost.offset + 1}"
    assert named in str(refused.value) and "--allow-truncated-history" in str(refused.value)
    assert await mongo_db[documents.READ_POINTER].find_one({"_id": "active"}) == pointer
    suffix = await rebuild(settings, allow_truncated_history=True)
    orders = mongo_db[documents.generation_collection(documents.ORDERS, suffix)]
    assert [order["_id"] async for order in orders.find({}, {"_id": 1})] == ["SO-2"]


async def test_records_removed_just_after_the_history_check_fail_the_rebuild(
    stack: Stack,
    kafka_admin: AIOKafkaAdminClient,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Retention removes an order's record right after the rebuild found every log starting
    at offset 0. The rebuild then sought "the beginning", which the broker resolved to the
    log's new start: it skipped the order and switched readers to a generation without it.
    Now it reads from the offsets it checked, and the removal fails it; readers stay. It
    failed with aiokafka's ``OffsetOutOfRangeError`` (a traceback from the command); now it
    is refused like a rebuild over a log that lost its start before it began: one line
    naming the partition, the offset it could not read and where the log starts now."""
    lost = await _send_upstream(
        stack.kafka_bootstrap,
        topic_names["orders"],
        json.dumps(example("order-created.json")).encode(),
    )
    partition = TopicPartition(topic_names["orders"], lost.partition)
    checked = rebuilding._refuse_truncated_history

    async def check_then_remove(*args: Any) -> Any:
        starts = await checked(*args)
        await kafka_admin.delete_records({partition: RecordsToDelete(lost.offset + 1)})
        return starts

    monkeypatch.setattr(rebuilding, "_refuse_truncated_history", check_then_remove)

    with pytest.raises(TruncatedHistory) as refused:
        await rebuild(projector_settings(stack, mongo_db, topic_names))

    named = (
        f"{partition.topic}[{partition.partition}] from offset {lost.offset} "
        f"(its log now starts at offset {lost.offset + 1})"
    )
    assert named in str(refused.value) and "--allow-truncated-history" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert await mongo_db[documents.READ_POINTER].find_one({"_id": "active"}) is None
    _, listed = await list_generations(mongo_db, datetime.now(UTC))
    assert [g.status for g in listed] == [Status.ABANDONED]


async def test_records_removed_before_the_projector_read_them_are_reported_not_skipped_silently(
    stack: Stack,
    kafka_admin: AIOKafkaAdminClient,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The projector was down while retention removed an order it had not read: its
    committed offset is below the log's start. aiokafka moved the consumer to the log's
    start with a line at INFO, and the order was missing from the projections with nothing
    to say so (verify checks only what the log holds). Now the missing records are an ERROR
    line naming the partition and offsets, and a counter an alert watches; the projector
    goes on from the log's start."""
    settings = projector_settings(stack, mongo_db, topic_names)
    orders = [
        dict(example("order-created.json"), id=f"erp-{n}", subject=f"SO-{n}") for n in (1, 2, 3)
    ]
    sent = []
    for order in orders:
        order["data"] = dict(order["data"], orderId=order["subject"])
        sent.append(
            await _send_upstream(
                stack.kafka_bootstrap, topic_names["orders"], json.dumps(order).encode()
            )
        )
        if order["subject"] == "SO-1":
            await _project(settings)  # commits past SO-1, then stops
    partition = TopicPartition(topic_names["orders"], sent[1].partition)
    removed = sent[1].offset
    await kafka_admin.delete_records({partition: RecordsToDelete(before_offset=removed + 1)})
    metrics = ProjectorMetrics()

    with caplog.at_level(logging.ERROR, logger="projections.removed_records"):
        await _project(settings, metrics=metrics)

    kept = mongo_db[documents.ORDERS]
    assert [doc["_id"] async for doc in kept.find({}, {"_id": 1}).sort("_id")] == ["SO-1", "SO-3"]
    [line] = [r.getMessage() for r in caplog.records if r.name == "projections.removed_records"]
    assert line.startswith(
        f"{partition.topic}[{partition.partition}]: records {removed}-{removed} were removed"
    )
    assert f"reading on from offset {removed + 1}" in line and "retention.ms=-1" in line
    labels = {"topic": partition.topic, "partition": str(partition.partition)}
    name = "portal_projector_records_removed_unread_total"
    assert metrics.registry.get_sample_value(name, labels) == 1


async def test_a_projector_running_the_mapping_a_rebuild_replaced_stops_instead_of_undoing_it(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    tmp_path: Path,
) -> None:
    """A rebuild with a status map that knows code ZZ (EXCEPTION) switches readers while a
    live projector still runs the packaged map, read at its start. The shipment's next
    event used to be applied to the new generation with the old map, which put its status
    back (PLANNED: ZZ unknown again). Now that projector stops, naming both fingerprints,
    and writes nothing to the new generation; restarted with the new map it goes on."""
    mapping = tmp_path / "status_map.toml"
    mapping.write_text(
        DEFAULT_STATUS_MAP.read_text(encoding="utf-8").replace(
            '[sources."tms/us-road"]\n', '[sources."tms/us-road"]\nZZ = "EXCEPTION"\n'
        ),
        encoding="utf-8",
    )
    shipment = example("shipment-planned.json")
    await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", shipment)])
    await produce(
        stack.kafka_bootstrap,
        [
            _record(
                topic_names, "shipments", _milestone(4, "ms-1", "ZZ", "2026-11-21T16:42:00-05:00")
            )
        ],
    )
    settings = projector_settings(stack, mongo_db, topic_names)
    stop = asyncio.Event()
    live = asyncio.create_task(run_projector(settings, stop))
    try:  # from here: a failure must not leave it consuming for the rest of the session
        await wait_caught_up(stack.kafka_bootstrap, settings.group_id, settings.topics, within=60)

        suffix = await rebuild(settings.model_copy(update={"status_map_file": mapping}))
        shipments = mongo_db[documents.generation_collection(documents.SHIPMENTS, suffix)]
        rebuilt = await shipments.find_one({"_id": shipment["subject"]})
        assert rebuilt is not None and rebuilt["status"] == "EXCEPTION"
        await produce(
            stack.kafka_bootstrap,
            [
                _record(
                    topic_names,
                    "shipments",
                    _milestone(5, "ms-2", "AG", "2026-11-21T17:42:00-05:00"),
                )
            ],
        )

        with pytest.raises(ConfigMismatch) as refused:
            await asyncio.wait_for(asyncio.shield(live), 60)
    finally:
        if not live.done():
            await _stopped(live, stop)
    assert await shipments.find_one({"_id": shipment["subject"]}) == rebuilt
    named = (projection_config(load_status_mapping(p)) for p in (mapping, None))
    assert all(fingerprint in str(refused.value) for fingerprint in named)
    await _project(settings.model_copy(update={"status_map_file": mapping}))
    after = await shipments.find_one({"_id": shipment["subject"]})
    assert after is not None and after["status"] == "EXCEPTION" and after["rev"] > rebuilt["rev"]


async def test_a_projector_started_with_another_configuration_than_the_active_generation_refuses_it(
    mongo_db: AsyncDatabase[Any],
) -> None:
    """Restarted with the old map after the switch (a replica not redeployed), the projector
    refuses before it creates or writes anything of the generation readers use."""
    store = ProjectionStore(mongo_db)
    await store.set_active_suffix(
        "g1",
        config="reducers-1/status-map-000000000000",
        revision_offset=0,
        replacing=await store.active_generation(),
    )
    processor = BatchProcessor(store, load_status_mapping(), TopicNames())

    with pytest.raises(ConfigMismatch, match="status-map-000000000000"):
        await processor.prepare()

    assert not await mongo_db.list_collection_names(filter={"name": {"$regex": "__g1$"}})


def _stop_after_switching(
    monkeypatch: pytest.MonkeyPatch,
    kafka_bootstrap: str,
    late: Sequence[tuple[str, bytes, bytes]],
    stop: asyncio.Event,
    then: Callable[[], None] = lambda: None,
) -> None:
    """Make a rebuild's switch of readers be followed by ``late`` records (arrived around the
    switch), ``then``, and the operator's SIGTERM (``stop``)."""
    switch = ProjectionStore.set_active_suffix

    async def switch_then_stop(store: ProjectionStore, suffix: str, **config: Any) -> None:
        await switch(store, suffix, **config)
        await produce(kafka_bootstrap, late)
        then()
        stop.set()

    monkeypatch.setattr(ProjectionStore, "set_active_suffix", switch_then_stop)


async def test_a_rebuild_asked_to_stop_after_switching_readers_still_drains_what_they_lack(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    second_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records that arrive while a rebuild switches readers may reach only the generation
    readers leave (the live projector applied them before it saw the switch); the drain
    after the switch is what puts them into the new one. Asked to stop (SIGTERM) during that
    drain, the rebuild stopped and reported success: readers lost those events for good."""
    every = simulated_records(topic_names, 900)
    await produce(stack.kafka_bootstrap, every[:600])
    stop = asyncio.Event()
    _stop_after_switching(monkeypatch, stack.kafka_bootstrap, every[600:], stop)
    suffix = await rebuild(projector_settings(stack, mongo_db, topic_names), stop)
    monkeypatch.undo()

    await _project(projector_settings(stack, second_db, topic_names))  # every record
    expected = await snapshot(second_db)
    actual = await snapshot(mongo_db, suffix)
    assert actual == expected, differences(actual, expected)


async def test_a_change_the_drain_after_a_switch_applies_is_announced(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pickup arrives as a rebuild switches readers: the live projector stores it in the
    generation readers leave and announces it. A portal that took its ``liveCursor`` after
    that notice and fetched from the new generation before the drain reached the pickup
    showed the shipment without it, and no notice of it ever followed the cursor: the
    drain announced nothing. The drain now announces what it applies (under the live
    projector's notice id: subscribers drop a repeat); the catch-ups before the switch,
    which no reader sees, announce nothing."""
    planned = example("shipment-planned.json")
    await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", planned)])
    switch = ProjectionStore.set_active_suffix

    async def switch_then_pickup(store: ProjectionStore, suffix: str, **config: Any) -> None:
        await switch(store, suffix, **config)
        await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", PICKUP)])

    monkeypatch.setattr(ProjectionStore, "set_active_suffix", switch_then_pickup)
    await rebuild(projector_settings(stack, mongo_db, topic_names))

    records = await read_topic(stack.kafka_bootstrap, topic_names["changes"])
    sent = [ShipmentChange.decode(r.value) for r in records]
    assert [(n.shipment_id, n.notice_id, n.status) for n in sent] == [
        (planned["subject"], "tms/us-road|ms-99120|3", "PICKED_UP")
    ]


async def test_a_shipment_s_notice_revisions_go_on_rising_across_a_rebuild_s_switch(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """The live projector stored a shipment's plan, pickup and departure in three batches
    (revision 3); a rebuild stores them in one (revision 1), so the delivery after the
    switch was announced with revision 2, below the departure's 3, and a subscriber keeping
    the higher revision kept the departure. The switch now gives the new generation a
    revision offset above the old one's highest revision."""
    settings = projector_settings(stack, mongo_db, topic_names)
    departed = _milestone(4, "ms-99125", "P1", "2026-11-22T10:00:00-05:00")
    delivered = _milestone(5, "ms-99126", "D1", "2026-11-24T10:00:00-05:00")
    for batch in ([example("shipment-planned.json")], [PICKUP], [departed]):
        await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", e) for e in batch])
        await _project(settings)

    await rebuild(settings)
    await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", delivered)])
    await _project(settings)

    records = await read_topic(stack.kafka_bootstrap, topic_names["changes"])
    sent = [ShipmentChange.decode(r.value) for r in records]
    statuses = [n.status for n in sent]
    assert statuses == ["PICKED_UP", "IN_TRANSIT", "DELIVERED"], statuses
    revisions = [n.rev for n in sent]
    assert revisions[0] < revisions[1] < revisions[2], revisions


async def test_a_rev_raised_past_the_margin_while_readers_switch_raises_the_new_offset(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Live projectors wrote a shipment into the generation readers leave more often, while
    the rebuild switched, than ``REVISION_MARGIN`` allows for (here its ``rev`` is raised
    past it at the switch): the rebuild raises the new generation's offset, and the next
    notice of that shipment is still above any the old generation could have sent."""
    settings = projector_settings(stack, mongo_db, topic_names)
    planned = example("shipment-planned.json")
    await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", planned)])
    await _project(settings)
    old_shipments = mongo_db[documents.SHIPMENTS]
    switch = ProjectionStore.set_active_suffix

    async def switch_while_written(store: ProjectionStore, suffix: str, **kwargs: Any) -> None:
        await switch(store, suffix, **kwargs)
        raised = {"$inc": {"rev": REVISION_MARGIN + 50}}
        await old_shipments.update_one({"_id": planned["subject"]}, raised)

    monkeypatch.setattr(ProjectionStore, "set_active_suffix", switch_while_written)
    await rebuild(settings)
    monkeypatch.undo()
    await produce(stack.kafka_bootstrap, [_record(topic_names, "shipments", PICKUP)])
    await _project(settings)

    highest_old = (await old_shipments.find_one({"_id": planned["subject"]}) or {})["rev"]
    records = await read_topic(stack.kafka_bootstrap, topic_names["changes"])
    (pickup,) = [ShipmentChange.decode(r.value) for r in records]
    assert pickup.rev > highest_old > REVISION_MARGIN


async def test_a_rebuild_whose_last_drain_cannot_finish_fails_naming_what_it_left_out(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The drain after the switch outlives a stop request for a grace period; when the store
    is down meanwhile it cannot finish. Before, it retried for ever and only SIGKILL ended
    the process; now the rebuild ends with an error that names the records readers lack."""
    every = simulated_records(topic_names, 900)
    await produce(stack.kafka_bootstrap, every[:600])
    stop = asyncio.Event()

    async def store_down(self: BatchProcessor, records: Any) -> Any:
        raise StoreError("the store is down")

    _stop_after_switching(
        monkeypatch,
        stack.kafka_bootstrap,
        every[600:],
        stop,
        then=lambda: monkeypatch.setattr(BatchProcessor, "process", store_down),
    )
    settings = projector_settings(stack, mongo_db, topic_names).model_copy(
        update={"rebuild_drain_grace_seconds": 0.5}
    )
    with pytest.raises(RebuildIncomplete, match="not applied") as raised:
        await asyncio.wait_for(rebuild(settings, stop), 60)
    late_topics = {topic for topic, _key, _value in every[600:]}
    assert any(topic in str(raised.value) for topic in late_topics), raised.value


async def test_a_rebuild_whose_drain_loses_the_broker_after_the_switch_fails_with_one_error(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broker error after readers moved (the log's end unreadable, a notice refused) ends
    the rebuild as an incomplete one, naming the generation readers use and the remedy, not
    with a traceback."""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 50))

    async def broker_gone(*_args: Any, **_kwargs: Any) -> int:
        raise KafkaConnectionError("the broker went away")

    monkeypatch.setattr(rebuild_module, "_drain_after_switch", broker_gone)
    settings = projector_settings(stack, mongo_db, topic_names)
    with pytest.raises(RebuildIncomplete, match="rebuild again") as raised:
        await asyncio.wait_for(rebuild(settings), 60)
    pointer = await mongo_db[documents.READ_POINTER].find_one({"_id": "active"})
    assert pointer is not None and pointer["suffix"] in str(raised.value)


#: The store methods that write a batch's documents.
DocumentWrite = Literal["write_entity", "write_all_if_unchanged", "insert_new"]


class _HookedStore(ProjectionStore):
    """The real store, calling ``before_write`` ahead of each of a batch's document writes:
    where the tests below make something happen in the middle of a batch."""

    async def before_write(self, method: DocumentWrite) -> None:
        """What happens before a document write; nothing here."""

    async def write_entity(
        self, collection: str, change: Any, now: datetime
    ) -> dict[str, Any] | None:
        await self.before_write("write_entity")
        return await super().write_entity(collection, change, now)

    async def write_all_if_unchanged(self, *args: Any, **kwargs: Any) -> Landed:
        await self.before_write("write_all_if_unchanged")
        return await super().write_all_if_unchanged(*args, **kwargs)

    async def insert_new(self, *args: Any, **kwargs: Any) -> Landed:
        await self.before_write("insert_new")
        return await super().insert_new(*args, **kwargs)


class _Crash(Exception):
    """Stands for the process dying at one step of a batch."""


class _CrashingStore(_HookedStore):
    """The real store, except that once armed it dies at ``step`` of the next batch."""

    #: After its document writes, a batch pushes the summaries it did not write with the
    #: documents (all of them when it writes stepwise), then the summaries it pulled.
    SUMMARY_CALL: ClassVar[Mapping[str, int]] = {"before summaries": 1, "before pulls": 2}

    def __init__(self, db: AsyncDatabase[Any], step: str) -> None:
        super().__init__(db)
        self.step = step
        self.armed = False
        self.wrote = False
        self.summary_calls = 0

    async def before_write(self, method: DocumentWrite) -> None:
        self.wrote = self.armed

    async def push_summaries(
        self, suffix: str, pushes: Sequence[SummaryPush], **kwargs: Any
    ) -> None:
        if self.wrote:
            self.summary_calls += 1
            if self.summary_calls == self.SUMMARY_CALL.get(self.step):
                raise _Crash
        await super().push_summaries(suffix, pushes, **kwargs)

    async def touch_sources(self, suffix: str, seen: Any, now: datetime) -> None:
        if self.armed and self.step == "before sources":
            raise _Crash
        await super().touch_sources(suffix, seen, now)

    async def insert_or_advance(self, collection: str, docs: Any, **kwargs: Any) -> None:
        if self.armed and self.step == "before search documents":
            raise _Crash
        await super().insert_or_advance(collection, docs, **kwargs)


@pytest.mark.parametrize("stepwise", [False, True], ids=["folded", "stepwise"])
@pytest.mark.parametrize(
    "step", ["before summaries", "before pulls", "before search documents", "before sources"]
)
async def test_a_batch_cut_off_after_its_document_writes_is_completed_by_its_rerun(
    step: str, stepwise: bool, mongo_db: AsyncDatabase[Any], second_db: AsyncDatabase[Any]
) -> None:
    """Deterministic companion of the SIGKILL test: a crash after the document writes.

    The rerun finds every document already written, so nothing in it changes; summaries,
    pulls and freshness must still come out as if the batch had never been cut off, even
    when the rerun groups the records into different batches. Both ways of writing a batch
    are cut off: folded (the default) and stepwise (after a lost race).
    """
    records, expected = await undisturbed_run(second_db, 900, 100)
    topics, mapping = TopicNames(), load_status_mapping()

    store = _CrashingStore(mongo_db, step)
    processor = BatchProcessor(store, mapping, topics)
    crash_at = 400
    await process_in_batches(processor, records[:crash_at], 100)
    store.armed = True
    with pytest.raises(_Crash):
        await processor.process(records[crash_at : crash_at + 250], stepwise=stepwise)
    store.armed = store.wrote = False
    await process_in_batches(processor, records[crash_at:], 70)  # the rerun batches differently

    actual = await snapshot(mongo_db)
    assert actual == expected, differences(actual, expected)


#: The revision offset ``_SwitchingStore``'s switch gives its generation.
SWITCHED_OFFSET: Final = 20_000


class _SwitchingStore(_HookedStore):
    """The real store; a rebuild switches readers to ``target`` during the first entity write."""

    def __init__(self, db: AsyncDatabase[Any], target: str) -> None:
        super().__init__(db)
        self.target = target
        self.switched = False

    async def before_write(self, method: DocumentWrite) -> None:
        if not self.switched:
            self.switched = True
            await self.ensure_collections(self.target)
            await self.set_active_suffix(
                self.target,
                revision_offset=SWITCHED_OFFSET,
                replacing=await self.active_generation(),
            )


async def test_a_batch_written_while_a_rebuild_switches_generations_reaches_the_new_one(
    mongo_db: AsyncDatabase[Any], second_db: AsyncDatabase[Any]
) -> None:
    """The rebuild may stop reading before this batch's records: the live projector must not
    leave them only in the generation readers just left. Its notices are those of the new
    generation, with its revision offset: revisions above any of the old one's."""
    topics = TopicNames()
    records = records_of(simulated_records(topics.inbound(), 300))
    mapping = load_status_mapping()
    await BatchProcessor(ProjectionStore(second_db), mapping, topics).process(records)
    expected = await snapshot(second_db)

    store = _SwitchingStore(mongo_db, "g1")
    outcome = await BatchProcessor(store, mapping, topics).process(records)

    actual = await snapshot(mongo_db, "g1")
    assert actual == expected, differences(actual, expected)
    assert outcome.notices and min(n.rev for n in outcome.notices) > SWITCHED_OFFSET


class _RacedStore(ProjectionStore):
    """The real store; once armed, another writer touches every other document just before
    the batch's folded write of it (as a second projector process pushing a summary would),
    and creates every other document the batch is about to insert."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        super().__init__(db)
        self.armed = False
        self.raced = 0
        self.folded = 0
        self.refused = 0
        self.rewritten = 0

    async def write_all_if_unchanged(
        self, collection: str, writes: Sequence[FoldedWrite], now: datetime
    ) -> Landed:
        if self.armed:
            for write in writes[::2]:
                await self.db[collection].update_one({"_id": write.doc_id}, {"$inc": {WRITES: 1}})
                self.raced += 1
        landed = await super().write_all_if_unchanged(collection, writes, now)
        self.folded += self.armed * (len(writes) - len(landed.missed))
        return landed

    async def insert_new(
        self, collection: str, changes: Sequence[Any], *args: Any, **kwargs: Any
    ) -> Landed:
        if self.armed:
            for change in changes[::2]:  # as another process's summary push creates a target
                await self.db[collection].update_one(
                    {"_id": change.key.id},
                    {"$setOnInsert": {"known": False, "rev": 0}},
                    upsert=True,
                )
                self.raced += 1
        landed = await super().insert_new(collection, changes, *args, **kwargs)
        self.folded += self.armed * (len(changes) - len(landed.missed))
        self.refused += len(landed.missed)
        return landed

    async def write_entity(
        self, collection: str, change: Any, now: datetime
    ) -> dict[str, Any] | None:
        self.rewritten += self.armed
        return await super().write_entity(collection, change, now)


async def test_documents_another_writer_changed_during_a_batch_lose_nothing(
    mongo_db: AsyncDatabase[Any], second_db: AsyncDatabase[Any]
) -> None:
    """A folded write lands only on a document exactly as loaded; the documents another
    writer changed meanwhile are written again stepwise, the rest of the batch stands, and
    the documents still come out exactly as without the race."""
    records, expected = await undisturbed_run(second_db, 600, 150)
    topics, mapping = TopicNames(), load_status_mapping()

    store = _RacedStore(mongo_db)
    processor = BatchProcessor(store, mapping, topics)
    await process_in_batches(processor, records[:300], 150)
    store.armed = True
    await processor.process(records[300:450])
    store.armed = False
    await process_in_batches(processor, records[450:], 150)

    assert store.raced > 0 and store.folded > 0 and store.refused > 0 and store.rewritten > 0
    actual = await snapshot(mongo_db)
    assert actual == expected, differences(actual, expected)


class _InterleavedStore(_HookedStore):
    """The real store; once given an ``interlude``, runs it just before the batch's first
    document write: another group member writing a batch of its own in between this
    batch's reads and writes (as around a rebalance, when both hold the same partition)."""

    def __init__(self, db: AsyncDatabase[Any], *, from_inserts: bool = False) -> None:
        """``from_inserts``: the interlude starts at the batch's inserts, while its folded
        writes are already on their way (they may carry summaries of documents whose
        insert the other member then beats)."""
        super().__init__(db)
        self.interlude: Callable[[], Awaitable[Any]] | None = None
        self.rewritten = 0
        self.from_inserts = from_inserts
        self._interlude_over = asyncio.Event()

    async def before_write(self, method: DocumentWrite) -> None:
        """The first write runs the interlude; the batch's other writes wait for its end."""
        if method == "write_all_if_unchanged" and self.from_inserts:
            return
        interlude, self.interlude = self.interlude, None
        if interlude is not None:
            await interlude()
            self._interlude_over.set()
        await self._interlude_over.wait()
        if method == "write_entity":
            self.rewritten += 1


@pytest.mark.parametrize(
    ("stepwise", "from_inserts"),
    [(False, False), (True, False), (False, True)],
    ids=["folded", "stepwise", "folded, the other member inserting first"],
)
async def test_two_members_writing_one_entity_at_once_lose_none_of_its_events(
    stepwise: bool,
    from_inserts: bool,
    mongo_db: AsyncDatabase[Any],
    second_db: AsyncDatabase[Any],
) -> None:
    """The smallest schedule that lost data (issue 16): member A reads an order, member B
    writes newer events of the same order and commits them, then A writes its own. A's
    write was a ``$set`` of fields computed from what it had read, so it put back the
    order's old fulfillment state and B's newer events were gone for good. Now A's write lands
    only on the document it read, and A folds its events into B's document instead."""
    records, expected = await undisturbed_run(second_db, 600, 150)
    topics, mapping = TopicNames(), load_status_mapping()
    await process_in_batches(
        BatchProcessor(ProjectionStore(mongo_db), mapping, topics), records[:300], 150
    )
    member_b = BatchProcessor(ProjectionStore(mongo_db), mapping, topics)
    store = _InterleavedStore(mongo_db, from_inserts=from_inserts)
    # B re-reads from the last committed offset, as the new owner of the partition does
    store.interlude = lambda: member_b.process(records[300:600])
    await BatchProcessor(store, mapping, topics).process(records[300:450], stepwise=stepwise)

    assert store.interlude is None and store.rewritten > 0
    actual = await snapshot(mongo_db)
    assert actual == expected, differences(actual, expected)


@pytest.mark.parametrize("stepwise", [False, True], ids=["folded", "stepwise"])
async def test_a_batch_replanned_on_another_members_document_announces_what_it_stored(
    stepwise: bool, mongo_db: AsyncDatabase[Any]
) -> None:
    """Member A reads the shipment to store a pickup and a delivery; member B meanwhile
    stores an in-transit milestone reported late, between the two in time. A's write is
    planned again on B's document, and its notices follow that plan: after A's pickup the
    shipment is IN_TRANSIT (B's milestone is newer), as a serial run would announce it."""
    topics, mapping = TopicNames(), load_status_mapping()

    def records(*events: dict[str, Any]) -> list[Any]:
        return records_of((topics.shipments, b"SH-55021", json.dumps(e).encode()) for e in events)

    planned = BatchProcessor(ProjectionStore(mongo_db), mapping, topics)
    await planned.process(records(example("shipment-planned.json")))
    member_b = BatchProcessor(ProjectionStore(mongo_db), mapping, topics)
    late = _milestone(5, "ms-99122", "P1", "2026-11-22T10:00:00-05:00")
    store = _InterleavedStore(mongo_db)
    store.interlude = lambda: member_b.process(records(late))
    member_a = BatchProcessor(store, mapping, topics)
    outcome = await member_a.process(records(PICKUP, DELIVERY), stepwise=stepwise)

    assert store.interlude is None and store.rewritten > 0
    assert [(n.notice_id, n.status) for n in outcome.notices] == [
        ("tms/us-road|ms-99120|3", "IN_TRANSIT"),
        ("tms/us-road|ms-99121|4", "DELIVERED"),
    ]


async def test_verify_reports_events_missing_warehouses_unsettled_and_stale_links_behind_its_back(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    tmp_path: Path,
) -> None:
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 400))
    settings = projector_settings(stack, mongo_db, topic_names)
    await _project(settings)
    clean = await check(settings)
    assert clean.events_checked > 0 and clean.behind == [] and clean.unsettled == []
    assert clean.stale == {}  # an order's summaries of the shipments naming it are no stale

    order = await mongo_db[documents.ORDERS].find_one({"fulfillmentStage": {"$ne": None}})
    assert order is not None
    await mongo_db[documents.ORDERS].update_one(
        {"_id": order["_id"]}, {"$unset": {"fulfillmentStage": "", "_fulfillmentState": ""}}
    )
    # and a shipment's warehouses no longer what its order summaries derive
    shipment = await mongo_db[documents.SHIPMENTS].find_one(
        {documents.WAREHOUSE_IDS: {"$exists": True}}
    )
    assert shipment is not None
    await mongo_db[documents.SHIPMENTS].update_one(
        {"_id": shipment["_id"]}, {"$set": {documents.WAREHOUSE_IDS: ["DC-NOWHERE"]}}
    )
    # and an invoice still holding the summary of a shipment it no longer names
    invoice = await mongo_db[documents.INVOICES].find_one({})
    assert invoice is not None
    await mongo_db[documents.INVOICES].update_one(
        {"_id": invoice["_id"]},
        {"$set": {"related.shipments.SH-GONE": {"shipmentId": "SH-GONE", "rev": 1}}},
    )
    report = await check(settings)

    assert [b.key.id for b in report.behind] == [order["_id"]]
    assert report.unsettled == [EntityKey(documents.SHIPMENTS, shipment["_id"])]
    assert any(line.startswith("UNSETTLED shipments/") for line in report.lines())
    stale_invoice = EntityKey(documents.INVOICES, invoice["_id"])
    assert report.stale == {stale_invoice: [EntityKey(documents.SHIPMENTS, "SH-GONE")]}
    assert f"STALE invoices/{invoice['_id']}: related.shipments.SH-GONE" in report.lines()
    assert report.behind[0].missing and all("/" in event for event in report.behind[0].missing)
    metrics = tmp_path / "verify.prom"
    write_metrics(report, metrics, {"group": settings.group_id})
    text = metrics.read_text()
    assert f'portal_projection_entities_behind{{group="{settings.group_id}"}} 1.0' in text
    assert f'portal_projection_warehouses_unsettled{{group="{settings.group_id}"}} 1.0' in text
    assert f'portal_projection_related_stale{{group="{settings.group_id}"}} 1.0' in text


async def test_verify_reports_summaries_a_named_link_lacks_on_either_side(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: AsyncDatabase[Any],
    tmp_path: Path,
) -> None:
    """A link one side names has both summaries once the other side is known: the named
    entity holds the namer's (pushed), the namer the named entity's (pulled). Readers find
    the link from the naming side anyway, but warehouse-limited checks and nested pages
    read the summaries, so verify lists a document lacking one as MISSING."""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 1200))
    settings = projector_settings(stack, mongo_db, topic_names)
    await _project(settings)
    clean = await check(settings)
    assert clean.events_checked > 0 and clean.missing == {} and clean.stale == {}

    # an order without the summary of a shipment naming it (pushed by the shipment)
    shipment = await mongo_db[documents.SHIPMENTS].find_one(
        {"known": True, "orderIds.0": {"$exists": True}}
    )
    assert shipment is not None
    order_id = shipment["orderIds"][0]
    await mongo_db[documents.ORDERS].update_one(
        {"_id": order_id},
        {"$unset": {f"related.shipments.{documents.field_key(shipment['_id'])}": ""}},
    )
    # an invoice without the summary of a shipment it names (pulled from the shipment)
    invoice = await mongo_db[documents.INVOICES].find_one({"shipmentIds.0": {"$exists": True}})
    assert invoice is not None
    named = invoice["shipmentIds"][0]
    await mongo_db[documents.INVOICES].update_one(
        {"_id": invoice["_id"]}, {"$unset": {f"related.shipments.{documents.field_key(named)}": ""}}
    )
    report = await check(settings)

    assert report.missing == {
        EntityKey(documents.ORDERS, order_id): [EntityKey(documents.SHIPMENTS, shipment["_id"])],
        EntityKey(documents.INVOICES, invoice["_id"]): [EntityKey(documents.SHIPMENTS, named)],
    }
    assert f"MISSING orders/{order_id}: related.shipments.{shipment['_id']}" in report.lines()
    assert "2 lacking summaries of links a side names" in report.lines()[0]
    assert report.stale == {} and report.unsettled == [] and report.behind == []
    metrics = tmp_path / "verify.prom"
    write_metrics(report, metrics, {"group": settings.group_id})
    assert (
        f'portal_projection_related_missing{{group="{settings.group_id}"}} 2.0'
        in metrics.read_text()
    )


def _order(order_id: str) -> bytes:
    event = example("order-created.json")
    event["id"] = f"erp-{order_id}"
    event["subject"] = event["data"]["orderId"] = order_id
    return json.dumps(event).encode()


async def test_a_record_with_a_header_name_not_utf8_is_dead_lettered_and_the_rest_projected(
    stack: Stack, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any]
) -> None:
    """A record batch as a librdkafka producer can write it: its middle record has a header
    whose name is not UTF-8, between orders in the same batch and in the batches around it.
    aiokafka's consumer raised ``UnicodeDecodeError`` at it and the projector stopped there
    on every restart; now that record is a dead letter keeping its key, value and headers
    (the unreadable name's bytes in hex), every other order is projected once, and a verify
    and a rebuild read the partition as the projector does."""
    orders = topic_names["orders"]
    bad_name = b"\xff\xfe"
    batches: list[list[RawRecord]] = [
        [(b"SO-1", _order("SO-1"), [])],
        [
            (b"SO-2", _order("SO-2"), [(b"trace", b"t-2")]),
            (b"SO-3", _order("SO-3"), [(b"trace", b"t-3"), (bad_name, b"odd"), (b"n", None)]),
            (b"SO-4", _order("SO-4"), []),
        ],
        [(b"SO-5", _order("SO-5"), [])],
    ]
    for records in batches:
        await send_batch(stack.kafka_bootstrap, orders, 0, record_batch(records))
    settings = projector_settings(stack, mongo_db, topic_names)

    await _project(settings, within=60)

    projected = await mongo_db[documents.ORDERS].find({"known": True}, {"_id": 1}).to_list()
    assert sorted(d["_id"] for d in projected) == ["SO-1", "SO-2", "SO-4", "SO-5"]
    [sent] = await read_topic(stack.kafka_bootstrap, topic_names["dead_letter"])
    letter = DeadLetter.from_headers(sent.key, sent.value, sent.headers)
    assert (letter.topic, letter.partition, letter.offset) == (orders, 0, 2)
    assert (letter.key, letter.value) == (b"SO-3", _order("SO-3"))
    assert letter.reason.startswith("header name not UTF-8: header 1, in hex 'fffe'")
    assert list(sent.headers)[-3:] == [
        ("trace", b"t-3"),
        ("dlq.header-name-hex.fffe", b"odd"),
        ("n", None),
    ]
    assert [(n.encode("utf-8", "surrogateescape"), v) for n, v in letter.kept_headers] == [
        (b"trace", b"t-3"),
        (bad_name, b"odd"),
        (b"n", None),
    ]

    report = await check(settings)
    assert (report.events_checked, report.behind) == (4, [])
    suffix = await rebuild(settings)
    rebuilt = mongo_db[documents.generation_collection(documents.ORDERS, suffix)]
    assert sorted([doc["_id"] async for doc in rebuilt.find({}, {"_id": 1})]) == [
        "SO-1",
        "SO-2",
        "SO-4",
        "SO-5",
    ]
