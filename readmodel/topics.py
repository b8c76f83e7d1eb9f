"""Kafka topic names, by the logical stream they carry.

The upstream names come from the event contract; deployments may rename them (e.g. with an
environment prefix) with ``TOPIC_<NAME>`` variables, read at start-up by ``config.topics``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final, Literal

InboundKind = Literal["orders", "fulfillment", "shipments", "invoices", "source_status"]

INBOUND_KINDS: Final[tuple[InboundKind, ...]] = (
    "orders",
    "fulfillment",
    "shipments",
    "invoices",
    "source_status",
)

#: How every reader of the inbound topics reads them (the projector, a rebuild, ``projections
#: verify``): records of a transaction their producer aborted are skipped. An upstream
#: producer that writes in transactions (an outbox relay, Kafka Connect's exactly-once
#: delivery) takes such records back, and they often never come again; read uncommitted,
#: they were projected as events. A producer that uses no transactions is read the same
#: either way; an open transaction holds its partitions' later records back until it ends
#: (at most the producer's ``transaction.timeout.ms``, 15 minutes at the broker's default
#: cap).
INBOUND_ISOLATION: Final = "read_committed"


@dataclass(frozen=True)
class TopicNames:
    """Every topic the read model reads or writes.

    ``dead_letter`` receives records the projector cannot process, with their original bytes.
    ``changes`` is written by the projector after each committed batch and feeds the API
    replicas' subscriptions; its offsets are the subscription resume cursors.
    """

    orders: str = "erp.orders.v1"
    fulfillment: str = "wms.fulfillment.v1"
    shipments: str = "tms.shipments.v1"
    invoices: str = "erp.invoices.v1"
    source_status: str = "ops.source-status.v1"
    dead_letter: str = "portal.dead-letter.v1"
    changes: str = "portal.changes.v1"

    def inbound(self) -> dict[InboundKind, str]:
        """Logical kind -> topic for the five upstream streams."""
        return {kind: getattr(self, kind) for kind in INBOUND_KINDS}

    def kind_of(self, topic: str) -> InboundKind | None:
        """The logical kind of an inbound topic, or None for a topic we do not consume."""
        return self._kinds.get(topic)

    @cached_property
    def _kinds(self) -> dict[str, InboundKind]:
        """Topic -> logical kind, built once: the projector asks for every record."""
        return {topic: kind for kind, topic in self.inbound().items()}
