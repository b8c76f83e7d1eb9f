"""Decoding of inbound Kafka record values into typed events, once, at the edge.

Everything the contract (``events-v1.md``) promises is checked here, so reducers can trust
their input: a record that breaks a promise raises ``InvalidEvent`` with a reason that names
the offending field (``data.lines[3].quantity: expected integer, got string '5'``). The
projector turns that reason into a dead letter, so nothing is dropped silently and
consumption never stops.

Decisions where the contract is silent:

* Unknown extra fields are ignored (upstream may add fields without a new version); known
  fields are type-checked strictly (``40.0`` is not an integer, ``true`` is not a number).
* Optional fields may be absent or ``null``; both mean "not given".
* Every timestamp must be RFC 3339 *with* an offset. It is converted to UTC and truncated to
  milliseconds, the precision of BSON dates, so a stored value compares equal to the decoded
  one after a round trip through MongoDB. A leap second (``:60``) is the last millisecond of
  its minute.
* Amounts must be plain decimal strings (``"-12.50"``, ``"0"``): no exponent, no spaces, no
  ``NaN``. Amounts are negative only for credits; the sign is kept.
* Where the contract sets no upper bound, the store does: integers above 2**63 - 1 (BSON's
  int64) and amounts of more than 34 digits (a decimal128's) are refused, so that such a
  record becomes a dead letter instead of a batch whose writes fail on every retry.
* Ids and keys (the envelope's ``id``, ``source``, ``subject``, ``customerid``; every
  ``...Id`` in ``data``, SSCCs, SKUs, codes and references) hold no control character (C0
  or DEL, ``event_fields.Identifier``): they become BSON field names, which cannot hold NUL,
  and no system's identifier holds the others. Free text (names, addresses, reasons) may.
  They have at most 256 characters (``event_fields.MAX_IDENTIFIER_LENGTH``; the event id
  128, as the contract says): ids become ``_id``, which DocumentDB refuses beyond about
  2.7 KB on every retry of the write.
* The snapshot's ``data.customerId`` must equal the envelope's ``customerid`` and the entity
  id in ``data`` must equal ``subject``: a record contradicting itself about whose data it is
  must not reach a tenant's documents.
* A key given twice counts the last time (as in ``json``), and each time must be valid.
* ``datacontenttype`` may be absent; given, it is ``application/json`` in any case (media
  types are case-insensitive), with any parameters.
* The CloudEvents tracing extension's ``traceparent`` is kept when valid and ignored
  otherwise, whatever JSON value it holds: tracing never makes a dead letter.
* The record's key is not read: the contract makes it the ``subject``, but the reducers
  depend on no order and every write is guarded against other writers, so an event whose
  key differs (or is absent) is applied like any other, not lost to the dead letters
  (``docs/architecture.md``, Exactness).

How: each payload is one msgspec struct (``event_schema``) whose annotations carry the rules
of each field (``event_fields``); one msgspec pass decodes and checks the envelope, a second
the payload its ``type`` names. What no single field can say (distinct keys, the agreement
above, ``datacontenttype``) is checked after decoding by the small functions below, and a
refused record's reason is worked out by ``event_reasons``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Literal, NoReturn

import msgspec

from observability.trace_context import parse_traceparent
from projections import event_schema as schema
from projections.event_fields import decode_hook
from projections.event_reasons import refusal_reason
from projections.event_schema import Envelope, EventData, Payload, Piece, wire_names
from readmodel.quoting import quoted

TopicKind = Literal["orders", "fulfillment", "shipments", "invoices", "source_status"]
EntityKindName = Literal["orders", "shipments", "invoices", "sources"]


class InvalidEvent(Exception):
    """A record value that is not an event this version understands (or contradicts itself).

    ``reason`` is meant for a human reading the dead-letter topic.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Event(msgspec.Struct, frozen=True, gc=False):
    """One decoded CloudEvent. ``(source, id)`` identifies a delivery.

    Untracked by the collector, as its payload is (``event_schema.Piece``): it holds only
    what was decoded, nothing that could refer back to it."""

    id: str
    source: str
    type: str
    subject: str
    time: datetime
    customer_id: str
    sequence: int
    data: EventData
    topic_kind: TopicKind
    #: The CloudEvents distributed-tracing extension's ``traceparent``, when the producer
    #: set a valid one (absent or malformed: None, never a dead letter).
    traceparent: str | None = None

    @property
    def entity_kind(self) -> EntityKindName:
        """The kind of document this event changes (fulfillment changes the order)."""
        return _ENTITY_KIND[self.topic_kind]

    @property
    def entity_id(self) -> str:
        """Id of the changed document; equal to ``subject`` (checked when decoding)."""
        return self.subject

    @property
    def is_snapshot(self) -> bool:
        """Whether the event restates its entity whole, so a higher sequence supersedes it."""
        return self.type in SNAPSHOT_TYPES


_ENTITY_KIND: Final[dict[TopicKind, EntityKindName]] = {
    "orders": "orders",
    "fulfillment": "orders",
    "shipments": "shipments",
    "invoices": "invoices",
    "source_status": "sources",
}

ORDER_CREATED: Final = "logistics.order.created.v1"
ORDER_UPDATED: Final = "logistics.order.updated.v1"
ORDER_CANCELLED: Final = "logistics.order.cancelled.v1"
FULFILLMENT_PROGRESSED: Final = "logistics.fulfillment.progressed.v1"
SHIPMENT_PLANNED: Final = "logistics.shipment.planned.v1"
SHIPMENT_MILESTONE: Final = "logistics.shipment.milestone.v1"
SHIPMENT_POD_CAPTURED: Final = "logistics.shipment.pod-captured.v1"
SHIPMENT_CANCELLED: Final = "logistics.shipment.cancelled.v1"
INVOICE_ISSUED: Final = "logistics.invoice.issued.v1"
INVOICE_PAYMENT_RECORDED: Final = "logistics.invoice.payment-recorded.v1"
INVOICE_VOIDED: Final = "logistics.invoice.voided.v1"
SOURCE_STATUS_CHANGED: Final = "logistics.source.status-changed.v1"

SNAPSHOT_TYPES: Final = frozenset(
    {ORDER_CREATED, ORDER_UPDATED, SHIPMENT_PLANNED, INVOICE_ISSUED, SOURCE_STATUS_CHANGED}
)


class _EventType(msgspec.Struct, frozen=True):
    """What an event ``type`` carries: its topic, its payload and the payload's decoder."""

    topic_kind: TopicKind
    payload: type[Payload]
    decode: Callable[[bytes], Any]


def _event_type(topic_kind: TopicKind, payload: type[Payload]) -> _EventType:
    decoder = msgspec.json.Decoder(payload, dec_hook=decode_hook)
    return _EventType(topic_kind, payload, decoder.decode)


_ORDER_SNAPSHOT: Final = _event_type("orders", schema.OrderSnapshot)
_TYPES: Final[dict[str, _EventType]] = {
    ORDER_CREATED: _ORDER_SNAPSHOT,
    ORDER_UPDATED: _ORDER_SNAPSHOT,
    ORDER_CANCELLED: _event_type("orders", schema.OrderCancelled),
    FULFILLMENT_PROGRESSED: _event_type("fulfillment", schema.FulfillmentProgressed),
    SHIPMENT_PLANNED: _event_type("shipments", schema.ShipmentPlanned),
    SHIPMENT_MILESTONE: _event_type("shipments", schema.ShipmentMilestone),
    SHIPMENT_POD_CAPTURED: _event_type("shipments", schema.PodCaptured),
    SHIPMENT_CANCELLED: _event_type("shipments", schema.ShipmentCancelled),
    INVOICE_ISSUED: _event_type("invoices", schema.InvoiceIssued),
    INVOICE_PAYMENT_RECORDED: _event_type("invoices", schema.PaymentRecorded),
    INVOICE_VOIDED: _event_type("invoices", schema.InvoiceVoided),
    SOURCE_STATUS_CHANGED: _event_type("source_status", schema.SourceStatusChanged),
}

#: Every event type this version decodes.
EVENT_TYPES: Final = frozenset(_TYPES)

_ENVELOPE: Final = msgspec.json.Decoder(Envelope, dec_hook=decode_hook)
_JSON: Final = "application/json"

#: What msgspec raises for a record it cannot read. Besides its own errors: a string value
#: that is not UTF-8 (``UnicodeDecodeError``: msgspec checks the encoding of the strings it
#: decodes, not of the record) and arrays or objects nested about a thousand deep
#: (``RecursionError``, even in a field it skips). Either escaped ``decode_records``, failed
#: the batch, and the projector stopped at that record after every restart.
_UNREADABLE: Final = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError)


def decode_event(value: bytes) -> Event:
    """Decode one Kafka record value; raises ``InvalidEvent`` for anything off-contract."""
    try:
        envelope = _ENVELOPE.decode(value)
    except _UNREADABLE as exc:
        raise InvalidEvent(refusal_reason(value, exc, Envelope)) from None
    kind = _TYPES.get(envelope.type)
    if kind is None:
        raise InvalidEvent(f"type: unknown event type {quoted(envelope.type)}")
    content_type = envelope.datacontenttype
    # media types are case-insensitive (RFC 2045); parameters (a charset) are not checked
    if content_type is not None and content_type.split(";")[0].strip().lower() != _JSON:
        raise InvalidEvent(
            f"datacontenttype: expected application/json, got {quoted(content_type)}"
        )
    try:
        data: EventData = kind.decode(envelope.data)
    except _UNREADABLE as exc:
        raise InvalidEvent(refusal_reason(value, exc, kind.payload, "data")) from None
    _require_unique_keys(data)
    _require_agreement(envelope, data)
    return Event(
        id=envelope.id,
        source=envelope.source,
        type=envelope.type,
        subject=envelope.subject,
        time=envelope.time,
        customer_id=envelope.customerid,
        sequence=envelope.sequence,
        data=data,
        topic_kind=kind.topic_kind,
        traceparent=_traceparent(envelope.traceparent),
    )


def _require_unique_keys(data: Payload) -> None:
    """The items of each of the payload's ``unique_keys`` lists repeat no key."""
    for items_field, key_field in data.unique_keys:
        items = getattr(data, items_field)
        if items and len({getattr(item, key_field) for item in items}) < len(items):
            _refuse_repeated_key(data, items_field, key_field)


def _refuse_repeated_key(data: Payload, items_field: str, key_field: str) -> NoReturn:
    seen: set[Any] = set()
    items: tuple[Piece, ...] = getattr(data, items_field)
    for index, item in enumerate(items):
        key = getattr(item, key_field)
        if key in seen:
            where = f"data.{wire_names(type(data))[items_field]}[{index}]"
            key_name = wire_names(type(item))[key_field]
            raise InvalidEvent(f"{where}.{key_name}: duplicate {quoted(key)}")
        seen.add(key)
    raise AssertionError("no repeated key")  # only called when a key repeats


def _require_agreement(envelope: Envelope, data: Payload) -> None:
    """The payload is about the envelope's subject and (snapshots) the envelope's customer."""
    named = getattr(data, data.entity_field)
    if named != envelope.subject:
        field = wire_names(type(data))[data.entity_field]
        raise InvalidEvent(
            f"data.{field}: {quoted(named)} does not match subject {quoted(envelope.subject)}"
        )
    snapshot_customer = getattr(data, "customer_id", None)
    if snapshot_customer is not None and snapshot_customer != envelope.customerid:
        raise InvalidEvent(
            f"data.customerId: {quoted(snapshot_customer)} does not match customerid "
            f"{quoted(envelope.customerid)}"
        )


_TEXT: Final = msgspec.json.Decoder(str)


def _traceparent(raw: msgspec.Raw) -> str | None:
    """The valid ``traceparent`` of the raw JSON value ``raw`` (absent: empty), else None:
    the extension's readers ignore an invalid one, so it never makes a dead letter."""
    if not raw:
        return None
    try:
        context = parse_traceparent(_TEXT.decode(raw))
    except _UNREADABLE:
        return None
    return context.traceparent if context is not None else None
