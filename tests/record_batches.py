"""Kafka record batches as a librdkafka producer can write them and aiokafka's cannot: with a
header name that is not UTF-8 (``docs/limits.md#unreadable-headers``), built here byte for
byte and sent with a bare produce request."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import LeaderNotAvailableError, NoError, for_code
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.util import calc_crc32c, encode_varint

#: One record: key, value and headers, whose names are bytes here (any bytes).
RawRecord = tuple[bytes | None, bytes | None, Sequence[tuple[bytes, bytes | None]]]

_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC_AT = 17  # after base offset, length, leader epoch and magic
_ATTRIBUTES_AT = 21


def record_batch(
    records: Sequence[RawRecord], *, base_offset: int = 0, timestamp: int | None = None
) -> bytes:
    """A record batch (format v2, uncompressed, no producer id) of ``records``, all at
    ``timestamp`` (milliseconds; now by default), its CRC right: written by hand, as
    aiokafka's builders take only names they can encode as UTF-8.

    Now, not a fixed date: a broker's time-based retention (the stack's keeps 7 days)
    deletes records dated before its window at its next check, 30 s after it starts and
    every 5 min after, and a test that read them after that check found none."""
    if timestamp is None:
        timestamp = time.time_ns() // 1_000_000
    body = b"".join(_record(delta, record) for delta, record in enumerate(records))
    header = bytearray(
        _BATCH_HEADER.pack(
            base_offset,  # a broker assigns its own
            _BATCH_HEADER.size - 12 + len(body),
            -1,  # partition leader epoch
            2,  # magic
            0,  # CRC, below
            0,  # attributes: no compression, create time, not transactional
            len(records) - 1,
            timestamp,
            timestamp,
            -1,  # producer id
            -1,  # producer epoch
            -1,  # base sequence
            len(records),
        )
    )
    batch = header + body
    batch[_CRC_AT:_ATTRIBUTES_AT] = calc_crc32c(bytes(batch[_ATTRIBUTES_AT:])).to_bytes(4, "big")
    return bytes(batch)


def _record(delta: int, record: RawRecord) -> bytes:
    key, value, headers = record
    fields = [b"\0", _varint(0), _varint(delta), _nullable(key), _nullable(value)]
    fields.append(_varint(len(headers)))
    for name, header_value in headers:
        fields += [_varint(len(name)), name, _nullable(header_value)]
    body = b"".join(fields)
    return _varint(len(body)) + body


def _nullable(data: bytes | None) -> bytes:
    return _varint(-1) if data is None else _varint(len(data)) + data


def _varint(number: int) -> bytes:
    written = bytearray()
    encode_varint(number, written.append)
    return bytes(written)


async def send_batch(bootstrap: str, topic: str, partition: int, batch: bytes) -> None:
    """Append ``batch`` to the partition as its leader takes it (a bare produce request, all
    replicas acknowledging), asked again while the broker is not yet ready for a topic
    created a moment ago; any other error of the broker's raised."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        for _ in range(50):
            error = await _produce(client, TopicPartition(topic, partition), batch)
            if error is None:
                return
            if not error.retriable:
                raise error(f"{topic}:{partition}")
            await asyncio.sleep(0.1)
            await client.force_metadata_update()
        raise error(f"{topic}:{partition}")
    finally:
        await client.close()


async def _produce(client: AIOKafkaClient, tp: TopicPartition, batch: bytes) -> Any:
    """The error class the broker answered with, or None."""
    await client._wait_on_metadata(tp.topic)
    leader = client.cluster.leader_for_partition(tp)
    if leader is None or leader == -1:
        return LeaderNotAvailableError
    request = ProduceRequest(
        transactional_id=None,
        required_acks=-1,
        timeout=30_000,
        topics=[(tp.topic, [(tp.partition, batch)])],
    )
    response = await client.send(leader, request)
    [(_topic, [answer])] = response.topics
    error = for_code(answer[1])
    return None if error is NoError else error
