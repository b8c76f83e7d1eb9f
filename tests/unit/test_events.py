"""The decoder: every contract example decodes; every broken record is refused with a reason."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import pytest

from projections.event_schema import (
    FulfillmentProgressed,
    InvoiceIssued,
    OrderSnapshot,
    ShipmentMilestone,
    SourceStatusChanged,
)
from projections.events import EVENT_TYPES, InvalidEvent, decode_event
from tests.contract import CONTRACT, EXAMPLES, example
from tests.unit import strategies as s


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))


def test_the_contract_examples_are_all_there() -> None:
    assert len(EXAMPLE_FILES) == 7


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_every_contract_example_decodes(name: str) -> None:
    raw = example(name)
    event = decode_event((EXAMPLES / name).read_bytes())
    assert event.id == raw["id"]
    assert event.type == raw["type"]
    assert event.entity_id == raw["subject"]
    assert event.sequence == raw["sequence"]
    assert event.time.tzinfo is UTC


def test_an_order_example_decodes_into_typed_fields() -> None:
    event = decode_event((EXAMPLES / "order-created.json").read_bytes())
    assert isinstance(event.data, OrderSnapshot)
    assert (event.topic_kind, event.entity_kind, event.is_snapshot) == ("orders", "orders", True)
    assert event.customer_id == "ACME"
    assert event.data.ship_from.warehouse_id == "DC-ATL"
    assert [line.quantity for line in event.data.lines] == [40, 5]
    # 08:15:02+01:00 is 07:15:02 UTC.
    assert event.time == datetime(2026, 11, 20, 7, 15, 2, tzinfo=UTC)


def test_fulfillment_changes_the_order_document() -> None:
    event = decode_event((EXAMPLES / "fulfillment-progressed.json").read_bytes())
    assert isinstance(event.data, FulfillmentProgressed)
    assert (event.topic_kind, event.entity_kind, event.is_snapshot) == (
        "fulfillment",
        "orders",
        False,
    )
    assert event.data.handling_units is not None
    assert event.data.handling_units[0].weight_kg == 212.5


def test_invoice_amounts_are_decimals_not_floats() -> None:
    event = decode_event((EXAMPLES / "invoice-issued.json").read_bytes())
    assert isinstance(event.data, InvoiceIssued)
    assert event.data.total == Decimal("909.89")
    assert [line.amount for line in event.data.lines] == [Decimal("812.40"), Decimal("97.49")]


def test_a_source_status_event_is_about_the_named_source() -> None:
    event = decode_event((EXAMPLES / "source-status-changed.json").read_bytes())
    assert isinstance(event.data, SourceStatusChanged)
    assert (event.entity_kind, event.entity_id) == ("sources", "erp/s4-prod")


def test_times_are_utc_and_truncated_to_milliseconds() -> None:
    body = example("shipment-milestone.json")
    body["data"]["occurredAt"] = "2026-11-21T15:42:00.123987-05:00"
    event = decode_event(encode(body))
    assert isinstance(event.data, ShipmentMilestone)
    assert event.data.occurred_at == datetime(2026, 11, 21, 20, 42, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sent", "utc"),
    [
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        ("2016-12-31T18:59:60.5-05:00", datetime(2016, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ],
)
def test_a_leap_second_is_the_last_millisecond_of_its_minute(sent: str, utc: datetime) -> None:
    """RFC 3339 allows second 60 (a leap second): such an event is valid, not a dead letter,
    and its milestone sorts before one of the next minute."""
    body = example("shipment-milestone.json")
    body["data"]["occurredAt"] = sent
    event = decode_event(encode(body))
    assert isinstance(event.data, ShipmentMilestone) and event.data.occurred_at == utc
    body["data"]["occurredAt"] = sent.replace(":60", ":61")
    with pytest.raises(InvalidEvent, match=r"data\.occurredAt: second must be in 0\.\.59"):
        decode_event(encode(body))


@pytest.mark.parametrize(
    ("sent", "utc"),
    [
        ("2026-11-21t15:42:00z", datetime(2026, 11, 21, 15, 42, tzinfo=UTC)),
        ("2026-11-21T15:42:00.123456789012Z", datetime(2026, 11, 21, 15, 42, 0, 123000, UTC)),
        ("2026-11-21T15:42:00-00:00", datetime(2026, 11, 21, 15, 42, tzinfo=UTC)),
        ("2026-11-21T15:42:00+23:59", datetime(2026, 11, 20, 15, 43, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999000, UTC)),
    ],
)
def test_times_at_the_edges_of_rfc_3339_are_read(sent: str, utc: datetime) -> None:
    """Lowercase ``t``/``z`` (RFC 3339 allows them), any number of fraction digits, the
    offsets up to a minute short of a day, and the first and last millisecond BSON dates and
    ``datetime`` share: all valid events (applied against FerretDB 2 alike, session 20)."""
    body = dict(example("order-created.json"), time=sent)
    assert decode_event(encode(body)).time == utc


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ("2026-11-21T15:42:00", "expected an RFC 3339 timestamp with offset"),
        ("2026-11-21T15:42:00+24:00", "offset must be a timedelta strictly between"),
        ("2026-11-21T24:00:00Z", "hour must be in 0..23"),
        ("9999-12-31T23:59:59-00:01", "outside the years 1 to 9999 in UTC"),
    ],
)
def test_times_beyond_the_edges_are_refused_saying_why(sent: str, reason: str) -> None:
    body = dict(example("order-created.json"), time=sent)
    with pytest.raises(InvalidEvent, match=f"^time: {re.escape(reason)}"):
        decode_event(encode(body))


def test_optional_fields_may_be_absent_or_null() -> None:
    body = example("shipment-milestone.json")
    del body["data"]["location"]
    body["data"]["estimatedDeliveryAt"] = None
    event = decode_event(encode(body))
    assert isinstance(event.data, ShipmentMilestone)
    assert event.data.location is None and event.data.estimated_delivery_at is None


def test_unknown_extra_fields_are_ignored() -> None:
    body = example("order-created.json")
    body["traceparent"] = "00-abc"
    body["data"]["newField"] = {"anything": 1}
    assert decode_event(encode(body)).id == body["id"]


@pytest.mark.parametrize(
    "content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", " application/json "]
)
def test_the_data_content_type_is_read_whatever_its_case(content_type: str) -> None:
    """Media types are case-insensitive (RFC 2045, which CloudEvents' ``datacontenttype``
    follows): ``Application/JSON`` made a valid event a dead letter."""
    body = dict(example("order-created.json"), datacontenttype=content_type)
    assert decode_event(encode(body)).id == body["id"]


@pytest.mark.parametrize(
    "traceparent",
    [b"1e999", b"9" * 5000, b"-1e400", b'["00"]', b'{"v": 1e999}', b"true", b'"00-abc"'],
    ids=["overflowing", "huge-integer", "negative-overflow", "array", "object", "boolean", "bad"],
)
def test_a_malformed_traceparent_is_ignored_never_a_dead_letter(traceparent: bytes) -> None:
    """The tracing extension is optional to its readers: an invalid ``traceparent`` is as if
    absent. A number beyond a float's range or an integer too long for Python to read was
    a dead letter (``traceparent: Number out of range``): a valid event lost to tracing."""
    body = encode(example("shipment-milestone.json"))
    value = body[:-1] + b', "traceparent": ' + traceparent + b"}"
    event = decode_event(value)
    assert (event.id, event.traceparent) == (example("shipment-milestone.json")["id"], None)


def test_a_valid_traceparent_is_kept() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    body = dict(example("shipment-milestone.json"), traceparent=traceparent)
    assert decode_event(encode(body)).traceparent == traceparent


def _set(path: str, value: Any) -> Any:
    """A mutation of a JSON body: set ``path`` (dots, [n] indexes) to ``value``."""

    def mutate(body: Any) -> Any:
        target = body
        parts = path.replace("[", ".").replace("]", "").split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        target[int(last) if last.isdigit() else last] = value
        return body

    return mutate


def _delete(path: str) -> Any:
    def mutate(body: Any) -> Any:
        target = body
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[part]
        del target[parts[-1]]
        return body

    return mutate


# The example files the broken events start from.
ORDER: Final = "order-created.json"
INVOICE: Final = "invoice-issued.json"
MILESTONE: Final = "shipment-milestone.json"
PLANNED: Final = "shipment-planned.json"
FULFILMENT: Final = "fulfillment-progressed.json"
SOURCE_STATUS: Final = "source-status-changed.json"

# (example file, mutation, fragment the reason must contain)
BROKEN: list[tuple[str, Any, str]] = [
    (ORDER, _delete("id"), "id: missing"),
    (ORDER, _set("id", 7), "id: expected string"),
    (ORDER, _set("id", "x" * 129), "id: longer than 128"),
    (ORDER, _set("id", ""), "id: must not be empty"),
    (ORDER, _delete("source"), "source: missing"),
    (ORDER, _set("subject", None), "subject: must not be null"),
    (ORDER, _delete("customerid"), "customerid: missing"),
    (ORDER, _set("specversion", "0.3"), "specversion"),
    (ORDER, _set("specversion", 1.0), "specversion: expected string"),
    (ORDER, _set("type", "logistics.order.exploded.v1"), "unknown event type"),
    (ORDER, _delete("type"), "type: missing"),
    (ORDER, _set("datacontenttype", "text/xml"), "datacontenttype"),
    (ORDER, _set("sequence", 0), "sequence: must be at least 1"),
    (ORDER, _set("sequence", "3"), "sequence: expected integer"),
    (ORDER, _set("sequence", 3.0), "sequence: expected integer"),
    (ORDER, _set("sequence", True), "sequence: expected integer, got boolean"),
    (ORDER, _set("time", "2026-11-20T08:15:02"), "time: expected an RFC 3339"),
    (ORDER, _set("time", "2026-11-20 08:15:02Z"), "time: expected an RFC 3339"),
    (ORDER, _set("time", "2026-13-20T08:15:02Z"), "time:"),
    (ORDER, _set("time", 1700000000), "time: expected string"),
    (ORDER, _delete("data"), "data: missing"),
    (ORDER, _set("data", []), "data: expected object, got array"),
    (ORDER, _set("subject", "SO-999"), "does not match subject"),
    (ORDER, _set("data.customerId", "GLOBEX"), "data.customerId"),
    (ORDER, _set("data.lines[1].quantity", "5"), "data.lines[1].quantity: expected integer"),
    (ORDER, _set("data.lines[0].quantity", 4.5), "data.lines[0].quantity: expected integer"),
    (ORDER, _set("data.lines", []), "data.lines: expected at least 1"),
    (ORDER, _set("data.lines[1].lineNumber", 1), "data.lines[1].lineNumber: duplicate"),
    (ORDER, _set("data.orderType", "SIDEWAYS"), "data.orderType: expected one of"),
    (ORDER, _set("data.requestedDeliveryDate", "24/11/2026"), "requestedDeliveryDate"),
    (ORDER, _set("data.shipFrom.address.countryCode", "USA"), "countryCode"),
    (ORDER, _delete("data.shipTo"), "data.shipTo: missing"),
    (INVOICE, _set("data.total", 909.89), "data.total: expected a decimal string"),
    (INVOICE, _set("data.total", "9.0e2"), "data.total: expected a decimal string"),
    (INVOICE, _set("data.total", "NaN"), "data.total"),
    (INVOICE, _set("data.lines[1].amount", " 97.49"), "data.lines[1].amount"),
    (INVOICE, _set("data.lines[0].chargeType", "TIP"), "chargeType"),
    (INVOICE, _set("data.currency", "usd"), "data.currency"),
    (INVOICE, _set("data.dueDate", "2026-02-30"), "data.dueDate"),
    (MILESTONE, _set("data.occurredAt", "2026-11-21T15:42:00"), "data.occurredAt"),
    (MILESTONE, _set("data.location.lat", "33.7"), "data.location.lat: expected number"),
    (MILESTONE, _set("data.location", "Atlanta"), "data.location: expected object"),
    (MILESTONE, _delete("data.statusCode"), "data.statusCode: missing"),
    (PLANNED, _set("data.orderIds", "SO-100234"), "data.orderIds: expected array"),
    (PLANNED, _set("data.orderIds", [1]), "data.orderIds[0]"),
    (PLANNED, _set("data.mode", "ROCKET"), "data.mode"),
    (FULFILMENT, _set("data.stage", "TELEPORTED"), "data.stage"),
    (FULFILMENT, _set("data.handlingUnits[0].weightKg", "212.5"), "weightKg"),
    (FULFILMENT, _set("data.lines[0]", 40), "data.lines[0]: expected object"),
    (SOURCE_STATUS, _set("data.status", "ON_FIRE"), "data.status"),
    (SOURCE_STATUS, _set("subject", "tms/us-road"), "does not match subject"),
]


@pytest.mark.parametrize(
    ("name", "mutate", "reason"), BROKEN, ids=[f"{n}:{r}" for n, _, r in BROKEN]
)
def test_a_broken_record_is_refused_with_a_useful_reason(
    name: str, mutate: Any, reason: str
) -> None:
    body = mutate(copy.deepcopy(example(name)))
    with pytest.raises(InvalidEvent) as refused:
        decode_event(encode(body))
    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b'{"a": NaN}', "not JSON"),
        (b"[1, 2]", "not a JSON object: got array"),
        (b'"text"', "not a JSON object"),
        (b"null", "not a JSON object: got null"),
    ],
)
def test_a_record_that_is_not_a_json_object_is_refused(value: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        decode_event(value)
    assert reason in refused.value.reason


def test_every_contract_type_is_decodable() -> None:
    """The decoder knows exactly the twelve types of the contract."""
    contract = CONTRACT.read_text()
    named = set(re.findall(r"`(logistics\.[a-z.-]+\.v1)`", contract))
    assert named == set(EVENT_TYPES)


def test_builders_used_by_the_property_tests_produce_valid_events() -> None:
    built = s.event("order.created", s.order_snapshot(lines=3), source=s.ERP, sequence=2)
    assert isinstance(built.data, OrderSnapshot) and len(built.data.lines) == 3


def test_a_number_too_large_to_be_finite_is_refused() -> None:
    raw = (EXAMPLES / "fulfillment-progressed.json").read_text().replace("212.5", "1e400")
    with pytest.raises(InvalidEvent) as refused:
        decode_event(raw.encode())
    assert "data.handlingUnits[0].weightKg: expected a finite number" in refused.value.reason
