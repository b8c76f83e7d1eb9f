"""Publishing simulated records to Kafka with aiokafka: the simulator's only I/O.

Records keep their per-key order: the producer is idempotent (so retries cannot reorder a
partition) and the key, the event's subject, picks the partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from simulator.records import SimRecord, TopicKind
from simulator.world import Tally

#: Sends awaited together; bounds memory on a 200k-record history.
WINDOW: Final = 2_000
MAX_REQUEST_BYTES: Final = 1_000_000


class PublishError(Exception):
    """Kafka refused or lost records; the cause is the driver's error."""


class Publisher:
    """One producer, sending each record to the topic of its kind."""

    def __init__(
        self, bootstrap: str, topics: Mapping[TopicKind, str], *, linger_ms: int = 20
    ) -> None:
        self.topics = dict(topics)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_request_size=MAX_REQUEST_BYTES,
        )
        self.tally = Tally()

    async def __aenter__(self) -> Publisher:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise PublishError(f"cannot connect to Kafka: {exc}") from exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._producer.stop()

    async def send(self, record: SimRecord) -> asyncio.Future[object]:
        try:
            future: asyncio.Future[object] = await self._producer.send(
                self.topics[record.topic_kind], value=record.value, key=record.key
            )
        except KafkaError as exc:
            raise PublishError(f"cannot send to {self.topics[record.topic_kind]}: {exc}") from exc
        self.tally.add(record)
        return future

    async def send_all(self, records: Iterable[SimRecord]) -> Tally:
        """Send and wait for every acknowledgement, a window at a time."""
        window: list[asyncio.Future[object]] = []
        for record in records:
            window.append(await self.send(record))
            if len(window) >= WINDOW:
                await _settle(window)
                window = []
        await _settle(window)
        return self.tally

    async def send_stream(self, records: AsyncIterable[SimRecord]) -> Tally:
        """Send a (possibly endless) stream as it comes; ends when the stream does."""
        window: list[asyncio.Future[object]] = []
        async for record in records:
            window.append(await self.send(record))
            if len(window) >= 100:
                await _settle(window)
                window = []
        await _settle(window)
        return self.tally


async def _settle(futures: list[asyncio.Future[object]]) -> None:
    try:
        await asyncio.gather(*futures)
    except KafkaError as exc:
        raise PublishError(f"Kafka did not acknowledge a record: {exc}") from exc
