"""CloudEvents envelopes: ids, per-(source, subject) sequences, and the exact bytes.

The world decides *what* happens and when (``Pending``); this module decides how the
source would have written it down. Sequences are assigned here, in the order the sources
produce events, which is why the clean stream has strictly increasing sequences per
``(source, subject)`` by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from simulator.records import SimRecord, TopicKind
from simulator.times import rfc3339

ORDER_CREATED = "logistics.order.created.v1"
ORDER_UPDATED = "logistics.order.updated.v1"
ORDER_CANCELLED = "logistics.order.cancelled.v1"
FULFILLMENT_PROGRESSED = "logistics.fulfillment.progressed.v1"
SHIPMENT_PLANNED = "logistics.shipment.planned.v1"
SHIPMENT_MILESTONE = "logistics.shipment.milestone.v1"
SHIPMENT_POD = "logistics.shipment.pod-captured.v1"
SHIPMENT_CANCELLED = "logistics.shipment.cancelled.v1"
INVOICE_ISSUED = "logistics.invoice.issued.v1"
INVOICE_PAYMENT = "logistics.invoice.payment-recorded.v1"
INVOICE_VOIDED = "logistics.invoice.voided.v1"
SOURCE_STATUS = "logistics.source.status-changed.v1"

#: One encoder for every record: compact, UTF-8 rather than ``\u`` escapes.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

#: Types whose payload is a full snapshot: a higher sequence supersedes a lower one.
SNAPSHOT_TYPES = frozenset({ORDER_CREATED, ORDER_UPDATED, SHIPMENT_PLANNED, INVOICE_ISSUED})

#: Which logical stream carries each type.
KIND_OF_TYPE: dict[str, TopicKind] = {
    ORDER_CREATED: "orders",
    ORDER_UPDATED: "orders",
    ORDER_CANCELLED: "orders",
    FULFILLMENT_PROGRESSED: "fulfillment",
    SHIPMENT_PLANNED: "shipments",
    SHIPMENT_MILESTONE: "shipments",
    SHIPMENT_POD: "shipments",
    SHIPMENT_CANCELLED: "shipments",
    INVOICE_ISSUED: "invoices",
    INVOICE_PAYMENT: "invoices",
    INVOICE_VOIDED: "invoices",
    SOURCE_STATUS: "source_status",
}


@dataclass(slots=True)
class Pending:
    """An event the world has decided on, before the source numbers and writes it.

    ``at`` is when it happened (epoch seconds), ``tz`` the zone of the source's clock for
    the envelope ``time``. ``refs`` names the entities on other topics it relates to
    (an invoice's orders, a WMS event's shipment): fault injection uses them to deliver a
    record before the one it depends on.
    """

    type: str
    source: str
    subject: str
    customer: str
    at: int
    tz: str
    data: dict[str, Any]
    refs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stamped:
    """A written event plus what fault injection needs to know about it."""

    record: SimRecord
    at: int
    type: str
    source: str
    subject: str
    event_id: str
    sequence: int
    refs: tuple[str, ...]

    @property
    def snapshot(self) -> bool:
        return self.type in SNAPSHOT_TYPES


class Stamper:
    """Numbers events the way each source does: ids unique per source, sequences per
    (source, subject) starting at 1. One instance per stream; not thread-safe."""

    def __init__(self) -> None:
        self._sequences: dict[tuple[str, str], int] = {}
        self._ids: dict[str, int] = {}
        self._prefixes: dict[str, str] = {}

    def stamp(self, event: Pending) -> Stamped:
        seq_key = (event.source, event.subject)
        sequence = self._sequences.get(seq_key, 0) + 1
        self._sequences[seq_key] = sequence
        counter = self._ids.get(event.source, 0) + 1
        self._ids[event.source] = counter
        prefix = self._prefixes.get(event.source)
        if prefix is None:
            prefix = self._prefixes[event.source] = event.source.replace("/", "-")
        event_id = f"{prefix}-{counter:07d}"
        envelope = {
            "specversion": "1.0",
            "id": event_id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": rfc3339(event.at, event.tz),
            "datacontenttype": "application/json",
            "customerid": event.customer,
            "sequence": sequence,
            "data": event.data,
        }
        value = _ENCODER.encode(envelope).encode()
        return Stamped(
            record=SimRecord(KIND_OF_TYPE[event.type], event.subject.encode(), value),
            at=event.at,
            type=event.type,
            source=event.source,
            subject=event.subject,
            event_id=event_id,
            sequence=sequence,
            refs=event.refs,
        )

    def skip(self, event: Pending) -> None:
        """Advance the counters as :meth:`stamp` would, without writing the event (used to
        replay a history cheaply before a live feed continues it)."""
        seq_key = (event.source, event.subject)
        self._sequences[seq_key] = self._sequences.get(seq_key, 0) + 1
        self._ids[event.source] = self._ids.get(event.source, 0) + 1
