"""The projector's publication of change notices (``runner.send_notices``): in record
batches it fills itself, every notice reaches the topic, on the partition its shipment's key
maps to, in each shipment's order."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import defaultdict

from aiokafka import AIOKafkaProducer

from projections import runner
from projections.metrics import ProjectorMetrics
from projections.settings import ProjectorSettings
from readmodel.changes import ShipmentChange
from tests.conftest import PARTITIONS
from tests.helpers import Stack, shipment_change
from tests.integration.projector_harness import read_topic

SHIPMENTS = 60


async def test_notices_of_many_shipments_reach_their_key_s_partition_in_each_shipment_s_order(
    stack: Stack, topic_names: dict[str, str]
) -> None:
    """Ten notices each of 60 shipments, interleaved, published by the projector's notices
    producer to a topic of several partitions: each shipment's notices all land on the
    partition ``producer.send`` puts its key on (Kafka's default partitioner, so every
    consumer keyed by shipment keeps working), in the order they were published."""
    topic = topic_names["shipments"]  # PARTITIONS partitions; the changes topic has one
    notices = [shipment_change(n, shipment_id=f"SH-{n % SHIPMENTS}") for n in range(600)]
    producer = runner.notices_producer(
        ProjectorSettings(kafka_bootstrap_servers=stack.kafka_bootstrap)
    )
    await producer.start()
    try:
        await asyncio.gather(
            *await runner.send_notices(producer, notices, topic, ProjectorMetrics())
        )
        markers = [
            await producer.send(topic, value=b"marker", key=f"SH-{s}".encode())
            for s in range(SHIPMENTS)
        ]
        placed = {f"SH-{s}": (await marker).partition for s, marker in enumerate(markers)}
    finally:
        await producer.stop()

    assert len(set(placed.values())) == PARTITIONS  # the shipments spread over every one
    arrived: defaultdict[str, list[str]] = defaultdict(list)
    for partition in range(PARTITIONS):
        for record in await read_topic(stack.kafka_bootstrap, topic, partition):
            shipment = record.key.decode()
            assert placed[shipment] == partition, shipment
            if record.value != b"marker":
                arrived[shipment].append(ShipmentChange.decode(record.value).notice_id)
    assert arrived == {
        f"SH-{s}": [f"tms/us-road|ms-{n}" for n in range(s, 600, SHIPMENTS)]
        for s in range(SHIPMENTS)
    }


async def test_notices_more_than_a_producer_batch_holds_are_all_delivered_in_order(
    stack: Stack, topic_names: dict[str, str]
) -> None:
    """Notices of about 1 KiB and some of 40 KiB, 400 KiB in all, through a producer whose
    batches hold 16 KiB: they go in many batches, a notice larger than a batch alone in
    one, and the topic has every notice whole, in order, stamped with the time it was
    sent."""
    topic = topic_names["changes"]
    notices = [
        shipment_change(
            n,
            order_warehouses={f"SO-{n}-{k}": "WH-ATL" for k in range(20 if n % 50 else 1_500)},
        )
        for n in range(300)
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        max_batch_size=16 * 1024,
    )
    await producer.start()
    started = time.time()
    try:
        await asyncio.gather(
            *await runner.send_notices(producer, notices, topic, ProjectorMetrics())
        )
    finally:
        await producer.stop()
    finished = time.time()

    assert max(len(n.encode()) for n in notices) > 2 * 16 * 1024
    records = await read_topic(stack.kafka_bootstrap, topic)
    assert [ShipmentChange.decode(r.value) for r in records] == [
        dataclasses.replace(n, order_warehouses=dict(n.order_warehouses)) for n in notices
    ]
    assert [r.key for r in records] == [n.shipment_id.encode() for n in notices]
    assert all(started - 1 <= r.timestamp / 1000 <= finished + 1 for r in records)
