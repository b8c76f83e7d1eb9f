"""Reading records whose header names are not UTF-8, so that they become dead letters.

Kafka's protocol makes a header name a string, the broker does not check it, and a
librdkafka producer can write any bytes there. aiokafka's record parser (its C extension)
decodes every header name strictly while a fetched batch is iterated, inside
``AIOKafkaConsumer.getmany``: the call raised ``UnicodeDecodeError``, the projector ended
without committing, and every restart ended at the same record (session 20).

``tolerate_unreadable_header_names`` makes aiokafka's fetcher read such a record instead.
The fast path is unchanged: every fetched partition is still parsed by the C parser, and
only when it raises ``UnicodeDecodeError`` is the one record batch it was in parsed again,
by aiokafka's pure-Python parser with the header names decoded with ``surrogateescape``
(``_LenientBatch``). That decoding loses no byte: each byte that is not UTF-8 becomes a lone
surrogate (U+DC80 + the byte), and ``name.encode("utf-8", "surrogateescape")`` gives the
original bytes back. The records of the batch already returned are not returned again
(aiokafka's own check of each record's offset against its ``next_fetch_offset``), and the
batches after it are read by the C parser again. Other partitions' fetches are not touched.

The consumer then hands such a record over like any other, with the name so decoded: it is
for the reader to refuse it (the projector makes it a dead letter, ``unreadable_header``).

The aiokafka internals this relies on (aiokafka is pinned in ``constraints.txt``; the unit
test ``test_header_names`` fails if any is gone or behaves otherwise):

* ``aiokafka.consumer.fetcher`` builds each fetched partition's records as
  ``PartitionRecords(tp, MemoryRecords(bytes), ...)``, looking both names up in its module
  when a fetch response arrives (so replacing them there takes effect);
* ``PartitionRecords`` iterates ``self._records_iterator``, set in ``__init__`` to
  ``self._unpack_records()``, a generator that reads ``self._records`` (``has_next`` /
  ``next_batch``) from the start when called, skips records below ``self.next_fetch_offset``
  and advances it past each record it yields and each batch it finishes;
* the C parser raises ``UnicodeDecodeError`` for such a name, from ``next`` on a batch;
  ``_DefaultRecordBatchPy`` (its ``_buffer``, ``_pos``, ``timestamp_type``,
  ``LOG_APPEND_TIME``, ``max_timestamp``, ``first_timestamp``, ``base_offset``) reads records
  with ``_read_msg``, which ``_LenientBatch`` replaces with a copy decoding names leniently;
  ``_DefaultRecordPy`` is the record it returns.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, Final

from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import _DefaultRecordBatchPy, _DefaultRecordPy
from aiokafka.record.util import decode_varint

#: aiokafka's own classes, which the replacements below extend.
_MemoryRecords: Final = fetcher.MemoryRecords
_PartitionRecords: Final = fetcher.PartitionRecords

#: A record batch's first bytes, in every format: base (v2) or last (v0, v1) offset, length.
_LOG_OVERHEAD: Final = struct.Struct(">qi")
_MAGIC_AT: Final = 16
#: In format v2: where the batch's last offset delta is (after offset, length, leader epoch,
#: magic, CRC and attributes).
_LAST_OFFSET_DELTA: Final = struct.Struct(">i")
_LAST_OFFSET_DELTA_AT: Final = 23
#: Fewer bytes than a v2 batch has (its header alone has 61): read no field past them.
_SHORTEST: Final = _LAST_OFFSET_DELTA_AT + _LAST_OFFSET_DELTA.size


def tolerate_unreadable_header_names() -> None:
    """Have every aiokafka consumer of this process read records whose header names are not
    UTF-8 (see the module). Idempotent; call before the consumer fetches."""
    fetcher.MemoryRecords = _KeptMemoryRecords
    fetcher.PartitionRecords = _TolerantPartitionRecords


def undecodable(name: str) -> bytes | None:
    """The original bytes of a header name the lenient parser decoded, if they were not UTF-8
    (the name holds a lone surrogate); None for a name that was UTF-8."""
    if name.isascii():
        return None
    try:
        name.encode()
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape")
    return None


class _KeptMemoryRecords(_MemoryRecords):  # type: ignore[misc,valid-type]
    """aiokafka's (C) ``MemoryRecords`` keeping the fetched bytes, for a second reading."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.data = data


class _TolerantPartitionRecords(_PartitionRecords):  # type: ignore[misc,valid-type]
    """aiokafka's ``PartitionRecords`` reading again, leniently, a batch the C parser refused
    for a header name."""

    def __init__(self, tp: Any, records: Any, *rest: Any) -> None:
        super().__init__(tp, records, *rest)
        self._fetched: bytes | None = getattr(records, "data", None)
        self._records_iterator = self._tolerant_records()

    def _tolerant_records(self) -> Iterator[Any]:
        resumed_at = None
        while True:
            try:
                yield from self._unpack_records()
                return
            except UnicodeDecodeError:
                # No progress since the last resumption: not a header name; never loop.
                if self._fetched is None or resumed_at == self.next_fetch_offset:
                    raise
                resumed_at = self.next_fetch_offset
                self._records = _ResumedRecords(self._fetched, resumed_at)


class _ResumedRecords:
    """The batches of a fetched partition from the first one not wholly read before
    ``offset``: that one parsed leniently, the rest by the C parser again."""

    def __init__(self, data: bytes, offset: int) -> None:
        position, unfinished_end = 0, None
        while position + _LOG_OVERHEAD.size <= len(data):
            first, length = _LOG_OVERHEAD.unpack_from(data, position)
            end = position + _LOG_OVERHEAD.size + length
            after = _next_offset(data, position, end, first)
            if after is None:
                break  # cut off by the fetch's size, or corrupt: aiokafka's to say
            if after > offset:
                unfinished_end = end
                break
            position = end
        self._first: Any = None
        if unfinished_end is not None and data[position + _MAGIC_AT] >= 2:
            self._first = _LenientBatch(memoryview(data)[position:unfinished_end])
            position = unfinished_end
        self._rest = _MemoryRecords(data[position:])

    def has_next(self) -> bool:
        return self._first is not None or bool(self._rest.has_next())

    def next_batch(self) -> Any:
        batch, self._first = self._first, None
        return batch if batch is not None else self._rest.next_batch()


def _next_offset(data: bytes, position: int, end: int, first: int) -> int | None:
    """The offset after the batch at ``position`` (to ``end``) whose first field is
    ``first``; None for a batch not wholly fetched or too short for its format."""
    if end > len(data) or end - position <= _MAGIC_AT:
        return None
    if data[position + _MAGIC_AT] < 2:
        return first + 1  # formats v0 and v1 give the last offset of the (wrapper) message
    if end - position < _SHORTEST:
        return None
    (delta,) = _LAST_OFFSET_DELTA.unpack_from(data, position + _LAST_OFFSET_DELTA_AT)
    return int(first) + int(delta) + 1


class _LenientBatch(_DefaultRecordBatchPy):  # type: ignore[misc]
    """aiokafka's pure-Python record batch (format v2), decoding header names with
    ``surrogateescape``: ``_read_msg`` is aiokafka 0.14.0's but for that decoding."""

    def _read_msg(self, decode_varint: Any = decode_varint) -> _DefaultRecordPy:
        buffer: bytearray = self._buffer
        pos: int = self._pos  # type: ignore[has-type]
        length, pos = decode_varint(buffer, pos)
        start_pos = pos
        _, pos = decode_varint(buffer, pos)  # attributes
        ts_delta, pos = decode_varint(buffer, pos)
        if self.timestamp_type == self.LOG_APPEND_TIME:
            timestamp = self.max_timestamp
        else:
            timestamp = self.first_timestamp + ts_delta
        offset_delta, pos = decode_varint(buffer, pos)
        key, pos = _nullable_bytes(buffer, pos)
        value, pos = _nullable_bytes(buffer, pos)
        header_count, pos = decode_varint(buffer, pos)
        if header_count < 0:
            raise CorruptRecordException(f"Found invalid number of record headers {header_count}")
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(header_count):
            name_length, pos = decode_varint(buffer, pos)
            if name_length < 0:
                raise CorruptRecordException(f"Invalid negative header key size {name_length}")
            name = bytes(buffer[pos : pos + name_length]).decode("utf-8", "surrogateescape")
            header_value, pos = _nullable_bytes(buffer, pos + name_length)
            headers.append((name, header_value))
        if pos - start_pos != length:
            raise CorruptRecordException(
                f"Invalid record size: expected to read {length} bytes in record "
                f"payload, but instead read {pos - start_pos}"
            )
        self._pos = pos
        offset = self.base_offset + offset_delta
        return _DefaultRecordPy(offset, timestamp, self.timestamp_type, key, value, headers)


def _nullable_bytes(buffer: bytearray, pos: int) -> tuple[bytes | None, int]:
    size, pos = decode_varint(buffer, pos)
    if size < 0:
        return None, pos
    return bytes(buffer[pos : pos + size]), pos + size
