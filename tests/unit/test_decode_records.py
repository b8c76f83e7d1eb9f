"""What the projector makes of a consumed record beyond its value's contract: its key, its
topic, a value that is not there (``projector.decode_records``)."""

from __future__ import annotations

import json

import pytest

from projections.dead_letter import NO_VALUE, KafkaRecord
from projections.projector import decode_records
from readmodel.topics import TopicNames
from tests.contract import example

TOPICS = TopicNames()
ORDER = json.dumps(example("order-created.json")).encode()


@pytest.mark.parametrize(
    "key", [None, b"SO-ELSEWHERE", b"\xff\xfe"], ids=["none", "other", "bytes"]
)
def test_an_event_whose_key_is_not_its_subject_is_applied(key: bytes | None) -> None:
    """The contract keys a record by its subject, but nothing the projector does depends on
    it: the reducers depend on no order and every write is guarded against other writers.
    Refusing the event would lose a valid fact to a producer's partitioning mistake."""
    events, dead = decode_records([KafkaRecord(TOPICS.orders, 0, 7, 0, key, ORDER)], TOPICS)
    assert dead == [] and [event.subject for event, _ in events] == ["SO-100234"]


def test_a_known_type_on_another_topic_and_a_record_without_value_are_dead_letters() -> None:
    records = [
        KafkaRecord(TOPICS.shipments, 0, 1, 0, b"SO-100234", ORDER),
        KafkaRecord(TOPICS.orders, 0, 2, 0, b"SO-100234", None),
    ]
    events, dead = decode_records(records, TOPICS)
    assert events == []
    assert [(letter.offset, letter.reason) for letter in dead] == [
        (1, f"event type logistics.order.created.v1 does not belong on {TOPICS.shipments}"),
        (2, NO_VALUE),
    ]
