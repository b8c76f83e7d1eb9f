"""How far the projector is behind Kafka: committed offsets of its group vs. end offsets.

A background task of the API process polls every ``LAG_POLL_INTERVAL_SECONDS``. Kafka being
down must not hurt reads, so a failed poll is logged (once per outage), marks Kafka down in
the metrics, keeps the last known lags and is retried at the next tick with new clients.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from web.metrics import Metrics
from web.periodic import PeriodicTask

logger = logging.getLogger("web.consumer_lag")


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    #: The group's committed offset (the next record it will read); None if never committed.
    committed: int | None
    end: int
    lag: int


@dataclass(frozen=True)
class LagSnapshot:
    """The result of the last successful poll (``app.state.consumer_lag.latest``)."""

    taken_at: datetime
    partitions: tuple[PartitionLag, ...]

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


def compute_lags(
    committed: Mapping[TopicPartition, int | None],
    beginning: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
) -> tuple[PartitionLag, ...]:
    """Lag per partition. A partition the group never committed counts from its first
    retained record (everything still there is unread); negative lags (a commit racing the
    end-offset read) count as zero."""
    lags = []
    for tp in sorted(end, key=lambda t: (t.topic, t.partition)):
        offset = committed.get(tp)
        if offset is not None and offset < 0:
            offset = None
        start = offset if offset is not None else beginning.get(tp, 0)
        lags.append(
            PartitionLag(
                topic=tp.topic,
                partition=tp.partition,
                committed=offset,
                end=end[tp],
                lag=max(end[tp] - start, 0),
            )
        )
    return tuple(lags)


class ConsumerLagPoller(PeriodicTask):
    """Polls the lag from ``start`` until ``stop``.

    The clients live across polls and are dropped and rebuilt after any failure, so a broker
    restart costs one failed poll. ``stop`` lets a poll in flight finish (each is bounded by
    ``timeout_seconds``) instead of cancelling it: aiokafka leaks the socket of a client
    cancelled while it bootstraps.
    """

    task_name = "consumer-lag-poller"

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: Iterable[str],
        metrics: Metrics,
        interval_seconds: float,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topics = tuple(topics)
        self.metrics = metrics
        self.timeout_seconds = timeout_seconds
        self.latest: LagSnapshot | None = None
        self._reachable: bool | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        super().__init__(interval_seconds, stop_timeout_seconds=timeout_seconds + 5)

    async def stop(self) -> None:
        """Finish the poll in flight, if any, then release the clients."""
        await super().stop()
        await self.close()

    async def tick(self) -> None:
        """One poll; never raises for Kafka being unreachable."""
        await self.poll_once()

    async def poll_once(self) -> LagSnapshot | None:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                snapshot = await self._read()
        except (KafkaError, OSError, TimeoutError) as exc:
            if self._reachable is not False:
                logger.warning("consumer lag unavailable (Kafka unreachable?): %r", exc)
            self._reachable = False
            self.metrics.kafka_up.set(0)
            await self.close()
            return None
        if self._reachable is False:
            logger.info("consumer lag available again")
        self._reachable = True
        self.latest = snapshot
        self._export(snapshot)
        return snapshot

    async def close(self) -> None:
        consumer, admin = self._consumer, self._admin
        self._consumer = self._admin = None
        if consumer is not None:
            try:
                await consumer.stop()
            except (KafkaError, OSError) as exc:
                logger.debug("stopping the lag consumer failed: %r", exc)
        if admin is not None:
            try:
                await admin.close()
            except (KafkaError, OSError) as exc:
                logger.debug("closing the lag admin client failed: %r", exc)

    def _export(self, snapshot: LagSnapshot) -> None:
        self.metrics.kafka_up.set(1)
        self.metrics.lag_poll_success.set(time.time())
        self.metrics.consumer_lag.clear()
        for p in snapshot.partitions:
            self.metrics.consumer_lag.labels(topic=p.topic, partition=str(p.partition)).set(p.lag)

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        timeout_ms = int(self.timeout_seconds * 1000)
        if self._consumer is None:
            # Kept before starting, so a start interrupted by shutdown is still closed.
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                request_timeout_ms=timeout_ms,
                client_id="portal-api-lag",
            )
            await self._consumer.start()
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers,
                request_timeout_ms=timeout_ms,
                client_id="portal-api-lag",
            )
            await self._admin.start()
        return self._consumer, self._admin

    async def _read(self) -> LagSnapshot:
        consumer, admin = await self._clients()
        # Only topics that exist: a metadata request naming a missing topic would make a
        # broker with auto.create.topics.enable create it, and monitoring must not do that.
        existing = set(await admin.list_topics())
        wanted = [topic for topic in self.topics if topic in existing]
        described = await admin.describe_topics(wanted) if wanted else []
        partitions = sorted(
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if topic["error_code"] == 0
            for partition in topic["partitions"]
        )
        if not partitions:
            return LagSnapshot(taken_at=datetime.now(UTC), partitions=())
        end = await consumer.end_offsets(partitions)
        beginning = await consumer.beginning_offsets(partitions)
        offsets = await admin.list_consumer_group_offsets(self.group_id, partitions=partitions)
        committed = {tp: meta.offset for tp, meta in offsets.items()}
        return LagSnapshot(
            taken_at=datetime.now(UTC),
            partitions=compute_lags(committed, beginning, end),
        )
