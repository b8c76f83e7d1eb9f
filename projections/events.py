"""Decoding of inbound Kafka record values into typed events, once, at the edge.

Everything the contract (``events-v1.md``) promises is checked here, so reducers can trust
their input: a record that breaks a promise raises ``InvalidEvent`` with a reason that names
the offending field (``data.lines[3].quantity: expected integer``). The projector turns that
reason into a dead letter, so nothing is dropped silently and consumption never stops.

Decisions where the contract is silent:

* Unknown extra fields are ignored (upstream may add fields without a new version); known
  fields are type-checked strictly (``40.0`` is not an integer, ``true`` is not a number).
* Optional fields may be absent or ``null``; both mean "not given".
* Every timestamp must be RFC 3339 *with* an offset. It is converted to UTC and truncated to
  milliseconds, the precision of BSON dates, so a stored value compares equal to the decoded
  one after a round trip through MongoDB.
* Amounts must be plain decimal strings (``"-12.50"``, ``"0"``): no exponent, no spaces, no
  ``NaN``. Amounts are negative only for credits; the sign is kept.
* The snapshot's ``data.customerId`` must equal the envelope's ``customerid`` and the entity
  id in ``data`` must equal ``subject``: a record contradicting itself about whose data it is
  must not reach a tenant's documents.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, TypeVar

import msgspec

from observability.trace_context import parse_traceparent
from projections import event_schema as wire
from projections.event_schema import (
    Address,
    Carrier,
    FulfillmentLineProgress,
    HandlingUnit,
    Location,
    OrderLine,
    ShipFrom,
    ShipTo,
)
from readmodel.documents import (
    CHARGE_TYPES,
    DECLARED_STATUSES,
    FULFILLMENT_STAGES,
    ORDER_TYPES,
    TRANSPORT_MODES,
)

TopicKind = Literal["orders", "fulfillment", "shipments", "invoices", "source_status"]
EntityKindName = Literal["orders", "shipments", "invoices", "sources"]


class InvalidEvent(Exception):
    """A record value that is not an event this version understands (or contradicts itself).

    ``reason`` is meant for a human reading the dead-letter topic.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- payloads -----------------------------------------------------------------------------


class OrderSnapshot(msgspec.Struct, frozen=True):
    """``logistics.order.created.v1`` and ``logistics.order.updated.v1``: the full order."""

    order_id: str
    customer_id: str
    customer_reference: str
    order_type: str
    ordered_at: datetime
    requested_delivery_date: str
    ship_from: ShipFrom
    ship_to: ShipTo
    lines: tuple[OrderLine, ...]


class OrderCancelled(msgspec.Struct, frozen=True):
    order_id: str
    reason: str
    cancelled_at: datetime


class FulfillmentProgressed(msgspec.Struct, frozen=True):
    order_id: str
    warehouse_id: str
    stage: str
    occurred_at: datetime
    shipment_id: str | None
    handling_units: tuple[HandlingUnit, ...] | None
    lines: tuple[FulfillmentLineProgress, ...] | None


class ShipmentPlanned(msgspec.Struct, frozen=True):
    """``logistics.shipment.planned.v1``: the full shipment plan, re-sent on changes."""

    shipment_id: str
    customer_id: str
    order_ids: tuple[str, ...]
    mode: str
    carrier: Carrier
    tracking_number: str
    origin: Address
    destination: Address
    planned_pickup_at: datetime
    planned_delivery_at: datetime
    service_level: str


class ShipmentMilestone(msgspec.Struct, frozen=True):
    shipment_id: str
    milestone_id: str
    status_code: str
    reason_code: str | None
    occurred_at: datetime
    location: Location | None
    estimated_delivery_at: datetime | None
    signed_by: str | None


class PodCaptured(msgspec.Struct, frozen=True):
    shipment_id: str
    signed_by: str
    captured_at: datetime
    document_url: str


class ShipmentCancelled(msgspec.Struct, frozen=True):
    shipment_id: str
    reason: str
    cancelled_at: datetime


class InvoiceLine(msgspec.Struct, frozen=True):
    description: str
    charge_type: str
    amount: Decimal
    order_id: str | None
    shipment_id: str | None


class InvoiceIssued(msgspec.Struct, frozen=True):
    """``logistics.invoice.issued.v1``: the full invoice."""

    invoice_id: str
    customer_id: str
    invoice_number: str
    issued_at: datetime
    due_date: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    document_url: str


class PaymentRecorded(msgspec.Struct, frozen=True):
    invoice_id: str
    payment_id: str
    amount: Decimal
    paid_at: datetime


class InvoiceVoided(msgspec.Struct, frozen=True):
    invoice_id: str
    reason: str
    voided_at: datetime


class SourceStatusChanged(msgspec.Struct, frozen=True):
    source: str
    status: str
    message: str | None
    expected_back_at: datetime | None


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


# --- the envelope -------------------------------------------------------------------------


class Event(msgspec.Struct, frozen=True):
    """One decoded CloudEvent. ``(source, id)`` identifies a delivery."""

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

MAX_ORDER_LINES: Final = 2000


# --- field readers ------------------------------------------------------------------------

_T = TypeVar("_T")

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?\Z")
_COUNTRY = re.compile(r"[A-Z]{2}\Z")
_CURRENCY = re.compile(r"[A-Z]{3}\Z")


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 with offset -> aware UTC datetime truncated to milliseconds.

    Raises ValueError with a short explanation otherwise.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError("expected an RFC 3339 timestamp with offset, e.g. 2026-11-21T14:02:11Z")
    day, clock, fraction, offset = match.groups()
    if (fraction is None or len(fraction) == 3) and text[10] == "T" and offset != "z":
        # The usual forms: ``datetime`` reads them as they are (no truncation needed).
        return datetime.fromisoformat(text).astimezone(UTC)
    millis = (fraction or "").ljust(3, "0")[:3]
    offset = "+00:00" if offset in ("Z", "z") else offset
    parsed = datetime.fromisoformat(f"{day}T{clock}.{millis}{offset}")
    return parsed.astimezone(UTC)


class _Fields:
    """Typed access to one JSON object, naming the path of a bad field in its errors."""

    def __init__(self, raw: Mapping[str, Any], path: str) -> None:
        self._raw = raw
        self._path = path

    def _where(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def _fail(self, name: str, problem: str) -> InvalidEvent:
        return InvalidEvent(f"{self._where(name)}: {problem}")

    def _get(self, name: str, optional: bool) -> Any:
        value = self._raw.get(name)
        if value is None and not optional:
            problem = "missing" if name not in self._raw else "must not be null"
            raise self._fail(name, problem)
        return value

    def string(self, name: str, *, max_length: int | None = None) -> str:
        value = self._get(name, optional=False)
        return self._check_string(name, value, max_length)

    def opt_string(self, name: str) -> str | None:
        value = self._get(name, optional=True)
        return None if value is None else self._check_string(name, value, None)

    def _check_string(self, name: str, value: Any, max_length: int | None) -> str:
        if not isinstance(value, str):
            raise self._fail(name, f"expected string, got {_json_kind(value)}")
        if not value:
            raise self._fail(name, "must not be empty")
        if max_length is not None and len(value) > max_length:
            raise self._fail(name, f"longer than {max_length} characters")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.string(name)
        if value not in allowed:
            raise self._fail(name, f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    def pattern(self, name: str, regex: re.Pattern[str], what: str) -> str:
        value = self.string(name)
        if not regex.match(value):
            raise self._fail(name, f"expected {what}, got {value!r}")
        return value

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        value = self._get(name, optional=False)
        return self._check_integer(name, value, minimum)

    def opt_integer(self, name: str, *, minimum: int | None = None) -> int | None:
        value = self._get(name, optional=True)
        return None if value is None else self._check_integer(name, value, minimum)

    def _check_integer(self, name: str, value: Any, minimum: int | None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(name, f"expected integer, got {_json_kind(value)}")
        if minimum is not None and value < minimum:
            raise self._fail(name, f"must be at least {minimum}, got {value}")
        return value

    def number(self, name: str) -> float:
        value = self._get(name, optional=False)
        return self._check_number(name, value)

    def opt_number(self, name: str) -> float | None:
        value = self._get(name, optional=True)
        return None if value is None else self._check_number(name, value)

    def _check_number(self, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(name, f"expected number, got {_json_kind(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise self._fail(name, f"expected a finite number, got {value!r}")
        return number

    def timestamp(self, name: str) -> datetime:
        return self._parse_timestamp(name, self.string(name))

    def opt_timestamp(self, name: str) -> datetime | None:
        text = self.opt_string(name)
        return None if text is None else self._parse_timestamp(name, text)

    def _parse_timestamp(self, name: str, text: str) -> datetime:
        try:
            return parse_timestamp(text)
        except ValueError as exc:
            raise self._fail(name, f"{exc}; got {text!r}") from exc

    def date(self, name: str) -> str:
        text = self.string(name)
        try:
            if not _DATE.match(text):
                raise ValueError
            date.fromisoformat(text)
        except ValueError as exc:
            raise self._fail(name, f"expected a date YYYY-MM-DD, got {text!r}") from exc
        return text

    def amount(self, name: str) -> Decimal:
        value = self._get(name, optional=False)
        if not isinstance(value, str):
            raise self._fail(
                name, f'expected a decimal string like "12.50", got {_json_kind(value)}'
            )
        if not _DECIMAL.match(value):
            raise self._fail(name, f'expected a decimal string like "12.50", got {value!r}')
        try:
            return Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
            raise self._fail(name, f"not a decimal: {value!r}") from exc

    def obj(self, name: str) -> _Fields:
        value = self._get(name, optional=False)
        return self._check_obj(name, value)

    def opt_obj(self, name: str) -> _Fields | None:
        value = self._get(name, optional=True)
        return None if value is None else self._check_obj(name, value)

    def _check_obj(self, name: str, value: Any) -> _Fields:
        if not isinstance(value, dict):
            raise self._fail(name, f"expected object, got {_json_kind(value)}")
        return _Fields(value, self._where(name))

    def items(
        self,
        name: str,
        read: Callable[[_Fields], _T],
        *,
        min_items: int = 0,
        max_items: int | None = None,
    ) -> tuple[_T, ...]:
        value = self._get(name, optional=False)
        return self._check_items(name, value, read, min_items, max_items)

    def opt_items(self, name: str, read: Callable[[_Fields], _T]) -> tuple[_T, ...] | None:
        value = self._get(name, optional=True)
        return None if value is None else self._check_items(name, value, read, 0, None)

    def _check_items(
        self,
        name: str,
        value: Any,
        read: Callable[[_Fields], _T],
        min_items: int,
        max_items: int | None,
    ) -> tuple[_T, ...]:
        if not isinstance(value, list):
            raise self._fail(name, f"expected array, got {_json_kind(value)}")
        if len(value) < min_items:
            raise self._fail(name, f"expected at least {min_items} item(s), got {len(value)}")
        if max_items is not None and len(value) > max_items:
            raise self._fail(name, f"expected at most {max_items} items, got {len(value)}")
        result: list[_T] = []
        for index, item in enumerate(value):
            where = f"{self._where(name)}[{index}]"
            if not isinstance(item, dict):
                raise InvalidEvent(f"{where}: expected object, got {_json_kind(item)}")
            result.append(read(_Fields(item, where)))
        return tuple(result)

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._get(name, optional=False)
        if not isinstance(value, list):
            raise self._fail(name, f"expected array, got {_json_kind(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise InvalidEvent(
                    f"{self._where(name)}[{index}]: expected non-empty string, "
                    f"got {_json_kind(item)}"
                )
        return tuple(value)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, list):
        return "array"
    return "object"


# --- payload readers ----------------------------------------------------------------------

#: Reads one field of an object by its name on the wire.
_FieldRead = Callable[[_Fields, str], Any]


def _wire_name(name: str) -> str:
    """The contract's camelCase name of a payload attribute (``postal_code`` ->
    ``postalCode``), the convention ``event_schema`` declares with ``rename="camel"``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _reader(target: Callable[..., _T], **fields: _FieldRead) -> Callable[[_Fields], _T]:
    """A reader of one payload declared as its fields in order, each with how it is read and
    checked; the first bad field, in that order, names the refusal."""
    plan = tuple((name, _wire_name(name), read) for name, read in fields.items())

    def read(f: _Fields) -> _T:
        return target(**{name: read_field(f, wire) for name, wire, read_field in plan})

    return read


def _one_of_checked(allowed: tuple[str, ...]) -> _FieldRead:
    return lambda f, name: f.choice(name, allowed)


def _matching(regex: re.Pattern[str], what: str) -> _FieldRead:
    return lambda f, name: f.pattern(name, regex, what)


def _at_least(minimum: int) -> _FieldRead:
    return lambda f, name: f.integer(name, minimum=minimum)


def _opt_at_least(minimum: int) -> _FieldRead:
    return lambda f, name: f.opt_integer(name, minimum=minimum)


def _object(read: Callable[[_Fields], Any]) -> _FieldRead:
    return lambda f, name: read(f.obj(name))


def _opt_object(read: Callable[[_Fields], Any]) -> _FieldRead:
    def read_optional(f: _Fields, name: str) -> Any:
        found = f.opt_obj(name)
        return None if found is None else read(found)

    return read_optional


def _list_of(
    read: Callable[[_Fields], Any],
    *,
    optional: bool = False,
    distinct_by: str | None = None,
    min_items: int = 0,
    max_items: int | None = None,
) -> _FieldRead:
    """An array of objects, each read by ``read``; ``distinct_by`` names the attribute that
    must not repeat across the items (a line number, an SSCC)."""

    def read_items(f: _Fields, name: str) -> tuple[Any, ...] | None:
        if optional:
            items = f.opt_items(name, read)
        else:
            items = f.items(name, read, min_items=min_items, max_items=max_items)
        if items is not None and distinct_by is not None:
            keys = [getattr(item, distinct_by) for item in items]
            _require_distinct(f, name, keys, _wire_name(distinct_by))
        return items

    return read_items


_text: _FieldRead = _Fields.string
_opt_text: _FieldRead = _Fields.opt_string
_time_checked: _FieldRead = _Fields.timestamp
_opt_time_checked: _FieldRead = _Fields.opt_timestamp
_money: _FieldRead = _Fields.amount
_country = _matching(_COUNTRY, "an ISO 3166-1 alpha-2 code")

_address = _reader(
    Address,
    line1=_text,
    line2=_opt_text,
    city=_text,
    region=_opt_text,
    postal_code=_text,
    country_code=_country,
)
_order_line = _reader(
    OrderLine,
    line_number=_at_least(1),
    sku=_text,
    description=_text,
    quantity=_at_least(0),
    uom=_text,
)
_order_snapshot = _reader(
    OrderSnapshot,
    order_id=_text,
    customer_id=_text,
    customer_reference=_text,
    order_type=_one_of_checked(ORDER_TYPES),
    ordered_at=_time_checked,
    requested_delivery_date=_Fields.date,
    ship_from=_object(_reader(ShipFrom, warehouse_id=_text, name=_text, address=_object(_address))),
    ship_to=_object(_reader(ShipTo, name=_text, address=_object(_address))),
    lines=_list_of(_order_line, distinct_by="line_number", min_items=1, max_items=MAX_ORDER_LINES),
)
_order_cancelled = _reader(OrderCancelled, order_id=_text, reason=_text, cancelled_at=_time_checked)
_fulfillment_progressed = _reader(
    FulfillmentProgressed,
    order_id=_text,
    warehouse_id=_text,
    stage=_one_of_checked(FULFILLMENT_STAGES),
    occurred_at=_time_checked,
    shipment_id=_opt_text,
    handling_units=_list_of(
        _reader(HandlingUnit, sscc=_text, weight_kg=_Fields.number),
        optional=True,
        distinct_by="sscc",
    ),
    lines=_list_of(
        _reader(
            FulfillmentLineProgress,
            line_number=_at_least(1),
            quantity_picked=_opt_at_least(0),
            quantity_shipped=_opt_at_least(0),
        ),
        optional=True,
        distinct_by="line_number",
    ),
)
_shipment_planned = _reader(
    ShipmentPlanned,
    shipment_id=_text,
    customer_id=_text,
    order_ids=_Fields.strings,
    mode=_one_of_checked(TRANSPORT_MODES),
    carrier=_object(_reader(Carrier, scac=_text, name=_text)),
    tracking_number=_text,
    origin=_object(_address),
    destination=_object(_address),
    planned_pickup_at=_time_checked,
    planned_delivery_at=_time_checked,
    service_level=_text,
)
_shipment_milestone = _reader(
    ShipmentMilestone,
    shipment_id=_text,
    milestone_id=_text,
    status_code=_text,
    reason_code=_opt_text,
    occurred_at=_time_checked,
    location=_opt_object(
        _reader(
            Location,
            city=_text,
            region=_opt_text,
            country_code=_country,
            lat=_Fields.opt_number,
            lon=_Fields.opt_number,
        )
    ),
    estimated_delivery_at=_opt_time_checked,
    signed_by=_opt_text,
)
_pod_captured = _reader(
    PodCaptured, shipment_id=_text, signed_by=_text, captured_at=_time_checked, document_url=_text
)
_shipment_cancelled = _reader(
    ShipmentCancelled, shipment_id=_text, reason=_text, cancelled_at=_time_checked
)
_invoice_issued = _reader(
    InvoiceIssued,
    invoice_id=_text,
    customer_id=_text,
    invoice_number=_text,
    issued_at=_time_checked,
    due_date=_Fields.date,
    currency=_matching(_CURRENCY, "an ISO 4217 code"),
    lines=_list_of(
        _reader(
            InvoiceLine,
            description=_text,
            charge_type=_one_of_checked(CHARGE_TYPES),
            amount=_money,
            order_id=_opt_text,
            shipment_id=_opt_text,
        )
    ),
    subtotal=_money,
    tax=_money,
    total=_money,
    document_url=_text,
)
_payment_recorded = _reader(
    PaymentRecorded, invoice_id=_text, payment_id=_text, amount=_money, paid_at=_time_checked
)
_invoice_voided = _reader(InvoiceVoided, invoice_id=_text, reason=_text, voided_at=_time_checked)
_source_status_changed = _reader(
    SourceStatusChanged,
    source=_text,
    status=_one_of_checked(DECLARED_STATUSES),
    message=_opt_text,
    expected_back_at=_opt_time_checked,
)


def _require_distinct(f: _Fields, name: str, keys: list[Any], key_name: str) -> None:
    seen: set[Any] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise InvalidEvent(f"{f._where(name)}[{index}].{key_name}: duplicate {key!r}")
        seen.add(key)


# --- the fast path: msgspec schemas, then what they cannot check ---------------------------


class _NotFast(Exception):
    """The fast path will not vouch for a record; the field-by-field reader decides."""


def _checked_date(text: str) -> str:
    date.fromisoformat(text)  # the schema checked the shape; this checks the calendar
    return text


def _distinct(keys: Iterable[Any]) -> None:
    seen: set[Any] = set()
    for key in keys:
        if key in seen:
            raise _NotFast
        seen.add(key)


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_timestamp(text)


def _amount(text: str) -> Decimal:
    return Decimal(text)  # the schema admits plain decimal strings only


def _one_of(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def choice(value: str) -> str:
        if value not in allowed:
            raise _NotFast
        return value

    return choice


def _distinct_keys(items: str, key: str) -> Callable[[Any], None]:
    """A check that the items of one field (when given) are distinct by one attribute."""

    def check(payload: Any) -> None:
        given = getattr(payload, items)
        if given is not None:
            _distinct(getattr(item, key) for item in given)

    return check


def _rebuild(
    wire_type: type[msgspec.Struct],
    target: Callable[..., Any],
    convert: Mapping[str, Callable[[Any], Any]],
) -> Callable[[Any], Any]:
    """A builder of a typed payload from its wire struct: each field taken as decoded, or
    through its conversion where the schema leaves text (timestamps, dates, amounts, choices).

    One declaration per payload (``_FAST``) instead of a hand-written builder each: the wire
    struct names the fields, so a field added to both cannot be forgotten here. The builder
    is generated as plain source (as ``dataclasses`` does for ``__init__``), so it costs what
    the hand-written one did; a dictionary built per record cost a few µs more.
    """
    names = wire_type.__struct_fields__
    unknown = set(convert) - set(names)
    if unknown:
        raise TypeError(f"{wire_type.__name__} has no fields {sorted(unknown)}")
    arguments = ", ".join(
        f"{name}=convert_{name}(w.{name})" if name in convert else f"{name}=w.{name}"
        for name in names
    )
    scope: dict[str, Any] = {f"convert_{name}": function for name, function in convert.items()}
    scope["target"] = target
    exec(f"def build(w):\n    return target({arguments})\n", scope)
    build: Callable[[Any], Any] = scope["build"]
    return build


def _fast_reader(
    wire_type: type[msgspec.Struct],
    target: Callable[..., EventData],
    convert: Mapping[str, Callable[[Any], Any]],
    *checks: Callable[[Any], None],
) -> Callable[[bytes], EventData]:
    """The fast path of one event type: decode with its schema, check what the schema
    cannot (distinct keys), then build the typed payload."""
    decode = msgspec.json.Decoder(wire_type).decode
    build = _rebuild(wire_type, target, convert)

    def read(raw: bytes) -> EventData:
        payload = decode(raw)
        for check in checks:
            check(payload)
        built: EventData = build(payload)
        return built

    return read


_time = parse_timestamp
_INVOICE_LINE = _rebuild(
    wire.InvoiceLineWire, InvoiceLine, {"charge_type": _one_of(CHARGE_TYPES), "amount": _amount}
)


def _invoice_lines(lines: tuple[wire.InvoiceLineWire, ...]) -> tuple[InvoiceLine, ...]:
    return tuple(_INVOICE_LINE(line) for line in lines)


_FAST: Final[dict[type, Callable[[bytes], EventData]]] = {
    OrderSnapshot: _fast_reader(
        wire.OrderSnapshotWire,
        OrderSnapshot,
        {
            "order_type": _one_of(ORDER_TYPES),
            "ordered_at": _time,
            "requested_delivery_date": _checked_date,
        },
        _distinct_keys("lines", "line_number"),
    ),
    OrderCancelled: _fast_reader(wire.OrderCancelledWire, OrderCancelled, {"cancelled_at": _time}),
    FulfillmentProgressed: _fast_reader(
        wire.FulfillmentProgressedWire,
        FulfillmentProgressed,
        {"stage": _one_of(FULFILLMENT_STAGES), "occurred_at": _time},
        _distinct_keys("handling_units", "sscc"),
        _distinct_keys("lines", "line_number"),
    ),
    ShipmentPlanned: _fast_reader(
        wire.ShipmentPlannedWire,
        ShipmentPlanned,
        {
            "mode": _one_of(TRANSPORT_MODES),
            "planned_pickup_at": _time,
            "planned_delivery_at": _time,
        },
    ),
    ShipmentMilestone: _fast_reader(
        wire.ShipmentMilestoneWire,
        ShipmentMilestone,
        {"occurred_at": _time, "estimated_delivery_at": _opt_time},
    ),
    PodCaptured: _fast_reader(wire.PodCapturedWire, PodCaptured, {"captured_at": _time}),
    ShipmentCancelled: _fast_reader(
        wire.ShipmentCancelledWire, ShipmentCancelled, {"cancelled_at": _time}
    ),
    InvoiceIssued: _fast_reader(
        wire.InvoiceIssuedWire,
        InvoiceIssued,
        {
            "issued_at": _time,
            "due_date": _checked_date,
            "lines": _invoice_lines,
            "subtotal": _amount,
            "tax": _amount,
            "total": _amount,
        },
    ),
    PaymentRecorded: _fast_reader(
        wire.PaymentRecordedWire, PaymentRecorded, {"amount": _amount, "paid_at": _time}
    ),
    InvoiceVoided: _fast_reader(wire.InvoiceVoidedWire, InvoiceVoided, {"voided_at": _time}),
    SourceStatusChanged: _fast_reader(
        wire.SourceStatusChangedWire,
        SourceStatusChanged,
        {"status": _one_of(DECLARED_STATUSES), "expected_back_at": _opt_time},
    ),
}


@dataclass(frozen=True)
class _TypeSpec:
    topic_kind: TopicKind
    read: Callable[[_Fields], EventData]
    fast: Callable[[bytes], EventData]
    #: Field of ``data`` that names the entity; it must equal ``subject``.
    id_field: str
    #: The same field's attribute on the decoded payload.
    id_attribute: str


_TYPES: Final[dict[str, _TypeSpec]] = {
    ORDER_CREATED: _TypeSpec(
        "orders", _order_snapshot, _FAST[OrderSnapshot], "orderId", "order_id"
    ),
    ORDER_UPDATED: _TypeSpec(
        "orders", _order_snapshot, _FAST[OrderSnapshot], "orderId", "order_id"
    ),
    ORDER_CANCELLED: _TypeSpec(
        "orders", _order_cancelled, _FAST[OrderCancelled], "orderId", "order_id"
    ),
    FULFILLMENT_PROGRESSED: _TypeSpec(
        "fulfillment", _fulfillment_progressed, _FAST[FulfillmentProgressed], "orderId", "order_id"
    ),
    SHIPMENT_PLANNED: _TypeSpec(
        "shipments", _shipment_planned, _FAST[ShipmentPlanned], "shipmentId", "shipment_id"
    ),
    SHIPMENT_MILESTONE: _TypeSpec(
        "shipments", _shipment_milestone, _FAST[ShipmentMilestone], "shipmentId", "shipment_id"
    ),
    SHIPMENT_POD_CAPTURED: _TypeSpec(
        "shipments", _pod_captured, _FAST[PodCaptured], "shipmentId", "shipment_id"
    ),
    SHIPMENT_CANCELLED: _TypeSpec(
        "shipments", _shipment_cancelled, _FAST[ShipmentCancelled], "shipmentId", "shipment_id"
    ),
    INVOICE_ISSUED: _TypeSpec(
        "invoices", _invoice_issued, _FAST[InvoiceIssued], "invoiceId", "invoice_id"
    ),
    INVOICE_PAYMENT_RECORDED: _TypeSpec(
        "invoices", _payment_recorded, _FAST[PaymentRecorded], "invoiceId", "invoice_id"
    ),
    INVOICE_VOIDED: _TypeSpec(
        "invoices", _invoice_voided, _FAST[InvoiceVoided], "invoiceId", "invoice_id"
    ),
    SOURCE_STATUS_CHANGED: _TypeSpec(
        "source_status", _source_status_changed, _FAST[SourceStatusChanged], "source", "source"
    ),
}

#: Every event type this version decodes.
EVENT_TYPES: Final = frozenset(_TYPES)


# --- decoding -----------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_event(value: bytes) -> Event:
    """Decode one Kafka record value; raises ``InvalidEvent`` for anything off-contract.

    The schemas of ``event_schema`` decide first; a record they refuse (or anything they
    cannot vouch for) is read again field by field by ``decode_event_checked``, which
    either accepts it too or names the field that is wrong.
    """
    try:
        return _decode_fast(value)
    except (msgspec.MsgspecError, ValueError, ArithmeticError, _NotFast):
        return decode_event_checked(value)


def _decode_fast(value: bytes) -> Event:
    envelope = _ENVELOPE.decode(value)
    spec = _TYPES.get(envelope.type)
    if spec is None:
        raise _NotFast
    content_type = envelope.datacontenttype
    if content_type is not None and content_type.split(";")[0].strip() != "application/json":
        raise _NotFast
    data = spec.fast(envelope.data)
    if getattr(data, spec.id_attribute) != envelope.subject:
        raise _NotFast
    snapshot_customer = getattr(data, "customer_id", None)
    if snapshot_customer is not None and snapshot_customer != envelope.customerid:
        raise _NotFast
    return Event(
        id=envelope.id,
        source=envelope.source,
        type=envelope.type,
        subject=envelope.subject,
        time=parse_timestamp(envelope.time),
        customer_id=envelope.customerid,
        sequence=envelope.sequence,
        data=data,
        topic_kind=spec.topic_kind,
        traceparent=_traceparent(envelope.traceparent),
    )


_ENVELOPE: Final = msgspec.json.Decoder(wire.EnvelopeWire)


def decode_event_checked(value: bytes) -> Event:
    """The reference decoder: every field read and checked in Python, in contract order, so
    a refusal names the first field that is wrong. ``decode_event`` falls back to it."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not UTF-8: {exc.reason} at byte {exc.start}") from exc
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidEvent(f"not a JSON object: got {_json_kind(body)}")
    envelope = _Fields(body, "")
    specversion = envelope.string("specversion")
    if specversion != "1.0":
        raise InvalidEvent(f'specversion: expected "1.0", got {specversion!r}')
    event_type = envelope.string("type")
    spec = _TYPES.get(event_type)
    if spec is None:
        raise InvalidEvent(f"type: unknown event type {event_type!r}")
    content_type = envelope.opt_string("datacontenttype")
    if content_type is not None and content_type.split(";")[0].strip() != "application/json":
        raise InvalidEvent(f"datacontenttype: expected application/json, got {content_type!r}")
    event_id = envelope.string("id", max_length=128)
    source = envelope.string("source")
    subject = envelope.string("subject")
    time = envelope.timestamp("time")
    customer_id = envelope.string("customerid")
    sequence = envelope.integer("sequence", minimum=1)
    data_fields = envelope.obj("data")
    data = spec.read(data_fields)
    named = data_fields.string(spec.id_field)
    if named != subject:
        raise InvalidEvent(f"data.{spec.id_field}: {named!r} does not match subject {subject!r}")
    snapshot_customer = getattr(data, "customer_id", None)
    if snapshot_customer is not None and snapshot_customer != customer_id:
        raise InvalidEvent(
            f"data.customerId: {snapshot_customer!r} does not match customerid {customer_id!r}"
        )
    return Event(
        id=event_id,
        source=source,
        type=event_type,
        subject=subject,
        time=time,
        customer_id=customer_id,
        sequence=sequence,
        data=data,
        topic_kind=spec.topic_kind,
        traceparent=_traceparent(body.get("traceparent")),
    )


def _traceparent(value: Any) -> str | None:
    context = parse_traceparent(value)
    return context.traceparent if context is not None else None
