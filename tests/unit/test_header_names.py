"""``projections.header_names``: aiokafka's fetcher reading a record whose header name is not
UTF-8 (``docs/limits.md#unreadable-headers``), driven here with fetched bytes built by hand;
the projector dead-lettering it against the real broker is in
``tests/integration/test_projector.py``.

The first tests name the aiokafka internals the replacement relies on: after an aiokafka
upgrade they say which one changed, before the behaviour tests say only that something did.
"""

from __future__ import annotations

import inspect
import json
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiokafka
import pytest
from aiokafka import TopicPartition
from aiokafka.consumer import fetcher
from aiokafka.record.default_records import _DefaultRecordBatchPy

from projections import header_names
from projections.dead_letter import DeadLetter
from projections.header_names import tolerate_unreadable_header_names, undecodable
from projections.projector import decode_records
from readmodel.topics import TopicNames
from tests.contract import example
from tests.helpers import consumed_record
from tests.record_batches import RawRecord, record_batch

TP = TopicPartition("erp.orders.v1", 0)
BAD = b"\xfftrace\xfe"


def test_the_aiokafka_version_is_the_one_whose_parser_was_copied() -> None:
    """``_LenientBatch._read_msg`` is a copy of this version's: read it again on upgrade."""
    pinned = re.search(r"^aiokafka==(\S+)$", Path("constraints.txt").read_text(), re.M)
    assert pinned is not None and aiokafka.__version__ == pinned.group(1) == "0.14.0"


def test_the_aiokafka_internals_relied_on_are_there() -> None:
    source = inspect.getsource(fetcher.Fetcher)
    assert "records = MemoryRecords(part_data[-1])" in source
    assert "partition_records = PartitionRecords(\n" in source
    parameters = list(inspect.signature(header_names._PartitionRecords.__init__).parameters)
    assert parameters[:3] == ["self", "tp", "records"]
    init = inspect.getsource(header_names._PartitionRecords.__init__)
    assert "self._records_iterator = self._unpack_records()" in init
    unpack = inspect.getsource(header_names._PartitionRecords._unpack_records)
    assert "records = self._records" in unpack
    assert "if record.offset < self.next_fetch_offset:" in unpack
    assert "self.next_fetch_offset = next_batch.next_offset" in unpack
    read = inspect.getsource(_DefaultRecordBatchPy._read_msg)
    assert 'h_key = buffer[pos : pos + h_key_len].decode("utf-8")' in read
    for name in ("_buffer", "_pos", "LOG_APPEND_TIME", "max_timestamp", "first_timestamp"):
        assert name in inspect.getsource(_DefaultRecordBatchPy), name


def test_aiokafkas_own_parser_raises_unicode_decode_error_mid_fetch() -> None:
    """The defect, and the exception the replacement answers to."""
    with pytest.raises(UnicodeDecodeError):
        list(_read(_FETCH, replaced=False))


def _fetch(*batches: tuple[int, Sequence[RawRecord]]) -> bytes:
    return b"".join(record_batch(records, base_offset=base) for base, records in batches)


def _good(n: int) -> RawRecord:
    return (f"k{n}".encode(), f"v{n}".encode(), [(b"trace", f"t{n}".encode())])


_FETCH = _fetch(
    (0, [_good(0)]),
    (1, [_good(1), (b"k2", b"v2", [(b"trace", b"t2"), (BAD, b"x"), (b"empty", None)]), _good(3)]),
    (4, [_good(4)]),
)


def _read(data: bytes, *, fetch_offset: int = 0, replaced: bool = True) -> Iterator[Any]:
    if replaced:
        tolerate_unreadable_header_names()
    kind = fetcher.PartitionRecords if replaced else header_names._PartitionRecords
    records = fetcher.MemoryRecords if replaced else header_names._MemoryRecords
    return iter(kind(TP, records(data), [], fetch_offset, None, None, True, fetcher.READ_COMMITTED))


def test_every_record_is_read_once_in_order_the_bad_name_byte_for_byte() -> None:
    read = list(_read(_FETCH))
    assert [(r.offset, r.key, r.value) for r in read] == [
        (n, f"k{n}".encode(), f"v{n}".encode()) for n in range(5)
    ]
    bad = read[2]
    assert [(name, value) for name, value in bad.headers] == [
        ("trace", b"t2"),
        (BAD.decode("utf-8", "surrogateescape"), b"x"),
        ("empty", None),
    ]
    assert [undecodable(name) for name, _ in bad.headers] == [None, BAD, None]
    assert all(undecodable(name) is None for r in read if r is not bad for name, _ in r.headers)


def test_a_fetch_from_within_the_batch_and_cut_short_reads_what_it_holds() -> None:
    """From offset 2 (the bad record first; the broker answers from its batch's start), and
    the last batch only partly fetched."""
    data = _FETCH[len(record_batch([_good(0)])) : -10]
    read = list(_read(data, fetch_offset=2))
    assert [r.offset for r in read] == [2, 3]


def test_several_such_batches_of_one_fetch_are_each_read_again() -> None:
    """The first record of the fetch, and two records of a later batch."""

    def bad(n: int) -> RawRecord:
        return (f"k{n}".encode(), f"v{n}".encode(), [(BAD, None)])

    data = _fetch((0, [bad(0)]), (1, [_good(1)]), (2, [bad(2), _good(3), bad(4)]), (5, [_good(5)]))
    read = list(_read(data))
    assert [(r.offset, r.value) for r in read] == [(n, f"v{n}".encode()) for n in range(6)]
    assert [r.offset for r in read if undecodable(r.headers[0][0])] == [0, 2, 4]


def test_a_name_that_is_utf8_is_no_undecodable_name() -> None:
    assert undecodable("trace") is None
    assert undecodable("número") is None
    assert undecodable("\udcff") == b"\xff"


def test_such_a_record_is_a_dead_letter_keeping_its_headers_the_name_in_hex() -> None:
    """Whatever its value (a valid event here): the header is checked first."""
    headers = [("trace", b"t"), (BAD.decode("utf-8", "surrogateescape"), b"x"), ("n", None)]
    value = json.dumps(example("order-created.json")).encode()
    events, [dead] = decode_records([consumed_record(TP.topic, value, headers)], TopicNames())
    assert events == [] and (dead.offset, dead.key, dead.value) == (7, b"SO-1", value)
    assert dead.reason == (
        f"header name not UTF-8: header 1, in hex '{BAD.hex()}'"
        " (kept as header dlq.header-name-hex.<that hex>)"
    )
    sent = dead.sendable().headers()
    assert sent[-3:] == [("trace", b"t"), (f"dlq.header-name-hex.{BAD.hex()}", b"x"), ("n", None)]
    assert all(name.encode() for name, _ in sent)  # every name the producer can send
    assert DeadLetter.from_headers(dead.key, dead.value, sent) == dead


def test_an_original_header_named_like_a_kept_name_in_hex_reads_back_as_it_was() -> None:
    """An operator's tool reading a dead letter back does not fail on a readable header of
    the original whose name only starts like a name kept in hex."""
    name = BAD.decode("utf-8", "surrogateescape")
    headers = [
        (name, b"x"),
        ("dlq.header-name-hex.not-hex", b"y"),
        ("dlq.header-name-hex.6869", b"z"),  # the hex of "hi", which is UTF-8
        ("dlq.header-name-hex.", None),
    ]
    value = json.dumps(example("order-created.json")).encode()
    [dead] = decode_records([consumed_record(TP.topic, value, headers)], TopicNames())[1]
    back = DeadLetter.from_headers(dead.key, dead.value, dead.sendable().headers())
    assert back.kept_headers == tuple(headers)


def test_a_cut_dead_letter_keeps_its_headers_unless_they_leave_the_value_no_room() -> None:
    value = random.Random(0).randbytes(3 << 20)  # incompressible: the value is cut
    name = BAD.decode("utf-8", "surrogateescape")
    some = (("trace", b"t"), (name, b"x"))
    many = tuple((f"h{n}", b"v" * 1024) for n in range(1024))
    for kept, stays in ((some, True), (many + some, False)):
        sent = DeadLetter.of(
            consumed_record(TP.topic, value, kept), "header name not UTF-8: ..."
        ).sendable()
        assert sent.original_size == len(value) and len(sent.value or b"") > 1 << 20
        assert sent.kept_headers == (kept if stays else ())
