"""The local stack does what the projector and the API rely on, with the clients we use.

These are the calls that broke before on other broker versions or on FerretDB: a consumer
group that commits and reads back its offset, admin-created topics with a given partition
count, offset listing, and BSON dates and sub-documents surviving a round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo.asynchronous.database import AsyncDatabase


async def test_topics_are_created_with_their_partition_counts(
    kafka_admin: AIOKafkaAdminClient, topic_names: dict[str, str]
) -> None:
    described = await kafka_admin.describe_topics(list(topic_names.values()))
    counts = {t["topic"]: len(t["partitions"]) for t in described}

    assert counts[topic_names["orders"]] == 4
    assert counts[topic_names["shipments"]] == 4
    assert counts[topic_names["changes"]] == 1
    assert counts[topic_names["dead_letter"]] == 1
    assert topic_names["orders"].endswith(".erp.orders.v1")


async def test_record_round_trip_with_committed_group_offset(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient, topic_names: dict[str, str]
) -> None:
    topic = topic_names["orders"]
    group = f"stack-check-{topic}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b'{"id": "e-1"}', key=b"SO-1")
    finally:
        await producer.stop()
    partition = TopicPartition(topic, sent.partition)

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        await consumer.commit()
        committed = await consumer.committed(partition)
        end = await consumer.end_offsets([partition])
    finally:
        await consumer.stop()

    assert (record.key, record.value, record.offset) == (b"SO-1", b'{"id": "e-1"}', sent.offset)
    assert committed == sent.offset + 1
    assert end[partition] == sent.offset + 1
    # The commit is visible to another client: this is how lag is measured.
    offsets = await kafka_admin.list_consumer_group_offsets(group)
    assert offsets[partition].offset == sent.offset + 1


async def test_document_round_trip_keeps_dates_and_sub_documents(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    happened = datetime(2026, 11, 27, 9, 30, 15, 123000, tzinfo=UTC)
    document = {
        "_id": "SO-1",
        "customerId": "C-1",
        "updatedAt": happened,
        "related": {"shipments": {"SH-1": {"id": "SH-1", "rev": 2, "at": happened}}},
    }
    await mongo_db.orders.insert_one(document)
    await mongo_db.orders.update_one({"_id": "SO-1"}, {"$set": {"rev": 3}})

    found = await mongo_db.orders.find_one({"customerId": "C-1"})

    assert found == {**document, "rev": 3}
    assert found is not None and found["updatedAt"].tzinfo is not None


async def test_each_test_gets_an_empty_database(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    assert await mongo_db.list_collection_names() == []
