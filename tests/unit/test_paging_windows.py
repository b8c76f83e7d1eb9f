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

import bisect
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resolvers.filters import combine
from resolvers.paging import (
    INVOICE_SORTS,
    ORDER_SORTS,
    Position,
    SortSpec,
    Widths,
    after_filter,
    decode_cursor,
    encode_cursor,
)
from resolvers.paging_ties import TIE_CHARS, tie_bound, tie_point
from resolvers.paging_windows import (
    CURSOR_WIDTH_SPREAD,
    PROBE_MAX,
    PROBE_PAGES,
    EdgeSearch,
    Window,
    WindowHint,
    WindowHints,
    axis_point,
    bounded_widths,
    first_hint,
    first_page_windows,
    learned_widths,
    now_point,
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


#: How ids look: a short counter, a counter after a prefix longer than the tie axis reads,
#: UUIDs, and text with characters beyond ASCII (the axis maps those imprecisely).
id_styles = st.sampled_from(
    [
        lambda n: f"D{n:03d}",
        lambda n: f"{'LONG-PREFIX-' * 3}{n:05d}",
        lambda n: str(uuid.UUID(int=(n * 0x9E3779B97F4A7C15_F39CC0605CEDC834) % 2**128)),
        lambda n: "é" * (n % 3) + chr(0x100 + n) + "x" * (n % 2),
    ]
)


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
    ids = draw(id_styles)
    docs: list[Doc] = []
    for n, minutes in enumerate(values):
        doc: Doc = {"_id": ids(n)}
        if minutes is not None or n % 2:
            doc[sort.field] = _value(sort, minutes)
        docs.append(doc)
    return sort, docs


widths = st.floats(min_value=0.0, max_value=1e12, allow_nan=False)
#: Widths on the tie axis: from one unit of its last character to more than all of it, and
#: whole steps of an id's last characters (``D007`` and its 28 padding characters), so that
#: bounds fall on ids too.
tie_widths = st.one_of(
    st.none(),
    st.floats(min_value=1.0, max_value=1e72, allow_nan=False),
    st.builds(lambda k, e: k * 127**e, st.integers(1, 30), st.sampled_from([16, 20, 28])),
)


@settings(max_examples=600, deadline=None)
@given(data(), st.integers(min_value=1, max_value=25), widths, tie_widths, st.data())
def test_windows_after_a_position_read_what_one_sorted_query_reads(
    case: tuple[SortSpec, list[Doc]],
    limit: int,
    width: float,
    tie_width: float | None,
    draw: st.DataObject,
) -> None:
    """Whatever the widths (a tie width: windows inside the position's value first)."""
    sort, docs = case
    if not docs:
        return
    boundary = draw.draw(st.sampled_from(docs))
    position = Position(value=boundary.get(sort.field), id=boundary["_id"])
    after = after_filter(sort, position)
    expected = _find(docs, after, sort, limit)
    windows = windows_after(sort, position.value, width, start_id=position.id, tie_width=tie_width)
    if windows is None:
        assert position.value is None  # only the nulls have no value to start a range at
        return
    assert _windowed(docs, after, sort, limit, windows) == expected


@st.composite
def tied(draw: st.DrawFn) -> tuple[SortSpec, list[Doc]]:
    """Heavily tied data: up to 80 documents over one to three values (and some nulls)."""
    sort = draw(st.sampled_from(SORTS))
    ids = draw(id_styles)
    values = draw(st.lists(st.sampled_from([None, 0, 0, 0, 1, 2]), min_size=1, max_size=80))
    docs: list[Doc] = []
    for n, day in enumerate(values):
        doc: Doc = {"_id": ids(n)}
        if day is not None:
            doc[sort.field] = _value(sort, day * 60 * 24)
        docs.append(doc)
    return sort, docs


@settings(max_examples=400, deadline=None)
@given(tied(), st.integers(min_value=1, max_value=25), st.data())
def test_pages_across_heavily_tied_values_read_what_one_sorted_query_reads(
    case: tuple[SortSpec, list[Doc]], limit: int, draw: st.DataObject
) -> None:
    """From any position, with any tie width, and from any hint with ties: every page is
    the sorted order's (windows through the ties, their bounds on ids or between them, then
    past the value)."""
    sort, docs = case
    boundary = draw.draw(st.sampled_from(docs))
    # whole steps of the position's last character half the time: bounds that are ids
    last_char = 127 ** max(0, TIE_CHARS - len(boundary["_id"]))
    exact = st.integers(min_value=1, max_value=30).map(lambda k: k * last_char)
    tie_width = draw.draw(st.one_of(exact, tie_widths))
    position = Position(value=boundary.get(sort.field), id=boundary["_id"])
    after = after_filter(sort, position)
    windows = windows_after(sort, position.value, 1.0, start_id=position.id, tie_width=tie_width)
    if windows is not None:
        assert _windowed(docs, after, sort, limit, windows) == _find(docs, after, sort, limit)
    extreme = axis_point(sort, boundary.get(sort.field))
    if extreme is not None:
        hint = WindowHint(extreme, 0.0, extreme_id=boundary["_id"], tie_per_item=tie_width)
        windows = first_page_windows(sort, hint, limit)
        assert windows is not None
        assert _windowed(docs, {}, sort, limit, windows) == _find(docs, {}, sort, limit)


@settings(max_examples=600, deadline=None)
@given(
    data(),
    st.integers(min_value=1, max_value=25),
    st.integers(min_value=-(10**12), max_value=10**12),
    widths,
    tie_widths,
    st.data(),
)
def test_first_page_windows_read_what_one_sorted_query_reads_whatever_the_hint(
    case: tuple[SortSpec, list[Doc]],
    limit: int,
    extreme: int,
    width: float,
    tie_width: float | None,
    draw: st.DataObject,
) -> None:
    """A hint may be stale or plain wrong: it changes the windows, never the page. Its ties
    (an ``_id`` of one of the documents, or any text) too."""
    sort, docs = case
    if sort.value_kind == "string":
        extreme = extreme // 86_400_000 + 739_000  # days around 2024
    if draw.draw(st.booleans()) and docs:  # the extreme of a document, as a page teaches it
        extreme = axis_point(sort, draw.draw(st.sampled_from(docs)).get(sort.field)) or extreme
    extreme_id = draw.draw(st.one_of(st.sampled_from([d["_id"] for d in docs] or ["D"]), st.text()))
    hint = WindowHint(extreme, width, extreme_id=extreme_id, tie_per_item=tie_width)
    windows = first_page_windows(sort, hint, limit)
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
    widths = learned_widths(sort, page, 21)
    assert widths is not None and widths.ties is None
    last = page[-1]
    windows = windows_after(sort, last["orderedAt"], widths.value)
    assert windows is not None
    after = after_filter(sort, Position(value=last["orderedAt"], id=last["_id"]))
    first_window = _find(docs, combine(after, windows[0].mongo(sort)), sort, 10_000)
    assert 21 <= len(first_window) <= 40


def _due_days(days: int, per_day: int) -> list[Doc]:
    """The benchmark's invoices: one a minute, due 30 days later (a date without time), so
    ``per_day`` of them share each due date; ids a counter after a prefix."""
    return [
        {
            "_id": f"IN-BIGCO-{n:07d}",
            "dueDate": (T0 + timedelta(days=30 + n // per_day)).date().isoformat(),
        }
        for n in range(days * per_day)
    ]


def _read_sizes(
    docs: list[Doc], query: Doc, sort: SortSpec, limit: int, windows: list[Window]
) -> tuple[list[Doc], int]:
    """``_windowed``, and the most documents one of its reads matched (what the store sorts)."""
    read: list[Doc] = []
    most = 0
    for window in windows:
        matched = _find(docs, combine(query, window.mongo(sort)), sort, len(docs))
        most = max(most, len(matched))
        read += matched[: limit - len(read)]
        if len(read) >= limit:
            break
    return read, most


@pytest.mark.parametrize("name", ["DUE_DATE_DESC", "DUE_DATE_ASC"])
def test_pages_through_heavily_tied_values_read_about_a_page_not_the_whole_value(
    name: str,
) -> None:
    """400 invoices share each due date and a window of the sort field is at least a day:
    the first page's hint and every later page's cursor narrow the window on ``_id`` too, so
    the store sorts about a page, not the day, except where a read crosses into the next day
    (whose first ``_id`` nothing tells: it sorts that day once); every page is the sorted
    order's."""
    sort = INVOICE_SORTS[name]
    docs = _due_days(3, 400)
    expected = _sorted(docs, sort)
    hint = first_hint(sort, expected[:21])
    assert hint is not None and hint.tie_width_for(21) is not None
    windows = first_page_windows(sort, hint, 21)
    assert windows is not None
    page, most = _read_sizes(docs, {}, sort, 21, windows)
    assert page == expected[:21] and most <= 100
    widths = learned_widths(sort, page, 21)
    crossings = []
    for start in range(19, len(docs) - 1, 20):
        assert widths is not None
        position = Position(value=page[19]["dueDate"], id=page[19]["_id"])
        assert page[19] is expected[start]
        after = after_filter(sort, position)
        windows = windows_after(
            sort, position.value, widths.value, start_id=position.id, tie_width=widths.ties
        )
        assert windows is not None and widths.ties is not None
        page, most = _read_sizes(docs, after, sort, 21, windows)
        assert page == expected[start + 1 : start + 22]
        if most > 100:
            crossings.append(start)
            assert most <= 400 + 100
        widths = learned_widths(sort, page, 21, tied=True)
    # the pages whose 21 documents (a page and the one that says whether more follow) reach
    # into the next day: the one before the boundary, and the one that starts on it
    assert len(crossings) <= 4


def test_a_page_hands_on_a_tie_width_only_while_a_value_holds_more_than_a_page() -> None:
    """Inside a day of ties, and on the page that spans the day's end (its span alone looks
    like a day per 20), a tie width; on a page of days one apart with a pair of ties, after
    tied pages or not, none: windows of ``_id`` there would only add round trips."""
    sort = INVOICE_SORTS["DUE_DATE_ASC"]
    days = _due_days(2, 400)
    inside = learned_widths(sort, days[100:121], 21)
    straddling = learned_widths(sort, days[385:406], 21, tied=True)
    assert inside is not None and inside.ties is not None
    assert straddling is not None and straddling.ties is not None
    assert learned_widths(sort, days[385:406], 21) == (straddling.value, None)
    sparse = [{"_id": f"IN-{n:03d}", "dueDate": f"2026-12-{1 + n:02d}"} for n in range(21)]
    sparse[1]["dueDate"] = sparse[0]["dueDate"]
    for tied in (False, True):
        widths = learned_widths(sort, sparse, 21, tied=tied)
        assert widths is not None and widths.ties is None and (widths.value or 0) > 1


def test_the_tie_axis_counts_a_counter_in_ids_of_its_shape() -> None:
    template = "IN-BIGCO-0012345"
    assert tie_point("IN-BIGCO-0011100", template) - tie_point("IN-BIGCO-0011099", template) == (
        tie_point("IN-BIGCO-0011099", template) - tie_point("IN-BIGCO-0011098", template)
    )
    point = tie_point("IN-BIGCO-0011100", template)
    assert "IN-BIGCO-0011099" < (tie_bound(point - 1, template) or "") < "IN-BIGCO-0011100"
    assert tie_bound(point, template) == "IN-BIGCO-0011100"
    assert tie_bound(-1, template) is None
    bounds = [tie_bound(p, "A1-") or "" for p in range(1, 10 * 127**2 * 127**29, 127**31 - 5)]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds)


ids_text = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    # the edges of the digit and ASCII ranges, where an id leaves its position's range
    st.text(st.sampled_from("/09:A\x01\x7f\x80é"), max_size=6),
)


@example(":", "90", "0")  # a digit position's character above 9, then a letter position
@example("A:", "A9z", "A0")
@given(ids_text, ids_text, st.one_of(ids_text, st.from_regex(r"[A-Z]{2}-[0-9]{7}", fullmatch=True)))
def test_the_tie_axis_never_reverses_two_ids(one: str, other: str, template: str) -> None:
    """Whatever the template, ids of another shape map imprecisely but never out of order
    (sizes only; the windows' bounds are the real ids' order)."""
    low, high = sorted((one, other))
    assert tie_point(low, template) <= tie_point(high, template)


def test_tie_width_travels_in_the_cursor() -> None:
    sort = INVOICE_SORTS["DUE_DATE_DESC"]
    doc = {"_id": "IN-1", "dueDate": "2026-12-01"}
    position = decode_cursor(sort, encode_cursor(sort, doc, 1, 123456789.0))
    assert position.tie_width == 123_000_000 and position.width == 1
    assert decode_cursor(sort, encode_cursor(sort, doc, 1)).tie_width is None


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


def _probed(sort: SortSpec, docs: list[Doc], wanted: int, now: datetime, order: list[int]) -> Any:
    """``EdgeSearch`` answered as the store answers a probe: the documents in the window, in
    no particular order (``order`` permutes them), at most ``limit``, their sort values."""
    search = EdgeSearch(sort, wanted, now_point(sort, now))
    shuffled = [docs[i] for i in order]
    while isinstance(window := search.next_probe(), Window):
        found = [d for d in shuffled if _matches(d, window.mongo(sort))][: search.limit]
        search.learn([d.get(sort.field) for d in found], [d["_id"] for d in found])
        assert search.probes <= PROBE_MAX, "the search does not end"
    assert window is search.hint, "the search ends by giving its hint"
    return search


@st.composite
def unordered(draw: st.DrawFn) -> tuple[SortSpec, list[Doc], list[int]]:
    sort, docs = draw(data())
    return sort, docs, draw(st.permutations(range(len(docs))))


nows = st.integers(min_value=-(60 * 24 * 365 * 40), max_value=60 * 24 * 365 * 40)


@settings(max_examples=400, deadline=None)
@given(unordered(), st.integers(min_value=1, max_value=25), nows)
def test_a_first_page_found_by_probes_reads_what_one_sorted_query_reads(
    case: tuple[SortSpec, list[Doc], list[int]], limit: int, now_minutes: int
) -> None:
    """No hint yet (a new process): probes find one, whatever the data (none, one, a few,
    ties, nulls, any spread), wherever now lies, in whatever order the store answers them;
    the page is still exactly the plain sorted read's."""
    sort, docs, order = case
    search = _probed(sort, docs, limit, T0 + timedelta(minutes=now_minutes), order)
    expected = _find(docs, {}, sort, limit)
    windows = first_page_windows(sort, search.hint, limit)
    if windows is None:  # a plain read: the list is short, or no range bounds its start
        values = [d for d in docs if d.get(sort.field) is not None]
        nulls = len(docs) - len(values)
        if sort.direction == 1:  # the nulls come first, in every probe
            assert len(docs) < limit or nulls >= search.limit
        else:
            assert len(values) < limit
        return
    assert _windowed(docs, {}, sort, limit, windows) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(SORTS),
    st.lists(st.text(min_size=0, max_size=12), max_size=60),
    st.integers(min_value=1, max_value=25),
)
def test_probes_on_values_off_the_axis_still_read_the_sorted_page(
    sort: SortSpec, values: list[str], limit: int
) -> None:
    """Strings that are not ISO days (a sort field without an axis point) compare as strings
    with the probes' bounds: the hint may be useless, the page is still the sorted one."""
    string_sort = SortSpec(sort.name, sort.field, sort.direction, "string")
    docs: list[Doc] = [{"_id": f"D{n:03d}", sort.field: v} for n, v in enumerate(values)]
    search = _probed(string_sort, docs, limit, T0, list(range(len(docs))))
    windows = first_page_windows(string_sort, search.hint, limit)
    if windows is not None:
        assert _windowed(docs, {}, string_sort, limit, windows) == _find(
            docs, {}, string_sort, limit
        )


def _dense(count: int) -> list[Doc]:
    return [{"_id": f"D{n:06d}", "orderedAt": T0 + timedelta(minutes=n)} for n in range(count)]


def _held(values: list[datetime], sort: SortSpec, window: Window) -> list[datetime]:
    """What a first window of ``sorted`` values holds, ascending (the store's physical order
    in the benchmark world), without matching each document."""
    assert window.near is None and isinstance(window.far, datetime)
    cut = bisect.bisect_left(values, window.far) if sort.direction == 1 else None
    return values[:cut] if cut is not None else values[bisect.bisect_right(values, window.far) :]


@pytest.mark.parametrize("sort", [ORDER_SORTS["ORDERED_AT_DESC"], ORDER_SORTS["ORDERED_AT_ASC"]])
@pytest.mark.parametrize("days_from_now", [-400, -30, 0, 30, 400])
def test_probes_find_a_dense_lists_first_page_as_one_window_of_about_a_page(
    sort: SortSpec, days_from_now: int
) -> None:
    """100,000 documents a minute apart, the list anywhere around now: a few dozen probes at
    most, whose ranges hold fewer index entries (what a probe costs on DocumentDB) than two
    scans of the list (one plain sorted read costs about four), and the page's first window
    holds about one page, not the list."""
    values = [doc["orderedAt"] for doc in _dense(100_000)]
    search = EdgeSearch(sort, 21, now_point(sort, T0 + timedelta(days=days_from_now)))
    entries = 0
    while isinstance(window := search.next_probe(), Window):
        held = _held(values, sort, window)
        entries += len(held)
        search.learn(held[: search.limit])
    assert search.probes <= 40
    assert entries < 2 * len(values)
    windows = first_page_windows(sort, search.hint, 21)
    assert windows is not None
    first_window = _held(values, sort, windows[0])
    assert 21 <= len(first_window) <= 2 * 21 * PROBE_PAGES
    expected = values[:21] if sort.direction == 1 else values[::-1][:21]
    assert sorted(first_window, reverse=sort.direction == -1)[:21] == expected


@pytest.mark.parametrize("name", ["DUE_DATE_DESC", "DUE_DATE_ASC"])
@pytest.mark.parametrize("stored", ["in id order", "shuffled"])
def test_probes_that_read_ids_narrow_a_cold_first_page_inside_its_first_value(
    name: str, stored: str
) -> None:
    """More than a probe holds share the list's first due date: the ids the probes read of
    them (a sample: a probe returns any 168 of its range) give the hint an ``_id`` and a tie
    width, so the cold first page's first window is part of that day, not all 1,440. When
    the store answers in id order (as it wrote them) the sample is the day's lowest ids:
    exactly the first page ascending; descending, the window reaches down to them, nearly the
    whole day, but stops inside it: without ids it would hold all of it (1,440), and reading
    past the day more. Shuffled, the sample's spacing overstates the day's (168 of 1,440 and
    more), so the window holds several pages."""
    sort = INVOICE_SORTS[name]
    docs = _due_days(3, 1440)
    order = list(range(len(docs)))
    if stored == "shuffled":
        random.Random(7).shuffle(order)
    search = _probed(sort, docs, 21, T0, order)
    assert search.hint is not None and search.hint.tie_width_for(21) is not None
    windows = first_page_windows(sort, search.hint, 21)
    assert windows is not None
    page, most = _read_sizes(docs, {}, sort, 21, windows)
    assert page == _sorted(docs, sort)[:21]
    if stored == "shuffled":
        assert most <= 1000
    elif sort.direction == 1:
        assert most <= 3 * 21
    else:  # the window ends above the sample's lowest ids: the day less most of the sample
        assert most < 1440


def test_a_search_that_ended_gives_its_hint_again() -> None:
    """Whoever drives the search gets a hint at its end, never nothing (no ``assert``
    between the last probe and the hint, which ``python -O`` would drop)."""
    sort = ORDER_SORTS["ORDERED_AT_DESC"]
    search = _probed(sort, _dense(100), 21, T0, list(range(100)))
    assert isinstance(search.hint, WindowHint)
    assert search.next_probe() is search.hint and search.next_probe() is search.hint


def test_a_list_shorter_than_a_page_is_read_plainly_after_a_few_probes() -> None:
    sort = ORDER_SORTS["ORDERED_AT_DESC"]
    for count in (0, 1, 5, 20):
        search = _probed(sort, _dense(count), 21, T0, list(range(count)))
        assert search.hint is not None and search.hint.plain
        assert first_page_windows(sort, search.hint, 21) is None
        assert search.probes <= 15


def test_more_nulls_than_a_probe_holds_where_they_sort_first_read_plainly() -> None:
    sort = ORDER_SORTS["ORDERED_AT_ASC"]
    docs: list[Doc] = [{"_id": f"N{n:04d}"} for n in range(500)] + _dense(50)
    search = _probed(sort, docs, 21, T0, list(range(len(docs))))
    assert search.hint is not None and search.hint.plain


def _search_sorted(
    sort: SortSpec, values: list[Any], now: datetime
) -> tuple[EdgeSearch, list[int]]:
    """``EdgeSearch`` over ``values`` (ascending, as the store returns a probe's range: its
    physical order), and what each probe's range held."""
    search = EdgeSearch(sort, 21, now_point(sort, now))
    held: list[int] = []
    while isinstance(window := search.next_probe(), Window):
        if sort.direction == 1:
            found = values[: bisect.bisect_left(values, window.far)]
        else:
            found = values[bisect.bisect_right(values, window.far) :]
        held.append(len(found))
        search.learn(found[: search.limit])
    return search, held


def test_a_descending_list_that_begins_weeks_ahead_is_found_in_a_dozen_probes() -> None:
    """Planned pickups, ETAs: 100,000 a minute apart, the newest 41 days ahead. The walk
    overshoots once (a factor of two past an empty range); from there the search re-uses the
    spacing that probe saw and the first values a later one held, instead of creeping up on
    the list's start from the empty side a sixteenth of the way at a time (13 probes)."""
    sort = ORDER_SORTS["ORDERED_AT_DESC"]
    now = T0 + timedelta(days=28, hours=8)
    values = [T0 + timedelta(minutes=n) for n in range(100_000)]
    search, held = _search_sorted(sort, values, now)
    assert search.probes <= 11
    assert sum(held) < 35_000
    windows = first_page_windows(sort, search.hint, 21)
    assert windows is not None
    assert 21 <= len(_held(values, sort, windows[0])) <= 2 * 21 * PROBE_PAGES


def test_a_probe_that_held_a_few_of_the_first_values_aims_the_next_at_the_page() -> None:
    """After a probe that read some, but fewer than a page, of the list's first values, the
    next probe holds a page (their spacing says how far), not one more split of the range."""
    sort = ORDER_SORTS["ORDERED_AT_DESC"]
    values = [T0 + timedelta(minutes=n) for n in range(100_000)]
    for days in (1, 10, 41):
        _, held = _search_sorted(sort, values, values[-1] - timedelta(days=days))
        after_few = [held[n + 1] for n in range(len(held) - 1) if 0 < held[n] < 21]
        assert all(21 <= count < 21 * PROBE_PAGES for count in after_few), held


def test_due_dates_far_behind_a_leap_are_found_through_the_grid_points_it_skipped() -> None:
    """Due dates (ISO days, 1,440 a day) ending 72 days ahead, read newest first: the walk
    leaps from 1,024 days ahead to 64 (a factor of 16); the search walks back through the
    grid points it skipped before splitting a range (15 probes when it split 960 days)."""
    sort = INVOICE_SORTS["DUE_DATE_DESC"]
    now = T0 + timedelta(days=28, hours=8)
    days = [(T0 + timedelta(days=30, minutes=n)).date().isoformat() for n in range(100_000)]
    search, held = _search_sorted(sort, days, now)
    assert search.probes <= 12
    assert sum(held) < 20_000
    assert search.hint is not None and not search.hint.plain


@pytest.mark.parametrize(
    "make_id",
    [
        lambda n: str(uuid.UUID(int=random.Random(n).getrandbits(128))),
        lambda n: f"{random.Random(n).getrandbits(96):024x}",  # ObjectId-like hex
        lambda n: f"請求-{n:07d}",  # beyond ASCII
        lambda n: f"IN-{n}",  # a counter of varying length
    ],
    ids=["uuid", "hex", "non-ascii", "varying counter"],
)
def test_ids_of_no_one_regular_shape_hand_on_no_tie_width(make_id: Callable[[int], str]) -> None:
    """The tie axis is even only between ids of one shape (a prefix and a counter of one
    length): for others a width learned from a page says nothing of the next (a review's
    simulation: UUID pages sorted 1,240 entries at the median with one, 740 without), so
    their pages read whole values, as before session 12; pages stay exact either way."""
    sort = INVOICE_SORTS["DUE_DATE_ASC"]
    days = [dict(doc, _id=make_id(n)) for n, doc in enumerate(_due_days(2, 400))]
    page = _sorted(days, sort)[100:121]
    widths = learned_widths(sort, page, 21)
    assert widths is not None and widths.ties is None
    hint = first_hint(sort, page)
    assert hint is not None and hint.tie_per_item is None and hint.tie_width_for(21) is None


@pytest.mark.parametrize(
    ("sent", "read_with"),
    [
        (Widths(2100.0, None), Widths(2100.0, None)),  # about the hint's: as the cursor says
        (Widths(None, None), Widths(2100.0, None)),  # none: the process's own
        (Widths(None, 7.0), Widths(2100.0, 7.0)),
        (Widths(1, None), Widths(2100.0 / CURSOR_WIDTH_SPREAD, None)),
        (Widths(10**400, 3.0), Widths(2100.0 * CURSOR_WIDTH_SPREAD, 3.0)),
    ],
)
def test_a_cursors_widths_are_kept_near_the_processs_own(sent: Widths, read_with: Widths) -> None:
    """The widths a cursor hands on are the client's to send back: a page reads with them
    only within ``CURSOR_WIDTH_SPREAD`` of the width its list's hint gives (100 per item, a
    page of 21 here); a missing width is the hint's; a tie width stays (its windows lie
    inside one value)."""
    hint = WindowHint(extreme=0, per_item=100.0)
    assert bounded_widths(sent, hint, 21) == read_with


@pytest.mark.parametrize("hint", [None, WindowHint(extreme=0, per_item=0.0, plain=True)])
def test_without_a_hint_a_cursors_widths_stand(hint: WindowHint | None) -> None:
    """A process that reads such a list plainly (no probes: MongoDB, a scope across
    customers) has no width of its own; no width can make a plain read worse."""
    for sent in (Widths(None, None), Widths(1, 2.0)):
        assert bounded_widths(sent, hint, 21) == sent
