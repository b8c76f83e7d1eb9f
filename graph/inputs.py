"""Filter arguments of the list fields, converted to the readers' filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


def _optional(description: str) -> Any:
    """A condition of a filter: optional, and not applied when omitted (null)."""
    return strawberry.field(default=None, description=description)


def _range(value: TimeRangeInput | None) -> TimeRange | None:
    return value.to_range() if value is not None else None


@strawberry.input(description="Narrows the orders list; all given conditions must hold.")
class OrderFilterInput:
    statuses: list[OrderStatus] | None = _optional("Only orders in one of these states.")
    fulfillment_stages: list[FulfillmentStage] | None = _optional(
        "Only orders whose furthest warehouse stage is one of these."
    )
    ordered_at: TimeRangeInput | None = _optional("Only orders placed in this window.")
    warehouse_id: str | None = _optional("Only orders shipped from this warehouse.")
    customer_id: str | None = _optional("Only this customer account (one of yours).")
    order_type: OrderType | None = _optional("Only orders of this type.")

    def to_filter(self) -> OrderFilter:
        return OrderFilter(
            statuses=names_of(self.statuses),
            fulfillment_stages=names_of(self.fulfillment_stages),
            ordered=_range(self.ordered_at),
            warehouse_id=self.warehouse_id,
            customer_id=self.customer_id,
            order_type=self.order_type.name if self.order_type is not None else None,
        )


@strawberry.input(description="Narrows a shipments list; all given conditions must hold.")
class ShipmentFilterInput:
    statuses: list[ShipmentStatus] | None = _optional("Only shipments in one of these statuses.")
    planned_pickup_at: TimeRangeInput | None = _optional(
        "Only shipments planned for pick-up in this window."
    )
    carrier_scac: str | None = _optional("Only shipments moved by this carrier (SCAC).")
    destination_city: str | None = _optional(
        "Only shipments to this city (case-insensitive, whole name)."
    )
    destination_country_code: str | None = _optional(
        "Only shipments to this country (ISO 3166-1 alpha-2)."
    )
    customer_id: str | None = _optional("Only this customer account (one of yours).")

    def to_filter(self) -> ShipmentFilter:
        return ShipmentFilter(
            statuses=names_of(self.statuses),
            planned_pickup=_range(self.planned_pickup_at),
            carrier_scac=self.carrier_scac,
            destination_city=self.destination_city,
            destination_country=self.destination_country_code,
            customer_id=self.customer_id,
        )


@strawberry.input(description="Narrows the invoices list; all given conditions must hold.")
class InvoiceFilterInput:
    statuses: list[InvoiceStatus] | None = _optional(
        "Only invoices in one of these states (OVERDUE: open and past due today)."
    )
    issued_at: TimeRangeInput | None = _optional("Only invoices issued in this window.")
    customer_id: str | None = _optional("Only this customer account (one of yours).")

    def to_filter(self) -> InvoiceFilter:
        return InvoiceFilter(
            statuses=names_of(self.statuses),
            issued=_range(self.issued_at),
            customer_id=self.customer_id,
        )
