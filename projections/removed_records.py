"""Records the inbound logs lost before the projector group read them: found, counted and
said, never skipped in silence.

The group's consumer reads from its committed offsets, and from a partition's first record
when the group has none (``auto_offset_reset="earliest"``, ``runner.kafka_clients``). When
retention or ``kafka-delete-records`` moved a log's start past the committed offset (the
projector was down, or far behind, for longer than the topic keeps records), the broker
refuses that offset and aiokafka moves the consumer to the log's new start, logging no more
than a line at INFO: the events in between were never applied, the projections lack them,
and ``projections verify`` cannot tell (it checks what the log still holds).

So when the group gives this process a partition, before any of its records are read, the
group's committed offset (0 when it has none: a new group reads from the first record) is
compared with where the log starts now; a gap is an ERROR line naming the partition, the
offsets lost and what to do, and ``portal_projector_records_removed_unread_total``, which
an alert watches. The projector then goes on from the log's start, as before: stopping
would not bring the records back (only their producers can publish them again), and would
stop every partition's updates with it. A rebuild is no remedy either: it reads the same
log, and is refused over it (``projections.rebuild``, ``TruncatedHistory``).

Not seen: a log whose start passes the position of a partition this process holds while it
reads it (a projector behind by more than the retention while it runs); aiokafka moves it
on the same way. Keeping inbound topics forever (``retention.ms=-1``), which rebuilds need
anyway, rules out both (docs/limits.md, "rebuild-needs-history").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Mapping
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from projections.log_ends import known_within
from projections.metrics import ProjectorMetrics

log = logging.getLogger(__name__)

#: How long a newly assigned partition's check may wait for the broker (committed offsets,
#: log starts) before it is given up (logged): the rebalance waits for it.
CHECK_WITHIN_SECONDS = 10.0


class Removed(NamedTuple):
    """Records ``first`` to ``start - 1`` of ``partition``: removed before the group read them."""

    partition: TopicPartition
    first: int
    start: int

    @property
    def records(self) -> int:
        return self.start - self.first


def removed_unread(
    committed: Mapping[TopicPartition, int | None], starts: Mapping[TopicPartition, int]
) -> list[Removed]:
    """The partitions of ``committed`` (the group's committed offsets, None: none) whose log
    now starts past the first record the group has not read (0 with no committed offset).
    A committed offset past a log's end (a topic created again) loses nothing: the consumer
    reads that log from its start."""
    return [
        Removed(tp, first, starts[tp])
        for tp, offset in sorted(committed.items())
        if tp in starts and (first := offset or 0) < starts[tp]
    ]


async def check_assigned(
    consumer: AIOKafkaConsumer, partitions: Collection[TopicPartition], within: float
) -> list[Removed] | None:
    """``removed_unread`` for ``partitions``, newly assigned to ``consumer``; None when the
    broker cannot say within ``within`` seconds."""

    async def ask() -> list[Removed]:
        ordered = list(partitions)
        # one request each (aiokafka asks per partition): all at once, not one after another
        offsets = await asyncio.gather(*(consumer.committed(tp) for tp in ordered))
        committed = dict(zip(ordered, offsets, strict=True))
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(ordered)
        return removed_unread(committed, starts)

    return await known_within(within, ask(), None) if partitions else []


def report(removed: Iterable[Removed], metrics: ProjectorMetrics) -> None:
    """An ERROR line and the counter for each gap (the module docstring)."""
    for gap in removed:
        tp = gap.partition
        metrics.records_removed_unread.labels(topic=tp.topic, partition=str(tp.partition)).inc(
            gap.records
        )
        log.error(
            "%s[%d]: records %d-%d were removed (retention or delete-records) before this "
            "projector group read them: the projections lack their %d events, which verify "
            "cannot report; reading on from offset %d. Keep inbound topics forever "
            "(retention.ms=-1); the events come back only if their producers publish them "
            "again",
            tp.topic,
            tp.partition,
            gap.first,
            gap.start - 1,
            gap.records,
            gap.start,
        )


class ReportRemovedOnAssign(ConsumerRebalanceListener):  # type: ignore[misc]
    """Checks every partition the group assigns, before its records are read (the module
    docstring)."""

    def __init__(self, consumer: AIOKafkaConsumer, metrics: ProjectorMetrics) -> None:
        self._consumer = consumer
        self._metrics = metrics

    async def on_partitions_revoked(self, _revoked: Iterable[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        partitions = set(assigned)
        removed = await check_assigned(self._consumer, partitions, CHECK_WITHIN_SECONDS)
        if removed is None:
            log.warning(
                "could not check whether records of %s were removed before the group read "
                "them: the broker did not answer within %.0f s",
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(partitions)),
                CHECK_WITHIN_SECONDS,
            )
            return
        report(removed, self._metrics)
