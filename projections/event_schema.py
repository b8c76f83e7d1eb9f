"""The contract's JSON shapes as msgspec schemas: the decoder's fast path.

``msgspec`` parses a record and checks types, presence, emptiness, lengths, minimums and
patterns in one pass in C, several times faster than walking a ``json.loads`` result in
Python. It cannot say *why* a record is refused the way a dead letter should
(``data.lines[3].quantity: expected integer``), so it is only a fast path:
``events.decode_event`` takes its result when it accepts a record and asks the
field-by-field reader (``events.decode_event_checked``) when it does not. For that to be
exact, every schema here accepts no more than that reader does (strict types: ``true`` is
not an integer, ``3.0`` is not an integer, ``1e400`` is out of range; duplicate keys count
the last time, as in ``json``); what a schema cannot express (timestamps, calendar dates,
choices, distinct keys, the envelope's agreement with ``data``) is checked when ``events``
builds the typed event. ``tests/unit/test_events_fast_path.py`` holds the two to the same
answers.

The nested pieces that need no conversion (addresses, lines, carriers, locations) are the
typed payloads themselves; the top-level ``data`` objects carry timestamps and amounts as
text, which ``events`` parses.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

import msgspec

#: A non-empty string (the contract has no optional empty strings).
Text = Annotated[str, msgspec.Meta(min_length=1)]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}\Z")]
CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}\Z")]
#: A plain decimal string: no exponent, no spaces, no ``NaN`` (``events._DECIMAL``).
AmountText = Annotated[str, msgspec.Meta(pattern=r"^-?\d+(?:\.\d+)?\Z")]
DateText = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}\Z")]
#: A finite number: JSON has no infinities, but ``1e400`` overflows to one.
FiniteNumber = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class _Payload(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """A piece of ``data``: camelCase on the wire, snake_case in Python; an optional field
    may be absent or null (the default)."""


# --- nested pieces, used as they are ------------------------------------------------------


class Address(_Payload, frozen=True, kw_only=True):
    line1: Text
    line2: Text | None = None
    city: Text
    region: Text | None = None
    postal_code: Text
    country_code: CountryCode


class ShipFrom(_Payload, frozen=True, kw_only=True):
    warehouse_id: Text
    name: Text
    address: Address


class ShipTo(_Payload, frozen=True, kw_only=True):
    name: Text
    address: Address


class OrderLine(_Payload, frozen=True, kw_only=True):
    line_number: PositiveInt
    sku: Text
    description: Text
    quantity: Count
    uom: Text


class HandlingUnit(_Payload, frozen=True, kw_only=True):
    sscc: Text
    weight_kg: FiniteNumber


class FulfillmentLineProgress(_Payload, frozen=True, kw_only=True):
    line_number: PositiveInt
    quantity_picked: Count | None = None
    quantity_shipped: Count | None = None


class Carrier(_Payload, frozen=True, kw_only=True):
    scac: Text
    name: Text


class Location(_Payload, frozen=True, kw_only=True):
    city: Text
    region: Text | None = None
    country_code: CountryCode
    lat: FiniteNumber | None = None
    lon: FiniteNumber | None = None


class _Wire(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """A top-level ``data`` object as sent, before its timestamps and amounts are parsed."""


class OrderSnapshotWire(_Wire, frozen=True, kw_only=True):
    order_id: Text
    customer_id: Text
    customer_reference: Text
    order_type: Text
    ordered_at: Text
    requested_delivery_date: DateText
    ship_from: ShipFrom
    ship_to: ShipTo
    lines: Annotated[tuple[OrderLine, ...], msgspec.Meta(min_length=1, max_length=2000)]


class OrderCancelledWire(_Wire, frozen=True, kw_only=True):
    order_id: Text
    reason: Text
    cancelled_at: Text


class FulfillmentProgressedWire(_Wire, frozen=True, kw_only=True):
    order_id: Text
    warehouse_id: Text
    stage: Text
    occurred_at: Text
    shipment_id: Text | None = None
    handling_units: tuple[HandlingUnit, ...] | None = None
    lines: tuple[FulfillmentLineProgress, ...] | None = None


class ShipmentPlannedWire(_Wire, frozen=True, kw_only=True):
    shipment_id: Text
    customer_id: Text
    order_ids: tuple[Text, ...]
    mode: Text
    carrier: Carrier
    tracking_number: Text
    origin: Address
    destination: Address
    planned_pickup_at: Text
    planned_delivery_at: Text
    service_level: Text


class ShipmentMilestoneWire(_Wire, frozen=True, kw_only=True):
    shipment_id: Text
    milestone_id: Text
    status_code: Text
    reason_code: Text | None = None
    occurred_at: Text
    location: Location | None = None
    estimated_delivery_at: Text | None = None
    signed_by: Text | None = None


class PodCapturedWire(_Wire, frozen=True, kw_only=True):
    shipment_id: Text
    signed_by: Text
    captured_at: Text
    document_url: Text


class ShipmentCancelledWire(_Wire, frozen=True, kw_only=True):
    shipment_id: Text
    reason: Text
    cancelled_at: Text


class InvoiceLineWire(_Wire, frozen=True, kw_only=True):
    description: Text
    charge_type: Text
    amount: AmountText
    order_id: Text | None = None
    shipment_id: Text | None = None


class InvoiceIssuedWire(_Wire, frozen=True, kw_only=True):
    invoice_id: Text
    customer_id: Text
    invoice_number: Text
    issued_at: Text
    due_date: DateText
    currency: CurrencyCode
    lines: tuple[InvoiceLineWire, ...]
    subtotal: AmountText
    tax: AmountText
    total: AmountText
    document_url: Text


class PaymentRecordedWire(_Wire, frozen=True, kw_only=True):
    invoice_id: Text
    payment_id: Text
    amount: AmountText
    paid_at: Text


class InvoiceVoidedWire(_Wire, frozen=True, kw_only=True):
    invoice_id: Text
    reason: Text
    voided_at: Text


class SourceStatusChangedWire(_Wire, frozen=True, kw_only=True):
    source: Text
    status: Text
    message: Text | None = None
    expected_back_at: Text | None = None


class EnvelopeWire(msgspec.Struct, frozen=True, kw_only=True):
    """The CloudEvents envelope; ``data`` is kept raw until ``type`` says what it is (a
    tagged union would pick the class by the first ``type`` key, ``json`` by the last)."""

    specversion: Literal["1.0"]
    type: Text
    datacontenttype: Text | None = None
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    source: Text
    subject: Text
    time: Text
    customerid: Text
    sequence: PositiveInt
    data: msgspec.Raw
    traceparent: Any = None
