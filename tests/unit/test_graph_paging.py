"""Cursor pagination logic, checked against MongoDB's ordering rules without a database.

``_matches`` evaluates exactly the query operators ``after_filter`` emits, with MongoDB's
semantics (a missing field equals null; a range operator never matches null), so the
property "the documents after a cursor are exactly those that follow it in sort order" is
checked for any data, ties and missing values included. The same behaviour is checked on
FerretDB by tests/integration/test_resolvers.py.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resolvers.errors import BadUserInput
from resolvers.paging import (
    INVOICE_SORTS,
    ORDER_SORTS,
    PageRequest,
    after_filter,
    build_page,
    decode_cursor,
    encode_cursor,
    position_of,
)

Doc = dict[str, Any]


def _compare(value: Any, op: str, bound: Any) -> bool:
    if value is None:
        return False  # range operators never match null or a missing field
    comparisons = {
        "$lt": value < bound,
        "$lte": value <= bound,
        "$gt": value > bound,
        "$gte": value >= bound,
    }
    return bool(comparisons[op])


def _matches(doc: Doc, query: Doc) -> bool:
    for key, condition in query.items():
        if key == "$or":
            if not any(_matches(doc, alternative) for alternative in condition):
                return False
            continue
        if key == "$nor":
            if any(_matches(doc, alternative) for alternative in condition):
                return False
            continue
        value = doc.get(key)
        if isinstance(condition, dict):
            for op, bound in condition.items():
                if op == "$ne":
                    if value == bound:
                        return False
                elif not _compare(value, op, bound):
                    return False
        elif value != condition:
            return False
    return True


def _mongo_order(docs: list[Doc], field: str, direction: int) -> list[Doc]:
    """MongoDB's sort: null before any value, then ``_id`` as the tie-break."""
    ordered = sorted(docs, key=lambda d: (d.get(field) is not None, d.get(field) or 0, d["_id"]))
    return ordered if direction == 1 else list(reversed(ordered))


millis = st.integers(min_value=0, max_value=5).map(
    lambda m: datetime(2026, 11, 2, 8, 0, 0, m * 1000, tzinfo=UTC)
)
order_docs = st.lists(
    st.builds(
        lambda i, at: {"_id": f"SO-{i:03}", "orderedAt": at},
        st.integers(0, 999),
        st.none() | millis,
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda d: d["_id"],
)


#: The property tests hold for every sort of the orders connection.
each_order_sort = pytest.mark.parametrize("sort", list(ORDER_SORTS.values()), ids=list(ORDER_SORTS))


def _drawn_cursor(sort: Any, docs: list[Doc], data: st.DataObject) -> tuple[list[Doc], int, str]:
    """``docs`` in ``sort``'s order, a position drawn in them, and the cursor of the document
    there."""
    ordered = _mongo_order(docs, sort.field, sort.direction)
    index = data.draw(st.integers(0, len(ordered) - 1))
    return ordered, index, encode_cursor(sort, ordered[index])


@each_order_sort
@given(docs=order_docs, data=st.data())
def test_after_a_cursor_come_exactly_the_documents_that_follow_it(
    sort: Any, docs: list[Doc], data: st.DataObject
) -> None:
    ordered, index, cursor = _drawn_cursor(sort, docs, data)
    condition = after_filter(sort, decode_cursor(sort, cursor))
    after = [d for d in ordered if _matches(d, condition)]
    assert after == ordered[index + 1 :]


@given(docs=order_docs)
def test_position_of_a_document_continues_after_it(docs: list[Doc]) -> None:
    sort = ORDER_SORTS["ORDERED_AT_DESC"]
    ordered = _mongo_order(docs, sort.field, sort.direction)
    condition = after_filter(sort, position_of(sort, ordered[0]))
    assert [d for d in ordered if _matches(d, condition)] == ordered[1:]


def test_string_sort_values_round_trip() -> None:
    sort = INVOICE_SORTS["DUE_DATE_ASC"]
    cursor = encode_cursor(sort, {"_id": "IN-1", "dueDate": "2026-12-01"})
    position = decode_cursor(sort, cursor)
    assert (position.value, position.id) == ("2026-12-01", "IN-1")


def test_non_ascii_ids_round_trip_and_earlier_cursors_still_work() -> None:
    """Cursors are encoded by orjson (UTF-8); those issued when ``json.dumps`` escaped
    non-ASCII characters name the same position. (A string sort value is an ISO day, as the
    projector stores it: ``test_a_string_sort_value_that_is_no_day_is_bad_user_input``.)"""
    sort = INVOICE_SORTS["DUE_DATE_ASC"]
    doc = {"_id": "IN-Ø1 Ärger", "dueDate": "2026-12-01"}
    position = decode_cursor(sort, encode_cursor(sort, doc, width=7))
    assert (position.value, position.id, position.width) == ("2026-12-01", "IN-Ø1 Ärger", 7)
    earlier = json.dumps(
        {"i": "IN-Ø1 Ärger", "s": "DUE_DATE_ASC", "v": {"s": "2026-12-01"}, "w": 7},
        separators=(",", ":"),
        sort_keys=True,
    )
    issued_before = base64.urlsafe_b64encode(earlier.encode()).decode().rstrip("=")
    assert decode_cursor(sort, issued_before) == position


def test_naive_datetimes_from_a_non_tz_aware_client_are_utc() -> None:
    sort = ORDER_SORTS["ORDERED_AT_DESC"]
    naive = encode_cursor(sort, {"_id": "SO-1", "orderedAt": datetime(2026, 11, 2, 8, 0)})
    aware = encode_cursor(
        sort, {"_id": "SO-1", "orderedAt": datetime(2026, 11, 2, 8, 0, tzinfo=UTC)}
    )
    assert naive == aware


def _forge(body: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "bm90IGpzb24",  # "not json"
        _forge([1, 2]),
        _forge({"s": "ORDERED_AT_DESC", "v": None}),  # no id
        _forge({"s": "ORDERED_AT_DESC", "v": {"s": "a string for a date sort"}, "i": "x"}),
        _forge({"s": "ORDERED_AT_DESC", "v": {"d": "soon"}, "i": "x"}),
        _forge({"s": "ORDERED_AT_DESC", "v": {"d": 10**20}, "i": "x"}),
        _forge({"s": "ORDERED_AT_ASC", "v": None, "i": "x"}),  # another sort's cursor
        # a tie width that is no width (session 12's ``t``)
        *(
            _forge({"s": "ORDERED_AT_DESC", "v": None, "i": "x", "t": t})
            for t in (-1, 0, 0.5, True, "5", [1], 10**400, float("nan"), float("inf"))
        ),
        # nested deeper than the JSON parser's recursion limit: a RecursionError, a 500
        base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode(),
        base64.urlsafe_b64encode(b'{"a":' * 100_000 + b"1" + b"}" * 100_000).decode(),
        # more digits than ``int()`` reads
        base64.urlsafe_b64encode(
            b'{"s":"ORDERED_AT_DESC","i":"x","w":' + b"9" * 5000 + b"}"
        ).decode(),
    ],
)
def test_malformed_or_foreign_cursors_are_bad_user_input(cursor: str) -> None:
    with pytest.raises(BadUserInput, match="after"):
        decode_cursor(ORDER_SORTS["ORDERED_AT_DESC"], cursor)


@pytest.mark.parametrize("value", ["zzz", "", "2026-12-01 Ärger", "2026-13-01", "2026-W48-2"])
def test_a_string_sort_value_that_is_no_day_is_bad_user_input(value: str) -> None:
    """The projector stores only ISO days in a string sort field; past any other string a page
    could not be read in windows of days, but would sort the rest of the list (past "zzz",
    descending: all of it)."""
    sort = INVOICE_SORTS["DUE_DATE_DESC"]
    with pytest.raises(BadUserInput, match=r"^after: not a cursor issued by this connection$"):
        decode_cursor(sort, _forge({"s": sort.name, "v": {"s": value}, "i": "IN-1", "w": 1}))


@pytest.mark.parametrize(
    ("issued_for", "message"),
    [
        # the same list in another order: the client changed the sort, which it can undo
        (
            "ORDERED_AT_ASC",
            r"^after: the cursor was issued for sort 'ORDERED_AT_ASC', not 'ORDERED_AT_DESC'$",
        ),
        # another list's cursor: naming its sort would send the client looking for a sort
        # this list does not have
        (
            "PLANNED_PICKUP_AT_DESC",
            r"^after: not a cursor issued by this connection \(it is one of a list sorted by "
            r"'PLANNED_PICKUP_AT_DESC'\)$",
        ),
        (["ORDERED_AT_DESC"], r"^after: not a cursor issued by this connection$"),
    ],
)
def test_a_cursor_of_another_sort_or_list_says_which(issued_for: Any, message: str) -> None:
    cursor = _forge({"s": issued_for, "v": None, "i": "x"})
    with pytest.raises(BadUserInput, match=message):
        decode_cursor(ORDER_SORTS["ORDERED_AT_DESC"], cursor)


@pytest.mark.parametrize("first", [-1, 101])
def test_page_size_is_bounded(first: int) -> None:
    with pytest.raises(BadUserInput, match=f"^first must be between 0 and 100, got {first}$"):
        PageRequest(sort=ORDER_SORTS["ORDERED_AT_DESC"], first=first)


@each_order_sort
@given(docs=order_docs, data=st.data(), backward=st.booleans())
def test_a_page_of_size_0_has_only_its_page_info(
    sort: Any, docs: list[Doc], data: st.DataObject, backward: bool
) -> None:
    """``first: 0`` / ``last: 0`` (Relay allows them): no edges and no cursors; more items
    in the reading direction exactly when one lies beyond the cursor (or at all, without
    one); the other flag says whether a cursor was given, as for any page."""
    reading = PageRequest(sort, last=1).reading_sort if backward else sort
    ordered = _mongo_order(docs, reading.field, reading.direction)
    index = data.draw(st.integers(-1, len(ordered) - 1)) if ordered else -1
    cursor = encode_cursor(reading, ordered[index]) if index >= 0 else None
    if backward:
        request = PageRequest(sort, last=0, before=cursor)
    else:
        request = PageRequest(sort, first=0, after=cursor)
    page = _read(docs, request)
    info = page.page_info
    assert page.edges == [] and (info.start_cursor, info.end_cursor) == (None, None)
    ahead = len(ordered) - index - 1 > 0
    assert (info.has_previous_page if backward else info.has_next_page) is ahead
    assert (info.has_next_page if backward else info.has_previous_page) is (cursor is not None)


async def _no_count() -> int:
    raise AssertionError("not asked")


def test_the_extra_document_only_tells_that_a_next_page_exists() -> None:
    request = PageRequest(sort=ORDER_SORTS["ORDERED_AT_DESC"], first=2)
    docs = [{"_id": f"SO-{n}", "orderedAt": None} for n in range(3)]
    page = build_page(request, docs, _no_count)
    assert [e.node["_id"] for e in page.edges] == ["SO-0", "SO-1"]
    assert page.page_info.has_next_page and not page.page_info.has_previous_page
    assert page.page_info.end_cursor == page.edges[-1].cursor
    last = build_page(request, docs[:2], _no_count)
    assert not last.page_info.has_next_page
    empty = build_page(request, [], _no_count)
    assert (empty.page_info.start_cursor, empty.page_info.end_cursor) == (None, None)


# --- backwards -----------------------------------------------------------------------------


def _read(docs: list[Doc], request: PageRequest) -> Any:
    """What ``Readers._page`` does, over in-memory documents with MongoDB's semantics."""
    sort = request.reading_sort
    position = request.position()
    ordered = _mongo_order(docs, sort.field, sort.direction)
    if position is not None:
        condition = after_filter(sort, position)
        ordered = [d for d in ordered if _matches(d, condition)]
    return build_page(request, ordered[: request.size + 1], _no_count)


@each_order_sort
@given(docs=order_docs, size=st.integers(1, 7))
def test_paging_backwards_from_the_end_visits_every_document_once_in_order(
    sort: Any, docs: list[Doc], size: int
) -> None:
    ordered = _mongo_order(docs, sort.field, sort.direction)
    seen: list[Doc] = []
    page = _read(docs, PageRequest(sort, last=size))
    while True:
        seen[:0] = [edge.node for edge in page.edges]
        assert len(page.edges) == min(size, len(ordered) - len(seen) + len(page.edges))
        if not page.page_info.has_previous_page:
            break
        assert page.page_info.has_next_page or len(seen) == len(page.edges)
        page = _read(docs, PageRequest(sort, last=size, before=page.page_info.start_cursor))
    assert seen == ordered


@each_order_sort
@given(docs=order_docs, data=st.data(), size=st.integers(1, 7))
def test_before_a_cursor_come_exactly_the_documents_that_precede_it(
    sort: Any, docs: list[Doc], data: st.DataObject, size: int
) -> None:
    ordered, index, cursor = _drawn_cursor(sort, docs, data)
    page = _read(docs, PageRequest(sort, last=size, before=cursor))
    assert [edge.node for edge in page.edges] == ordered[max(0, index - size) : index]
    assert page.page_info.has_previous_page is (index > size)
    assert page.page_info.has_next_page
    # forwards from the page's first item: the rest of the page, then the cursor's item
    if page.edges:
        rest = len(page.edges)
        forward = _read(docs, PageRequest(sort, first=rest, after=page.edges[0].cursor))
        expected = [edge.node for edge in page.edges[1:]] + [ordered[index]]
        assert [edge.node for edge in forward.edges] == expected


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"first": 2, "last": 2}, "not both"),
        ({"after": "x", "before": "y"}, "not both"),
        ({"after": "x", "last": 2}, "use it with first"),
        ({"before": "x", "first": 2}, "use it with last"),
        ({"last": -1}, "last must be between 0 and 100, got -1"),
        ({"last": 101}, "last must be between 0 and 100"),
    ],
)
def test_mixed_or_out_of_range_paging_arguments_are_bad_user_input(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadUserInput, match=message):
        PageRequest(ORDER_SORTS["ORDERED_AT_DESC"], **arguments)


def test_a_bad_before_cursor_is_named_as_before() -> None:
    with pytest.raises(BadUserInput, match=r"^before: not a cursor"):
        PageRequest(ORDER_SORTS["ORDERED_AT_DESC"], last=2, before="%%%").position()
