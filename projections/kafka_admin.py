"""Creation of the topics the read model itself owns (dead letters and change notices)."""

from __future__ import annotations

import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from projections.topics import TopicNames


async def ensure_own_topics(
    bootstrap_servers: str, topics: TopicNames, *, changes_retention_hours: int
) -> None:
    """Create the dead-letter and changes topics if missing; existing ones are left alone.

    The changes topic has a single partition, so its offsets are one total order that
    subscribers resume from; its retention is the resume window. Dead letters are kept
    until an operator deals with them (no time-based deletion).
    """
    replication = int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
    wanted = [
        NewTopic(
            topics.changes,
            num_partitions=1,
            replication_factor=replication,
            topic_configs={"retention.ms": str(changes_retention_hours * 3_600_000)},
        ),
        NewTopic(
            topics.dead_letter,
            num_partitions=1,
            replication_factor=replication,
            topic_configs={"retention.ms": "-1"},
        ),
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another projector process created it first
    finally:
        await admin.close()
