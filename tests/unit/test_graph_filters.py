"""Client filters, search text and freshness: the pure rules behind the list fields."""

from __future__ import annotations

import json
import operator
import re
import subprocess
import sys
import unicodedata
from datetime import UTC, date, datetime, timedelta
from functools import cache

import bson
import pytest
from bson.codec_options import CodecOptions
from hypothesis import example, given
from hypothesis import strategies as st

from graph.enums import FulfillmentStage, InvoiceStatus, OrderStatus, OrderType
from graph.inputs import (
    InvoiceFilterInput,
    OrderFilterInput,
    ShipmentFilterInput,
    TimeRangeInput,
    to_filter,
)
from readmodel.search_keys import PATTERN_BETWEEN, search_form, search_pattern, without_separators
from resolvers.errors import BadUserInput
from resolvers.filters import (
    LAST_MILLISECOND,
    SEARCH_PATTERN_MAX,
    SEARCH_TEXT_MAX,
    InvoiceFilter,
    OrderFilter,
    ShipmentFilter,
    ShipmentSearch,
    TimeRange,
    combine,
    invoice_view_status,
    millisecond_ceiling,
)
from resolvers.freshness import source_freshness


def test_combine_keeps_plain_equality_and_never_lets_a_filter_replace_the_scope() -> None:
    scope = {"known": True, "customerId": "ACME"}
    assert combine({"status": "OPEN"}, scope) == {
        "status": "OPEN",
        "known": True,
        "customerId": "ACME",
    }
    clash = combine({"customerId": "BETA"}, scope)
    assert clash == {"customerId": "BETA", "$and": [scope]}  # both must hold: matches nothing
    assert combine({"$or": [{"a": 1}]}, {"$or": [{"b": 2}]}) == {
        "$or": [{"a": 1}],
        "$and": [{"$or": [{"b": 2}]}],
    }
    assert combine({}, scope) == scope


def test_every_condition_a_client_sends_reaches_the_readers_filter() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    window = TimeRangeInput(start=since, end=None)
    orders = OrderFilterInput(
        statuses=[OrderStatus.SHIPPED, OrderStatus.OPEN],
        fulfillment_stages=[FulfillmentStage.LOADED],
        ordered_at=window,
        warehouse_id="DC-ATL",
        customer_id="ACME",
        order_type=OrderType.RETURN,
    )
    assert to_filter(orders, OrderFilter) == OrderFilter(
        statuses=frozenset({"SHIPPED", "OPEN"}),
        fulfillment_stages=frozenset({"LOADED"}),
        ordered=TimeRange(start=since),
        warehouse_id="DC-ATL",
        customer_id="ACME",
        order_type="RETURN",
    )
    shipments = ShipmentFilterInput(
        statuses=[],
        planned_pickup_at=window,
        carrier_scac="odfl",
        destination_city="Atlanta",
        destination_country_code="us",
        customer_id="ACME",
    )
    assert to_filter(shipments, ShipmentFilter) == ShipmentFilter(
        statuses=frozenset(),  # an empty list matches nothing, unlike an omitted one
        planned_pickup=TimeRange(start=since),
        carrier_scac="odfl",
        destination_city="Atlanta",
        destination_country="us",
        customer_id="ACME",
    )
    invoices = InvoiceFilterInput(statuses=[InvoiceStatus.OVERDUE], issued_at=window)
    assert to_filter(invoices, InvoiceFilter) == InvoiceFilter(
        statuses=frozenset({"OVERDUE"}), issued=TimeRange(start=since)
    )
    assert to_filter(InvoiceFilterInput(), InvoiceFilter) == InvoiceFilter()
    assert to_filter(None, ShipmentFilter) == ShipmentFilter()


def test_order_status_filter() -> None:
    assert OrderFilter(statuses=frozenset({"CANCELLED"})).mongo() == {"cancelled": True}
    assert OrderFilter(statuses=frozenset({"OPEN"})).mongo() == {
        "cancelled": {"$ne": True},
        "fulfillmentStage": None,
    }
    with pytest.raises(BadUserInput, match="status: unknown value"):
        OrderFilter(statuses=frozenset({"LOST"})).mongo()


def test_overdue_is_open_and_due_before_today() -> None:
    today = date(2026, 11, 15)
    overdue = InvoiceFilter(statuses=frozenset({"OVERDUE"})).mongo(today)
    assert overdue == {"status": "OPEN", "dueDate": {"$lt": "2026-11-15"}}
    assert invoice_view_status("OPEN", "2026-11-14", today) == "OVERDUE"
    assert invoice_view_status("OPEN", "2026-11-15", today) == "OPEN"
    assert invoice_view_status("PAID", "2020-01-01", today) == "PAID"


def test_time_ranges_need_offsets_and_order() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert TimeRange(start, start + timedelta(days=1)).mongo() == {
        "$gte": start,
        "$lt": start + timedelta(days=1),
    }
    with pytest.raises(BadUserInput, match="offset"):
        TimeRange(datetime(2026, 11, 1))
    with pytest.raises(BadUserInput, match="end before"):
        TimeRange(start, start - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("moment", "ceiling"),
    [
        ("2026-11-02T08:00:00.123000+00:00", "2026-11-02T08:00:00.123000+00:00"),
        ("2026-11-02T08:00:00.123001+00:00", "2026-11-02T08:00:00.124000+00:00"),
        ("2026-11-02T08:00:00.999500+00:00", "2026-11-02T08:00:01+00:00"),
        ("2026-11-02T09:00:00.000001+01:00", "2026-11-02T08:00:00.001000+00:00"),
        ("9999-12-31T23:59:59.999000+00:00", "9999-12-31T23:59:59.999000+00:00"),
        ("9999-12-31T23:59:59.999001+00:00", None),
    ],
)
def test_a_bound_is_rounded_up_to_the_stored_milliseconds(moment: str, ceiling: str | None) -> None:
    rounded = millisecond_ceiling(datetime.fromisoformat(moment))
    assert rounded == (datetime.fromisoformat(ceiling) if ceiling else None)
    assert rounded is None or rounded.tzinfo is UTC


_STORED = st.datetimes(timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
)


_OPERATORS = {"$gte": operator.ge, "$gt": operator.gt, "$lt": operator.lt, "$lte": operator.le}


def _matches(condition: dict[str, datetime], stored: datetime) -> bool:
    """What MongoDB's range operators answer for one stored time: each bound as BSON holds
    it (PyMongo drops what is finer than a millisecond)."""
    sent: dict[str, datetime] = bson.decode(bson.encode(condition), CodecOptions(tz_aware=True))
    return all(_OPERATORS[op](stored, bound) for op, bound in sent.items())


@given(stored=_STORED, bound=st.datetimes(timezones=st.just(UTC)))
@example(stored=LAST_MILLISECOND, bound=datetime.max.replace(tzinfo=UTC))
@example(stored=LAST_MILLISECOND, bound=LAST_MILLISECOND)
def test_a_time_range_selects_what_its_exact_bounds_would(
    stored: datetime, bound: datetime
) -> None:
    """``from`` (inclusive) and ``to`` (exclusive) finer than a millisecond select exactly
    the stored times (whole milliseconds) their exact values would, up to ``datetime.max``."""
    assert _matches(TimeRange(start=bound).mongo(), stored) == (stored >= bound)
    assert _matches(TimeRange(end=bound).mongo(), stored) == (stored < bound)


#: Between two characters, what ``search_keys.PATTERN_BETWEEN`` (PCRE's ``\\p{...}``
#: classes, less the characters of its ``(?!\\x{...})``) lets a value hold.
_BETWEEN_CLASS = r"[\s\p{Z}\p{Pd}\p{Mn}]"
_BETWEEN_CATEGORIES = ("Zs", "Zl", "Zp", "Pd", "Mn")
_BETWEEN_ESCAPES = "\t\n\x0b\x0c\r "
_BETWEEN_EXCLUDED = "".join(
    chr(int(code, 16)) for code in re.findall(r"\(\?!\\x\{([0-9a-fA-F]+)\}\)", PATTERN_BETWEEN)
)


def _between(char: str) -> bool:
    return (
        unicodedata.category(char) in _BETWEEN_CATEGORIES or char in _BETWEEN_ESCAPES
    ) and char not in _BETWEEN_EXCLUDED


def _bmp() -> str:
    return "".join(chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000)


@cache
def _python_between() -> str:
    """``PATTERN_BETWEEN`` as Python's ``re`` writes it, over the BMP."""
    assert _BETWEEN_CLASS in PATTERN_BETWEEN
    quantifier = "*+" if PATTERN_BETWEEN.endswith("*+") else "*"
    return "[" + "".join(re.escape(c) for c in _bmp() if _between(c)) + "]" + quantifier


def _python_pattern(text: str) -> re.Pattern[str]:
    pattern = ShipmentSearch(text=text).pattern()
    assert pattern["$options"] == "i"
    return re.compile(pattern["$regex"].replace(PATTERN_BETWEEN, _python_between()), re.IGNORECASE)


@given(
    st.text(st.characters(max_codepoint=0x1FFF), min_size=2, max_size=100).filter(
        # a character search_form drops that may not stand between two (a spacing accent)
        lambda t: (
            len(search_form(t.strip())) >= 2
            and len(search_pattern(t.strip()).encode()) <= SEARCH_PATTERN_MAX
            and all(search_form(c) or _between(c) for c in t.strip())
        )
    )
)
def test_search_text_is_matched_literally(text: str) -> None:
    """Whatever the client types, the pattern matches that text as a substring, and the
    text without its separators: a regex character is just a character. (Spacing accents,
    as ``¨``, and the controls ``\\x1c``-``\\x1f`` may not stand between two characters.)"""
    stripped = text.strip()
    assert _python_pattern(text).search(f"xx{stripped}yy")
    assert _python_pattern(text).search(f"xx{without_separators(stripped)}yy")


@pytest.mark.parametrize(
    ("text", "stored", "found"),
    [
        ("istanbul", "İstanbul", True),
        ("ZURICH", "Zürich", True),
        ("zurich", "Zu\u0308rich", True),  # stored decomposed
        ("Zürich", "ZURICH", True),
        ("PO10045", "PO-10045", True),  # stored with a dash, typed without
        ("1z999aa1", "1Z 999 AA1", True),
        ("PO-10045", "PO10045", True),
        ("PO.1", "PO-1", False),  # a regex character is just a character
        ("strasse", "Straße", False),  # a folding to two characters: not by the pattern
        ("ᾳ", "\u03b1\u0345", True),  # stored decomposed: U+0345 folds to iota
        ("\u03b1\u03b9", "\u03b1\u0345", True),
        ("ab", "a\u0345b", False),  # U+0345 is a letter, not what may stand between two
    ],
)
def test_search_ignores_case_accents_and_separators_on_both_sides(
    text: str, stored: str, found: bool
) -> None:
    assert bool(_python_pattern(text).search(stored)) == found


IOTA = "\u03b9"


def test_no_character_that_may_stand_between_two_typed_ones_can_be_one_of_them() -> None:
    """What ``PATTERN_BETWEEN`` takes between two typed characters is disjoint from what any
    typed character's class matches (case aside, as the ``i`` option compares), and it is
    possessive: a stored value is then read one way only, in linear time, whatever the
    text (a filler that could also be a letter made a run of iotas exponential on U+0345)."""
    assert PATTERN_BETWEEN.endswith("*+")
    between = re.compile(_python_between(), re.IGNORECASE)
    letters = "".join(c for c in _bmp() if search_form(c))  # every typed class is of these
    assert not any(search_form(c) for c in _bmp() if _between(c))
    assert [m.group() for m in between.finditer(letters) if m.group()] == []


def test_a_pathological_text_is_answered_at_once() -> None:
    """A run of U+0345 (it folds to iota, U+03B9) under 99 iotas and a ``z``: each was a letter or
    what stands between two, 2**n ways to fail (26 characters took 1.7 s, 100 would take
    ages). Run in a child process with a timeout nothing linear comes near."""
    search = _python_pattern(IOTA * 99 + "z").pattern
    child = "import json, re, sys; p, s = json.load(sys.stdin); print(bool(re.search(p, s, re.I)))"
    ran = subprocess.run(
        [sys.executable, "-c", child],
        input=json.dumps([search, "\u0345" * 100]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert ran.stdout.strip() == "False"
    assert _python_pattern(IOTA * 99).search("\u0345" * 100)  # ... and is found when it holds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least 2 characters that are not spaces, dashes or accents"),
        (" x ", "at least 2 characters that are not spaces, dashes or accents"),
        ("a-", "at least 2 characters that are not spaces, dashes or accents"),
        ("e\u0301", "at least 2 characters that are not spaces, dashes or accents"),
        ("- -", "at least 2 characters that are not spaces, dashes or accents"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_search_text_length_is_bounded(text: str, message: str) -> None:
    """The minimum counts what the search compares (``search_form``): ``a-`` or ``é``
    typed decomposed is a one-letter search, which matches nearly every value."""
    with pytest.raises(BadUserInput, match=f"^text: search for {message}$"):
        ShipmentSearch(text=text)


@pytest.mark.parametrize("text", ["!!", "ﬁ", " é-1 ", "x" * 100, "o" * 100, "PO 10045"])
def test_a_search_text_of_two_compared_characters_is_searched(text: str) -> None:
    assert ShipmentSearch(text=text).text == text.strip()


def _longest_under_cap(char: str) -> str:
    text = char
    while len(search_pattern(text + char).encode()) <= SEARCH_PATTERN_MAX:
        text += char
    return text


@pytest.mark.parametrize("char", ["㎯", "ᾀ"])
def test_a_text_whose_check_the_store_could_not_compile_is_refused(char: str) -> None:
    """Its pattern would be too large for the store's PCRE2 (a store error, not an answer):
    the client is told to search for fewer characters instead. 100 plain letters fit."""
    longest = _longest_under_cap(char)
    assert len(longest) < SEARCH_TEXT_MAX
    assert ShipmentSearch(text=longest).text == longest
    with pytest.raises(BadUserInput, match=r"^text: search for fewer characters"):
        ShipmentSearch(text=longest + char)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("9600 0005 19", [["960000", "000519"]]),  # looked up without its spaces
        ("1Z-999", [["1z9", "999"]]),
        ("SH-", None),  # "sh" has no search key: read by pattern
        ("PO1", [["po1"]]),
    ],
)
def test_a_search_text_is_looked_up_without_its_separators(
    text: str, keys: list[list[str]] | None
) -> None:
    assert ShipmentSearch(text=text).keys() == keys


def test_search_includes_shipments_of_matching_orders() -> None:
    query = ShipmentSearch(text="PO-1", statuses=frozenset({"DELIVERED"})).shipment_filter(
        ["SO-2", "SO-1"]
    )
    assert {"orderIds": {"$in": ["SO-1", "SO-2"]}} in query["$or"]
    assert query["status"] == "DELIVERED"


def test_freshness() -> None:
    now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    fresh = source_freshness(
        {"_id": "tms/us-road", "lastEventAt": now - timedelta(seconds=30), "lastAppliedAt": now},
        now=now,
        stale_after=timedelta(minutes=5),
    )
    assert (fresh.lag_seconds, fresh.stale, fresh.declared_status) == (30.0, False, "AVAILABLE")
    stale = source_freshness(
        {
            "_id": "erp/s4-prod",
            "lastAppliedAt": (now - timedelta(minutes=6)).replace(tzinfo=None),  # naive UTC
            "declared": {"status": "MAINTENANCE", "message": "Upgrade"},
        },
        now=now,
        stale_after=timedelta(minutes=5),
    )
    assert (stale.stale, stale.declared_status, stale.message) == (True, "MAINTENANCE", "Upgrade")
    assert stale.lag_seconds is None
    never = source_freshness({"_id": "wms/dc-atl"}, now=now)
    assert never.stale
