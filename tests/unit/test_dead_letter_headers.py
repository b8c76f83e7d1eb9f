"""Every dead letter keeps the original record's headers after its own, whatever the record
was refused for, and ``DeadLetter.from_headers`` gives them back as the original had them,
however they are named: re-published, the record is the original (trace ids, content
types). Until session 23 only a record refused for a header name kept them. Against the
real broker: ``tests/integration/test_projector.py``."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.dead_letter import (
    HEADER_NAME_HEX,
    HEADER_ORIGINAL_HEADERS,
    HEADER_REASON,
    NO_VALUE,
    DeadLetter,
)
from projections.projector import decode_records
from readmodel.topics import TopicNames
from tests.contract import example
from tests.helpers import consumed_record

TOPICS = TopicNames()
ORDER = example("order-created.json")
Headers = Sequence[tuple[str, bytes | None]]

#: What an upstream producer may set, some named like a dead letter's own headers.
UPSTREAM: Headers = (
    ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("content-type", b"application/cloudevents+json"),
    ("dlq.reason", b"\xff not a reason"),
    ("dlq.offset", b"not a number"),
    ("dlq.original-size", b"many"),
    ("dlq.no-value", b"true"),
    (HEADER_ORIGINAL_HEADERS, b"2"),
    ("empty", None),
    ("traceparent", b"a repeated name"),
)


def _sent_and_read_back(letter: DeadLetter) -> tuple[list[tuple[str, bytes | None]], DeadLetter]:
    sent = letter.sendable()
    headers = sent.headers()
    return headers, DeadLetter.from_headers(sent.key, sent.value, headers)


@pytest.mark.parametrize(
    ("topic", "value", "reason_starts"),
    [
        (TOPICS.orders, b"not json at all", "not JSON"),
        (TOPICS.orders, json.dumps(dict(ORDER, sequence="seven")).encode(), "sequence"),
        (TOPICS.shipments, json.dumps(ORDER).encode(), "event type"),
        (TOPICS.orders, None, NO_VALUE),
    ],
    ids=["not JSON", "contract violation", "wrong topic", "no value"],
)
def test_a_dead_letter_keeps_the_original_headers_after_its_own_and_reads_back_as_sent(
    topic: str, value: bytes | None, reason_starts: str
) -> None:
    _, [dead] = decode_records([consumed_record(topic, value, UPSTREAM)], TOPICS)
    assert dead.reason.startswith(reason_starts)
    assert dead.kept_headers == UPSTREAM
    headers, back = _sent_and_read_back(dead)
    assert headers[-len(UPSTREAM) - 1 :] == [(HEADER_ORIGINAL_HEADERS, b"9"), *UPSTREAM]
    assert [name for name, _ in headers].count(HEADER_REASON) == 2  # its own, the original's
    assert back == dead  # reason, offset, value (none only if none) and headers as they were


def test_a_dead_letter_of_a_record_without_headers_says_it_had_none() -> None:
    _, [dead] = decode_records([consumed_record(TOPICS.orders, b"{", [])], TOPICS)
    headers, back = _sent_and_read_back(dead)
    assert headers[-1] == (HEADER_ORIGINAL_HEADERS, b"0")
    assert back == dead and back.kept_headers == ()


_NAMES = st.one_of(
    st.sampled_from(
        [name for name, _ in UPSTREAM] + ["dlq.topic", "dlq.timestamp", "dlq.original-key-size"]
    ),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12).filter(
        lambda name: not name.startswith(HEADER_NAME_HEX)
    ),
    st.just("\udcff\udcfe"),  # the bytes ff fe, not UTF-8, as the lenient parser names them
)
_VALUES = st.one_of(st.none(), st.binary(max_size=12), st.sampled_from([b"0", b"true", b"12"]))


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=8), st.sampled_from([None, b"", b"{"]))
def test_any_original_headers_read_back_as_they_were(headers: Headers, value: bytes | None) -> None:
    """Whatever the original's headers are named (a dead letter's own names, the marker of
    the original's headers, repeated names) and hold (none, digits), the dead letter reads
    back as it was built."""
    dead = DeadLetter.of(consumed_record(TOPICS.orders, value, headers), "refused")
    back = _sent_and_read_back(dead)[1]
    assert back == dead and back.kept_headers == tuple(headers)


def test_a_cut_dead_letter_keeps_the_headers_unless_they_leave_the_value_no_room() -> None:
    """Those that take more than a quarter of the room go, and the dead letter still says
    how many there were: the operator takes the original from the inbound topic."""
    value = random.Random(0).randbytes(3 << 20)  # incompressible: the value is cut
    many = tuple((f"h{n}", b"v" * 1024) for n in range(1024))
    for kept, stays in ((UPSTREAM, True), ((*many, *UPSTREAM), False)):
        dead = DeadLetter.of(consumed_record(TOPICS.orders, value, kept), "not JSON")
        headers, back = _sent_and_read_back(dead)
        assert back.original_size == len(value) and len(back.value or b"") > 1 << 20
        assert back.kept_headers == (kept if stays else ())
        assert back.dropped_headers == (0 if stays else len(kept))
        assert (HEADER_ORIGINAL_HEADERS, str(len(kept)).encode()) in headers


def test_a_dead_letter_sent_before_the_original_headers_were_kept_still_reads_back() -> None:
    """Session 22's form: no ``dlq.original-headers``; a header repeating one of its own
    names after it is no part of it."""
    headers: Headers = [
        ("dlq.reason", NO_VALUE.encode()),
        ("dlq.topic", TOPICS.orders.encode()),
        ("dlq.partition", b"0"),
        ("dlq.offset", b"7"),
        ("dlq.timestamp", b"1"),
        ("trace", b"t"),
        ("dlq.reason", b"\xff not mine"),
    ]
    back = DeadLetter.from_headers(b"SO-1", None, headers)
    assert (back.reason, back.offset, back.value) == (NO_VALUE, 7, None)
    assert back.kept_headers == (("trace", b"t"), ("dlq.reason", b"\xff not mine"))
