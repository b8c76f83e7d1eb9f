"""A refusal's reason quotes an offending value cut short, however long the value.

The reason travels as the dead letter's ``dlq.reason`` header: a reason quoting a 3 MiB id
whole made a dead letter the dead-letter topic refused, and its batch failed on every
restart. Each way a record can be refused while quoting a value is driven here with a
value of 3,000,000 characters, or, where only an accepted id can be quoted (ids longer than
``MAX_IDENTIFIER_LENGTH`` are refused for that first), with an id of that length.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from projections.document_size import Size, document_size, too_large
from projections.event_fields import MAX_IDENTIFIER_LENGTH
from projections.events import InvalidEvent, decode_event
from projections.reducers import ConflictingEvent, apply
from readmodel.quoting import QUOTED_CHARACTERS, quoted
from tests.contract import example
from tests.helpers import MAPPING

HUGE: Final = 3_000_000
#: A reason may quote two values (an id that disagrees with another), each cut to about
#: ``QUOTED_CHARACTERS``, besides the field's name and what it expected.
REASON_BOUND: Final = 4 * QUOTED_CHARACTERS


def test_a_short_value_is_quoted_whole_as_its_repr() -> None:
    assert quoted("SO-1\x00x") == "'SO-1\\x00x'"
    assert quoted("x" * QUOTED_CHARACTERS) == repr("x" * QUOTED_CHARACTERS)
    assert quoted(7) == "7"


def test_a_long_value_is_quoted_by_its_start_and_end_and_its_length() -> None:
    text = "S" * 150 + "M" * (HUGE - 200) + "E" * 49 + "\x01"
    shown = quoted(text)
    assert shown == f"{'S' * 100!r}...{'M' * 50 + 'E' * 49 + chr(1)!r} (3,000,000 characters)"
    digits = quoted(10**4000)
    assert digits == f"1{'0' * 99}...{'0' * 100} (4,001 characters)"


def _refused(value: bytes) -> str:
    with pytest.raises(InvalidEvent) as refusal:
        decode_event(value)
    return refusal.value.reason


def _with(name: str, path: str, value: Any) -> bytes:
    """Contract example ``name`` with ``value`` at ``path`` (``data.carrier.scac``)."""
    body = example(name)
    *parents, last = path.split(".")
    target = body
    for step in parents:
        target = target[step]
    target[last] = value
    return json.dumps(body).encode()


LONG: Final = "X" * HUGE
#: The longest id decoding accepts: longer than a reason quotes whole.
LONGEST_ID: Final = "X" * MAX_IDENTIFIER_LENGTH
#: An id of that length whose last character breaks the identifier rule.
CONTROLLED: Final = LONGEST_ID[1:]
SHIPMENT: Final = "shipment-planned.json"
ORDER: Final = "order-created.json"
INVOICE: Final = "invoice-issued.json"
FULFILLMENT: Final = "fulfillment-progressed.json"
UNIT: Final = {"sscc": LONGEST_ID, "weightKg": 1.0}
#: Each refusal that quotes a value: the example, where the value goes, the value, and how
#: the reason starts.
CASES: Final[list[tuple[str, str, Any, str]]] = [
    (SHIPMENT, "data.shipmentId", LONG, "data.shipmentId: longer than 256 characters, got 'X"),
    (SHIPMENT, "data.trackingNumber", LONG, "data.trackingNumber: longer than 256 characters"),
    (SHIPMENT, "data.shipmentId", CONTROLLED + "\x01", "data.shipmentId: expected an identifier"),
    (SHIPMENT, "customerid", CONTROLLED + "\x01", "customerid: expected an identifier (no"),
    (SHIPMENT, "data.carrier.scac", CONTROLLED + "\x7f", "data.carrier.scac: expected an id"),
    (SHIPMENT, "type", LONG, "type: unknown event type 'XXX"),
    (SHIPMENT, "datacontenttype", LONG, "datacontenttype: expected application/json, got 'X"),
    (ORDER, "data.shipTo.address.countryCode", LONG, "data.shipTo.address.countryCode: expected"),
    (ORDER, "data.orderType", LONG, "data.orderType: expected one of "),
    (ORDER, "specversion", LONG, 'specversion: expected "1.0", got \'XXX'),
    (ORDER, "sequence", LONG, "sequence: expected integer, got string 'XXX"),
    (ORDER, "sequence", 10**4000, "sequence: must be at most 9223372036854775807 (what the"),
    (ORDER, "time", LONG, "time: expected an RFC 3339 timestamp with offset"),
    (INVOICE, "data.tax", LONG, 'data.tax: expected a decimal string like "12.50", got \'X'),
    (INVOICE, "data.tax", "9" * HUGE, "data.tax: more than 34 digits, got '999"),
    (ORDER, "data.requestedDeliveryDate", LONG, "data.requestedDeliveryDate: expected a date"),
    (SHIPMENT, "subject", LONGEST_ID, "data.shipmentId: 'SH-55021' does not match subject 'XX"),
    (ORDER, "data.customerId", LONGEST_ID, "data.customerId: 'XXX"),
    (FULFILLMENT, "data.handlingUnits", [UNIT] * 2, "data.handlingUnits[1].sscc: duplicate"),
]


@pytest.mark.parametrize(
    ("name", "path", "value", "start"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)]
)
def test_a_refusal_quoting_a_huge_value_quotes_it_cut_short(
    name: str, path: str, value: Any, start: str
) -> None:
    reason = _refused(_with(name, path, value))
    assert reason.startswith(start), reason[:300]
    assert len(reason) <= REASON_BOUND, f"{len(reason):,} characters"
    assert " characters)" in reason


def test_a_customer_conflict_quotes_huge_ids_cut_short() -> None:
    snapshot = decode_event(json.dumps(example("order-created.json")).encode())
    doc = apply(None, snapshot, MAPPING)
    other = example("fulfillment-progressed.json")
    other["customerid"] = "G" * MAX_IDENTIFIER_LENGTH
    with pytest.raises(ConflictingEvent) as refusal:
        apply(doc, decode_event(json.dumps(other).encode()), MAPPING)
    reason = refusal.value.reason
    assert reason.startswith("customerid 'GGG") and "(256 characters)" in reason
    assert reason.endswith("does not match the customer 'ACME' of orders 'SO-100234'")
    assert len(reason) <= REASON_BOUND


def test_a_document_too_large_quotes_its_huge_id_cut_short() -> None:
    entity_id = "O" * HUGE
    grown = document_size("orders", entity_id, {"_id": entity_id}, 1024)
    reason = too_large(Size(0, grown.of), grown, 1024)
    assert reason is not None and reason.startswith("document-too-large: applying it would make")
    assert "(3,000,000 characters)" in reason and len(reason) <= REASON_BOUND
