"""Relay cursor pagination over MongoDB with a stable order (pure logic, no I/O).

Every connection sorts by one field and breaks ties with ``_id`` in the same direction, so
the order is total and a page boundary is never ambiguous. A cursor is base64url of a small
JSON object holding only the sort name, the boundary document's sort value and its ``_id``
(and, optionally, the width of sort values a page of that size spans there, and where many
documents share a sort value the width of ``_id`` values it spans among them, which only tell
the next read how wide a range to start with, within bounds the server sets:
``resolvers.paging_windows.bounded_widths``);
it is opaque to clients and carries no entitlement: the caller's scope filter is applied to
every page, so a cursor taken from another customer's data only positions the caller inside
their own data.

Missing sort values follow MongoDB's order (null is the smallest value): first when
ascending, last when descending. The "after" condition handles them explicitly because a
range operator never matches null.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Final, Literal, NamedTuple

import orjson

from resolvers.errors import BadUserInput

DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100

ValueKind = Literal["datetime", "string"]


@dataclass(frozen=True)
class SortSpec:
    """One way of ordering a connection: a document field and a direction (1 or -1)."""

    name: str
    field: str
    direction: Literal[1, -1]
    value_kind: ValueKind

    def mongo_sort(self) -> list[tuple[str, int]]:
        return [(self.field, self.direction), ("_id", self.direction)]


def _sorts(field: str, stem: str, kind: ValueKind) -> dict[str, SortSpec]:
    return {
        f"{stem}_DESC": SortSpec(f"{stem}_DESC", field, -1, kind),
        f"{stem}_ASC": SortSpec(f"{stem}_ASC", field, 1, kind),
    }


ORDER_SORTS: Final = _sorts("orderedAt", "ORDERED_AT", "datetime")
SHIPMENT_SORTS: Final = {
    **_sorts("plannedPickupAt", "PLANNED_PICKUP_AT", "datetime"),
    **_sorts("eta", "ETA", "datetime"),
}
INVOICE_SORTS: Final = {
    **_sorts("issuedAt", "ISSUED_AT", "datetime"),
    **_sorts("dueDate", "DUE_DATE", "string"),
}
_SORTS_OF_EACH_LIST: Final = (ORDER_SORTS, SHIPMENT_SORTS, INVOICE_SORTS)


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for, Relay style: at most ``first`` items after cursor
    ``after`` (forward), or at most ``last`` items before cursor ``before`` (backward).
    Neither size given: ``DEFAULT_PAGE_SIZE``. A size of 0 is valid, as Relay allows: a page
    of no items, for its ``pageInfo`` and count (``Readers`` then reads at most one document,
    to tell whether an item lies ahead)."""

    sort: SortSpec
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def __post_init__(self) -> None:
        if self.first is not None and self.last is not None:
            raise BadUserInput("Give first (to page forwards) or last (backwards), not both.")
        if self.after is not None and self.before is not None:
            raise BadUserInput("Give after (to page forwards) or before (backwards), not both.")
        if self.after is not None and self.last is not None:
            raise BadUserInput("after pages forwards: use it with first, not last.")
        if self.before is not None and self.first is not None:
            raise BadUserInput("before pages backwards: use it with last, not first.")
        if not 0 <= self.size <= MAX_PAGE_SIZE:
            name = "last" if self.backward else "first"
            raise BadUserInput(f"{name} must be between 0 and {MAX_PAGE_SIZE}, got {self.size}")

    @property
    def backward(self) -> bool:
        return self.last is not None or self.before is not None

    @property
    def size(self) -> int:
        if self.last is not None:
            return self.last
        return self.first if self.first is not None else DEFAULT_PAGE_SIZE

    @property
    def cursor(self) -> str | None:
        """The cursor the page starts from, exclusive (``after``, or ``before`` backwards)."""
        return self.before if self.backward else self.after

    def position(self) -> Position | None:
        """Where reading starts (exclusive); None: at the start of the reading order."""
        if self.cursor is None:
            return None
        return decode_cursor(self.sort, self.cursor, "before" if self.backward else "after")

    @property
    def reading_sort(self) -> SortSpec:
        """The order documents are read in: backwards reads the reversed order from
        ``before`` (exactly reversed, nulls and ``_id`` ties included) and flips the page."""
        if not self.backward:
            return self.sort
        return replace(self.sort, direction=-1 if self.sort.direction == 1 else 1)


class Widths(NamedTuple):
    """Window widths a page hands on in its cursors: of the sort value, and of the ``_id``
    among ties (None unless a window one value wide would hold more than a page)."""

    value: float | None
    ties: float | None


@dataclass(frozen=True)
class Position:
    """A decoded cursor: the sort value and ``_id`` of the last item already seen, and the
    window width learned by the page that issued it (None: not known), and the width on the
    ``_id`` axis of a window inside one sort value (``tie_width``: None unless a window one
    value wide would hold many pages, ``resolvers.paging_ties``)."""

    value: datetime | str | None
    id: str
    width: float | None = None
    tie_width: float | None = None

    def widths(self) -> Widths:
        return Widths(self.width, self.tie_width)


def _as_utc(value: datetime) -> datetime:
    """PyMongo returns naive UTC datetimes unless the client is ``tz_aware``."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_path(doc: Mapping[str, Any], field: str) -> Any:
    """The value at a dotted path, or None when any step is missing."""
    value: Any = doc
    for part in field.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def encode_cursor(
    sort: SortSpec,
    doc: Mapping[str, Any],
    width: float | None = None,
    tie_width: float | None = None,
) -> str:
    """The cursor just after ``doc`` in ``sort`` order (``width``, ``tie_width``: see
    ``Position``; the tie width, a number of up to 60 digits, as a float of 3 digits)."""
    value = read_path(doc, sort.field)
    encoded: dict[str, Any] | None
    if isinstance(value, datetime):
        # Milliseconds: BSON dates hold exactly that, so the boundary compares equal.
        encoded = {"d": int(_as_utc(value).timestamp() * 1000)}
    elif isinstance(value, str):
        encoded = {"s": value}
    else:
        encoded = None
    body: dict[str, Any] = {"s": sort.name, "v": encoded, "i": str(doc["_id"])}
    if width is not None:
        body["w"] = round(width)
    if tie_width is not None:
        body["t"] = float(f"{tie_width:.3g}")
    # orjson: a page encodes a cursor per edge, and ``json.dumps`` was 3 % of a page's CPU.
    # The text is the same compact JSON, except that a non-ASCII string stays UTF-8 rather
    # than escaped; ``decode_cursor`` reads both, so cursors issued before still work.
    raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _foreign_sort(argument: str, issued_for: object, sort: SortSpec) -> str:
    """Why a well-formed cursor of another sort does not fit: the same list in another order
    (the client changed the sort), or another list (naming its sort would send the client
    looking for a sort this list does not have)."""
    if isinstance(issued_for, str):
        if any(sort.name in sorts and issued_for in sorts for sorts in _SORTS_OF_EACH_LIST):
            return f"{argument}: the cursor was issued for sort {issued_for!r}, not {sort.name!r}"
        if any(issued_for in sorts for sorts in _SORTS_OF_EACH_LIST):
            return (
                f"{argument}: not a cursor issued by this connection (it is one of a list "
                f"sorted by {issued_for!r})"
            )
    return f"{argument}: not a cursor issued by this connection"


def _is_day(value: object) -> bool:
    """Whether ``value`` is an ISO day (``YYYY-MM-DD``), as every stored value of a string
    sort is (``readmodel.documents``): a page reads past one in windows of days, past any
    other string (made up: a cursor is the client's to send) in one sort of the rest."""
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def decode_cursor(sort: SortSpec, cursor: str, argument: str = "after") -> Position:
    """Parse a cursor issued for ``sort``; anything else is the client's mistake (the error
    names the ``argument`` it came in): not base64, not JSON, JSON nested deeper than the
    parser's recursion limit (``[[[...``: a RecursionError), an integer of more than 4,300
    digits (a ValueError), or JSON of another shape."""
    bad = BadUserInput(f"{argument}: not a cursor issued by this connection")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError) as exc:
        raise bad from exc
    if not isinstance(body, dict) or not isinstance(body.get("i"), str):
        raise bad
    if body.get("s") != sort.name:
        raise BadUserInput(_foreign_sort(argument, body.get("s"), sort))
    raw = body.get("v")
    value: datetime | str | None
    if raw is None:
        value = None
    elif isinstance(raw, dict) and sort.value_kind == "datetime" and type(raw.get("d")) is int:
        try:
            value = datetime.fromtimestamp(raw["d"] / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise bad from exc
    elif isinstance(raw, dict) and sort.value_kind == "string" and _is_day(raw.get("s")):
        value = raw["s"]
    else:
        raise bad
    width = body.get("w")
    if width is not None and (type(width) is not int or width < 1):
        raise bad
    tie_width = body.get("t")
    if tie_width is not None and not (type(tie_width) in (int, float) and 1 <= tie_width < 1e300):
        raise bad
    return Position(value=value, id=body["i"], width=width, tie_width=tie_width)


def after_filter(sort: SortSpec, position: Position) -> dict[str, Any]:
    """Documents strictly after ``position`` in ``sort`` order (ties broken by ``_id``).

    Written as what to leave out (``$nor`` of the documents up to and including the
    position) rather than as alternatives of what to keep: the store then reads the page as
    one ordered scan of the sort index, skipping what the exclusion rejects, where an ``$or``
    of ranges becomes a union of three index scans and a sort of everything they matched.
    Ascending from a value, a range on the field also lets the scan start at the position
    (every later document has a value at least as large; nulls sort first, so none is left).
    """
    field, value, doc_id = sort.field, position.value, position.id
    if value is None:
        # null sorts first: descending has only the later nulls left (plain conjunction);
        # ascending leaves out the nulls up to the position.
        if sort.direction == -1:
            return {field: None, "_id": {"$lt": doc_id}}
        return {"$nor": [{field: None, "_id": {"$lte": doc_id}}]}
    if sort.direction == -1:
        return {"$nor": [{field: {"$gt": value}}, {field: value, "_id": {"$gte": doc_id}}]}
    return {
        field: {"$gte": value},
        "$nor": [{field: value, "_id": {"$lte": doc_id}}],
    }


def position_of(sort: SortSpec, doc: Mapping[str, Any]) -> Position:
    """The position just after ``doc``: where the next fetch of an over-fetching page starts."""
    value = read_path(doc, sort.field)
    if isinstance(value, datetime):
        value = _as_utc(value)
    elif not isinstance(value, str):
        value = None
    return Position(value=value, id=str(doc["_id"]))


@dataclass(frozen=True)
class Edge:
    cursor: str
    node: dict[str, Any]


@dataclass(frozen=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True)
class Page:
    """One page of a connection. ``count`` runs the (optional) total count only when asked;
    ``total`` asks it at most once."""

    edges: list[Edge]
    page_info: PageInfo
    count: Callable[[], Awaitable[int]]
    #: The one count of this page, once asked (``total``); a copy (``replace``) counts anew.
    _counting: list[asyncio.Task[int]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    async def total(self) -> int:
        """The page's total count, counted once however often and however concurrently it is
        asked: a count reads every index entry of the list (0.1 s for 100,000 orders), and
        aliases of ``totalCount`` on one connection (``c0: totalCount c1: totalCount ...``)
        each ask it. Shielded: one asker cancelled leaves the others their answer."""
        if not self._counting:
            self._counting.append(asyncio.ensure_future(self.count()))
        return await asyncio.shield(self._counting[0])


def build_page(
    request: PageRequest,
    read: list[dict[str, Any]],
    count: Callable[[], Awaitable[int]],
    width: float | None = None,
    tie_width: float | None = None,
) -> Page:
    """Cut up to ``size + 1`` visible documents, in ``request.reading_sort`` order, into a page
    (``width``, ``tie_width``: the window widths its cursors hand on, see ``Position``).

    The extra document only tells whether more items lie ahead in the reading direction:
    after the page forwards (``hasNextPage``), before it backwards (``hasPreviousPage``);
    for a page of size 0 it is the only document, and the page has no edges or cursors.
    The other flag says whether a cursor was given (Relay allows this when counting the
    items on the other side would cost another query).
    """
    items = read[: request.size]
    if request.backward:
        items.reverse()
    edges = [Edge(encode_cursor(request.sort, doc, width, tie_width), doc) for doc in items]
    more = len(read) > request.size
    info = PageInfo(
        has_next_page=request.before is not None if request.backward else more,
        has_previous_page=more if request.backward else request.after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Page(edges=edges, page_info=info, count=count)
