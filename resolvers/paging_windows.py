"""Reading a sorted page as a few bounded ranges of the sort field (pure logic, no I/O).

Why: DocumentDB finds a customer's documents through the ``(customerId, <sort field>, _id)``
index but sorts everything the index scan matched before the limit applies (README, "The
store"). A page of 20 out of a customer's 100,000 orders sorted all 100,000. A range on the
sort field bounds that sort: the ordered (composite-term) index turns ``customerId`` equality
plus a range into one short index range, so the store sorts only what lies in the range.

So a page is read as *windows*: consecutive ranges of sort values in reading order, starting at
the page's position and growing geometrically, each read sorted and limited to what is still
missing, until the page is full or the last window (open-ended, then the nulls where they
sort last) is read. The windows partition everything after the position, in order, so the
concatenated answers are exactly what one sorted query would return: same items, same order,
ties broken by ``_id`` (the position's own ``after_filter`` still applies to every window),
and ``hasNextPage`` stays exact because the page still reads ``size + 1`` items.

How wide a window is comes from the data: a page records the density of what it read (its
span of sort values per item) in its cursors, so the next page starts with a window that
holds about one page. A first page has no cursor: ``WindowHints`` remembers, per process, the
extreme value and width a first page of the same query last saw. Without a hint the page is
one plain sorted query, as before (and teaches the hint). Hints only ever change how fast a
page is read, never what it contains: the first window of a first page is open towards the
start of the order, so values beyond a stale extreme are still read first.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from caching.bounded_lru import BoundedLRU
from resolvers.paging import SortSpec, read_path

#: Bounded windows before the open-ended rest: widths w, 4w, 16w, 64w cover 85 estimated
#: pages; data that sparse is small enough that the open-ended rest costs little.
BOUNDED_WINDOWS: Final = 4
GROWTH: Final = 4
#: A window starts this much wider than the density of the previous page says, so that a
#: page is usually one query.
MARGIN: Final = 1.5
HINTS_KEPT: Final = 4096

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS: Final = int((datetime(1, 1, 2, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)
_MAX_MS: Final = int((datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)
_MIN_DAY: Final = date(1, 1, 2).toordinal()
_MAX_DAY: Final = date(9999, 12, 30).toordinal()


def axis_point(sort: SortSpec, value: Any) -> int | None:
    """A sort value as a whole number on the window axis (milliseconds, or days for ISO date
    strings), or None when the value cannot bound a window (null, an arbitrary string)."""
    if sort.value_kind == "datetime" and isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return (aware - _EPOCH) // timedelta(milliseconds=1)
    if sort.value_kind == "string" and isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).toordinal()
        except ValueError:
            return None
    return None


def _bound(sort: SortSpec, point: int) -> datetime | str | None:
    """The stored value at ``point``; None beyond the years 1-9999 (no window bound there)."""
    if sort.value_kind == "datetime":
        if not _MIN_MS <= point <= _MAX_MS:
            return None
        return _EPOCH + timedelta(milliseconds=point)
    if not _MIN_DAY <= point <= _MAX_DAY:
        return None
    return date.fromordinal(point).isoformat()


@dataclass(frozen=True)
class Window:
    """Sort values from ``near`` (inclusive) to ``far`` (exclusive) in reading order; None
    leaves that side open. ``nulls`` adds the documents without a value (alone: only them)."""

    near: datetime | str | None = None
    far: datetime | str | None = None
    nulls: bool = False

    def mongo(self, sort: SortSpec) -> dict[str, Any]:
        if self.nulls and self.far is not None:
            # an ascending first window: the nulls sort first, then values up to ``far``;
            # one read (two bounded index ranges) instead of a round trip for the nulls
            return {"$or": [{sort.field: None}, replace(self, nulls=False).mongo(sort)]}
        if self.nulls:
            return {sort.field: None}
        near, far = ("$gte", "$lt") if sort.direction == 1 else ("$lte", "$gt")
        condition: dict[str, Any] = {}
        if self.near is not None:
            condition[near] = self.near
        if self.far is not None:
            condition[far] = self.far
        if not condition:
            raise ValueError("a window open on both sides is the whole order: read it unwindowed")
        return {sort.field: condition}


def _windows_from(sort: SortSpec, near: datetime | str, point: int, width: float) -> list[Window]:
    """Windows from ``near`` (at ``point`` on the axis) to the end of the reading order:
    ``BOUNDED_WINDOWS`` of growing width, the open-ended rest, then the nulls when they sort
    last (descending)."""
    step = max(1, round(width))
    windows: list[Window] = []
    for n in range(BOUNDED_WINDOWS):
        point += sort.direction * step * GROWTH**n
        far = _bound(sort, point)
        if far is None:
            break
        windows.append(Window(near=near, far=far))
        near = far
    windows.append(Window(near=near))
    if sort.direction == -1:
        windows.append(Window(nulls=True))
    return windows


def windows_after(sort: SortSpec, start: Any, width: float | None) -> list[Window] | None:
    """Windows from a page position's sort value ``start`` (included: its later ``_id`` ties
    follow it) to the end of ``sort``, the reading order; None: read the rest as one sorted
    query (no width learned, or a position without a value, among the nulls)."""
    point = axis_point(sort, start)
    if width is None or point is None:
        return None
    return _windows_from(sort, start, point, width)


def first_page_windows(sort: SortSpec, hint: WindowHint | None, wanted: int) -> list[Window] | None:
    """Windows of a page of ``wanted`` documents without a position, from a learned hint;
    None without one.

    The first window reaches from the start of the order (the nulls included when ascending) to
    one width past the extreme the hint remembers, so documents beyond a stale extreme are
    read first, as they must be. The hint keeps a density, not a page's width, so a page of
    50 after a page of 5 taught it is still about one window.
    """
    if hint is None:
        return None
    width = hint.width_for(wanted)
    point = hint.extreme + sort.direction * max(1, round(width))
    edge = _bound(sort, point)
    if edge is None:
        return None
    first = Window(far=edge, nulls=sort.direction == 1)
    return [first, *_windows_from(sort, edge, point, width)]


@dataclass(frozen=True)
class WindowHint:
    """What a first page saw: the extreme sort value (axis point) and the span of sort values
    per document there (with the margin), whatever that page's size was."""

    extreme: int
    per_item: float

    def width_for(self, wanted: int) -> float:
        return max(1.0, self.per_item * wanted)


def _points(sort: SortSpec, read: Sequence[Mapping[str, Any]]) -> list[int]:
    found = (axis_point(sort, read_path(doc, sort.field)) for doc in read)
    return [point for point in found if point is not None]


def learned_width(sort: SortSpec, read: Sequence[Mapping[str, Any]], wanted: int) -> float | None:
    """A window width expected to hold ``wanted`` documents, from the span of sort values of
    ``read`` (documents in reading order); None when fewer than two carry a value."""
    points = _points(sort, read)
    if len(points) < 2:
        return None
    span = abs(points[-1] - points[0])
    per_item = span / (len(points) - 1)
    return max(1.0, per_item * wanted * MARGIN)


def first_hint(sort: SortSpec, read: Sequence[Mapping[str, Any]]) -> WindowHint | None:
    """The hint a first page teaches: its first value and its density (per document)."""
    points = _points(sort, read)
    if len(points) < 2:
        return None
    per_item = abs(points[-1] - points[0]) / (len(points) - 1) * MARGIN
    return WindowHint(extreme=points[0], per_item=per_item)


class WindowHints:
    """First-page hints per query, least recently used dropped first (a speed-up only: a
    process without hints answers the same, with one plain sorted query per first page)."""

    def __init__(self, kept: int = HINTS_KEPT) -> None:
        self._hints: BoundedLRU[Hashable, WindowHint] = BoundedLRU(kept)

    def get(self, key: Hashable) -> WindowHint | None:
        return self._hints.get(key)

    def clear(self) -> None:
        self._hints.clear()

    def put(self, key: Hashable, hint: WindowHint) -> None:
        self._hints.put(key, hint)
