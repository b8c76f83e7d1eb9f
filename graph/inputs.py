"""Filter arguments of the list fields, converted to the readers' filters (``to_filter``)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

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

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


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
_F = TypeVar("_F", OrderFilter, ShipmentFilter, InvoiceFilter)


def _optional(description: str, *, filter_field: str | None = None) -> Any:
    """A condition of a filter: optional, and not applied when omitted (null). It goes to the
    readers' filter field of the same name, or to ``filter_field``."""
    metadata = {} if filter_field is None else {_FILTER_FIELD: filter_field}
    return strawberry.field(default=None, description=description, metadata=metadata)


def _condition(value: Any) -> Any:
    """A condition as the readers' filters take it: an enum by its stored name (a list of
    them as a set, ``names_of``), a time window as a ``TimeRange``; None (omitted) stays None."""
    if isinstance(value, TimeRangeInput):
        return value.to_range()
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, list):
        return names_of(value)
    return value


def to_filter(conditions: DataclassInstance | None, filter_type: type[_F]) -> _F:
    """A filter input (``conditions``; None: not given) as the readers' ``filter_type``,
    condition by condition (``_optional`` names where each goes)."""
    if conditions is None:
        return filter_type()
    return filter_type(
        **{
            field.metadata.get(_FILTER_FIELD, field.name): _condition(
                getattr(conditions, field.name)
            )
            for field in dataclasses.fields(conditions)
        }
    )


@strawberry.input(description="Narrows the orders list; all given conditions must hold.")
class OrderFilterInput:
    statuses: list[OrderStatus] | None = _optional("Only orders in one of these states.")
    fulfillment_stages: list[FulfillmentStage] | None = _optional(
        "Only orders whose furthest warehouse stage is one of these."
    )
    ordered_at: TimeRangeInput | None = _optional(
        "Only orders placed in this window.", filter_field="ordered"
    )
    warehouse_id: str | None = _optional("Only orders shipped from this warehouse.")
    customer_id: str | None = _optional("Only this customer account (one of yours).")
    order_type: OrderType | None = _optional("Only orders of this type.")


@strawberry.input(description="Narrows a shipments list; all given conditions must hold.")
class ShipmentFilterInput:
    statuses: list[ShipmentStatus] | None = _optional("Only shipments in one of these statuses.")
    planned_pickup_at: TimeRangeInput | None = _optional(
        "Only shipments planned for pick-up in this window.", filter_field="planned_pickup"
    )
    carrier_scac: str | None = _optional("Only shipments moved by this carrier (SCAC).")
    destination_city: str | None = _optional(
        "Only shipments to this city (case-insensitive, whole name)."
    )
    destination_country_code: str | None = _optional(
        "Only shipments to this country (ISO 3166-1 alpha-2).", filter_field="destination_country"
    )
    customer_id: str | None = _optional("Only this customer account (one of yours).")


@strawberry.input(description="Narrows the invoices list; all given conditions must hold.")
class InvoiceFilterInput:
    statuses: list[InvoiceStatus] | None = _optional(
        "Only invoices in one of these states (OVERDUE: open and past due today)."
    )
    issued_at: TimeRangeInput | None = _optional(
        "Only invoices issued in this window.", filter_field="issued"
    )
    customer_id: str | None = _optional("Only this customer account (one of yours).")
