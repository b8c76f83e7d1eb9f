"""Small value types shared by the entity types, and conversions from stored values."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Self, TypeVar

import strawberry

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
#: Where ``stored`` keeps, in a field's metadata, the stored key and its conversion.
_STORED = "graph.stored"


def field_resolver(description: str) -> Callable[[F], F]:
    """``@strawberry.field(description=...)`` with a type mypy strict accepts.

    Strawberry's overload for the decorator form returns ``Any`` (its mypy plugin fills the
    gap); the resolver keeps its own signature for type checking.
    """
    decorator: Callable[[F], F] = strawberry.field(description=description)
    return decorator


def utc(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (PyMongo returns naive UTC unless tz_aware)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
    """A field of a ``StoredValue`` type: ``convert`` applied to the stored mapping's ``key``.

    Typed ``Any`` as ``strawberry.field`` is: the class annotation gives the field's type.
    """
    return strawberry.field(description=description, metadata={_STORED: (key, convert)})


def each(read: Callable[[Mapping[str, Any]], T]) -> Callable[[Any], list[T]]:
    """The conversion of a stored list: ``read`` applied to each of its mappings."""
    return lambda value: [read(item) for item in items(value)]


class StoredValue:
    """A value type whose fields are all ``stored``: declared once, read by ``of``/``read``."""

    def __init__(self, **fields: Any) -> None:
        """Replaced by Strawberry's dataclass constructor; here for the type checker."""
        raise NotImplementedError

    @classmethod
    def of(cls, value: Any) -> Self | None:
        """The value for a stored mapping; None when what is stored is not one (absent)."""
        found = mapping(value)
        return None if found is None else cls.read(found)

    @classmethod
    def read(cls, found: Mapping[str, Any]) -> Self:
        get = found.get
        return cls(**{name: convert(get(key)) for name, key, convert in _readers(cls)})


_Readers = tuple[tuple[str, str, Callable[[Any], Any]], ...]
_READERS: dict[type, _Readers] = {}


def _readers(cls: type) -> _Readers:
    """(field, stored key, conversion) of each field of ``cls``; found once per type."""
    found = _READERS.get(cls)
    if found is None:
        declared = dataclasses.fields(cls)
        for field in declared:
            if _STORED not in field.metadata:
                raise TypeError(f"{cls.__name__}.{field.name} is not declared with stored()")
        found = _READERS[cls] = tuple((field.name, *field.metadata[_STORED]) for field in declared)
    return found


@strawberry.type(description="A postal address.")
class Address(StoredValue):
    line1: str | None = stored("line1", text, "First address line.")
    line2: str | None = stored("line2", text, "Second address line, if any.")
    city: str | None = stored("city", text, "City.")
    region: str | None = stored("region", text, "State, province or region, if any.")
    postal_code: str | None = stored("postalCode", text, "Postal code.")
    country_code: str | None = stored("countryCode", text, "ISO 3166-1 alpha-2 country code.")


@strawberry.type(description="One end of an order: a warehouse or a consignee.")
class Party(StoredValue):
    warehouse_id: str | None = stored(
        "warehouseId", text, "The 3PL warehouse, when this party is one of its warehouses."
    )
    name: str | None = stored("name", text, "Name of the site or consignee.")
    address: Address | None = stored("address", Address.of, "Postal address.")


@strawberry.type(description="An amount of money.")
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


@strawberry.type(description="Why and when something was cancelled.")
class Cancellation(StoredValue):
    reason: str | None = stored("reason", text, "The reason given by the source system.")
    cancelled_at: datetime | None = stored("cancelledAt", utc, "When it was cancelled.")


@strawberry.type(
    description=(
        "Provenance: the upstream event that last changed this record. Quote it when "
        "asking support about a value."
    )
)
class EventProvenance(StoredValue):
    source: str | None = stored(
        "source", text, "The producing system instance, e.g. erp/s4-prod or tms/us-road."
    )
    id: str | None = stored("id", text, "The event's id within its source.")
    type: str | None = stored("type", text, "The event type, e.g. logistics.order.updated.v1.")
    time: datetime | None = stored("time", utc, "When it happened in the source system.")


@strawberry.type(description="Where a page sits in its connection (Relay).")
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
