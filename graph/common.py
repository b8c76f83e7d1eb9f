"""Small value types shared by the entity types, and conversions from stored values."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Self, TypeVar, cast, dataclass_transform

import strawberry
from strawberry.types.field import StrawberryField

from graph.plain_readers import at_hand

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
C = TypeVar("C", bound=type)
#: Where ``stored`` keeps, in a field's metadata, its reader (the resolver): ``stored_type``
#: makes it the Python property and the leaf path's reader as well.
_STORED = "graph.stored"


def field_resolver(description: str) -> Callable[[F], F]:
    """``@strawberry.field(description=...)`` with a type mypy strict accepts.

    Strawberry's overload for the decorator form returns ``Any`` (its mypy plugin fills the
    gap); the resolver keeps its own signature for type checking.
    """
    decorator: Callable[[F], F] = strawberry.field(description=description)
    return decorator


@dataclass_transform(kw_only_default=True, field_specifiers=(strawberry.field, StrawberryField))
def value_type(description: str) -> Callable[[C], C]:
    """``@strawberry.type(description=...)`` for a value type: an object with no identity of
    its own (``Money``, ``Address``, ``PageInfo`` ...), marked ``@shareable`` for Federation.

    Another subgraph may define a type of the same name (every Relay subgraph has its
    ``PageInfo``); composition refuses that unless every definition is shareable. Sharing a
    value type claims nothing about who resolves it: its fields are answered by whichever
    subgraph answered the object that holds it. The definitions must agree on the fields
    (docs/api.md, "Federation").

    ``dataclass_transform``, as on ``strawberry.type``: type checkers see the fields as the
    constructor's keywords.
    """
    declare: Callable[[C], C] = strawberry.federation.type(description=description, shareable=True)
    return declare


def utc(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (PyMongo returns naive UTC unless tz_aware);
    None for what is not a time, and for a time whose UTC date falls outside the years 1 to
    9999 (``0001-01-01T00:00:00+05:00``): it cannot be shown, as a malformed one cannot."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def calendar_date(value: Any) -> date | None:
    """A stored ISO ``YYYY-MM-DD`` date."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def items(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def stored(key: str, convert: Callable[[Any], Any], description: str) -> Any:
    """A field of a ``StoredValue`` type: ``convert`` applied to the stored mapping's ``key``
    when the field is asked for, not when the value is built (``StoredValue``).

    Typed ``Any`` as ``strawberry.field`` is: the class annotation gives the field's type.
    """

    def read(self: StoredValue) -> Any:
        return convert(self.found.get(key))

    return strawberry.field(resolver=read, description=description, metadata={_STORED: read})


def each(read: Callable[[Mapping[str, Any]], T]) -> Callable[[Any], list[T]]:
    """The conversion of a stored list: ``read`` applied to each of its mappings."""
    return lambda value: [read(item) for item in items(value)]


class StoredValue:
    """A value type whose fields are all ``stored``, declared with ``stored_type``.

    A value holds the stored mapping it was read from and converts a field when it is asked
    for: a query asks for a few of a value's fields (a tracking page asks four of a
    milestone's nine, one of its location's five), and converting all of them for every
    milestone was the largest part of ``graph/``'s CPU per lookup (docs/benchmarks.md).
    Each field's reader is registered for the leaf path (``graph.plain_readers``), which
    calls it without graphql-core's per-field work; graphql-core calls the same function
    as the field's resolver otherwise. In Python a field reads as an attribute (a property
    with the same conversion), and two values are equal when every field is.
    """

    #: The stored mapping the fields are converted from (``read``).
    found: Mapping[str, Any]

    @classmethod
    def of(cls, value: Any) -> Self | None:
        """The value for a stored mapping; None when what is stored is not one (absent)."""
        found = mapping(value)
        return None if found is None else cls.read(found)

    @classmethod
    def read(cls, found: Mapping[str, Any]) -> Self:
        value = cls.__new__(cls)
        value.found = found
        return value

    def answers(self) -> dict[str, Any]:
        """Every field's converted value, by its Python name."""
        return {name: read(self) for name, read in _READERS[type(self)]}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredValue) or type(other) is not type(self):
            return NotImplemented
        return self.answers() == other.answers()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.answers().items())
        return f"{type(self).__name__}({fields})"


_READERS: dict[type, tuple[tuple[str, Callable[[Any], Any]], ...]] = {}
_V = TypeVar("_V", bound=type[StoredValue])


def stored_type(description: str) -> Callable[[_V], _V]:
    """``value_type`` for a ``StoredValue`` type: every field must be declared with ``stored``;
    each becomes, in Python, a property converting on read."""

    def declare(cls: _V) -> _V:
        typed: _V = value_type(description)(cls)
        readers = []
        for field in dataclasses.fields(cast(Any, typed)):
            read = field.metadata.get(_STORED)
            if read is None:
                raise TypeError(f"{cls.__name__}.{field.name} is not declared with stored()")
            at_hand(read)(read)
            readers.append((field.name, read))
            setattr(typed, field.name, property(read))
        _READERS[typed] = tuple(readers)
        typed.__eq__ = StoredValue.__eq__  # type: ignore[method-assign]
        typed.__repr__ = StoredValue.__repr__  # type: ignore[method-assign]
        typed.__hash__ = None  # type: ignore[assignment]
        return typed

    return declare


@stored_type("A postal address.")
class Address(StoredValue):
    line1: str | None = stored("line1", text, "First address line.")
    line2: str | None = stored("line2", text, "Second address line, if any.")
    city: str | None = stored("city", text, "City.")
    region: str | None = stored("region", text, "State, province or region, if any.")
    postal_code: str | None = stored("postalCode", text, "Postal code.")
    country_code: str | None = stored("countryCode", text, "ISO 3166-1 alpha-2 country code.")


@stored_type("One end of an order: a warehouse or a consignee.")
class Party(StoredValue):
    warehouse_id: str | None = stored(
        "warehouseId", text, "The 3PL warehouse, when this party is one of its warehouses."
    )
    name: str | None = stored("name", text, "Name of the site or consignee.")
    address: Address | None = stored("address", Address.of, "Postal address.")


@value_type("An amount of money.")
class Money:
    amount: str = strawberry.field(
        description='Decimal amount as a string (e.g. "1234.50"), never a float.'
    )
    currency: str | None = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def of(cls, amount: Any, currency: Any) -> Money | None:
        if not isinstance(amount, str):
            return None
        return cls(amount=amount, currency=text(currency))


@stored_type("Why and when something was cancelled.")
class Cancellation(StoredValue):
    reason: str | None = stored("reason", text, "The reason given by the source system.")
    cancelled_at: datetime | None = stored("cancelledAt", utc, "When it was cancelled.")


@stored_type(
    "Provenance: the newest upstream event (by its source time) of those that changed this "
    "record. Quote it when asking support about a value."
)
class EventProvenance(StoredValue):
    source: str | None = stored(
        "source", text, "The producing system instance, e.g. erp/s4-prod or tms/us-road."
    )
    id: str | None = stored("id", text, "The event's id within its source.")
    type: str | None = stored("type", text, "The event type, e.g. logistics.order.updated.v1.")
    time: datetime | None = stored("time", utc, "When it happened in the source system.")


@value_type("Where a page sits in its connection (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description=(
            "Whether more items follow: ask again with `after: endCursor`. When paging "
            "backwards, true whenever `before` was given."
        )
    )
    has_previous_page: bool = strawberry.field(
        description=(
            "Whether items precede this page: ask again with `last` and `before: startCursor`. "
            "When paging forwards, true whenever `after` was given."
        )
    )
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first item: pass it as `before` for the page before."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item: pass it as `after` for the next page."
    )
