"""Dead letters: records the projector cannot process, kept with everything needed to replay.

The dead-letter record's value is the original value, byte for byte, and its key the
original key; where it came from and why it was refused travel as headers, so a fixed record
can be re-published to its topic unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka import ConsumerRecord

HEADER_REASON = "dlq.reason"
HEADER_TOPIC = "dlq.topic"
HEADER_PARTITION = "dlq.partition"
HEADER_OFFSET = "dlq.offset"
HEADER_TIMESTAMP = "dlq.timestamp"


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

    @classmethod
    def of(cls, record: InboundRecord, reason: str) -> DeadLetter:
        """``record`` refused for ``reason``."""
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value,
            reason,
        )

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_REASON, self.reason.encode()),
            (HEADER_TOPIC, self.topic.encode()),
            (HEADER_PARTITION, str(self.partition).encode()),
            (HEADER_OFFSET, str(self.offset).encode()),
            (HEADER_TIMESTAMP, str(self.timestamp).encode()),
        ]

    @classmethod
    def from_headers(
        cls, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> DeadLetter:
        """Read a dead letter back (operators' tools and tests)."""
        found = {name: raw.decode() for name, raw in headers}
        return cls(
            topic=found[HEADER_TOPIC],
            partition=int(found[HEADER_PARTITION]),
            offset=int(found[HEADER_OFFSET]),
            timestamp=int(found.get(HEADER_TIMESTAMP, "0")),
            key=key,
            value=value,
            reason=found[HEADER_REASON],
        )


#: A record as the projector receives it: from the broker, or built by a tool or test.
InboundRecord: TypeAlias = "KafkaRecord | ConsumerRecord[bytes, bytes]"
