"""The API's enumerations. Their values are the strings stored in the projections."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=Enum)


def enum_or_none(enum: type[E], value: object) -> E | None:
    """The member for a stored string; None for a value this API version does not know yet.

    Upstream vocabularies grow (a new transport mode, a new charge type): an unknown value
    shows as null rather than failing the whole response.
    """
    if value is None:
        return None  # most optional enums are absent: no exception raised and caught for them
    try:
        return enum(value)
    except ValueError:
        return None


@strawberry.enum(description="Where a shipment stands, in the portal's vocabulary.")
class ShipmentStatus(Enum):
    PLANNED = strawberry.enum_value("PLANNED", description="Planned; not yet picked up.")
    PICKED_UP = strawberry.enum_value("PICKED_UP", description="Collected from the shipper.")
    IN_TRANSIT = strawberry.enum_value("IN_TRANSIT", description="Moving through the network.")
    OUT_FOR_DELIVERY = strawberry.enum_value(
        "OUT_FOR_DELIVERY", description="On the vehicle that delivers it."
    )
    DELIVERED = strawberry.enum_value("DELIVERED", description="Delivered to the consignee.")
    DELIVERY_ATTEMPTED = strawberry.enum_value(
        "DELIVERY_ATTEMPTED", description="A delivery was attempted and did not complete."
    )
    EXCEPTION = strawberry.enum_value(
        "EXCEPTION", description="Delayed, damaged, refused or otherwise off plan."
    )
    CANCELLED = strawberry.enum_value("CANCELLED", description="Cancelled by the carrier or 3PL.")


@strawberry.enum(description="Warehouse fulfillment stages, in the order they are reached.")
class FulfillmentStage(Enum):
    RELEASED = strawberry.enum_value("RELEASED", description="Released to the warehouse.")
    ALLOCATED = strawberry.enum_value("ALLOCATED", description="Stock allocated.")
    PICKING = strawberry.enum_value("PICKING", description="Being picked.")
    PICKED = strawberry.enum_value("PICKED", description="Picked.")
    PACKED = strawberry.enum_value("PACKED", description="Packed into handling units.")
    LOADED = strawberry.enum_value("LOADED", description="Loaded onto a shipment.")
    SHIPPED = strawberry.enum_value("SHIPPED", description="Left the warehouse.")


@strawberry.enum(description="An order's overall state, derived from cancellation and fulfillment.")
class OrderStatus(Enum):
    OPEN = strawberry.enum_value("OPEN", description="Received; the warehouse has not started.")
    IN_FULFILLMENT = strawberry.enum_value(
        "IN_FULFILLMENT", description="The warehouse is working on it (released to loaded)."
    )
    SHIPPED = strawberry.enum_value("SHIPPED", description="Shipped from the warehouse.")
    CANCELLED = strawberry.enum_value("CANCELLED", description="Cancelled in the ERP.")


@strawberry.enum(description="The kind of order.")
class OrderType(Enum):
    OUTBOUND = strawberry.enum_value("OUTBOUND", description="Goods leaving a warehouse.")
    INBOUND = strawberry.enum_value("INBOUND", description="Goods arriving at a warehouse.")
    RETURN = strawberry.enum_value("RETURN", description="Goods returned by a consignee.")


@strawberry.enum(description="How a shipment travels.")
class TransportMode(Enum):
    PARCEL = strawberry.enum_value("PARCEL", description="Parcel carrier.")
    LTL = strawberry.enum_value("LTL", description="Less than truckload.")
    FTL = strawberry.enum_value("FTL", description="Full truckload.")
    OCEAN = strawberry.enum_value("OCEAN", description="Ocean freight.")
    AIR = strawberry.enum_value("AIR", description="Air freight.")


@strawberry.enum(description="What an invoice line charges for.")
class ChargeType(Enum):
    FREIGHT = strawberry.enum_value("FREIGHT", description="Transport.")
    FUEL = strawberry.enum_value("FUEL", description="Fuel surcharge.")
    ACCESSORIAL = strawberry.enum_value("ACCESSORIAL", description="Extra services.")
    STORAGE = strawberry.enum_value("STORAGE", description="Warehouse storage.")
    HANDLING = strawberry.enum_value("HANDLING", description="Warehouse handling.")


@strawberry.enum(description="An invoice's state as of today.")
class InvoiceStatus(Enum):
    OPEN = strawberry.enum_value("OPEN", description="Unpaid and not yet due.")
    OVERDUE = strawberry.enum_value(
        "OVERDUE", description="Unpaid and past its due date (derived from today's date)."
    )
    PAID = strawberry.enum_value("PAID", description="Paid in full.")
    VOID = strawberry.enum_value("VOID", description="Voided by the issuer.")


@strawberry.enum(description="What an upstream system declared about its own availability.")
class SourceStatus(Enum):
    AVAILABLE = strawberry.enum_value("AVAILABLE", description="Operating normally.")
    MAINTENANCE = strawberry.enum_value(
        "MAINTENANCE", description="In a maintenance window: its data may lag."
    )
    DEGRADED = strawberry.enum_value("DEGRADED", description="Running with problems.")


@strawberry.enum(description="Orderings of the orders connection.")
class OrderSort(Enum):
    ORDERED_AT_DESC = strawberry.enum_value("ORDERED_AT_DESC", description="Newest first.")
    ORDERED_AT_ASC = strawberry.enum_value("ORDERED_AT_ASC", description="Oldest first.")


@strawberry.enum(description="Orderings of shipment connections.")
class ShipmentSort(Enum):
    PLANNED_PICKUP_AT_DESC = strawberry.enum_value(
        "PLANNED_PICKUP_AT_DESC", description="Latest planned pick-up first."
    )
    PLANNED_PICKUP_AT_ASC = strawberry.enum_value(
        "PLANNED_PICKUP_AT_ASC", description="Earliest planned pick-up first."
    )
    ETA_DESC = strawberry.enum_value("ETA_DESC", description="Latest expected delivery first.")
    ETA_ASC = strawberry.enum_value("ETA_ASC", description="Earliest expected delivery first.")


@strawberry.enum(description="Orderings of the invoices connection.")
class InvoiceSort(Enum):
    ISSUED_AT_DESC = strawberry.enum_value("ISSUED_AT_DESC", description="Newest first.")
    ISSUED_AT_ASC = strawberry.enum_value("ISSUED_AT_ASC", description="Oldest first.")
    DUE_DATE_ASC = strawberry.enum_value("DUE_DATE_ASC", description="Earliest due date first.")
    DUE_DATE_DESC = strawberry.enum_value("DUE_DATE_DESC", description="Latest due date first.")
