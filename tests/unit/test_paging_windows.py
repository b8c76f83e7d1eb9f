"""Windowed page reads, checked against one plain sorted read without a database.

``_matches`` evaluates exactly the operators the windows and ``after_filter`` emit, with
MongoDB's semantics (a missing field equals null; a range operator never matches null; dates
and strings never compare with each other), and ``_sorted`` is MongoDB's order (null first,
ties by ``_id``). The property: for any data (ties, nulls, any spread of values), any position,
any learned width or stale hint, reading window after window gives exactly the first ``limit``
documents a single sorted query gives. tests/integration/test_paging_windows_store.py checks
the same on the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.filters import combine
from resolvers.paging import (
    INVOICE_SORTS,
    ORDER_SORTS,
    Position,
    SortSpec,
    after_filter,
    decode_cursor,
    encode_cursor,
)
from resolvers.paging_windows import (
    Window,
    WindowHint,
    WindowHints,
    axis_point,
    first_hint,
    first_page_windows,
    learned_width,
    windows_after,
)

Doc = dict[str, Any]
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SORTS = [*ORDER_SORTS.values(), *INVOICE_SORTS.values()]


def _compare(value: Any, op: str, bound: Any) -> bool:
    if value is None or type(value) is not type(bound):
        return False
    return bool(
        {
            "$lt": value < bound,
            "$lte": value <= bound,
            "$gt": value > bound,
            "$gte": value >= bound,
        }[op]
    )


def _matches(doc: Doc, query: Doc) -> bool:
    for key, condition in query.items():
        if key == "$and":
            if not all(_matches(doc, part) for part in condition):
                return False
        elif key == "$or":
            if not any(_matches(doc, part) for part in condition):
                return False
        elif key == "$nor":
            if any(_matches(doc, part) for part in condition):
                return False
        elif isinstance(condition, dict):
            if not all(_compare(doc.get(key), op, bound) for op, bound in condition.items()):
                return False
        elif doc.get(key) != condition:
            return False
    return True


def _sorted(docs: list[Doc], sort: SortSpec) -> list[Doc]:
    def key(doc: Doc) -> tuple[bool, Any, str]:
        value = doc.get(sort.field)
        return (value is not None, value if value is not None else "", doc["_id"])

    ordered = sorted(docs, key=key)
    return ordered if sort.direction == 1 else ordered[::-1]


def _find(docs: list[Doc], query: Doc, sort: SortSpec, limit: int) -> list[Doc]:
    return _sorted([d for d in docs if _matches(d, query)], sort)[:limit]


def _windowed(
    docs: list[Doc], query: Doc, sort: SortSpec, limit: int, windows: list[Window]
) -> list[Doc]:
    """What ``Readers._read_windows`` does, over a list instead of a collection."""
    read: list[Doc] = []
    for window in windows:
        read += _find(docs, combine(query, window.mongo(sort)), sort, limit - len(read))
        if len(read) >= limit:
            break
    return read


def _value(sort: SortSpec, minutes: int | None) -> Any:
    if minutes is None:
        return None
    at = T0 + timedelta(minutes=minutes)
    return at if sort.value_kind == "datetime" else at.date().isoformat()


@st.composite
def data(draw: st.DrawFn) -> tuple[SortSpec, list[Doc]]:
    sort = draw(st.sampled_from(SORTS))
    # Clustered values: many ties, gaps of every size, some nulls and missing fields.
    spread = draw(st.sampled_from([1, 60, 60 * 24 * 40, 60 * 24 * 365 * 30]))
    values = draw(
        st.lists(
            st.one_of(st.none(), st.integers(min_value=-spread, max_value=spread)),
            max_size=60,
        )
    )
    docs: list[Doc] = []
    for n, minutes in enumerate(values):
        doc: Doc = {"_id": f"D{n:03d}"}
        if minutes is not None or n % 2:
            doc[sort.field] = _value(sort, minutes)
        docs.append(doc)
    return sort, docs


widths = st.floats(min_value=0.0, max_value=1e12, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(data(), st.integers(min_value=1, max_value=25), widths, st.data())
def test_windows_after_a_position_read_what_one_sorted_query_reads(
    case: tuple[SortSpec, list[Doc]], limit: int, width: float, draw: st.DataObject
) -> None:
    sort, docs = case
    if not docs:
        return
    boundary = draw.draw(st.sampled_from(docs))
    position = Position(value=boundary.get(sort.field), id=boundary["_id"])
    after = after_filter(sort, position)
    expected = _find(docs, after, sort, limit)
    windows = windows_after(sort, position.value, width)
    if windows is None:
        assert position.value is None  # only the nulls have no value to start a range at
        return
    assert _windowed(docs, after, sort, limit, windows) == expected


@settings(max_examples=400, deadline=None)
@given(
    data(),
    st.integers(min_value=1, max_value=25),
    st.integers(min_value=-(10**12), max_value=10**12),
    widths,
)
def test_first_page_windows_read_what_one_sorted_query_reads_whatever_the_hint(
    case: tuple[SortSpec, list[Doc]], limit: int, extreme: int, width: float
) -> None:
    """A hint may be stale or plain wrong: it changes the windows, never the page."""
    sort, docs = case
    if sort.value_kind == "string":
        extreme = extreme // 86_400_000 + 739_000  # days around 2024
    windows = first_page_windows(sort, WindowHint(extreme=extreme, per_item=width), limit)
    if windows is None:
        return  # the hint's edge lies outside the years 1-9999: a plain read
    assert _windowed(docs, {}, sort, limit, windows) == _find(docs, {}, sort, limit)


@settings(max_examples=200, deadline=None)
@given(data(), st.integers(min_value=2, max_value=25))
def test_a_page_learns_a_hint_that_reads_the_same_page_again(
    case: tuple[SortSpec, list[Doc]], limit: int
) -> None:
    sort, docs = case
    page = _find(docs, {}, sort, limit)
    hint = first_hint(sort, page)
    if hint is None:
        return
    windows = first_page_windows(sort, hint, limit)
    assert windows is not None
    assert _windowed(docs, {}, sort, limit, windows) == page


def test_a_dense_page_is_one_window_of_about_one_page() -> None:
    sort = ORDER_SORTS["ORDERED_AT_DESC"]
    docs = [{"_id": f"D{n:05d}", "orderedAt": T0 + timedelta(minutes=n)} for n in range(10_000)]
    page = _find(docs, {}, sort, 21)
    width = learned_width(sort, page, 21)
    assert width is not None
    last = page[-1]
    windows = windows_after(sort, last["orderedAt"], width)
    assert windows is not None
    after = after_filter(sort, Position(value=last["orderedAt"], id=last["_id"]))
    first_window = _find(docs, combine(after, windows[0].mongo(sort)), sort, 10_000)
    assert 21 <= len(first_window) <= 40


def test_width_travels_in_the_cursor() -> None:
    sort = ORDER_SORTS["ORDERED_AT_DESC"]
    doc = {"_id": "SO-1", "orderedAt": T0}
    assert decode_cursor(sort, encode_cursor(sort, doc, 1234.4)).width == 1234
    assert decode_cursor(sort, encode_cursor(sort, doc)).width is None


def test_dates_and_iso_days_are_points_on_the_axis() -> None:
    assert axis_point(ORDER_SORTS["ORDERED_AT_ASC"], T0) == int(T0.timestamp() * 1000)
    due = INVOICE_SORTS["DUE_DATE_ASC"]
    assert axis_point(due, "2026-12-01") == datetime(2026, 12, 1).toordinal()
    assert axis_point(due, "not a date") is None
    assert axis_point(due, None) is None


def test_hints_forget_the_least_recently_used() -> None:
    hints = WindowHints(kept=2)
    hints.put("a", WindowHint(1, 1.0))
    hints.put("b", WindowHint(2, 1.0))
    assert hints.get("a") is not None
    hints.put("c", WindowHint(3, 1.0))
    assert hints.get("b") is None and hints.get("a") is not None
