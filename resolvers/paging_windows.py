"""Reading a sorted page as a few bounded ranges of the sort field (pure logic, no I/O).

Why: DocumentDB finds a customer's documents through the ``(customerId, <sort field>, _id)``
index but sorts everything the index scan matched before the limit applies (docs/store.md).
A page of 20 out of a customer's 100,000 orders sorted all 100,000. A range on the sort
field bounds that sort: the ordered (composite-term) index turns ``customerId`` equality
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
holds about one page; the client sends the cursor back, so the width it carries is only a
hint, kept near the process's own for the list (``bounded_widths``). A first page has no
cursor: ``WindowHints`` remembers, per process, the extreme value and width a first page of
the same query last saw. Without one, the hint
is found by probes (``EdgeSearch``) rather than by one plain sorted query, which would sort
the whole list: unsorted reads of the list's start, each bounded by a range of the sort
field, that return at most a few pages of sort values (and ids) and no documents. DocumentDB
collects every index entry in a probe's range before the limit applies, so a probe costs
about a microsecond per entry in its range and a millisecond of round trip: the search walks
a grid of points around now from the far start of the order (ranges there are empty and
cheap) towards the list, then closes in between the last probe that held too few and the
first that held too many: back through the grid points the walk leapt over, then by splits
no shorter than a round trip's worth of entries, or straight at the page when a probe read a
few of the list's first values. A round trip (about 2 ms with the driver's CPU) is worth
about 2,000 entries, so both the entries a probe reads and the number of probes count.
Probes hold no state between requests. Hints and probes only ever change how fast a page is
read, never what it contains: the first window of a first page is open towards the start of
the order, so values beyond a stale extreme are still read first.

A window is at least one sort value wide, so where many documents share a value (a day's
1,440 invoices due), cursors and hints also carry a width on the ``_id`` axis
(``resolvers.paging_ties``), and the page reads that value in windows bounded on ``_id`` too
(``Ties``): the sort index ends with ``_id``, so each is one short index range.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar

from caching.bounded_lru import BoundedLRU
from resolvers.paging import SortSpec, Widths, read_path
from resolvers.paging_ties import tie_bound, tie_point, tie_spacing

#: Bounded windows before the open-ended rest: widths w, 4w, 16w, 64w cover 85 estimated
#: pages; data that sparse is small enough that the open-ended rest costs little.
BOUNDED_WINDOWS: Final = 4
GROWTH: Final = 4
#: A window starts this much wider than the density of the previous page says, so that a
#: page is usually one query.
MARGIN: Final = 1.5
HINTS_KEPT: Final = 4096
#: Bounded windows inside one value's ties (``paging_ties``), of widths t and 4t, before the
#: rest of its ties: a position near the end of a value's ties finds them nearly empty, and
#: each costs a round trip; the rest is read together with the values past it.
TIE_WINDOWS: Final = 2
#: A probe (``EdgeSearch``) reads at most this many pages of sort values: one that holds
#: between one and this many pages gives the hint; a narrower band costs more probes, a
#: wider one a longer first window to sort.
PROBE_PAGES: Final = 8
#: The probe grid around now: ``unit * 2**n`` either side for n up to ``steps`` (2**16 hours,
#: 7.5 years, for dates and times; 2**12 days, 11 years, for ISO days), then the axis's ends.
PROBE_GRID: Final[dict[str, tuple[int, int]]] = {"datetime": (3_600_000, 16), "string": (1, 12)}
#: The walk reaches the region near now at the grid's ``PROBE_NEAR``-th point after its first
#: (``unit * 2**(steps - PROBE_NEAR)`` from now: 42.7 days, or 64 for ISO days), where a
#: customer's list most often begins; there it starts again one point at a time, so its
#: first leap into that region goes a factor of 2, not 16, past the last range it saw empty.
PROBE_NEAR: Final = 6
#: The walk skips at most this many grid points at once while its probes hold too few (a
#: factor of 16 in distance from now): a longer leap could land deep inside the list, and a
#: probe costs what its range holds.
PROBE_STRIDE: Final = 4
#: Between a probe that held too few and one that held too many, how far the next probe
#: goes (sixteenths of the way): a quarter at first, since a probe past the list's first page
#: costs what its range holds and one short of it only a round trip; one step further after
#: each probe that held too few (up to half the way: further, a probe risks landing deep in
#: the list), one step back after each that held too many. (Chosen on simulated lists of
#: 10-100,000 documents near and far from now: fewest index entries read for the probes.)
PROBE_SPLITS: Final = (1, 2, 4, 8)
#: What a probe's round trip costs, in index entries its range holds (about 2 ms of
#: store round trip and driver CPU, against about 0.8 us an entry, on the local stack).
PROBE_ROUND_TRIP: Final = 2000
#: A probe that held a few of the list's first values aims the next at this many times
#: ``wanted`` at their spacing: about the geometric middle of ``wanted`` to ``PROBE_PAGES``
#: times it, so that a spacing off by a factor of two still fits.
PROBE_AIM: Final = 3
#: A search that has not found the first page after this many probes gives up (a ``plain``
#: hint: one plain sorted read), so a first page's round trips stay bounded whatever the data.
PROBE_MAX: Final = 64
#: A cursor's window width is only a hint (the client sends it back, and could make it up):
#: a page reads with it kept within this factor either way of the width the process's own
#: hint for the list gives such a page (``bounded_widths``).
CURSOR_WIDTH_SPREAD: Final = GROWTH**2

_B = TypeVar("_B")
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
class Ties:
    """The documents whose sort value is ``value``, with an ``_id`` from ``near`` (exclusive)
    to ``far`` (inclusive) in reading order; None leaves that side open. The sort index ends
    with ``_id``, so this is one short range of it however many documents share the value."""

    value: datetime | str
    near: str | None = None
    far: str | None = None

    def mongo(self, sort: SortSpec) -> dict[str, Any]:
        near, far = ("$gt", "$lte") if sort.direction == 1 else ("$lt", "$gte")
        condition: dict[str, Any] = {}
        if self.near is not None:
            condition[near] = self.near
        if self.far is not None:
            condition[far] = self.far
        return {sort.field: self.value, "_id": condition} if condition else {sort.field: self.value}


@dataclass(frozen=True)
class Window:
    """Sort values from ``near`` (inclusive; exclusive when ``past_near``) to ``far``
    (exclusive) in reading order; None leaves that side open (both None: no values). ``nulls``
    adds the documents without a value, ``ties`` some documents of one value (alone: a window
    inside that value); together, one read of a few bounded index ranges instead of a round
    trip for each."""

    near: datetime | str | None = None
    far: datetime | str | None = None
    nulls: bool = False
    past_near: bool = False
    ties: Ties | None = None

    def mongo(self, sort: SortSpec) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if self.nulls:
            parts.append({sort.field: None})
        if self.near is not None or self.far is not None:
            parts.append(self._values(sort))
        if self.ties is not None:
            parts.append(self.ties.mongo(sort))
        if not parts:
            raise ValueError("a window open on both sides is the whole order: read it unwindowed")
        return parts[0] if len(parts) == 1 else {"$or": parts}

    def _values(self, sort: SortSpec) -> dict[str, Any]:
        inclusive = "$gte" if sort.direction == 1 else "$lte"
        near = "$gt" if sort.direction == 1 else "$lt"
        far = "$lt" if sort.direction == 1 else "$gt"
        condition: dict[str, Any] = {}
        if self.near is not None:
            condition[near if self.past_near else inclusive] = self.near
        if self.far is not None:
            condition[far] = self.far
        return {sort.field: condition}


def _growing_bounds(
    start: int, step: int, direction: int, count: int, bound: Callable[[int], _B | None]
) -> list[_B]:
    """Up to ``count`` bounds ever further from ``start`` in ``direction``: ``step``, then
    ``GROWTH`` times more each time; the first point ``bound`` cannot state ends them."""
    bounds: list[_B] = []
    for n in range(count):
        start += direction * step * GROWTH**n
        found = bound(start)
        if found is None:
            break
        bounds.append(found)
    return bounds


def _windows_from(sort: SortSpec, near: datetime | str, point: int, width: float) -> list[Window]:
    """Windows from ``near`` (at ``point`` on the axis) to the end of the reading order:
    ``BOUNDED_WINDOWS`` of growing width, the open-ended rest, then the nulls when they sort
    last (descending)."""
    step = max(1, round(width))
    bounds: list[datetime | str] = _growing_bounds(
        point, step, sort.direction, BOUNDED_WINDOWS, lambda at: _bound(sort, at)
    )
    nears = [near, *bounds]
    windows = [Window(near=n, far=f) for n, f in zip(nears, bounds, strict=False)]
    windows.append(Window(near=nears[-1]))
    if sort.direction == -1:
        windows.append(Window(nulls=True))
    return windows


def _tie_windows(
    sort: SortSpec, value: datetime | str, near: str | None, anchor_id: str, width: float
) -> tuple[list[Window], Ties]:
    """Windows through the ties of ``value`` from ``_id`` ``near`` (exclusive; None: from the
    first) on: ``TIE_WINDOWS`` growing from ``anchor_id`` on the tie axis of its shape, and
    the rest of the ties, which ``_past_ties`` reads with the values past ``value``. An id
    on the axis of its own shape is exact up to ``TIE_CHARS`` and saturation, so a point one
    unit from it either way is a string strictly past it: each bound lies past the last one
    (``tests/unit/test_paging_windows.py`` checks it with ids of every shape)."""
    anchor = tie_point(anchor_id, anchor_id)
    step = max(1, int(width))
    bounds = _growing_bounds(
        anchor, step, sort.direction, TIE_WINDOWS, lambda at: tie_bound(at, anchor_id)
    )
    nears: list[str | None] = [near, *bounds]
    windows = [Window(ties=Ties(value, n, f)) for n, f in zip(nears, bounds, strict=False)]
    return windows, Ties(value, nears[-1])


def _past_ties(
    sort: SortSpec, value: datetime | str, point: int, rest: Ties, width: float
) -> list[Window]:
    """The ``rest`` of the ties of ``value`` (at ``point``), then the values past it: the next
    unit's (most likely as many ties again, so one unit, whatever the page's span said) in
    the same read, since the ties left after the tie windows are most likely few and a round
    trip of their own would be wasted; then windows of ``width`` growing from there."""
    after = point + 2 * sort.direction
    far = _bound(sort, after)
    first = Window(near=value, past_near=True, far=far, ties=rest)
    if far is None:
        return [first, *([Window(nulls=True)] if sort.direction == -1 else [])]
    return [first, *_windows_from(sort, far, after, width)]


def windows_after(
    sort: SortSpec,
    start: Any,
    width: float | None,
    *,
    start_id: str | None = None,
    tie_width: float | None = None,
) -> list[Window] | None:
    """Windows from a page position's sort value ``start`` (included: its later ``_id`` ties
    follow it) to the end of ``sort``, the reading order; None: read the rest as one sorted
    query (no width learned, or a position without a value, among the nulls). With a
    ``tie_width`` (many documents share a value), the ties of ``start`` after ``start_id``
    come first, in windows of the ``_id``, then the values past ``start``."""
    point = axis_point(sort, start)
    if width is None or point is None:
        return None
    if tie_width is None or start_id is None:
        return _windows_from(sort, start, point, width)
    bounded, rest = _tie_windows(sort, start, start_id, start_id, tie_width)
    if not bounded:  # no bound on the axis past the cursor's id: the plain windows
        return _windows_from(sort, start, point, width)
    return [*bounded, *_past_ties(sort, start, point, rest, width)]


def first_page_windows(sort: SortSpec, hint: WindowHint | None, wanted: int) -> list[Window] | None:
    """Windows of a page of ``wanted`` documents without a position, from a learned hint;
    None without one, or when the hint says to read the list plainly.

    The first window reaches from the start of the order (the nulls included when ascending) to
    one width past the extreme the hint remembers, so documents beyond a stale extreme are
    read first, as they must be. The hint keeps a density, not a page's width, so a page of
    50 after a page of 5 is still about one window. Where many documents share the extreme
    value (``WindowHint.tie_width_for``), the first window ends inside its ties instead: from
    the start of the order to one tie width past the ``_id`` the hint remembers.
    """
    if hint is None or hint.plain:
        return None
    width = hint.width_for(wanted)
    ties = hint.tie_width_for(wanted)
    extreme = _bound(sort, hint.extreme)
    if ties is not None and hint.extreme_id is not None and extreme is not None:
        bounded, rest = _tie_windows(sort, extreme, None, hint.extreme_id, ties)
        if bounded:
            first = replace(bounded[0], far=extreme, nulls=sort.direction == 1)
            return [first, *bounded[1:], *_past_ties(sort, extreme, hint.extreme, rest, width)]
    point = hint.extreme + sort.direction * max(1, round(width))
    edge = _bound(sort, point)
    if edge is None:
        return None
    first = Window(far=edge, nulls=sort.direction == 1)
    return [first, *_windows_from(sort, edge, point, width)]


def bounded_widths(given: Widths, hint: WindowHint | None, wanted: int) -> Widths:
    """The widths a page of ``wanted`` documents past a cursor reads with: the cursor's
    (``given``), kept within ``CURSOR_WIDTH_SPREAD`` either way of the width the process's own
    ``hint`` for the list gives that page; without a width, that width itself.

    Why: a cursor is the client's to send back. A width it leaves out would read the rest of
    the list as one sorted query, and one far too narrow (1 ms) would leave the page to the
    open-ended window after ``BOUNDED_WINDOWS`` near-empty ones: either sorted everything past
    the position (100,000 orders: 0.4-0.8 s, against 4-5 ms in windows). Kept within the
    spread, the first window holds at most 16 pages at the hint's density, and the bounded
    windows reach 85 / 16 pages of it, or 1,360 times a hint's width for a list (a filtered
    one) sparser than the list the hint was learned from. The tie width stays as given: its
    windows lie inside one sort value, whose ties the page reads whole without it. Without a
    hint, or with a plain one, the process reads such a list as one plain sorted query anyway
    (no probes: a scope across customers, MongoDB), which no width makes worse."""
    if hint is None or hint.plain:
        return given
    own = hint.width_for(wanted)
    if given.value is None:
        return Widths(own, given.ties)
    low, high = own / CURSOR_WIDTH_SPREAD, own * CURSOR_WIDTH_SPREAD
    return Widths(min(max(given.value, low), high), given.ties)


@dataclass(frozen=True)
class WindowHint:
    """What a first page saw: the extreme sort value (axis point) and the span of sort values
    per document there (with the margin), whatever that page's size was. ``plain``: read the
    list as one plain sorted query (it is shorter than a page, or no range bounds its start).
    Where documents shared values, the ``_id`` of the first one (``extreme_id``) and the span
    of the tie axis per document among ties (``tie_per_item``, with the margin)."""

    extreme: int
    per_item: float
    plain: bool = False
    extreme_id: str | None = None
    tie_per_item: float | None = None

    def width_for(self, wanted: int) -> float:
        return max(1.0, self.per_item * wanted)

    def tie_width_for(self, wanted: int) -> float | None:
        """The ``_id`` width of a window of ``wanted`` inside the extreme value's ties; None
        when a window one value wide holds no more than ``wanted`` (with the margin)."""
        if self.tie_per_item is None or self.per_item * wanted >= 1:
            return None
        return max(1.0, self.tie_per_item * wanted)


def _keys(sort: SortSpec, read: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """(axis point, ``_id``) of the documents of ``read`` that have a point, in order."""
    found = ((axis_point(sort, read_path(doc, sort.field)), doc["_id"]) for doc in read)
    return [(point, str(doc_id)) for point, doc_id in found if point is not None]


def learned_widths(
    sort: SortSpec, read: Sequence[Mapping[str, Any]], wanted: int, *, tied: bool = False
) -> Widths | None:
    """Window widths expected to hold ``wanted`` documents, from the span of sort values of
    ``read`` (documents in reading order) and, when one value holds more than that, from the
    span of their ``_id``s among ties; None when fewer than two carry a value. ``tied``: the
    page was read inside such ties; one that spans two values (15 of one, 6 of the next: a
    width under two) still hands on a tie width while it holds ties, since its span alone
    cannot tell a value of 15 from one of 1,440; a wider page has left them."""
    keys = _keys(sort, read)
    if len(keys) < 2:
        return None
    width = (_spacing([point for point, _ in keys]) or 0.0) * wanted * MARGIN
    spacing = tie_spacing(keys, keys[-1][1]) if width < (2 if tied else 1) else None
    ties = None if spacing is None else max(1.0, spacing * wanted * MARGIN)
    return Widths(max(1.0, width), ties)


def first_hint(sort: SortSpec, read: Sequence[Mapping[str, Any]]) -> WindowHint | None:
    """The hint a first page teaches: its first value and its density (per document), and
    where documents share values, its first ``_id`` and their density on the tie axis."""
    return _hint_of_keys(_keys(sort, read))


def _hint_of_keys(keys: Sequence[tuple[int, str]]) -> WindowHint | None:
    """``first_hint`` of (axis point, ``_id``) pairs in reading order."""
    hint = _hint_of([point for point, _ in keys])
    return hint if hint is None else _with_ties(hint, keys)


def _with_ties(hint: WindowHint, keys: Sequence[tuple[int, str]]) -> WindowHint:
    """``hint`` with the tie density of ``keys`` (in reading order) and their first ``_id``,
    when any two of them share a value."""
    spacing = tie_spacing(keys, keys[0][1]) if keys else None
    if spacing is None:
        return hint
    return replace(hint, extreme_id=keys[0][1], tie_per_item=spacing * MARGIN)


def _in_reading_order(
    sort: SortSpec, values: Sequence[Any], ids: Sequence[Any]
) -> list[tuple[int, str]]:
    """(axis point, ``_id``) of the documents a probe read that have a point, in reading
    order (a probe answers in no particular order)."""
    points = (axis_point(sort, value) for value in values)
    keys = [(p, str(i)) for p, i in zip(points, ids, strict=True) if p is not None]
    keys.sort(reverse=sort.direction == -1)  # by point, then ``_id``, the sort's way
    return keys


def _hint_of(points: Sequence[int]) -> WindowHint | None:
    """The hint of sort values (axis points, in reading order) at the start of a list."""
    spacing = _spacing(points)
    if spacing is None:
        return None
    return WindowHint(extreme=points[0], per_item=spacing * MARGIN)


def _spacing(points: Sequence[int]) -> float | None:
    """The mean distance between neighbouring ``points`` (in order, either way): their span
    over the gaps; None for fewer than two."""
    if len(points) < 2:
        return None
    return abs(points[-1] - points[0]) / (len(points) - 1)


def now_point(sort: SortSpec, now: datetime) -> int:
    """``now`` on the window axis of ``sort`` (today's day for ISO date strings)."""
    value = now if sort.value_kind == "datetime" else now.astimezone(UTC).date().isoformat()
    point = axis_point(sort, value)
    if point is None:
        raise ValueError(f"{now!r} is not a point on the axis of {sort.name}")
    return point


def _grid(sort: SortSpec, now: int) -> list[int]:
    """The depths (``direction * point``: growing in reading order) a search walks: the far
    start of the order, points ever closer to now, now, points ever further past it, the far
    end. Steps double away from now, so a list anywhere on the axis is reached in a few dozen
    points, and the range a probe near the list adds is about as wide as its distance to now."""
    unit, steps = PROBE_GRID[sort.value_kind]
    low, high = (_MIN_MS, _MAX_MS) if sort.value_kind == "datetime" else (_MIN_DAY, _MAX_DAY)
    start, end = sorted((sort.direction * low, sort.direction * high))
    centre = sort.direction * now
    offsets = [unit << n for n in range(steps + 1)]
    points = [centre, *(centre - o for o in offsets), *(centre + o for o in offsets)]
    return sorted({start, end, *(min(max(point, start), end) for point in points)})


class EdgeSearch:
    """Where the first page of a list ends, found by probes (module docstring) and given as
    the hint such a page would teach (what ``next_probe`` returns in the end, also ``hint``).

    Drive it with ``next_probe`` (the window to read, unsorted, at most ``limit`` documents; or,
    once the search ended, the hint) and ``learn`` (the sort values read, in any order). A probe
    holds *too few* when it reads fewer than ``wanted`` values, *fits* when it reads fewer than
    ``limit`` (its values are then the list's first ones: they give the hint), and holds *too
    many* otherwise. The walk goes from the far start of the order towards the list, skipping
    ever more points while its probes hold too few; once a probe holds too many, the search
    narrows the range between it and the last probe that held too few. A list shorter than
    ``wanted``, or one whose start no range bounds (values at the ends of the axis; more nulls
    than a probe holds where they sort first) gets a ``plain`` hint: one plain sorted read is
    then cheapest, or all there is; so does a search still going after ``PROBE_MAX`` probes.
    """

    def __init__(self, sort: SortSpec, wanted: int, now: int) -> None:
        self._sort = sort
        self._wanted = wanted
        self.limit = wanted * PROBE_PAGES
        self._grid = _grid(sort, now)
        self._step = 1  # the walk's next grid point (0, the axis's very start, only if needed)
        self._stride = 1
        self._near = PROBE_NEAR + 1  # the grid point where the walk enters the near region
        self._few: int | None = None  # the deepest depth known to hold too few
        self._many: int | None = None  # the shallowest depth known to hold at least wanted
        self._probe_many = False  # whether ``_many`` (from a probe's values) is probed next
        self._split = 2  # the index in ``PROBE_SPLITS`` of the next split
        self._probed = 0
        self._cheap_way = 0  # how far a split goes at least (``_split_between``)
        self._aim: int | None = None  # the next probe, aimed from a probe's values
        self._many_read = False  # whether ``_many`` lies just past values a probe read
        self.probes = 0
        self.hint: WindowHint | None = None
        #: (axis point, ``_id``) of what the last probe that held too many read, in reading
        #: order: where more than a probe holds share one value, a sample of their ids
        self._sample: list[tuple[int, str]] = []

    def next_probe(self) -> Window | WindowHint:
        """The window of the next probe; the hint once it is known (the search's end)."""
        few, many = self._few, self._many
        if self.hint is not None:
            return self.hint
        if self.probes == PROBE_MAX:
            self.hint = WindowHint(extreme=0, per_item=0.0, plain=True)
            return self.hint
        if many is None:
            depth = self._grid[self._step]
        elif few is None:
            depth = self._grid[0]
        elif many - few <= 1:
            # ties: more than a probe holds share one value (or one day): the window is them,
            # narrowed on ``_id`` from what the probes read of them, if they read ids
            value = self._sort.direction * (many - 1)
            ties = [key for key in self._sample if key[0] == value]
            self.hint = _with_ties(_edge_hint(self._sort, many), ties)
            return self.hint
        elif self._probe_many:
            depth, self._probe_many = many, False
        elif self._aim is not None:
            depth, self._aim = self._aim, None
        else:
            skipped = self._grid_between(few, many)
            depth = self._split_between(few, many) if skipped is None else skipped
        self._probed = depth
        self.probes += 1
        far = _bound(self._sort, self._sort.direction * depth)
        return Window(far=far, nulls=self._sort.direction == 1)

    def _grid_between(self, few: int, many: int) -> int | None:
        """The middle of the grid points the walk skipped between ``few`` and ``many``, if
        any: the walk leaps up to ``PROBE_STRIDE`` points, a factor of 16 in distance from
        now, and a split of that range, however biased, lands near its wide end first."""
        low = bisect_right(self._grid, few)
        high = bisect_left(self._grid, many)
        return self._grid[low] if low < high else None

    def _split_between(self, few: int, many: int) -> int:
        """A point between ``few`` and ``many``: ``PROBE_SPLITS`` of the way, but at least
        as far as the range whose index entries, at the spacing a probe that held too many
        saw, cost about a round trip (up to half the way): where the list is sparse or the
        range short, a short step saves few entries and costs a probe."""
        gap = many - few
        way = max(gap * PROBE_SPLITS[self._split] // 16, min(gap // 2, self._cheap_way))
        return min(few + max(1, way), many - 1)

    def learn(self, values: Sequence[Any], ids: Sequence[Any] | None = None) -> None:
        """What the last probe read: the sort values of its documents, in any order, and
        their ``_id``s if it read them (then the hint covers ties: ``WindowHint``)."""
        depth = self._probed
        points = (axis_point(self._sort, value) for value in values)
        depths = sorted(self._sort.direction * p for p in points if p is not None)
        keys = _in_reading_order(self._sort, values, ids) if ids is not None else []
        if len(values) >= self.limit:
            self._too_many(depth, depths)
            self._split = max(self._split - 1, 0)
            self._sample = keys
        elif len(values) >= self._wanted:
            in_order = [self._sort.direction * d for d in depths]
            hint = _hint_of(in_order)
            self.hint = _edge_hint(self._sort, depth) if hint is None else _with_ties(hint, keys)
        else:
            self._few = depth
            if self._many is None:
                self._walk_on()
            else:
                self._split = min(self._split + 1, len(PROBE_SPLITS) - 1)
                self._aim = self._aim_past(depth, depths)

    def _aim_past(self, depth: int, depths: Sequence[int]) -> int | None:
        """Where the list's first ``wanted`` most likely end, from a probe to ``depth``
        that held ``depths``, fewer than ``wanted``: the first of them is the list's first,
        and the range to ``depth`` shows their spacing; aimed at ``PROBE_AIM`` times
        ``wanted``, mid-way (geometrically) between too few and too many."""
        if not depths or self._many is None:
            return None
        spacing = max(1, depth - depths[0]) / len(depths)
        aim = depths[0] + int(spacing * self._wanted * PROBE_AIM)
        if aim >= self._many:  # up to ``many`` holds enough; from values read, maybe not too many
            return self._many if self._many_read else None
        return aim if aim > depth else None

    def _too_many(self, depth: int, depths: Sequence[int]) -> None:
        """A probe to ``depth`` held too many, ``depths`` among them. At least ``wanted`` of
        the list lie before the ``wanted``-th of those, whichever documents the probe read.
        When the values lie bunched at the range's start, they are likely the list's first
        ones (the store returned the range in the order it wrote it): the probe up to the
        ``wanted``-th of them comes next, and fits."""
        spacing = _spacing(depths)
        if spacing:  # values apart (not all one): their spacing prices a range
            self._cheap_way = int(PROBE_ROUND_TRIP * spacing)
        if len(depths) < self._wanted:
            self._many, self._many_read = depth, False
        else:
            self._many = min(depth, depths[self._wanted - 1] + 1)
            self._many_read = self._many < depth
            # bunched at the range's start, farther from its end than they spread
            bunched = depth - depths[-1] > depths[-1] - depths[0]
            ascending = self._sort.direction == 1
            self._probe_many = ascending and bunched and self._many < depth
        if self._few is None and depth == self._grid[0]:
            self.hint = WindowHint(extreme=0, per_item=0.0, plain=True)  # nothing bounds it

    def _walk_on(self) -> None:
        last = len(self._grid) - 1
        if self._step == last:
            self.hint = WindowHint(extreme=0, per_item=0.0, plain=True)  # the list is short
            return
        near = self._step == self._near
        self._stride = 1 if near else min(self._stride * 2, PROBE_STRIDE)
        self._step = min(self._step + self._stride, last)


def _edge_hint(sort: SortSpec, depth: int) -> WindowHint:
    """A hint whose first window ends just before ``depth`` (one unit past its extreme)."""
    return WindowHint(extreme=sort.direction * (depth - 1), per_item=0.0)


class WindowHints:
    """First-page hints per query, least recently used dropped first (a speed-up only: a
    process without hints answers the same, finding each first page's hint by probes).

    ``probe`` False reads a first page without a hint as one plain sorted query instead, as
    every such page was read before probes: the large-customer benchmark's side by side.
    ``store_needs_probes``: whether the server is FerretDB, which needs them (MongoDB reads
    a sorted page in index order: ``readmodel.server``); None until the first probe asks."""

    def __init__(self, kept: int = HINTS_KEPT, *, probe: bool = True) -> None:
        self._hints: BoundedLRU[Hashable, WindowHint] = BoundedLRU(kept)
        self.probe = probe
        self.store_needs_probes: bool | None = None

    def get(self, key: Hashable) -> WindowHint | None:
        return self._hints.get(key)

    def clear(self) -> None:
        """Forget everything, as a new process knows nothing (the server is asked again)."""
        self._hints.clear()
        self.store_needs_probes = None

    def put(self, key: Hashable, hint: WindowHint) -> None:
        self._hints.put(key, hint)
