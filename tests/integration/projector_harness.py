"""Helpers for driving the real projector against the real broker and database in tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo.asynchronous.database import AsyncDatabase

from projections import documents
from projections.topics import TopicNames

REPO = Path(__file__).resolve().parents[2]


def topic_names_from(mapping: Mapping[str, str]) -> TopicNames:
    return TopicNames(**{k: v for k, v in mapping.items() if k in TopicNames.__dataclass_fields__})


async def produce(bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    """Send (topic, key, value) records and wait for all acknowledgements."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key) for topic, key, value in records
        ]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def wait_caught_up(
    bootstrap: str, group: str, topics: TopicNames, *, within: float = 300.0
) -> None:
    """Wait until the group has committed every inbound partition up to its end offset."""
    targets = await end_offsets(bootstrap, topics.inbound().values())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + within
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            behind = {
                tp: end
                for tp, end in targets.items()
                if end > 0 and (tp not in committed or committed[tp].offset < end)
            }
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"group {group} still behind on {behind}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def projector_env(
    bootstrap: str, database: str, group: str, topics: Mapping[str, str]
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        MONGODB_DATABASE=database,
        PROJECTOR_GROUP=group,
        PYTHONPATH=str(REPO),
    )
    for kind, topic in topics.items():
        env[f"TOPIC_{kind.upper()}"] = topic
    return env


def start_projector(env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "projections", "run"],
        cwd=REPO,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_projector(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=30)


#: Fields that record *how* a document was written rather than what it says.
VOLATILE = frozenset({"updatedAt", "lastEvent", "rev", "lastAppliedAt", "lastEventId"})


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


async def snapshot(db: AsyncDatabase[dict[str, Any]], suffix: str = "") -> dict[str, Any]:
    """Every projection document, minus write bookkeeping, keyed by collection and id."""
    result: dict[str, Any] = {}
    for base in documents.ENTITY_COLLECTIONS:
        name = documents.generation_collection(base, suffix)
        async for doc in db[name].find({}):
            result[f"{base}/{doc['_id']}"] = _canonical(doc)
    return result
