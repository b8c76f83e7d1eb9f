"""Whatever the sizes of a refused record's key and value and of its reason, its dead letter
as sent (``DeadLetter.sendable``) fits the dead-letter topic: one that does not is refused by
the broker, and its batch fails on every restart."""

from __future__ import annotations

import gzip
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.dead_letter import (
    DEAD_LETTER_ROOM,
    HEADER_REASON,
    NO_VALUE,
    REASON_MAX_BYTES,
    DeadLetter,
    KafkaRecord,
)

MIB = 1 << 20


def _sizes(most: int) -> st.SearchStrategy[int]:
    """Sizes small or large (up to ``most``), both often: what matters is near the room."""
    return st.one_of(st.integers(0, 4096), st.integers(most // 4, most))


@st.composite
def _payloads(draw: st.DrawFn, most: int) -> bytes | None:
    """None, or bytes of a drawn size that compress well (a repeated byte) or not at all."""
    if draw(st.integers(0, 9)) == 0:
        return None
    size = draw(_sizes(most))
    if draw(st.booleans()):
        return b"x" * size
    return random.Random(size).randbytes(size)


@st.composite
def _letters(draw: st.DrawFn) -> DeadLetter:
    record = KafkaRecord(
        topic="tms.shipments.v1",
        partition=draw(st.integers(0, 99)),
        offset=draw(st.integers(0, 2**63 - 1)),
        timestamp=draw(st.integers(0, 2**41)),
        key=draw(_payloads(3 * MIB)),
        value=draw(_payloads(5 * MIB)),
    )
    character = draw(st.sampled_from(["r", "é", "\U0001f600"]))  # 1, 2 and 4 bytes of UTF-8
    reason = character * draw(_sizes(4 * MIB))
    return DeadLetter.of(record, reason)


def _sent_size(letter: DeadLetter) -> int:
    """What the letter takes compressed as the projector's producer sends it, its headers
    counted whole with their framing (an upper bound of what the broker holds it to)."""
    body = (letter.key or b"") + (letter.value or b"")
    headers = sum(len(name) + len(raw or b"") + 10 for name, raw in letter.headers())
    return min(len(body), len(gzip.compress(body, compresslevel=9))) + headers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(letter=_letters())
def test_a_sendable_dead_letter_always_fits_the_dead_letter_topic(letter: DeadLetter) -> None:
    sent = letter.sendable()
    assert _sent_size(sent) <= DEAD_LETTER_ROOM
    assert sent.key is not None or sent.value is not None  # the producer sends no less
    [reason] = [raw for name, raw in sent.headers() if name == HEADER_REASON]
    assert (
        reason is not None
        and len(reason) <= REASON_MAX_BYTES
        and letter.reason.startswith(sent.reason[:64])
    )
    back = DeadLetter.from_headers(sent.key, sent.value, sent.headers())
    assert (back.topic, back.partition, back.offset) == (
        letter.topic,
        letter.partition,
        letter.offset,
    )
    if letter.value is not None and sent.value != letter.value:
        assert letter.value.startswith(sent.value or b"")
        assert back.original_size == len(letter.value)


def test_an_over_long_reason_is_cut_saying_how_long_it_was() -> None:
    record = KafkaRecord("tms.shipments.v1", 0, 7, 0, b"SH-1", b"{}")
    sent = DeadLetter.of(record, "é" * 3_000_000).sendable()
    assert sent.reason.endswith(" ... (reason cut: 6,000,000 bytes)")
    assert sent.reason.startswith("é" * 100) and len(sent.reason.encode()) <= REASON_MAX_BYTES
    assert (sent.key, sent.value, sent.original_size) == (b"SH-1", b"{}", None)
    short = DeadLetter.of(record, "not JSON")
    assert short.sendable() == short


def test_a_record_with_neither_key_nor_value_has_a_dead_letter_that_can_be_sent() -> None:
    """Kafka takes a record with no key and no value; aiokafka's producer refuses to send one
    (``key`` or ``value`` must be given), which failed the batch on every restart. Its dead
    letter goes with an empty value and reads back as the record it was: no value at all."""
    record = KafkaRecord("erp.orders.v1", 3, 41, 0, None, None)
    sent = DeadLetter.of(record, NO_VALUE).sendable()
    assert (sent.key, sent.value, sent.reason) == (None, b"", NO_VALUE)
    back = DeadLetter.from_headers(sent.key, sent.value, sent.headers())
    assert back == DeadLetter.of(record, NO_VALUE)
    keyed = DeadLetter.of(KafkaRecord("erp.orders.v1", 3, 42, 0, b"SO-1", None), NO_VALUE)
    assert keyed.sendable() == keyed  # a keyed tombstone goes as it came


@pytest.mark.parametrize("reason", [NO_VALUE, "not JSON"])
def test_what_a_dead_letter_reads_back_as_its_value_is_a_fact_of_its_own_not_its_reason(
    reason: str,
) -> None:
    """The empty value sent in place of none reads back as none, and an empty value the
    original had reads back empty, whatever the reason says: both went by the reason's
    text, so an original's empty value (which Kafka tells from none) read back as none
    when the reason said ``NO_VALUE``, and none as empty when it said anything else."""
    for original in (None, b""):
        record = KafkaRecord("erp.orders.v1", 3, 41, 0, None, original)
        sent = DeadLetter.of(record, reason).sendable()
        assert sent.value == b""
        back = DeadLetter.from_headers(sent.key, sent.value, sent.headers())
        assert back == DeadLetter.of(record, reason)
