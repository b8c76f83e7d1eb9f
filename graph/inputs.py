"""Filter arguments of the list fields, converted to the readers' filters (``to_filter``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar, cast, get_args, get_origin

import strawberry

from graph.enums import (
    FulfillmentStage,
    InvoiceStatus,
    OrderStatus,
    OrderType,
    ShipmentStatus,
    names_of,
)
from resolvers.filters import InvoiceFilter, OrderFilter, ShipmentFilter, TimeRange


@strawberry.input(
    description=(
        "A time window: `from` inclusive, `to` exclusive; either may be omitted. Times need "
        "a UTC offset, e.g. 2026-11-01T00:00:00Z."
    )
)
class TimeRangeInput:
    start: datetime | None = strawberry.field(
        name="from", default=None, description="Earliest time included."
    )
    end: datetime | None = strawberry.field(
        name="to", default=None, description="First time no longer included."
    )

    def to_range(self) -> TimeRange:
        return TimeRange(start=self.start, end=self.end)


#: Where ``_optional`` keeps, in a field's metadata, the name of the readers' filter field.
_FILTER_FIELD = "graph.filter_field"
#: Where ``_optional`` keeps, in a field's metadata, the conversion of a given condition.
_CONVERT = "graph.convert"
_F = TypeVar("_F", OrderFilter, ShipmentFilter, InvoiceFilter)


class FilterInput(Generic[_F]):
    """A filter argument of a list field, turned by ``to_filter`` into the readers' filter it
    names (``filter_type``): mypy refuses an input given with another list's filter type."""

    @classmethod
    def filter_type(cls) -> type[_F]:
        """The readers' filter named where the input subclasses ``FilterInput[<filter>]``."""
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is FilterInput:
                return cast(type[_F], get_args(base)[0])
        raise TypeError(f"{cls.__name__} names no readers' filter: subclass FilterInput[...]")


def _optional(
    description: str,
    *,
    filter_field: str | None = None,
    convert: Callable[[Any], Any] | None = None,
) -> Any:
    """A condition of a filter: optional, and not applied when omitted (null). It goes to the
    readers' filter field of the same name, or to ``filter_field``; ``convert`` turns a given
    value into what that field takes (a GraphQL value that is already it needs none)."""
    metadata: dict[str, Any] = {_CONVERT: convert}
    if filter_field is not None:
        metadata[_FILTER_FIELD] = filter_field
    return strawberry.field(default=None, description=description, metadata=metadata)


def _window(description: str, filter_field: str) -> Any:
    """A time window condition (``TimeRangeInput``), going to the readers' ``filter_field``."""
    return _optional(description, filter_field=filter_field, convert=TimeRangeInput.to_range)


def _any_of(description: str) -> Any:
    """A condition listing enum members, which the readers' filters take by name."""
    return _optional(description, convert=names_of)


def _stored_name(member: Enum) -> str:
    """An enum condition as the readers' filters take it: the stored string, its name."""
    return member.name


def _condition(conditions: FilterInput[_F], field: dataclasses.Field[Any]) -> Any:
    """One condition of ``conditions`` converted as its ``_optional`` says; None (omitted)
    stays None."""
    value = getattr(conditions, field.name)
    convert = field.metadata[_CONVERT]
    return value if value is None or convert is None else convert(value)


def to_filter(conditions: FilterInput[_F] | None, filter_type: type[_F]) -> _F:
    """A filter input (``conditions``; None: not given) as the readers' ``filter_type``,
    condition by condition (``_optional`` names where each goes and how it is converted)."""
    if conditions is None:
        return filter_type()
    return filter_type(
        **{
            field.metadata.get(_FILTER_FIELD, field.name): _condition(conditions, field)
            for field in dataclasses.fields(cast(Any, conditions))
        }
    )


@strawberry.input(description="Narrows the orders list; all given conditions must hold.")
class OrderFilterInput(FilterInput[OrderFilter]):
    statuses: list[OrderStatus] | None = _any_of("Only orders in one of these states.")
    fulfillment_stages: list[FulfillmentStage] | None = _any_of(
        "Only orders whose furthest warehouse stage is one of these."
    )
    ordered_at: TimeRangeInput | None = _window("Only orders placed in this window.", "ordered")
    warehouse_id: str | None = _optional("Only orders shipped from this warehouse.")
    customer_id: str | None = _optional(
        "Only this customer account: one of yours, FORBIDDEN otherwise."
    )
    order_type: OrderType | None = _optional("Only orders of this type.", convert=_stored_name)


@strawberry.input(description="Narrows a shipments list; all given conditions must hold.")
class ShipmentFilterInput(FilterInput[ShipmentFilter]):
    statuses: list[ShipmentStatus] | None = _any_of("Only shipments in one of these statuses.")
    planned_pickup_at: TimeRangeInput | None = _window(
        "Only shipments planned for pick-up in this window.", "planned_pickup"
    )
    carrier_scac: str | None = _optional("Only shipments moved by this carrier (SCAC).")
    destination_city: str | None = _optional(
        "Only shipments to this city (case-insensitive, whole name)."
    )
    destination_country_code: str | None = _optional(
        "Only shipments to this country (ISO 3166-1 alpha-2).", filter_field="destination_country"
    )
    customer_id: str | None = _optional(
        "Only this customer account: one of yours, FORBIDDEN otherwise."
    )


@strawberry.input(description="Narrows the invoices list; all given conditions must hold.")
class InvoiceFilterInput(FilterInput[InvoiceFilter]):
    statuses: list[InvoiceStatus] | None = _any_of(
        "Only invoices in one of these states (OVERDUE: open and past due today)."
    )
    issued_at: TimeRangeInput | None = _window("Only invoices issued in this window.", "issued")
    customer_id: str | None = _optional(
        "Only this customer account: one of yours, FORBIDDEN otherwise."
    )
