"""Client filters turned into MongoDB query fragments (pure logic, no I/O).

Every fragment is later AND-ed with the caller's scope filter by ``combine``; a filter can
narrow what the scope allows but never widen it. A ``customerId`` outside the customers the
caller's scope names never gets this far: the readers refuse it first, FORBIDDEN
(``Scope.check_customer``), as the live feed does.

Top-level scalar equality is kept as plain ``{field: value}`` wherever possible: it is what the
indexes of ``readmodel.documents.INDEXES`` serve, and what the readers recognise when they
pick a page's ordered index (``documents.sort_index``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from readmodel import documents
from readmodel.search_keys import fragment_keys, search_form, search_pattern
from resolvers.errors import BadUserInput

#: Order statuses derived from ``cancelled`` and ``fulfillmentStage``.
ORDER_STATUSES: Final = ("OPEN", "IN_FULFILLMENT", "SHIPPED", "CANCELLED")
#: Invoice statuses as clients see them: OVERDUE is derived, never stored.
INVOICE_VIEW_STATUSES: Final = (*documents.INVOICE_STATUSES, "OVERDUE")

#: A search text: at most ``SEARCH_TEXT_MAX`` characters as typed (surrounding spaces aside),
#: at least ``SEARCH_TEXT_MIN`` in the form it compares in (``search_keys.search_form``:
#: spaces, dashes and accents do not count, so ``a-`` or ``é`` is a one-letter search).
SEARCH_TEXT_MIN: Final = 2
SEARCH_TEXT_MAX: Final = 100
#: Bytes of ``search_keys.search_pattern`` a text may make. Each typed character becomes the
#: class of every character of its form, with what may stand between (``a``: 192 bytes,
#: ``㎯``: 559, its six letters one by one), and PCRE2 refuses a pattern that compiles to
#: more than 64 KiB ("regular expression is too large": 54 ``㎯`` or 81 ``ᾀ``, 27,000 to
#: 30,000 bytes of pattern), a store error. 22,000 lets every text of 100 ASCII characters
#: through (``o``, the largest: 21,762) and keeps what any text compiles to under 54,500
#: bytes (session 22, measured with PCRE2 10.42).
SEARCH_PATTERN_MAX: Final = 22_000


def combine(*fragments: Mapping[str, Any]) -> dict[str, Any]:
    """AND query fragments, merging them into one document while their keys are disjoint.

    A merged document keeps plain equality at the top level (index-served); keys
    that collide (e.g. a scope's ``customerId`` and a filter's) go under ``$and`` so that
    neither replaces the other.
    """
    merged: dict[str, Any] = {}
    conjuncts: list[Mapping[str, Any]] = []
    for fragment in fragments:
        if not fragment:
            continue
        if any(key in merged or key == "$and" for key in fragment):
            conjuncts.append(fragment)
        else:
            merged.update(fragment)
    if conjuncts:
        existing = merged.pop("$and", [])
        merged["$and"] = [*existing, *conjuncts]
    return merged


#: The last instant a BSON date holds within Python's range (BSON dates are whole milliseconds).
LAST_MILLISECOND: Final = datetime.max.replace(microsecond=999_000, tzinfo=UTC)


def millisecond_ceiling(moment: datetime) -> datetime | None:
    """``moment`` in UTC, rounded up to the next whole millisecond if it has finer digits;
    None when that lies past ``datetime.max`` (``moment`` is after ``LAST_MILLISECOND``).

    Stored times are BSON dates, whole milliseconds, and PyMongo truncates a finer bound it
    is sent: ``from: 08:00:00.0005`` would let in an item of 08:00:00.000, before it. For a
    stored ``t``, ``t >= moment`` holds exactly when ``t >= millisecond_ceiling(moment)``, and
    ``t < moment`` exactly when ``t < millisecond_ceiling(moment)``."""
    utc = moment.astimezone(UTC)
    finer = utc.microsecond % 1000
    if not finer:
        return utc
    try:
        return utc + timedelta(microseconds=1000 - finer)
    except OverflowError:
        return None


@dataclass(frozen=True)
class TimeRange:
    """``start`` inclusive, ``end`` exclusive; either may be open. Either may be finer than
    the stored milliseconds: ``mongo`` sends bounds that select what the exact ones would."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for bound in (self.start, self.end):
            if bound is not None and bound.tzinfo is None:
                raise BadUserInput("times must carry a UTC offset")
            if bound is not None:
                try:
                    bound.astimezone(UTC)
                except OverflowError:
                    raise BadUserInput(
                        f"time {bound.isoformat()} is out of range: in UTC it falls outside "
                        "the years 1 to 9999"
                    ) from None
        if self.start is not None and self.end is not None and self.start > self.end:
            raise BadUserInput("a time range must not end before it starts")

    def mongo(self) -> dict[str, Any]:
        """The condition on a stored time, bounds rounded up to whole milliseconds
        (``millisecond_ceiling``); a bound past ``LAST_MILLISECOND`` is after every stored
        time, so none is at or after it and every one is before it."""
        condition: dict[str, Any] = {}
        if self.start is not None:
            if (start := millisecond_ceiling(self.start)) is not None:
                condition["$gte"] = start
            else:
                condition["$gt"] = LAST_MILLISECOND
        if self.end is not None:
            if (end := millisecond_ceiling(self.end)) is not None:
                condition["$lt"] = end
            else:
                condition["$lte"] = LAST_MILLISECOND
        return condition


def _one_of(name: str, values: Iterable[str] | None, allowed: Iterable[str]) -> list[str] | None:
    if values is None:
        return None
    chosen = sorted(set(values))
    unknown = [v for v in chosen if v not in set(allowed)]
    if unknown:
        raise BadUserInput(f"{name}: unknown value(s) {', '.join(unknown)}")
    return chosen


def _equals_or_in(field: str, values: list[str]) -> dict[str, Any]:
    return {field: values[0]} if len(values) == 1 else {field: {"$in": values}}


def _range(field: str, window: TimeRange | None) -> dict[str, Any]:
    condition = window.mongo() if window is not None else {}
    return {field: condition} if condition else {}


def _case_insensitive_equals(value: str) -> dict[str, Any]:
    return {"$regex": f"^{re.escape(value)}$", "$options": "i"}


def _order_status(status: str) -> dict[str, Any]:
    open_ = {"cancelled": {"$ne": True}}
    if status == "CANCELLED":
        return {"cancelled": True}
    if status == "SHIPPED":
        return {**open_, "fulfillmentStage": "SHIPPED"}
    if status == "IN_FULFILLMENT":
        stages = [s for s in documents.FULFILLMENT_STAGES if s != "SHIPPED"]
        return {**open_, "fulfillmentStage": {"$in": stages}}
    return {**open_, "fulfillmentStage": None}


def _any_of(alternatives: list[dict[str, Any]]) -> dict[str, Any]:
    return alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}


def _chosen(
    chosen: list[str] | None, condition: Callable[[list[str]], dict[str, Any]]
) -> dict[str, Any]:
    """The condition on values a client chose; nothing when it chose none (None), and no
    document at all when it chose an explicitly empty list."""
    if chosen is None:
        return {}
    return condition(chosen) if chosen else _NOTHING


def _equals(field: str, value: str | None) -> dict[str, Any]:
    """``{field: value}``; nothing when the client did not ask (None)."""
    return {} if value is None else {field: value}


def _upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


@dataclass(frozen=True)
class _ListFilter:
    """What every list's filter has: statuses a client chose and one customer to narrow to."""

    statuses: frozenset[str] | None = None
    customer_id: str | None = None

    def _chosen_statuses(self, allowed: Iterable[str]) -> list[str] | None:
        return _one_of("status", self.statuses, allowed)

    def _narrowed(self, *conditions: Mapping[str, Any]) -> dict[str, Any]:
        """``conditions`` AND-ed, with the customer the client chose."""
        return combine(*conditions, _equals("customerId", self.customer_id))


@dataclass(frozen=True)
class OrderFilter(_ListFilter):
    """A status is derived (``_order_status``); the other fields match as stored."""

    fulfillment_stages: frozenset[str] | None = None
    ordered: TimeRange | None = None
    warehouse_id: str | None = None
    order_type: str | None = None

    def mongo(self) -> dict[str, Any]:
        statuses = self._chosen_statuses(ORDER_STATUSES)
        stages = _one_of("fulfillmentStage", self.fulfillment_stages, documents.FULFILLMENT_STAGES)
        return self._narrowed(
            _chosen(statuses, lambda chosen: _any_of([_order_status(s) for s in chosen])),
            _chosen(stages, lambda chosen: _equals_or_in("fulfillmentStage", chosen)),
            _range("orderedAt", self.ordered),
            _equals("warehouseId", self.warehouse_id),
            _equals("orderType", self.order_type),
        )


@dataclass(frozen=True)
class ShipmentFilter(_ListFilter):
    """The carrier's SCAC and the country match in upper case, the city in any case."""

    planned_pickup: TimeRange | None = None
    carrier_scac: str | None = None
    destination_city: str | None = None
    destination_country: str | None = None

    def mongo(self) -> dict[str, Any]:
        statuses = self._chosen_statuses(documents.SHIPMENT_STATUSES)
        city = self.destination_city
        return self._narrowed(
            _chosen(statuses, lambda chosen: _equals_or_in("status", chosen)),
            _range("plannedPickupAt", self.planned_pickup),
            _equals("carrierScac", _upper(self.carrier_scac)),
            {"destination.city": _case_insensitive_equals(city)} if city is not None else {},
            _equals("destination.countryCode", _upper(self.destination_country)),
        )


@dataclass(frozen=True)
class InvoiceFilter(_ListFilter):
    """``OPEN`` means open and not yet due; ``OVERDUE`` open with ``dueDate`` before today."""

    issued: TimeRange | None = None

    def mongo(self, today: date) -> dict[str, Any]:
        statuses = self._chosen_statuses(INVOICE_VIEW_STATUSES)
        return self._narrowed(
            _chosen(statuses, lambda chosen: _any_of([_invoice_status(s, today) for s in chosen])),
            _range("issuedAt", self.issued),
        )


def _invoice_status(status: str, today: date) -> dict[str, Any]:
    # ISO dates compare correctly as strings.
    if status == "OVERDUE":
        return {"status": "OPEN", "dueDate": {"$lt": today.isoformat()}}
    if status == "OPEN":
        return {"status": "OPEN", "dueDate": {"$gte": today.isoformat()}}
    return {"status": status}


def invoice_view_status(stored_status: str | None, due_date: str | None, today: date) -> str | None:
    """The status a client sees: stored OPEN becomes OVERDUE once the due date has passed."""
    if stored_status == "OPEN" and due_date is not None and due_date < today.isoformat():
        return "OVERDUE"
    return stored_status


#: Matches no document: an explicitly empty list of statuses asks for nothing.
_NOTHING: Final[dict[str, Any]] = {"_id": {"$in": []}}


@dataclass(frozen=True)
class ShipmentSearch:
    """Free-text shipment search with optional structured narrowing.

    ``text`` matches, as a substring, a shipment's id, tracking number, order ids,
    destination city, and the customer reference or ship-to name of its orders, both
    compared in their ``search_keys.search_form``: without case, accents, spaces and dashes
    (``istanbul`` finds ``İstanbul``; ``PO10045`` finds ``PO-10045`` and ``1Z 999`` finds
    ``1Z999``): support staff paste a number as the customer read it off a label, and type
    names as they say them.

    Two ways to find them, with the same answer: through the search documents
    (``readmodel.search_keys``: ``keys``, ``order_keys_filter``, ``shipment_keys_filter``,
    then the shipments by id, ``among``), or by the pattern over the entities themselves
    (``order_filter``, ``shipment_filter``), which no index serves.
    """

    text: str
    statuses: frozenset[str] | None = None
    planned_pickup: TimeRange | None = None
    customer_id: str | None = None

    _pattern: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        stripped = self.text.strip()
        if len(stripped) > SEARCH_TEXT_MAX:
            raise BadUserInput(f"text: search for at most {SEARCH_TEXT_MAX} characters")
        if len(search_form(stripped)) < SEARCH_TEXT_MIN:
            raise BadUserInput(
                f"text: search for at least {SEARCH_TEXT_MIN} characters that are not spaces, "
                "dashes or accents"
            )
        pattern = search_pattern(stripped)
        if len(pattern.encode()) > SEARCH_PATTERN_MAX:
            raise BadUserInput(
                "text: search for fewer characters: these have too many accented or "
                f"compatibility forms to check (more than {SEARCH_PATTERN_MAX:,} bytes of "
                "pattern; 100 plain letters or digits always fit)"
            )
        object.__setattr__(self, "text", stripped)
        object.__setattr__(self, "_pattern", pattern)

    def pattern(self) -> dict[str, Any]:
        """The ``$regex`` condition of the text (``search_keys.search_pattern``): escaped,
        the client's text is never a regex."""
        return {"$regex": self._pattern, "$options": "i"}

    def keys(self) -> list[list[str]] | None:
        """The search keys every value containing the text holds (one list: the text has
        one form); None when it is too short to have any (the pattern alone finds its
        matches)."""
        keys = fragment_keys(self.text)
        return None if keys is None else [keys]

    def _keyed(self, keys: list[str]) -> dict[str, Any]:
        """Search documents holding ``keys`` (the index) whose values contain the text."""
        held = keys[0] if len(keys) == 1 else {"$all": keys}
        return {"keys": held, "text": self.pattern()}

    def order_keys_filter(self, keys: list[str]) -> dict[str, Any]:
        """Search documents of the orders whose own values match."""
        return combine({"kind": documents.ORDERS}, self._keyed(keys), self._narrowing())

    def shipment_keys_filter(self, keys: list[str]) -> dict[str, Any]:
        """Search documents of the shipments whose own values match."""
        return combine({"kind": documents.SHIPMENTS}, self._keyed(keys), self._narrowing())

    def shipments_of_orders_filter(self, order_ids: Iterable[str]) -> dict[str, Any]:
        """Search documents of the shipments of ``order_ids`` (orders that matched)."""
        ids = {"orderIds": {"$in": sorted(set(order_ids))}}
        return combine({"kind": documents.SHIPMENTS}, ids, self._narrowing())

    def _narrowing(self) -> dict[str, Any]:
        return _equals("customerId", self.customer_id)

    def among(self, shipment_ids: Iterable[str]) -> dict[str, Any]:
        """The shipments of ``shipment_ids`` that also meet the structured conditions."""
        return combine({"_id": {"$in": sorted(set(shipment_ids))}}, self._structured())

    def _structured(self) -> dict[str, Any]:
        return ShipmentFilter(
            statuses=self.statuses,
            planned_pickup=self.planned_pickup,
            customer_id=self.customer_id,
        ).mongo()

    def order_filter(self) -> dict[str, Any]:
        """Orders whose own fields match; their shipments are search hits too."""
        return {"$or": self._text_in("customerReference", "shipTo.name", "_id")}

    def shipment_filter(self, matching_order_ids: Iterable[str]) -> dict[str, Any]:
        """Shipments matching the text themselves, or shipping one of ``matching_order_ids``."""
        alternatives = self._text_in("trackingNumber", "_id", "orderIds", "destination.city")
        order_ids = sorted(set(matching_order_ids))
        if order_ids:
            alternatives.append({"orderIds": {"$in": order_ids}})
        return combine({"$or": alternatives}, self._structured())

    def _text_in(self, *fields: str) -> list[dict[str, Any]]:
        """For each of ``fields``, the documents in which it (an element of it) matches the
        ``pattern``, written "not one that does not match" (``$nor`` of ``$not``), the same
        documents: the store would otherwise try the pattern as an index term of the field's
        index, which DocumentDB refuses for a pattern of more than 893 bytes (a text of a few
        letters that have accented forms). No index serves the pattern either way; an
        expression (``$regexMatch``) instead cost 2.6 times as much (session 22)."""
        pattern = self.pattern()
        return [{"$nor": [{field: {"$not": pattern}}]} for field in fields]
