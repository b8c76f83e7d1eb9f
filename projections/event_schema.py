"""The contract's payloads (``events-v1.md``): each field declared once, with its rules.

A payload is a msgspec struct: camelCase on the wire, snake_case in Python; an optional field
is ``X | None = None`` (absent or ``null``); fields the struct does not name are ignored.
The field types of ``event_fields`` carry every rule one field can break, and enumerations
are the vocabularies of ``readmodel.documents``, so ``events`` decodes and checks a record
against these structs in one msgspec pass (the decisions behind the rules are listed in
``events``).

What one field cannot say is declared here too and checked by ``events`` after decoding:
``unique_keys`` (items that must not repeat a key) and ``entity_field`` (the field naming
the entity, which must equal the envelope's ``subject``; declared with that field once per
entity, by ``OrderPayload``, ``ShipmentPayload`` and ``InvoicePayload``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, TypeAlias

import msgspec

from projections.event_fields import (
    Amount,
    CalendarDate,
    Count,
    CountryCode,
    CurrencyCode,
    EventId,
    FiniteNumber,
    Identifier,
    PositiveInt,
    Text,
    Timestamp,
)
from readmodel.documents import (
    CHARGE_TYPES,
    DECLARED_STATUSES,
    FULFILLMENT_STAGES,
    ORDER_TYPES,
    TRANSPORT_MODES,
)


def _one_of(vocabulary: tuple[str, ...]) -> Any:
    """A string field that must be one of ``vocabulary`` (described in its order)."""
    described = msgspec.Meta(description=f"one of {', '.join(vocabulary)}")
    return Annotated[Literal[vocabulary], described]


if TYPE_CHECKING:
    # The vocabularies are tuples, so only ``str`` can be said statically.
    OrderType: TypeAlias = str
    ChargeType: TypeAlias = str
    DeclaredStatus: TypeAlias = str
    FulfillmentStage: TypeAlias = str
    TransportMode: TypeAlias = str
else:
    OrderType = _one_of(ORDER_TYPES)
    ChargeType = _one_of(CHARGE_TYPES)
    DeclaredStatus = _one_of(DECLARED_STATUSES)
    FulfillmentStage = _one_of(FULFILLMENT_STAGES)
    TransportMode = _one_of(TRANSPORT_MODES)

MAX_ORDER_LINES: Final = 2000


class Piece(msgspec.Struct, frozen=True, rename="camel", kw_only=True, gc=False):
    """A JSON object of the contract, whole or nested.

    ``gc=False``: a decoded piece holds only what was decoded with it (scalars, tuples of
    pieces), never anything that could refer back to it, so it can be in no reference
    cycle; untracked, the collector does not walk the stream's events again and again
    (``bench/logic_floor.py``: about 1 us less per event to decode).
    """


@cache
def wire_names(piece: type[Piece]) -> Mapping[str, str]:
    """The contract's name of each of a piece's attributes (``line_number``: ``lineNumber``)."""
    return MappingProxyType({f.name: f.encode_name for f in msgspec.structs.fields(piece)})


class Payload(Piece, frozen=True, kw_only=True):
    """A whole ``data`` object."""

    #: The attribute naming the entity; it must equal the envelope's ``subject``.
    entity_field: ClassVar[str]
    #: ``(items, key)`` pairs: the items of list ``items`` (when given) must not repeat
    #: their ``key`` (a line number, an SSCC).
    unique_keys: ClassVar[tuple[tuple[str, str], ...]] = ()


# --- nested pieces ------------------------------------------------------------------------


class Address(Piece, frozen=True, kw_only=True):
    line1: Text
    line2: Text | None = None
    city: Text
    region: Text | None = None
    postal_code: Text
    country_code: CountryCode


class ShipFrom(Piece, frozen=True, kw_only=True):
    warehouse_id: Identifier
    name: Text
    address: Address


class ShipTo(Piece, frozen=True, kw_only=True):
    name: Text
    address: Address


class OrderLine(Piece, frozen=True, kw_only=True):
    line_number: PositiveInt
    sku: Identifier
    description: Text
    quantity: Count
    uom: Text


class HandlingUnit(Piece, frozen=True, kw_only=True):
    sscc: Identifier
    weight_kg: FiniteNumber


class FulfillmentLineProgress(Piece, frozen=True, kw_only=True):
    line_number: PositiveInt
    quantity_picked: Count | None = None
    quantity_shipped: Count | None = None


class Carrier(Piece, frozen=True, kw_only=True):
    scac: Identifier
    name: Text


class Location(Piece, frozen=True, kw_only=True):
    city: Text
    region: Text | None = None
    country_code: CountryCode
    lat: FiniteNumber | None = None
    lon: FiniteNumber | None = None


class InvoiceLine(Piece, frozen=True, kw_only=True):
    description: Text
    charge_type: ChargeType
    amount: Amount
    order_id: Identifier | None = None
    shipment_id: Identifier | None = None


# --- payloads -----------------------------------------------------------------------------


class OrderPayload(Payload, frozen=True, kw_only=True):
    """A payload about one order, which ``order_id`` names."""

    entity_field = "order_id"

    order_id: Identifier


class ShipmentPayload(Payload, frozen=True, kw_only=True):
    """A payload about one shipment, which ``shipment_id`` names."""

    entity_field = "shipment_id"

    shipment_id: Identifier


class InvoicePayload(Payload, frozen=True, kw_only=True):
    """A payload about one invoice, which ``invoice_id`` names."""

    entity_field = "invoice_id"

    invoice_id: Identifier


class OrderSnapshot(OrderPayload, frozen=True, kw_only=True):
    """``logistics.order.created.v1`` and ``logistics.order.updated.v1``: the full order."""

    unique_keys = (("lines", "line_number"),)

    customer_id: Identifier
    customer_reference: Identifier
    order_type: OrderType
    ordered_at: Timestamp
    requested_delivery_date: CalendarDate
    ship_from: ShipFrom
    ship_to: ShipTo
    lines: Annotated[tuple[OrderLine, ...], msgspec.Meta(min_length=1, max_length=MAX_ORDER_LINES)]


class OrderCancelled(OrderPayload, frozen=True, kw_only=True):
    reason: Text
    cancelled_at: Timestamp


class FulfillmentProgressed(OrderPayload, frozen=True, kw_only=True):
    unique_keys = (("handling_units", "sscc"), ("lines", "line_number"))

    warehouse_id: Identifier
    stage: FulfillmentStage
    occurred_at: Timestamp
    shipment_id: Identifier | None = None
    handling_units: tuple[HandlingUnit, ...] | None = None
    lines: tuple[FulfillmentLineProgress, ...] | None = None


class ShipmentPlanned(ShipmentPayload, frozen=True, kw_only=True):
    """``logistics.shipment.planned.v1``: the full shipment plan, re-sent on changes."""

    customer_id: Identifier
    order_ids: tuple[Identifier, ...]
    mode: TransportMode
    carrier: Carrier
    tracking_number: Identifier
    origin: Address
    destination: Address
    planned_pickup_at: Timestamp
    planned_delivery_at: Timestamp
    service_level: Text


class ShipmentMilestone(ShipmentPayload, frozen=True, kw_only=True):
    milestone_id: Identifier
    status_code: Identifier
    reason_code: Identifier | None = None
    occurred_at: Timestamp
    location: Location | None = None
    estimated_delivery_at: Timestamp | None = None
    signed_by: Text | None = None


class PodCaptured(ShipmentPayload, frozen=True, kw_only=True):
    signed_by: Text
    captured_at: Timestamp
    document_url: Text


class ShipmentCancelled(ShipmentPayload, frozen=True, kw_only=True):
    reason: Text
    cancelled_at: Timestamp


class InvoiceIssued(InvoicePayload, frozen=True, kw_only=True):
    """``logistics.invoice.issued.v1``: the full invoice."""

    customer_id: Identifier
    invoice_number: Identifier
    issued_at: Timestamp
    due_date: CalendarDate
    currency: CurrencyCode
    lines: tuple[InvoiceLine, ...]
    subtotal: Amount
    tax: Amount
    total: Amount
    document_url: Text


class PaymentRecorded(InvoicePayload, frozen=True, kw_only=True):
    payment_id: Identifier
    amount: Amount
    paid_at: Timestamp


class InvoiceVoided(InvoicePayload, frozen=True, kw_only=True):
    reason: Text
    voided_at: Timestamp


class SourceStatusChanged(Payload, frozen=True, kw_only=True):
    entity_field = "source"

    source: Identifier
    status: DeclaredStatus
    message: Text | None = None
    expected_back_at: Timestamp | None = None


EventData = (
    OrderSnapshot
    | OrderCancelled
    | FulfillmentProgressed
    | ShipmentPlanned
    | ShipmentMilestone
    | PodCaptured
    | ShipmentCancelled
    | InvoiceIssued
    | PaymentRecorded
    | InvoiceVoided
    | SourceStatusChanged
)


class Envelope(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The CloudEvents envelope; ``data`` is kept raw until ``type`` says what it is (a
    tagged union would pick the class by the first ``type`` key, ``json`` by the last).
    Untracked by the collector, as a ``Piece`` is and for the same reason."""

    specversion: Literal["1.0"]
    type: Text
    datacontenttype: Text | None = None
    id: EventId
    source: Identifier
    subject: Identifier
    time: Timestamp
    customerid: Identifier
    sequence: PositiveInt
    data: msgspec.Raw
    #: Kept raw: an invalid one is ignored (``events``), whatever JSON it is; decoded as any
    #: value, a number beyond a float's range made the event a dead letter.
    traceparent: msgspec.Raw = msgspec.Raw()
