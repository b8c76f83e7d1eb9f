"""Kafka metadata the projector needs, and the topics the read model itself owns."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from readmodel.topics import TopicNames

log = logging.getLogger(__name__)

#: Largest dead letter (record batch) the dead-letter topic takes, and the projector's
#: producer sends: twice the broker's default limit (1 MiB), so that the largest record an
#: inbound topic takes at that default still goes there whole with the headers saying where
#: it came from and why it was refused. At 1 MiB such a record could not be dead-lettered,
#: its batch never finished, and the projector stopped at it for good.
DEAD_LETTER_MAX_BYTES = 2 * 1024 * 1024
#: Dead letters are kept until an operator deals with them (no time-based deletion).
DEAD_LETTER_CONFIGS = {"retention.ms": "-1", "max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}


async def ensure_own_topics(
    bootstrap_servers: str,
    topics: TopicNames,
    *,
    changes_retention_hours: int,
    replication_factor: int = 1,
) -> None:
    """Create the dead-letter and changes topics if missing; existing ones are left alone,
    but a changes topic of several partitions is refused (``TopicMisconfigured``).

    The changes topic has a single partition, so its offsets are one total order that
    subscribers resume from; its retention is the resume window. Dead letters:
    ``DEAD_LETTER_CONFIGS`` (an existing topic keeps its own). ``replication_factor`` is
    ``KAFKA_REPLICATION_FACTOR``.
    """
    replication = replication_factor
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
            topic_configs=DEAD_LETTER_CONFIGS,
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
        await _require_one_partition(admin, topics.changes)
        await _warn_if_dead_letters_too_small(admin, topics.dead_letter)
    finally:
        await admin.close()


class TopicMisconfigured(RuntimeError):
    """A topic the read model owns exists with a layout it cannot work with."""


async def _require_one_partition(admin: AIOKafkaAdminClient, topic: str) -> None:
    """Refuse a changes topic of several partitions (created by hand, or by the broker's
    auto-creation with its default): the live feed reads partition 0 only and cursors are its
    offsets, so the notices of every other partition would never reach a subscriber."""
    [described] = await admin.describe_topics([topic])
    count = len(described["partitions"])
    if described["error_code"] != 0 or count == 0:
        # created a moment ago, with one partition: the broker may not list it yet
        return
    if count != 1:
        raise TopicMisconfigured(
            f"the changes topic {topic} has {count} partitions; it must have exactly 1 (its "
            "offsets are the subscribers' one order, and only partition 0 is read): delete "
            "it and let the projector or the API create it again"
        )


async def _warn_if_dead_letters_too_small(admin: AIOKafkaAdminClient, topic: str) -> None:
    """Log an error when an existing dead-letter topic takes less than
    ``DEAD_LETTER_MAX_BYTES`` (one created before that limit): a refused record too large for
    it cannot be dead-lettered, and the projector stops at it until the topic is raised."""
    resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})
    [answer] = await admin.describe_configs([resource])
    [described] = answer.to_object()["resources"]
    if described["error_code"] != 0:
        return  # created a moment ago, with ``DEAD_LETTER_CONFIGS``; not known everywhere yet
    entries = described["config_entries"]
    limit = next(
        int(e["config_value"]) for e in entries if e["config_names"] == "max.message.bytes"
    )
    if limit < DEAD_LETTER_MAX_BYTES:
        log.error(
            "dead-letter topic %s takes records of up to %d bytes; raise it to %d "
            "(kafka-configs.sh --alter --entity-type topics --entity-name %s "
            "--add-config max.message.bytes=%d), or a refused record larger than that "
            "stops the projector",
            topic,
            limit,
            DEAD_LETTER_MAX_BYTES,
            topic,
            DEAD_LETTER_MAX_BYTES,
        )


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``topics``, from fresh metadata; a missing topic is an error.

    A consumer without a subscription knows no topic metadata until asked, and an empty
    answer here would make a replay silently read nothing.
    """
    wanted = list(topics)
    # topics() fetches metadata into a throwaway object; this refreshes the consumer's own
    # (for every topic, as an assign-only consumer tracks none).
    await consumer._client.force_metadata_update()
    partitions: list[TopicPartition] = []
    for topic in wanted:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise LookupError(f"topic {topic!r} does not exist on the broker")
        partitions.extend(TopicPartition(topic, n) for n in sorted(numbers))
    return partitions
