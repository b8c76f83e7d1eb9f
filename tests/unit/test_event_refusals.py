"""Refusals name the offending field, with the reasons dead-letter readers already know.

``data/event_refusals.json`` holds one case per damage done to each field of each contract
example (deleted, set to null, to another JSON kind, to an empty string) and the reason
the field-by-field decoder gave for it before the payloads were declared once (commit
792f79b; ``null`` where that decoder accepted the record). Where the reason was changed on
purpose, ``was`` keeps the old one. Random damage, the simulator's stream and the edges
msgspec and ``json`` read differently are checked here as well.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from projections.event_fields import MAX_IDENTIFIER_LENGTH
from projections.event_schema import (
    FulfillmentProgressed,
    InvoiceIssued,
    OrderSnapshot,
    ShipmentPlanned,
)
from projections.events import Event, InvalidEvent, decode_event
from simulator.faults import FaultRates
from simulator.world import generate
from tests.contract import EXAMPLES

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "event_refusals.json").read_text()
)
BODIES = {p.name: json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))}
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FAULTS = FaultRates(duplicate=0.05, stale_snapshot=0.2, disorder=0.1, broken=0.05)


def outcome(value: bytes) -> Event | str:
    try:
        return decode_event(value)
    except InvalidEvent as exc:
        return f"refused: {exc.reason}"


def damaged(case: dict[str, Any]) -> bytes:
    body = copy.deepcopy(BODIES[case["example"]])
    *parents, last = case["path"]
    target = body
    for step in parents:
        target = target[step]
    match case["change"]:
        case "delete":
            del target[last]
        case "null":
            target[last] = None
        case "empty":
            target[last] = ""
        case "wrong":
            target[last] = other_kind(target[last])
    return json.dumps(body).encode()


def other_kind(value: Any) -> Any:
    """A JSON value of another kind than ``value`` (what a wrong type looks like)."""
    if isinstance(value, bool):
        return "true"
    if isinstance(value, int | float):
        return "7"
    if isinstance(value, str):
        return 7
    return [] if isinstance(value, dict) else {}


def test_the_cases_cover_every_example_and_both_outcomes() -> None:
    assert {c["example"] for c in CASES} == set(BODIES)
    assert sum(c["reason"] is None for c in CASES) > 40  # optional fields may go
    assert sum(c["reason"] is not None for c in CASES) > 500


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['example']}:{c['path']}:{c['change']}" for c in CASES]
)
def test_a_damaged_field_gets_the_recorded_reason(case: dict[str, Any]) -> None:
    result = outcome(damaged(case))
    if case["reason"] is None:
        assert isinstance(result, Event)
    else:
        assert result == f"refused: {case['reason']}"


def where(reason: str) -> str:
    """The field a reason names (``data.lines[1].quantity`` of ``data.lines[1].quantity: ...``)."""
    return reason.removeprefix("refused: ").split(":", 1)[0]


def named(path: tuple[Any, ...]) -> str:
    return "".join(
        f"[{s}]" if isinstance(s, int) else (f".{s}" if i else s) for i, s in enumerate(path)
    )


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and index path inside a JSON value (the value itself excluded)."""
    found: list[tuple[Any, ...]] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found.append((*prefix, key))
        found.extend(json_paths(item, (*prefix, key)))
    return found


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([1e400, 2.5, 3.0, 10**30, 10**400]),
    st.sampled_from(["", " ", "12.50", "9.0e2", "NaN", "2026-11-21T15:42:00", "2026-02-30", "us"]),
    st.sampled_from(["2026-11-21 15:42:00Z", "0001-01-01T00:00:00+01:00", "x" * 129, "text/xml"]),
    st.text(max_size=5),
)
#: Agreement rules name the field that disagrees, not the one that was changed.
AGREEMENT: tuple[str, ...] = ("subject", "customerid", "type", "data.customerId")
AGREEMENT += ("data.orderId", "data.shipmentId", "data.invoiceId", "data.source")


Damage = tuple[dict[str, Any], tuple[Any, ...]]


@st.composite
def random_damage(draw: st.DrawFn) -> Damage:
    """A contract example with one value, at the path returned with it, replaced by a random
    scalar or (inside an object) deleted."""
    body = copy.deepcopy(draw(st.sampled_from(list(BODIES.values()))))
    path = draw(st.sampled_from(json_paths(body)))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(SCALARS)
    return body, path


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damage=random_damage())
def test_random_damage_is_refused_naming_the_damaged_field(damage: Damage) -> None:
    body, path = damage
    result = outcome(json.dumps(body).encode())  # 1e400 becomes Infinity: not JSON
    if isinstance(result, str) and not result.startswith("refused: not JSON: "):
        field = where(result)
        assert (
            field.startswith(named(path))
            or named(path).startswith(field)
            or field.startswith(AGREEMENT)
            or "duplicate" in result
        ), (path, result)


def test_the_simulated_stream_decodes_except_the_broken_records() -> None:
    records = list(generate(7, days=10, orders_per_day=20, now=NOW, faults=FAULTS))
    assert any(r.broken for r in records) and len(records) > 1000
    for record in records:
        result = outcome(record.value)
        assert isinstance(result, str) == record.broken, (record.value[:200], result)


def test_decoded_values_have_exactly_the_plain_types() -> None:
    """The field markers (Timestamp, Amount, CalendarDate) never reach reducers or MongoDB."""
    invoice = decode_event((EXAMPLES / "invoice-issued.json").read_bytes())
    assert isinstance(invoice.data, InvoiceIssued)
    assert type(invoice.time) is datetime and invoice.time.tzinfo is UTC
    assert type(invoice.data.issued_at) is datetime and type(invoice.data.total) is Decimal
    assert type(invoice.data.lines[0].amount) is Decimal and type(invoice.data.due_date) is str
    order = decode_event((EXAMPLES / "order-created.json").read_bytes())
    assert isinstance(order.data, OrderSnapshot) and type(order.data.requested_delivery_date) is str


def test_a_duplicated_key_counts_once_the_last_time() -> None:
    text = (EXAMPLES / "shipment-milestone.json").read_text()
    twice = text.replace('"sequence":3', '"sequence":3,"sequence":0', 1).encode()
    assert outcome(twice) == "refused: sequence: must be at least 1, got 0"
    once_more = text.replace('"sequence":3', '"sequence":3,"sequence":4', 1).encode()
    assert decode_event(once_more).sequence == 4


@pytest.mark.parametrize(
    ("replace", "by", "reason"),
    [
        # Before year 1 once converted to UTC: refused, no longer an OverflowError.
        (
            '"occurredAt":"2026',
            '"occurredAt":"0001-01-01T00:00:00+01:00","x":"',
            "data.occurredAt: outside",
        ),
        ('"lat":33.75', '"lat":' + "9" * 400, "data.location.lat: expected a finite number"),
        ('"Atlanta"', '"\\ud800"', "not JSON"),
        ('"sequence":3', '"sequence":3,"sequence":true', "sequence: expected integer, got boolean"),
        # What the store cannot hold is a dead letter, not a batch whose every write fails.
        ('"sequence":3', '"sequence":9223372036854775808', "sequence: must be at most 92233"),
        # Integers too long for Python's ``int()`` (4,300 digits) are located and quoted cut
        # short like any other value: the reason was ``not JSON: Exceeds the limit ...``.
        ('"sequence":3', '"sequence":' + "9" * 5000, "sequence: must be at most 92233"),
        ('"sequence":3', '"sequence":-' + "9" * 5000, "sequence: must be at least 1, got -99"),
        ('"lat":33.75', '"lat":' + "9" * 5000, "data.location.lat: expected a finite number"),
        ('"sequence":3', '"x":' + "9" * 5000 + ',"sequence":"3"', "sequence: expected integer"),
    ],
)
def test_edges_where_json_and_msgspec_differ(replace: str, by: str, reason: str) -> None:
    text = (EXAMPLES / "shipment-milestone.json").read_text()
    assert replace in text
    result = outcome(text.replace(replace, by, 1).encode())
    assert isinstance(result, str) and result.startswith(f"refused: {reason}"), result


def test_an_amount_longer_than_a_decimal128_is_refused_and_one_as_long_accepted() -> None:
    body = copy.deepcopy(BODIES["invoice-issued.json"])
    body["data"]["tax"] = "-" + "1" * 32 + ".25"
    decoded = decode_event(json.dumps(body).encode()).data
    assert isinstance(decoded, InvoiceIssued) and decoded.tax == Decimal(body["data"]["tax"])
    body["data"]["tax"] = "1" * 33 + ".25"
    result = outcome(json.dumps(body).encode())
    assert isinstance(result, str) and result.startswith("refused: data.tax: more than 34 digits")


@pytest.mark.parametrize("amount", ["\u0661\u0662.\u0665\u0660", "\uff11\uff12.\uff15\uff10"])
def test_an_amount_in_digits_other_than_ascii_is_refused(amount: str) -> None:
    """Arabic-Indic or full-width digits are no decimal string of the contract: ``Decimal``
    read them as 12.50, and the amount was stored as a text the producer never sent."""
    body = copy.deepcopy(BODIES["invoice-issued.json"])
    body["data"]["tax"] = amount
    result = outcome(json.dumps(body).encode())
    assert result == f'refused: data.tax: expected a decimal string like "12.50", got {amount!r}'


def test_duplicate_keys_name_the_repeated_item() -> None:
    body = copy.deepcopy(BODIES["fulfillment-progressed.json"])
    assert isinstance(decode_event(json.dumps(body).encode()).data, FulfillmentProgressed)
    body["data"]["handlingUnits"].append(dict(body["data"]["handlingUnits"][0]))
    last = len(body["data"]["handlingUnits"]) - 1
    result = outcome(json.dumps(body).encode())
    assert isinstance(result, str)
    assert result.startswith(f"refused: data.handlingUnits[{last}].sscc: duplicate")


def comparable(value: Any) -> Any:
    """A JSON value as the decoder may legitimately re-spell it: timestamps as UTC instants,
    a number as its decimal value whatever its Python type (JSON has one kind: ``0`` may
    arrive as ``0.0``), absent as null, containers item by item. Nothing else: a string
    stays a string, a number a number and a boolean a boolean (``"5"``, ``5`` and ``True``
    all differ), so a decoder that turned one into another would not pass for one that
    kept it."""
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [comparable(item) for item in value]
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except (ValueError, OverflowError):  # not a timestamp, or no UTC instant for it
            return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("number", Decimal(str(value)))  # 1e30 arrives for 10**30
    return (type(value).__name__, value)


#: Digits with an optional sign and point (an amount, an SSCC): never read as a timestamp
#: (``datetime.fromisoformat`` takes ``"20261121"`` for a day).
_DECIMAL_TEXT: Final = re.compile(r"-?\d+(?:\.\d+)?")


def test_comparable_tells_a_numeric_string_from_a_number() -> None:
    assert comparable("5") != comparable(5) == comparable(5.0)
    assert comparable(1) != comparable(True) and comparable("1") != comparable(True)
    assert comparable("12.50") != comparable("12.5")
    assert comparable("2026-11-21T15:02:11+01:00") == comparable("2026-11-21T14:02:11Z")


def declared(sent: dict[str, Any], decoded: dict[str, Any]) -> dict[str, Any]:
    """``sent`` with only the keys the decoder's struct names, at every level."""
    out: dict[str, Any] = {}
    for key, value in sent.items():
        if key not in decoded:
            continue
        kept = decoded[key]
        if isinstance(value, dict) and isinstance(kept, dict):
            value = declared(value, kept)
        elif isinstance(value, list) and isinstance(kept, list | tuple) and len(value) == len(kept):
            value = [
                declared(v, k) if isinstance(v, dict) and isinstance(k, dict) else v
                for v, k in zip(value, kept, strict=True)
            ]
        out[key] = value
    return out


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damage=random_damage())
def test_randomly_damaged_records_that_are_accepted_carry_the_values_sent(damage: Damage) -> None:
    """An accepted record is never silently altered: every payload value the contract names
    arrives as it was sent (re-spelt only as a decimal or a UTC instant), and a field the
    damage deleted arrives absent, not defaulted to something the producer never said."""
    body, path = damage
    result = outcome(json.dumps(body).encode())
    event("accepted" if isinstance(result, Event) else "refused")
    if isinstance(result, Event):
        decoded = msgspec.to_builtins(result.data)
        assert comparable(decoded) == comparable(declared(body["data"], decoded)), path
        assert result.customer_id == body["customerid"] and result.subject == body["subject"]
        assert result.sequence == body["sequence"] and result.id == body["id"]
        assert comparable(result.time.isoformat()) == comparable(body["time"])


#: The contract's ids and keys (besides every ``...Id``): what names something, never free text.
ID_KEYS: Final = frozenset(
    {"id", "source", "subject", "customerid", "sscc", "sku", "scac", "trackingNumber"}
    | {"customerReference", "invoiceNumber", "statusCode", "reasonCode"}
)


def _names_an_id(path: tuple[Any, ...]) -> bool:
    if isinstance(path[-1], int):
        return str(path[-2]).endswith("Ids")
    return bool(path[-1].endswith("Id") or path[-1] in ID_KEYS)


ID_PATHS: Final = [
    (name, path) for name, body in BODIES.items() for path in json_paths(body) if _names_an_id(path)
]


def with_value(name: str, path: tuple[Any, ...], value: Any) -> bytes:
    body = copy.deepcopy(BODIES[name])
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("name", "path"), ID_PATHS, ids=[f"{name}:{named(path)}" for name, path in ID_PATHS]
)
def test_a_nul_in_any_id_or_key_is_refused_naming_it(name: str, path: tuple[Any, ...]) -> None:
    """Ids become BSON field names, which cannot hold NUL: a record with one must be a dead
    letter, not a batch that fails on every restart."""
    result = outcome(with_value(name, path, "SO-1\x00x"))
    reason = "expected an identifier (no control characters), got 'SO-1\\x00x'"
    assert result == f"refused: {named(path)}: {reason}"


@pytest.mark.parametrize(
    ("name", "path"), ID_PATHS, ids=[f"{name}:{named(path)}" for name, path in ID_PATHS]
)
def test_an_overlong_id_or_key_is_refused_naming_it(name: str, path: tuple[Any, ...]) -> None:
    """Ids are stored as ``_id`` (entities, sources, search documents), which DocumentDB
    keeps in a btree of rows of at most 2,704 bytes: a longer one is refused on every retry
    of its write, so the record must be a dead letter instead, its value quoted cut short."""
    limit = 128 if path == ("id",) else MAX_IDENTIFIER_LENGTH  # the contract's own event id cap
    result = outcome(with_value(name, path, "K" * 2_999 + "!"))
    assert result == (
        f"refused: {named(path)}: longer than {limit} characters, got "
        f"{'K' * 100!r}...{'K' * 99 + '!'!r} (3,000 characters)"
    )


def test_an_id_of_the_longest_length_in_four_byte_characters_is_accepted() -> None:
    """The cap counts characters, so an id at it takes 1 KiB of UTF-8 at most: far below the
    store's 2,704-byte key rows, with its collection's prefix (``shipments/<id>``)."""
    longest = "\U0001f4e6" * MAX_IDENTIFIER_LENGTH
    accepted = outcome(with_value("shipment-planned.json", ("data", "trackingNumber"), longest))
    assert isinstance(accepted, Event) and isinstance(accepted.data, ShipmentPlanned)
    assert accepted.data.tracking_number == longest and len(longest.encode()) == 1024
    refused = outcome(
        with_value("shipment-planned.json", ("data", "trackingNumber"), longest + "x")
    )
    assert isinstance(refused, str) and "longer than 256 characters" in refused


def test_the_ids_refusing_control_characters_include_those_stored_as_keys() -> None:
    refused = {named(path) for _, path in ID_PATHS}
    assert {"subject", "data.shipmentId", "data.handlingUnits[0].sscc", "source"} <= refused
    assert {"data.orderIds[0]", "data.lines[0].orderId", "data.customerId"} <= refused


@pytest.mark.parametrize("code", [*range(0x20), 0x7F], ids=lambda c: f"U+{c:04X}")
def test_every_c0_control_and_del_in_an_id_is_refused(code: int) -> None:
    result = outcome(with_value("shipment-planned.json", ("data", "trackingNumber"), f"1Z{code:c}"))
    assert isinstance(result, str)
    assert result.startswith("refused: data.trackingNumber: expected an identifier")


def test_ids_beyond_ascii_and_line_breaks_in_free_text_are_accepted() -> None:
    accepted = outcome(with_value("order-created.json", ("data", "customerReference"), "PO-Ä½ 7"))
    assert isinstance(accepted, Event) and isinstance(accepted.data, OrderSnapshot)
    assert accepted.data.customer_reference == "PO-Ä½ 7"
    address = copy.deepcopy(BODIES["order-created.json"]["data"]["shipTo"]["address"])
    address["line1"] = "Dock 4\n\tGate B"
    free_text = outcome(with_value("order-created.json", ("data", "shipTo", "address"), address))
    assert isinstance(free_text, Event) and isinstance(free_text.data, OrderSnapshot)
    assert free_text.data.ship_to.address.line1 == "Dock 4\n\tGate B"


#: A record msgspec cannot read although it is JSON text: a string that is not UTF-8 (in the
#: envelope, in ``data``) and arrays nested deeper than msgspec recurses (in a field nobody
#: reads). Each raised something other than msgspec's errors, which failed the batch. A
#: reason's ``{at}`` is where the first byte above 0x7F is in the whole record.
UNREADABLE: Final = [
    (b'"ACME"', b'"AC\xe9ME"', "not UTF-8: invalid continuation byte at byte {at}"),
    (b'"Atlanta"', b'"Atl\xffanta"', "not UTF-8: invalid start byte at byte {at}"),
    (b'"sequence":3', b'"sequence":3,"x":' + b"[" * 5000 + b"]" * 5000, "nested too deeply: "),
    (b'"city"', b'"x":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b',"city"', "nested too deeply: "),
]


@pytest.mark.parametrize(
    ("replace", "by", "reason"), UNREADABLE, ids=["utf8-envelope", "utf8-data", "deep", "deep-data"]
)
def test_a_record_msgspec_cannot_read_is_refused_saying_why(
    replace: bytes, by: bytes, reason: str
) -> None:
    value = (EXAMPLES / "shipment-milestone.json").read_bytes()
    assert replace in value
    damaged = value.replace(replace, by, 1)
    at = next((i for i, byte in enumerate(damaged) if byte > 0x7F), None)
    result = outcome(damaged)
    assert isinstance(result, str), result
    assert result.startswith(f"refused: {reason.format(at=at)}"), result
