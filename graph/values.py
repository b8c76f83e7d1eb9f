"""Value types embedded in orders, shipments and invoices (no identity, no lookups)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry

from graph.common import (
    Money,
    StoredValue,
    each,
    items,
    mapping,
    stored,
    stored_type,
    text,
    utc,
    value_type,
)
from graph.enums import ChargeType, FulfillmentStage, ShipmentStatus, enum_or_none, member_of


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- shipments ---------------------------------------------------------------------------


@stored_type("A carrier.")
class Carrier(StoredValue):
    scac: str | None = stored("scac", text, "Standard Carrier Alpha Code.")
    name: str | None = stored("name", text, "Carrier name.")


@stored_type("Where a milestone happened.")
class Location(StoredValue):
    city: str | None = stored("city", text, "City.")
    region: str | None = stored("region", text, "State, province or region, if any.")
    country_code: str | None = stored("countryCode", text, "ISO 3166-1 alpha-2 country code.")
    lat: float | None = stored("lat", _number, "Latitude in degrees, if reported.")
    lon: float | None = stored("lon", _number, "Longitude in degrees, if reported.")


@stored_type(
    "One event on a shipment's timeline, as reported by a carrier or TMS. The source's "
    "own code is always kept; `status` is null when the code is not (yet) mapped."
)
class Milestone(StoredValue):
    """Read from a stored milestone (``documents.Milestone``), or from a change notice's copy
    of one, whose times are ISO strings."""

    source: str | None = stored("source", text, "The reporting system, e.g. tms/us-road.")
    milestone_id: str | None = stored("milestoneId", text, "The milestone's id within its source.")
    raw_code: str | None = stored(
        "rawCode", text, "The source's own status code (e.g. X12 214 `AF`, or `COLLECTED`)."
    )
    status: ShipmentStatus | None = stored(
        "status",
        member_of(ShipmentStatus),
        "The portal status the code maps to; null for codes that are informational or "
        "not known for this source (they never move the shipment's status).",
    )
    reason_code: str | None = stored("reasonCode", text, "The source's reason code, if any.")
    occurred_at: datetime | None = stored("occurredAt", utc, "When it happened.")
    location: Location | None = stored("location", Location.of, "Where it happened, if reported.")
    estimated_delivery_at: datetime | None = stored(
        "estimatedDeliveryAt", utc, "The delivery estimate given with this milestone, if any."
    )
    signed_by: str | None = stored("signedBy", text, "Who signed, for deliveries.")


@stored_type("Proof of delivery captured by the carrier.")
class ProofOfDelivery(StoredValue):
    signed_by: str | None = stored("signedBy", text, "Who signed for the delivery.")
    captured_at: datetime | None = stored("capturedAt", utc, "When the proof was captured.")
    document_url: str | None = stored("documentUrl", text, "Link to the signed document.")


# --- orders ------------------------------------------------------------------------------


@value_type("One line of an order, with what the warehouse picked and shipped.")
class OrderLine:
    line_number: int | None = strawberry.field(description="Line number within the order.")
    sku: str | None = strawberry.field(description="Stock keeping unit.")
    description: str | None = strawberry.field(description="Item description.")
    quantity: int | None = strawberry.field(description="Quantity ordered, in `uom`.")
    uom: str | None = strawberry.field(description="Unit of measure.")
    quantity_picked: int | None = strawberry.field(
        description="Quantity picked so far, once the warehouse reports it."
    )
    quantity_shipped: int | None = strawberry.field(
        description="Quantity shipped, once the warehouse reports it."
    )

    @classmethod
    def lines_of(cls, order: Mapping[str, Any]) -> list[OrderLine]:
        fulfillment = mapping(order.get("fulfillment")) or {}
        progress = {line.get("lineNumber"): line for line in items(fulfillment.get("lines"))}
        out = []
        for line in items(order.get("lines")):
            done = progress.get(line.get("lineNumber"), {})
            out.append(
                cls(
                    line_number=_integer(line.get("lineNumber")),
                    sku=text(line.get("sku")),
                    description=text(line.get("description")),
                    quantity=_integer(line.get("quantity")),
                    uom=text(line.get("uom")),
                    quantity_picked=_integer(done.get("quantityPicked")),
                    quantity_shipped=_integer(done.get("quantityShipped")),
                )
            )
        return out


@stored_type("A fulfillment stage the warehouse reached.")
class FulfillmentStep(StoredValue):
    stage: FulfillmentStage | None = stored(
        "stage", member_of(FulfillmentStage), "The stage reached."
    )
    occurred_at: datetime | None = stored("occurredAt", utc, "When it was reached.")
    warehouse_id: str | None = stored("warehouseId", text, "The warehouse reporting it.")
    shipment_id: str | None = stored(
        "shipmentId", text, "The shipment the goods were loaded onto (from LOADED on)."
    )


@stored_type("A pallet, carton or other handling unit packed for an order.")
class HandlingUnit(StoredValue):
    sscc: str | None = stored("sscc", text, "Serial Shipping Container Code.")
    weight_kg: float | None = stored("weightKg", _number, "Gross weight in kilograms.")


@stored_type("The warehouse's progress on an order.")
class Fulfillment(StoredValue):
    stage: FulfillmentStage | None = stored(
        "stage",
        member_of(FulfillmentStage),
        "The furthest stage reached, whatever order the reports arrived in.",
    )
    warehouse_id: str | None = stored("warehouseId", text, "The fulfilling warehouse.")
    history: list[FulfillmentStep] = stored(
        "history", each(FulfillmentStep.read), "One step per stage reached, in stage order."
    )
    handling_units: list[HandlingUnit] = stored(
        "handlingUnits", each(HandlingUnit.read), "Units packed so far."
    )


# --- invoices ----------------------------------------------------------------------------


@value_type("One charge on an invoice.")
class InvoiceLine:
    description: str | None = strawberry.field(description="What is charged.")
    charge_type: ChargeType | None = strawberry.field(description="The kind of charge.")
    amount: Money | None = strawberry.field(
        description="The charge; null when your roles do not include seeing amounts."
    )
    order_id: str | None = strawberry.field(description="The order charged for, if any.")
    shipment_id: str | None = strawberry.field(description="The shipment charged for, if any.")

    @classmethod
    def of(cls, stored: Mapping[str, Any], currency: Any) -> InvoiceLine:
        return cls(
            description=text(stored.get("description")),
            charge_type=enum_or_none(ChargeType, stored.get("chargeType")),
            amount=Money.of(stored.get("amount"), currency),
            order_id=text(stored.get("orderId")),
            shipment_id=text(stored.get("shipmentId")),
        )


@value_type("A payment recorded against an invoice.")
class Payment:
    payment_id: str | None = strawberry.field(description="The payment's id in the ERP.")
    amount: Money | None = strawberry.field(
        description="Amount paid; null when your roles do not include seeing amounts."
    )
    paid_at: datetime | None = strawberry.field(description="When it was paid.")

    @classmethod
    def of(cls, stored: Mapping[str, Any], currency: Any) -> Payment:
        return cls(
            payment_id=text(stored.get("paymentId")),
            amount=Money.of(stored.get("amount"), currency),
            paid_at=utc(stored.get("paidAt")),
        )
