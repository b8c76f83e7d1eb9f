"""Value types embedded in orders, shipments and invoices (no identity, no lookups)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry

from graph.common import Money, items, mapping, text, utc
from graph.enums import ChargeType, FulfillmentStage, ShipmentStatus, enum_or_none


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- shipments ---------------------------------------------------------------------------


@strawberry.type(description="A carrier.")
class Carrier:
    scac: str | None = strawberry.field(description="Standard Carrier Alpha Code.")
    name: str | None = strawberry.field(description="Carrier name.")

    @classmethod
    def of(cls, value: Any) -> Carrier | None:
        stored = mapping(value)
        if stored is None:
            return None
        return cls(scac=text(stored.get("scac")), name=text(stored.get("name")))


@strawberry.type(description="Where a milestone happened.")
class Location:
    city: str | None = strawberry.field(description="City.")
    region: str | None = strawberry.field(description="State, province or region, if any.")
    country_code: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    lat: float | None = strawberry.field(description="Latitude in degrees, if reported.")
    lon: float | None = strawberry.field(description="Longitude in degrees, if reported.")

    @classmethod
    def of(cls, value: Any) -> Location | None:
        stored = mapping(value)
        if stored is None:
            return None
        return cls(
            city=text(stored.get("city")),
            region=text(stored.get("region")),
            country_code=text(stored.get("countryCode")),
            lat=_number(stored.get("lat")),
            lon=_number(stored.get("lon")),
        )


@strawberry.type(
    description=(
        "One event on a shipment's timeline, as reported by a carrier or TMS. The source's "
        "own code is always kept; `status` is null when the code is not (yet) mapped."
    )
)
class Milestone:
    source: str | None = strawberry.field(description="The reporting system, e.g. tms/us-road.")
    milestone_id: str | None = strawberry.field(description="The milestone's id within its source.")
    raw_code: str | None = strawberry.field(
        description="The source's own status code (e.g. X12 214 `AF`, or `COLLECTED`)."
    )
    status: ShipmentStatus | None = strawberry.field(
        description=(
            "The portal status the code maps to; null for codes that are informational or "
            "not known for this source (they never move the shipment's status)."
        )
    )
    reason_code: str | None = strawberry.field(description="The source's reason code, if any.")
    occurred_at: datetime | None = strawberry.field(description="When it happened.")
    location: Location | None = strawberry.field(description="Where it happened, if reported.")
    estimated_delivery_at: datetime | None = strawberry.field(
        description="The delivery estimate given with this milestone, if any."
    )
    signed_by: str | None = strawberry.field(description="Who signed, for deliveries.")

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Milestone:
        """From a stored milestone (``documents.Milestone``), or from a change notice's copy
        of one, whose times are ISO strings."""
        return cls(
            source=text(stored.get("source")),
            milestone_id=text(stored.get("milestoneId")),
            raw_code=text(stored.get("rawCode")),
            status=enum_or_none(ShipmentStatus, stored.get("status")),
            reason_code=text(stored.get("reasonCode")),
            occurred_at=utc(stored.get("occurredAt")),
            location=Location.of(stored.get("location")),
            estimated_delivery_at=utc(stored.get("estimatedDeliveryAt")),
            signed_by=text(stored.get("signedBy")),
        )


@strawberry.type(description="Proof of delivery captured by the carrier.")
class ProofOfDelivery:
    signed_by: str | None = strawberry.field(description="Who signed for the delivery.")
    captured_at: datetime | None = strawberry.field(description="When the proof was captured.")
    document_url: str | None = strawberry.field(description="Link to the signed document.")

    @classmethod
    def of(cls, value: Any) -> ProofOfDelivery | None:
        stored = mapping(value)
        if stored is None:
            return None
        return cls(
            signed_by=text(stored.get("signedBy")),
            captured_at=utc(stored.get("capturedAt")),
            document_url=text(stored.get("documentUrl")),
        )


# --- orders ------------------------------------------------------------------------------


@strawberry.type(description="One line of an order, with what the warehouse picked and shipped.")
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


@strawberry.type(description="A fulfillment stage the warehouse reached.")
class FulfillmentStep:
    stage: FulfillmentStage | None = strawberry.field(description="The stage reached.")
    occurred_at: datetime | None = strawberry.field(description="When it was reached.")
    warehouse_id: str | None = strawberry.field(description="The warehouse reporting it.")
    shipment_id: str | None = strawberry.field(
        description="The shipment the goods were loaded onto (from LOADED on)."
    )

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> FulfillmentStep:
        return cls(
            stage=enum_or_none(FulfillmentStage, stored.get("stage")),
            occurred_at=utc(stored.get("occurredAt")),
            warehouse_id=text(stored.get("warehouseId")),
            shipment_id=text(stored.get("shipmentId")),
        )


@strawberry.type(description="A pallet, carton or other handling unit packed for an order.")
class HandlingUnit:
    sscc: str | None = strawberry.field(description="Serial Shipping Container Code.")
    weight_kg: float | None = strawberry.field(description="Gross weight in kilograms.")

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> HandlingUnit:
        return cls(sscc=text(stored.get("sscc")), weight_kg=_number(stored.get("weightKg")))


@strawberry.type(description="The warehouse's progress on an order.")
class Fulfillment:
    stage: FulfillmentStage | None = strawberry.field(
        description="The furthest stage reached, whatever order the reports arrived in."
    )
    warehouse_id: str | None = strawberry.field(description="The fulfilling warehouse.")
    history: list[FulfillmentStep] = strawberry.field(
        description="One step per stage reached, in stage order."
    )
    handling_units: list[HandlingUnit] = strawberry.field(description="Units packed so far.")

    @classmethod
    def of(cls, value: Any) -> Fulfillment | None:
        stored = mapping(value)
        if stored is None:
            return None
        return cls(
            stage=enum_or_none(FulfillmentStage, stored.get("stage")),
            warehouse_id=text(stored.get("warehouseId")),
            history=[FulfillmentStep.of(step) for step in items(stored.get("history"))],
            handling_units=[HandlingUnit.of(u) for u in items(stored.get("handlingUnits"))],
        )


# --- invoices ----------------------------------------------------------------------------


@strawberry.type(description="One charge on an invoice.")
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


@strawberry.type(description="A payment recorded against an invoice.")
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
