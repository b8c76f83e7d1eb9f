"""Dead letters: records the projector cannot process, kept with everything needed to replay.

The dead-letter record's value is the original value, byte for byte, and its key the
original key; where it came from and why it was refused travel as headers, so a fixed record
can be re-published to its topic unchanged.

The one exception is a record too large for the dead-letter topic even compressed: the
broker limits an inbound topic's *compressed* record batches, so an upstream producer that
compresses can write a record of many MiB. Its dead letter (``DeadLetter.sendable``) keeps the
first bytes of the value, and ``dlq.original-size`` says how many there were; the original
stays in the inbound log at the topic, partition and offset the headers name. Refusing it
instead would fail its batch, and the projector would stop at that record for good. For the
same reason a reason longer than ``REASON_MAX_BYTES`` goes cut (reasons quote values cut
short, ``readmodel.quoting.quoted``; this holds whatever a reason says).

A record with neither key nor value, which Kafka takes (a tombstone without a key) and
aiokafka's producer refuses to send, goes with an empty value instead of none; a header
(``HEADER_NO_VALUE``) says the original had none, and ``from_headers`` reads it back as such.

A dead letter keeps the original record's headers (trace ids, content types, whatever its
producer set; the projector reads none), whatever it was refused for, so a re-published
record is the original: all of them, after its own, in their order, the readable ones as
they were and each one whose name is not UTF-8 (``unreadable_header``) named
``HEADER_NAME_HEX`` followed by its name's bytes in hex (the value as it was). The dead
letter's own headers end with ``HEADER_ORIGINAL_HEADERS``, saying how many the original
had: every header after it is the original's, so one the original named like a dead
letter's own (``dlq.reason``, ``dlq.original-size``) reads back as the original's
(``from_headers``). A dead letter whose value must be cut goes without them if they take
more than a quarter of the room (the original keeps them, at the offset the headers name;
its ``HEADER_ORIGINAL_HEADERS`` still counts them, and none follows).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, TypeAlias

from aiokafka import ConsumerRecord
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from projections.header_names import undecodable
from readmodel.kafka_admin import DEAD_LETTER_MAX_BYTES
from readmodel.quoting import quoted

HEADER_REASON = "dlq.reason"
HEADER_TOPIC = "dlq.topic"
HEADER_PARTITION = "dlq.partition"
HEADER_OFFSET = "dlq.offset"
HEADER_TIMESTAMP = "dlq.timestamp"
#: Only on a dead letter whose value was cut: the original value's size in bytes.
HEADER_ORIGINAL_SIZE = "dlq.original-size"
#: Only on a dead letter whose key was cut too: the original key's size in bytes.
HEADER_ORIGINAL_KEY_SIZE = "dlq.original-key-size"
#: Only on a dead letter sent with an empty value in place of none (``sendable``): the
#: original had no value. A fact of its own, not read from the reason: an empty value is a
#: value too (Kafka tells the two apart), and a reason is text for people.
HEADER_NO_VALUE = "dlq.no-value"

#: The last of a dead letter's own headers: how many headers the original had. Those that
#: follow it are the original's (all of them, or none when they went for room: ``sendable``).
HEADER_ORIGINAL_HEADERS = "dlq.original-headers"

#: Before the hex of an original header's name that is not UTF-8, in the name of the
#: dead letter's header that keeps it (``DeadLetter.kept_headers``).
HEADER_NAME_HEX = "dlq.header-name-hex."
_OWN_HEADERS: Final = frozenset(
    {
        HEADER_REASON,
        HEADER_TOPIC,
        HEADER_PARTITION,
        HEADER_OFFSET,
        HEADER_TIMESTAMP,
        HEADER_ORIGINAL_SIZE,
        HEADER_ORIGINAL_KEY_SIZE,
        HEADER_NO_VALUE,
    }
)

#: How the reason of a record refused for a header's name (``unreadable_header``) begins.
HEADER_NAME_NOT_UTF8: Final = "header name not UTF-8"

#: The reason of a record with no value (a Kafka tombstone: no event at all).
NO_VALUE: Final = "record has no value"

#: What a dead letter's key, value and headers may take, compressed, to go whole: the
#: topic's limit less room for the record batch's framing and gzip's own bytes.
DEAD_LETTER_ROOM: Final = DEAD_LETTER_MAX_BYTES - 64 * 1024
#: Largest dead letter (uncompressed) sent whole when it compresses into the room: beyond it
#: the value is cut without compressing it first (bounded memory and CPU for a rare record).
#: The dead-letter producer's ``max_request_size``, which aiokafka checks before compressing.
DEAD_LETTER_MAX_UNCOMPRESSED: Final = 32 * 1024 * 1024
#: Most bytes (UTF-8) of a sent dead letter's reason: a longer one keeps its start and says
#: how long it was (``sendable``). Reasons quote values cut short (``readmodel.quoting.quoted``);
#: this bound holds whatever a reason quotes, so the headers always leave the value room.
REASON_MAX_BYTES: Final = 4 * 1024


@dataclass(frozen=True)
class KafkaRecord:
    """Where a record came from and what it holds: the parts of a Kafka consumer record the
    projector reads, and what a dead letter keeps of it."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class DeadLetter(KafkaRecord):
    reason: str
    #: The original value's size in bytes when ``value`` holds only its first bytes.
    original_size: int | None = None
    #: The original key's size in bytes when ``key`` holds only its first bytes.
    original_key_size: int | None = None
    #: ``value`` is the empty one sent in place of none (``HEADER_NO_VALUE``).
    no_value: bool = False
    #: The original record's headers, in order: a name that was not UTF-8 holds its bytes
    #: as ``surrogateescape`` decodes them (``projections.header_names``).
    kept_headers: tuple[tuple[str, bytes | None], ...] = ()
    #: How many headers the original had when ``kept_headers`` went for room (``sendable``).
    dropped_headers: int = 0

    @classmethod
    def of(cls, record: InboundRecord, reason: str) -> DeadLetter:
        """``record`` refused for ``reason``, with its headers (a ``KafkaRecord``, built by
        a tool or test, has none)."""
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value,
            reason,
            kept_headers=_headers_of(record),
        )

    def headers(self) -> list[tuple[str, bytes | None]]:
        facts = [
            (HEADER_ORIGINAL_SIZE, self.original_size),
            (HEADER_ORIGINAL_KEY_SIZE, self.original_key_size),
            (HEADER_NO_VALUE, "true" if self.no_value else None),
            (HEADER_ORIGINAL_HEADERS, len(self.kept_headers) + self.dropped_headers),  # last
        ]
        return (
            [
                (HEADER_REASON, self.reason.encode()),
                (HEADER_TOPIC, self.topic.encode()),
                (HEADER_PARTITION, str(self.partition).encode()),
                (HEADER_OFFSET, str(self.offset).encode()),
                (HEADER_TIMESTAMP, str(self.timestamp).encode()),
            ]
            + [(name, str(fact).encode()) for name, fact in facts if fact is not None]
            + [(_sendable_name(name), value) for name, value in self.kept_headers]
        )

    def sendable(self) -> DeadLetter:
        """This dead letter as the dead-letter topic takes it (compressed with gzip, as the
        projector's dead-letter producer sends it): itself if it fits, else with its value
        (and, if the key alone is too large, its key) cut to what fits. A reason over
        ``REASON_MAX_BYTES`` is cut first, so what is left for the value is never negative.
        A record with neither key nor value goes with an empty value (see the module)."""
        reason = _short_reason(self.reason)
        letter = self if reason == self.reason else replace(self, reason=reason)
        if self.key is None and self.value is None:
            # aiokafka refuses to send a record of neither (an assertion): the batch failed
            # on every restart, and the projector stopped at that record for good.
            return replace(letter, value=b"", no_value=True)
        size = _framed_size(self.key, self.value, letter.headers())
        if size <= DEAD_LETTER_ROOM:
            return letter  # compressed, no larger than this (within gzip's few bytes)
        if size <= DEAD_LETTER_MAX_UNCOMPRESSED and _gzipped_size(letter) <= DEAD_LETTER_ROOM:
            return letter
        key, value = self.key or b"", self.value or b""
        key_room = DEAD_LETTER_ROOM // 4
        kept = [(_sendable_name(name), raw) for name, raw in letter.kept_headers]
        cut = replace(
            letter,
            key=key[:key_room] if self.key is not None else None,
            original_key_size=len(key) if len(key) > key_room else None,
            original_size=len(value) if self.value is not None else None,
        )
        if _framed_size(None, None, kept) > key_room:
            # headers too large to leave the value room go (the original keeps them)
            cut = replace(cut, kept_headers=(), dropped_headers=len(letter.kept_headers))
        room = max(0, DEAD_LETTER_ROOM - _framed_size(cut.key, None, cut.headers()))
        return replace(cut, value=value[:room] if self.value is not None else None)

    @classmethod
    def from_headers(
        cls, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]]
    ) -> DeadLetter:
        """Read a dead letter back (operators' tools and tests): with no value where the
        original had none (``HEADER_NO_VALUE``), and the original's headers, those after
        ``HEADER_ORIGINAL_HEADERS`` (whatever their names). A dead letter sent before that
        header (session 23) had the original's headers only if refused for a header name:
        there, a header is its own if it is the first of that name."""
        found: dict[str, str] = {}
        kept: list[tuple[str, bytes | None]] = []
        count: int | None = None
        for name, raw in headers:
            said = _count(raw) if name == HEADER_ORIGINAL_HEADERS else None
            if count is None and said is not None:
                count = said  # the original's headers follow
            elif count is None and name in _OWN_HEADERS and name not in found and raw is not None:
                found[name] = raw.decode()
            else:
                kept.append((_original_name(name), raw))
        valueless = HEADER_NO_VALUE in found
        return cls(
            topic=found[HEADER_TOPIC],
            partition=int(found[HEADER_PARTITION]),
            offset=int(found[HEADER_OFFSET]),
            timestamp=int(found.get(HEADER_TIMESTAMP, "0")),
            key=key,
            value=None if valueless else value,
            reason=found[HEADER_REASON],
            original_size=_size_in(found, HEADER_ORIGINAL_SIZE),
            original_key_size=_size_in(found, HEADER_ORIGINAL_KEY_SIZE),
            kept_headers=tuple(kept),
            dropped_headers=count if count and not kept else 0,
        )


def unreadable_header(record: InboundRecord) -> DeadLetter | None:
    """``record`` refused if the name of one of its headers is not UTF-8 (read at all only
    thanks to ``projections.header_names``); None if every name is. The projector reads no
    header, but a producer that wrote such a name is broken, and its record cannot be
    re-published as it came by any Kafka client that encodes names."""
    for position, (name, _) in enumerate(_headers_of(record)):
        unreadable = undecodable(name)
        if unreadable is not None:
            reason = (
                f"{HEADER_NAME_NOT_UTF8}: header {position}, in hex {quoted(unreadable.hex())}"
                f" (kept as header {HEADER_NAME_HEX}<that hex>)"
            )
            return DeadLetter.of(record, reason)
    return None


def _sendable_name(name: str) -> str:
    """A kept header's name as a dead letter can carry it (see the module)."""
    unreadable = undecodable(name)
    return name if unreadable is None else HEADER_NAME_HEX + unreadable.hex()


def _short_reason(reason: str) -> str:
    """``reason`` if its UTF-8 takes at most ``REASON_MAX_BYTES``, else its start (whole
    characters) and how many bytes it had, within them."""
    encoded = reason.encode()
    if len(encoded) <= REASON_MAX_BYTES:
        return reason
    marker = f" ... (reason cut: {len(encoded):,} bytes)"
    start = encoded[: REASON_MAX_BYTES - len(marker)].decode(errors="ignore")
    return start + marker


def _size_in(headers: dict[str, str], name: str) -> int | None:
    return int(headers[name]) if name in headers else None


def _count(raw: bytes | None) -> int | None:
    """The number ``raw`` says in decimal digits, if it says one."""
    return int(raw) if raw is not None and raw.isdigit() else None


def _framed_size(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes | None]]
) -> int:
    """The bytes of a record of ``key``, ``value`` and ``headers`` alone in a record batch,
    as aiokafka's producer measures it against its ``max_request_size`` before compressing
    (a bound of the record's and the batch's framing with the headers). A hand sum of the
    parts left that framing out: a dead letter within a hundred bytes under the limit
    passed as whole and the producer refused it, failing its batch on every restart."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


def _gzipped_size(letter: DeadLetter) -> int:
    """What gzip (level 9, as aiokafka compresses) makes of the dead letter's bytes, with
    the framing and the headers (which a batch's compression takes in too: a bound)."""
    body = (letter.key or b"") + (letter.value or b"")
    return len(gzip.compress(body, compresslevel=9)) + _framed_size(None, None, letter.headers())


#: A record as the projector receives it: from the broker, or built by a tool or test.
InboundRecord: TypeAlias = "KafkaRecord | ConsumerRecord[bytes, bytes]"


def _headers_of(record: InboundRecord) -> tuple[tuple[str, bytes | None], ...]:
    """The headers of a record from the broker; none for one a tool or test built."""
    return tuple(getattr(record, "headers", ()))


def _original_name(name: str) -> str:
    """A kept header's name as the original record had it: one the projector could not
    decode is kept as ``HEADER_NAME_HEX`` and the lower-case hex of its bytes, bytes that
    are not UTF-8. An original's own header that only looks so is kept as it is."""
    if not name.startswith(HEADER_NAME_HEX):
        return name
    original = _undecodable(name.removeprefix(HEADER_NAME_HEX))
    return name if original is None else original.decode("utf-8", "surrogateescape")


def _undecodable(text: str) -> bytes | None:
    """The bytes ``text`` is the lower-case hex of, if they are not UTF-8; else None."""
    try:
        original = bytes.fromhex(text)
    except ValueError:
        return None
    if original.hex() != text:
        return None
    try:
        original.decode()
    except UnicodeDecodeError:
        return original
    return None
