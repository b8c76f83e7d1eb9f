"""Small value types shared by the entity types, and conversions from stored values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


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


@strawberry.type(description="A postal address.")
class Address:
    line1: str | None = strawberry.field(description="First address line.")
    line2: str | None = strawberry.field(description="Second address line, if any.")
    city: str | None = strawberry.field(description="City.")
    region: str | None = strawberry.field(description="State, province or region, if any.")
    postal_code: str | None = strawberry.field(description="Postal code.")
    country_code: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country code.")

    @classmethod
    def of(cls, value: Any) -> Address | None:
        stored = mapping(value)
        if stored is None:
            return None
        return cls(
            line1=text(stored.get("line1")),
            line2=text(stored.get("line2")),
            city=text(stored.get("city")),
            region=text(stored.get("region")),
            postal_code=text(stored.get("postalCode")),
            country_code=text(stored.get("countryCode")),
        )


@strawberry.type(description="One end of an order: a warehouse or a consignee.")
class Party:
    warehouse_id: str | None = strawberry.field(
        description="The 3PL warehouse, when this party is one of its warehouses."
    )
    name: str | None = strawberry.field(description="Name of the site or consignee.")
    address: Address | None = strawberry.field(description="Postal address.")

    @classmethod
    def of(cls, value: Any) -> Party | None:
        stored = mapping(value)
        if stored is None:
            return None
        return cls(
            warehouse_id=text(stored.get("warehouseId")),
            name=text(stored.get("name")),
            address=Address.of(stored.get("address")),
        )


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
class Cancellation:
    reason: str | None = strawberry.field(description="The reason given by the source system.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")

    @classmethod
    def of(cls, value: Any) -> Cancellation | None:
        stored = mapping(value)
        if stored is None:
            return None
        return cls(reason=text(stored.get("reason")), cancelled_at=utc(stored.get("cancelledAt")))


@strawberry.type(
    description=(
        "Provenance: the upstream event that last changed this record. Quote it when "
        "asking support about a value."
    )
)
class EventProvenance:
    source: str | None = strawberry.field(
        description="The producing system instance, e.g. erp/s4-prod or tms/us-road."
    )
    id: str | None = strawberry.field(description="The event's id within its source.")
    type: str | None = strawberry.field(
        description="The event type, e.g. logistics.order.updated.v1."
    )
    time: datetime | None = strawberry.field(description="When it happened in the source system.")

    @classmethod
    def of(cls, value: Any) -> EventProvenance | None:
        stored = mapping(value)
        if stored is None:
            return None
        return cls(
            source=text(stored.get("source")),
            id=text(stored.get("id")),
            type=text(stored.get("type")),
            time=utc(stored.get("time")),
        )


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
