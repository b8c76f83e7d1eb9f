"""What the simulator hands to its callers: one Kafka record at a time."""

from __future__ import annotations

from dataclasses import dataclass

from readmodel.topics import InboundKind

#: The logical stream a record belongs to; the topic name is chosen by the publisher.
TopicKind = InboundKind


@dataclass(frozen=True, slots=True)
class SimRecord:
    """One record as the backbone would deliver it.

    ``broken`` marks a record injected on purpose that the contract does not allow (not
    JSON, not an object, a missing field, an unknown type, a wrong type): a consumer must
    dead-letter exactly these. Duplicates and stale re-sends are *not* broken: they are
    valid events the read model must absorb.
    """

    topic_kind: TopicKind
    key: bytes
    value: bytes
    broken: bool = False


@dataclass(frozen=True, slots=True)
class TimedRecord:
    """A record with the instant (epoch seconds) at which a live feed should release it."""

    due: float
    record: SimRecord
