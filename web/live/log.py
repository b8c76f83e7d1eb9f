"""All Kafka I/O of live subscriptions: the changes topic read by offset.

Consumers here never join a group: every API replica reads every notice, and a replay reads
an exact offset range. Both read committed records only, so a notice from an aborted
transaction can never reach a client. Driver errors become ``FeedUnavailable`` (or
``CursorExpired`` when the log no longer holds the offsets asked for, or never reached them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from graph.subscriptions import CursorExpired, FeedUnavailable
from readmodel.changes import InvalidChangeNotice, ShipmentChange
from readmodel.kafka_admin import ensure_own_topics
from readmodel.topics import TopicNames
from web.live.cursor import REFETCH_ADVICE

logger = logging.getLogger(__name__)

#: A replay that makes no progress for this long is abandoned (the broker is unreachable).
REPLAY_STALL_SECONDS = 30.0


@dataclass(frozen=True)
class Chunk:
    """One read of the log: its notices, and the offset the next read starts from (``stop``
    once the range is read; past any offsets that hold no notice, such as transaction
    markers)."""

    notices: list[tuple[int, ShipmentChange]]
    next_offset: int


@dataclass(frozen=True)
class ChangeLog:
    """The changes topic (one partition) of one Kafka cluster."""

    bootstrap_servers: str
    topics: TopicNames
    retention_hours: int
    #: Of the changes topic, when this process creates it (``KAFKA_REPLICATION_FACTOR``).
    replication_factor: int = 1

    @property
    def partition(self) -> TopicPartition:
        return TopicPartition(self.topics.changes, 0)

    def consumer(self) -> AIOKafkaConsumer:
        """A group-less consumer; ``auto_offset_reset="none"`` so a lost position is an error."""
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",
            isolation_level="read_committed",
            fetch_max_wait_ms=200,
        )

    async def ensure_topic(self) -> None:
        """Create the changes topic (one partition, retention from CHANGES_RETENTION_HOURS)
        if missing, exactly as the projector does; whichever starts first creates it."""
        await ensure_own_topics(
            self.bootstrap_servers,
            self.topics,
            changes_retention_hours=self.retention_hours,
            replication_factor=self.replication_factor,
        )

    async def read(self, start: int, stop: int, limit: int) -> Chunk:
        """Up to about ``limit`` notices at offsets ``start <= offset < stop``, in order, with
        a consumer opened and closed for this read alone: nothing is held between reads.

        ``CursorExpired`` when ``start`` is older than the earliest offset still retained.
        Records that are not notices are skipped (and logged): they never were deliverable.

        The consumer is stopped whatever ends the read, its start included: a start that fails
        (the broker unreachable) or is cancelled (the client completes the subscription or goes
        away mid-replay, one start per chunk) otherwise left a consumer never stopped, which
        aiokafka reports to the event loop ("Unclosed AIOKafkaConsumer") once collected.
        ``stop`` copes with a partial start: it closes what ``start`` kept (its metadata task,
        its connections). Not the connection aiokafka (0.14) is bootstrapping from when the
        cancellation lands while it asks that broker for metadata: ``start`` drops it unclosed,
        out of ``stop``'s reach, and the garbage collector closes it.
        """
        consumer = self.consumer()
        try:
            await consumer.start()
            return await self._read(consumer, start, stop, limit)
        except OffsetOutOfRangeError as exc:
            raise self._expired(start) from exc
        except KafkaError as exc:
            raise FeedUnavailable("the change log cannot be read right now; retry") from exc
        finally:
            await consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer, start: int, stop: int, limit: int) -> Chunk:
        tp = self.partition
        consumer.assign([tp])
        earliest = (await consumer.beginning_offsets([tp]))[tp]
        if start < earliest:
            raise self._expired(start)
        consumer.seek(tp, start)
        notices: list[tuple[int, ShipmentChange]] = []
        read = 0
        last_progress = time.monotonic()
        while read < limit and await consumer.position(tp) < stop:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=limit - read)
            records = batch.get(tp, [])
            if records:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > REPLAY_STALL_SECONDS:
                raise FeedUnavailable("the change log stopped answering during a replay")
            for record in records:
                if record.offset >= stop:
                    return Chunk(notices, stop)
                read += 1
                change = decode_record(record)
                if change is not None:
                    notices.append((record.offset, change))
        return Chunk(notices, min(await consumer.position(tp), stop))

    async def check_cursor_issued(self, offset: int) -> None:
        """CursorExpired unless ``offset`` is one the log has reached (we could have issued it).

        A cursor past the end is what an app holds once the changes topic was created again
        (a new broker, an operator's reset: its offsets start over), and the remedy is that of
        an expired one, refetch and subscribe with a new ``liveCursor``; refused as a bad
        cursor, an app resubscribing with it met the refusal again and again.
        """
        consumer = self.consumer()
        try:
            await consumer.start()
            tp = self.partition
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
        except KafkaError as exc:
            raise FeedUnavailable("the change log cannot be read right now; retry") from exc
        finally:
            await consumer.stop()
        if offset >= end:
            raise CursorExpired(
                "the cursor is beyond the end of the change log (the log was created again "
                f"since, or the cursor is not one this API issued). {REFETCH_ADVICE}"
            )

    def _expired(self, start: int) -> CursorExpired:
        return CursorExpired(
            f"the cursor is older than the change log's retention window (about "
            f"{self.retention_hours} hours): notices that followed it are gone. {REFETCH_ADVICE}"
        )


def decode_record(record: ConsumerRecord[bytes, bytes]) -> ShipmentChange | None:
    """The notice in ``record``, or None (logged) for a record that is not one."""
    if record.value is None:
        logger.warning("changes topic offset %s: empty record skipped", record.offset)
        return None
    try:
        return ShipmentChange.decode(record.value)
    except InvalidChangeNotice as exc:
        logger.warning("changes topic offset %s skipped: %s", record.offset, exc)
        return None
