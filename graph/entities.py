"""Order, Shipment and Invoice: the federation entities, and their relations both ways.

The three types live in one module because each refers to the other two.

An entity object is backed either by its full (visible, redacted) document or by the summary
another document embeds under ``related``. Fields the summary holds are answered from it with
no query; any other field loads the full document through the request's DataLoader, so a
list of related entities costs one batched query however long it is, and none at all when
only summary fields are selected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Self, TypeVar

import strawberry

from graph.common import (
    Address,
    Cancellation,
    EventProvenance,
    Money,
    Party,
    calendar_date,
    field_resolver,
    items,
    mapping,
    text,
    utc,
)
from graph.context import Info, readers_of
from graph.enums import (
    FulfillmentStage,
    InvoiceStatus,
    OrderStatus,
    OrderType,
    ShipmentStatus,
    TransportMode,
    enum_or_none,
)
from graph.global_ids import encode, number_for
from graph.node import GLOBAL_ID_DESCRIPTION, Node
from graph.values import (
    Carrier,
    Fulfillment,
    InvoiceLine,
    Milestone,
    OrderLine,
    Payment,
    ProofOfDelivery,
)
from projections.documents import EntityKind
from resolvers.filters import invoice_view_status
from resolvers.readers import RelatedEntity


@dataclass
class Backing:
    """What is known of one entity so far: its document, or a summary of it.

    Mutable on purpose: the document is loaded at most once, on the first field that needs
    it, and kept for the entity's other fields. One ``Backing`` lives for one request.
    """

    kind: EntityKind
    id: str
    document: Mapping[str, Any] | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)

    async def doc(self, info: Info) -> Mapping[str, Any]:
        """The full document (empty if it vanished or is no longer visible)."""
        if self.document is None:
            self.document = await readers_of(info).load(self.kind, self.id) or {}
        return self.document

    async def get(self, info: Info, name: str, summary_key: str | None = None) -> Any:
        """A field, from the summary when it holds it and the document is not loaded."""
        key = summary_key or name
        if self.document is None and key in self.summary:
            return self.summary[key]
        return (await self.doc(info)).get(name)


def _backing(kind: EntityKind, doc: Mapping[str, Any]) -> Backing:
    return Backing(kind=kind, id=str(doc["_id"]), document=doc)


def _related_backing(entity: RelatedEntity) -> Backing:
    return Backing(kind=entity.kind, id=entity.id, document=entity.document, summary=entity.summary)


class _Entity(Node):
    """How the three entity types are built, and resolved for a federation gateway.

    ``id`` is the global id (``graph.global_ids``); ``backing.id`` the entity's own number,
    which each type also exposes (``orderId``, ``shipmentId``, ``invoiceId``) and declares as
    a second federation key. Entitlements apply to ``resolve_reference`` as to every read (it
    goes through the request's readers), so another customer's entity resolves to null.
    """

    KIND: ClassVar[EntityKind]
    #: The field holding the entity's own number, a federation key beside ``id``.
    NUMBER_KEY: ClassVar[str]

    def __init__(self, *, id: strawberry.ID, backing: Backing) -> None:
        """Replaced by each entity type's own dataclass constructor; here for the type checker."""
        raise NotImplementedError

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Self:
        backing = _backing(cls.KIND, doc)
        return cls(id=strawberry.ID(encode(cls.KIND, backing.id)), backing=backing)

    @classmethod
    def related(cls, entity: RelatedEntity) -> Self:
        return cls(id=strawberry.ID(encode(cls.KIND, entity.id)), backing=_related_backing(entity))

    @classmethod
    async def resolve_reference(cls, info: Info, **key: Any) -> Self | None:
        """A gateway's representation names the entity by ``id`` (the global id, or the plain
        number as before global ids existed) or by its number key (``orderId`` ...)."""
        given = key.get(cls.NUMBER_KEY, key.get("id"))
        if not isinstance(given, str):
            return None
        number = given if cls.NUMBER_KEY in key else number_for(cls.KIND, given)
        doc = await readers_of(info).load(cls.KIND, number) if number else None
        return cls.of(doc) if doc else None


_E = TypeVar("_E", bound=_Entity)


async def _linked(backing: Backing, info: Info, kind: type[_E]) -> list[_E]:
    """The entities of ``kind`` this one links to that the caller may see."""
    parent = await backing.doc(info)
    related = await readers_of(info).related(parent, kind.KIND) if parent else []
    return [kind.related(entity) for entity in related]


_LAST_UPDATED = "When the read model last changed this record (any source)."
_LAST_EVENT = "The upstream event that last changed this record (provenance)."


async def _last_updated(backing: Backing, info: Info) -> datetime | None:
    return utc((await backing.doc(info)).get("updatedAt"))


async def _last_event(backing: Backing, info: Info) -> EventProvenance | None:
    return EventProvenance.of((await backing.doc(info)).get("lastEvent"))


# --- orders ------------------------------------------------------------------------------


@strawberry.federation.type(
    keys=["id", "orderId"],
    description=(
        "A customer order as the ERP holds it, with the warehouse's fulfillment progress and "
        "links to the shipments and invoices that concern it."
    ),
)
class Order(_Entity):
    KIND: ClassVar[EntityKind] = "orders"
    NUMBER_KEY: ClassVar[str] = "orderId"

    id: strawberry.ID = strawberry.field(description=GLOBAL_ID_DESCRIPTION)
    backing: strawberry.Private[Backing]

    @field_resolver(
        "The order number (ERP sales order number), e.g. SO-100234: what `order(id:)` "
        "takes and the ERP shows."
    )
    def order_id(self) -> strawberry.ID:
        return strawberry.ID(self.backing.id)

    @field_resolver("The customer account that owns the order.")
    async def customer_id(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "customerId"))

    @field_resolver("The customer's own reference for the order (PO number).")
    async def customer_reference(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "customerReference"))

    @field_resolver("Outbound, inbound or return.")
    async def order_type(self, info: Info) -> OrderType | None:
        return enum_or_none(OrderType, await self.backing.get(info, "orderType"))

    @field_resolver("Overall state, derived from cancellation and fulfillment.")
    async def status(self, info: Info) -> OrderStatus:
        if await self.backing.get(info, "cancelled") is True:
            return OrderStatus.CANCELLED
        stage = await self.backing.get(info, "fulfillmentStage")
        if stage == FulfillmentStage.SHIPPED.name:
            return OrderStatus.SHIPPED
        return OrderStatus.IN_FULFILLMENT if stage else OrderStatus.OPEN

    @field_resolver("When the order was placed.")
    async def ordered_at(self, info: Info) -> datetime | None:
        return utc(await self.backing.get(info, "orderedAt"))

    @field_resolver("The delivery date the customer asked for.")
    async def requested_delivery_date(self, info: Info) -> date | None:
        return calendar_date(await self.backing.get(info, "requestedDeliveryDate"))

    @field_resolver("The shipping warehouse.")
    async def ship_from(self, info: Info) -> Party | None:
        return Party.of(await self.backing.get(info, "shipFrom"))

    @field_resolver("The consignee.")
    async def ship_to(self, info: Info) -> Party | None:
        return Party.of(await self.backing.get(info, "shipTo"))

    @field_resolver("The consignee's name (answered without loading the order).")
    async def ship_to_name(self, info: Info) -> str | None:
        if self.backing.document is None and "shipToName" in self.backing.summary:
            return text(self.backing.summary["shipToName"])
        ship_to = mapping((await self.backing.doc(info)).get("shipTo")) or {}
        return text(ship_to.get("name"))

    @field_resolver("The shipping warehouse's id.")
    async def warehouse_id(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "warehouseId"))

    @field_resolver("The ordered lines, with picked and shipped quantities.")
    async def lines(self, info: Info) -> list[OrderLine]:
        return OrderLine.lines_of(await self.backing.doc(info))

    @field_resolver("Whether the order was cancelled.")
    async def cancelled(self, info: Info) -> bool:
        return await self.backing.get(info, "cancelled") is True

    @field_resolver("Why and when the order was cancelled, if it was.")
    async def cancellation(self, info: Info) -> Cancellation | None:
        return Cancellation.of(await self.backing.get(info, "cancellation"))

    @field_resolver("The furthest warehouse stage reached, if any.")
    async def fulfillment_stage(self, info: Info) -> FulfillmentStage | None:
        return enum_or_none(FulfillmentStage, await self.backing.get(info, "fulfillmentStage"))

    @field_resolver("The warehouse's progress in detail.")
    async def fulfillment(self, info: Info) -> Fulfillment | None:
        return Fulfillment.of(await self.backing.get(info, "fulfillment"))

    @field_resolver("The shipments carrying this order that you may see.")
    async def shipments(self, info: Info) -> list[Shipment]:
        return await _linked(self.backing, info, Shipment)

    @field_resolver(
        "The invoices charging for this order. FORBIDDEN (and null) unless your roles "
        "include reading invoices."
    )
    async def invoices(self, info: Info) -> list[Invoice] | None:
        return await _linked(self.backing, info, Invoice)

    @field_resolver(_LAST_UPDATED)
    async def last_updated_at(self, info: Info) -> datetime | None:
        return await _last_updated(self.backing, info)

    @field_resolver(_LAST_EVENT)
    async def last_event(self, info: Info) -> EventProvenance | None:
        return await _last_event(self.backing, info)


# --- shipments ---------------------------------------------------------------------------


@strawberry.federation.type(
    keys=["id", "shipmentId"],
    description=(
        "A shipment planned in a TMS, with its carrier milestones, current status and "
        "estimated delivery, and links to its orders and invoices."
    ),
)
class Shipment(_Entity):
    KIND: ClassVar[EntityKind] = "shipments"
    NUMBER_KEY: ClassVar[str] = "shipmentId"

    id: strawberry.ID = strawberry.field(description=GLOBAL_ID_DESCRIPTION)
    backing: strawberry.Private[Backing]

    @field_resolver(
        "The shipment number (TMS load number): what `shipment(id:)` takes and the TMS shows."
    )
    def shipment_id(self) -> strawberry.ID:
        return strawberry.ID(self.backing.id)

    @field_resolver("The customer account that owns the shipment.")
    async def customer_id(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "customerId"))

    @field_resolver(
        "Current status: that of the latest milestone (by when it happened) whose code "
        "is known; PLANNED before any; CANCELLED after a cancellation."
    )
    async def status(self, info: Info) -> ShipmentStatus | None:
        return enum_or_none(ShipmentStatus, await self.backing.get(info, "status"))

    @field_resolver("Parcel, LTL, FTL, ocean or air.")
    async def mode(self, info: Info) -> TransportMode | None:
        return enum_or_none(TransportMode, await self.backing.get(info, "mode"))

    @field_resolver("The carrier moving the shipment.")
    async def carrier(self, info: Info) -> Carrier | None:
        return Carrier.of(await self.backing.get(info, "carrier"))

    @field_resolver("The carrier's tracking number.")
    async def tracking_number(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "trackingNumber"))

    @field_resolver("Where the shipment is picked up.")
    async def origin(self, info: Info) -> Address | None:
        return Address.of(await self.backing.get(info, "origin"))

    @field_resolver("Where the shipment is delivered.")
    async def destination(self, info: Info) -> Address | None:
        return Address.of(await self.backing.get(info, "destination"))

    @field_resolver("Planned pick-up time.")
    async def planned_pickup_at(self, info: Info) -> datetime | None:
        return utc(await self.backing.get(info, "plannedPickupAt"))

    @field_resolver("Planned delivery time.")
    async def planned_delivery_at(self, info: Info) -> datetime | None:
        return utc(await self.backing.get(info, "plannedDeliveryAt"))

    @field_resolver("The carrier service level, e.g. GROUND or EXPRESS.")
    async def service_level(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "serviceLevel"))

    @field_resolver("Expected delivery: the latest carrier estimate, else the planned time.")
    async def eta(self, info: Info) -> datetime | None:
        return utc(await self.backing.get(info, "eta"))

    @field_resolver("When it was delivered, once it was.")
    async def delivered_at(self, info: Info) -> datetime | None:
        return utc(await self.backing.get(info, "deliveredAt"))

    @field_resolver("The timeline, oldest first (by when each milestone happened).")
    async def milestones(self, info: Info) -> list[Milestone]:
        return [Milestone.of(m) for m in items(await self.backing.get(info, "milestones"))]

    @field_resolver("Proof of delivery, once captured.")
    async def proof_of_delivery(self, info: Info) -> ProofOfDelivery | None:
        return ProofOfDelivery.of(await self.backing.get(info, "pod"))

    @field_resolver("Whether the shipment was cancelled.")
    async def cancelled(self, info: Info) -> bool:
        return await self.backing.get(info, "cancelled") is True

    @field_resolver("Why and when the shipment was cancelled, if it was.")
    async def cancellation(self, info: Info) -> Cancellation | None:
        return Cancellation.of(await self.backing.get(info, "cancellation"))

    @field_resolver(
        "How many milestones carry a code not mapped for their source (kept on the "
        "timeline with a null status; they never move the shipment's status)."
    )
    async def unknown_status_codes(self, info: Info) -> int:
        value = await self.backing.get(info, "unknownStatusCodes")
        return value if isinstance(value, int) else 0

    @field_resolver("The orders this shipment carries that you may see.")
    async def orders(self, info: Info) -> list[Order]:
        return await _linked(self.backing, info, Order)

    @field_resolver(
        "The invoices charging for this shipment. FORBIDDEN (and null) unless your roles "
        "include reading invoices."
    )
    async def invoices(self, info: Info) -> list[Invoice] | None:
        return await _linked(self.backing, info, Invoice)

    @field_resolver(_LAST_UPDATED)
    async def last_updated_at(self, info: Info) -> datetime | None:
        return await _last_updated(self.backing, info)

    @field_resolver(_LAST_EVENT)
    async def last_event(self, info: Info) -> EventProvenance | None:
        return await _last_event(self.backing, info)


# --- invoices ----------------------------------------------------------------------------

_AMOUNT_HIDDEN = " Null when your roles do not include seeing amounts."
_AMOUNTS_HIDDEN = " Amounts are null when your roles do not include seeing them."


@strawberry.federation.type(
    keys=["id", "invoiceId"],
    description=(
        "An invoice issued by the ERP, with its lines, payments and balance. Readable only "
        "with a role that may read invoices; amounts only with a role that may see them."
    ),
)
class Invoice(_Entity):
    KIND: ClassVar[EntityKind] = "invoices"
    NUMBER_KEY: ClassVar[str] = "invoiceId"

    id: strawberry.ID = strawberry.field(description=GLOBAL_ID_DESCRIPTION)
    backing: strawberry.Private[Backing]

    @field_resolver(
        "The ERP's invoice id (not the printed `invoiceNumber`): what `invoice(id:)` takes."
    )
    def invoice_id(self) -> strawberry.ID:
        return strawberry.ID(self.backing.id)

    async def _money(self, info: Info, name: str) -> Money | None:
        if not readers_of(info).scope.can_see_amounts:
            return None  # redacted everywhere anyway: do not load the document for nothing
        amount = await self.backing.get(info, name)
        return Money.of(amount, await self.backing.get(info, "currency"))

    @field_resolver("The customer account invoiced.")
    async def customer_id(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "customerId"))

    @field_resolver("The invoice number printed on the document.")
    async def invoice_number(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "invoiceNumber"))

    @field_resolver("When the invoice was issued.")
    async def issued_at(self, info: Info) -> datetime | None:
        return utc(await self.backing.get(info, "issuedAt"))

    @field_resolver("The date payment is due.")
    async def due_date(self, info: Info) -> date | None:
        return calendar_date(await self.backing.get(info, "dueDate"))

    @field_resolver("ISO 4217 currency of every amount on the invoice.")
    async def currency(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "currency"))

    @field_resolver("Open, overdue (open and past due today), paid or void.")
    async def status(self, info: Info) -> InvoiceStatus | None:
        stored = text(await self.backing.get(info, "status"))
        due = text(await self.backing.get(info, "dueDate"))
        today = readers_of(info).now().date()
        return enum_or_none(InvoiceStatus, invoice_view_status(stored, due, today))

    @field_resolver("The charges." + _AMOUNTS_HIDDEN)
    async def lines(self, info: Info) -> list[InvoiceLine]:
        doc = await self.backing.doc(info)
        return [InvoiceLine.of(line, doc.get("currency")) for line in items(doc.get("lines"))]

    @field_resolver("Sum of the lines before tax." + _AMOUNT_HIDDEN)
    async def subtotal(self, info: Info) -> Money | None:
        return await self._money(info, "subtotal")

    @field_resolver("Tax." + _AMOUNT_HIDDEN)
    async def tax(self, info: Info) -> Money | None:
        return await self._money(info, "tax")

    @field_resolver("Total due." + _AMOUNT_HIDDEN)
    async def total(self, info: Info) -> Money | None:
        return await self._money(info, "total")

    @field_resolver("Sum of the payments recorded." + _AMOUNT_HIDDEN)
    async def amount_paid(self, info: Info) -> Money | None:
        return await self._money(info, "amountPaid")

    @field_resolver("Total minus payments." + _AMOUNT_HIDDEN)
    async def balance(self, info: Info) -> Money | None:
        return await self._money(info, "balance")

    @field_resolver(
        "Payments recorded, oldest first." + _AMOUNT_HIDDEN.replace("Null", "Amounts null")
    )
    async def payments(self, info: Info) -> list[Payment]:
        doc = await self.backing.doc(info)
        return [Payment.of(p, doc.get("currency")) for p in items(doc.get("payments"))]

    @field_resolver("Link to the invoice document.")
    async def document_url(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "documentUrl"))

    @field_resolver("Whether the invoice was voided.")
    async def voided(self, info: Info) -> bool:
        return await self.backing.get(info, "voided") is True

    @field_resolver("Why the invoice was voided, if it was.")
    async def void_reason(self, info: Info) -> str | None:
        return text(await self.backing.get(info, "voidReason"))

    @field_resolver("When the invoice was voided, if it was.")
    async def voided_at(self, info: Info) -> datetime | None:
        return utc(await self.backing.get(info, "voidedAt"))

    @field_resolver("The orders charged for that you may see.")
    async def orders(self, info: Info) -> list[Order]:
        return await _linked(self.backing, info, Order)

    @field_resolver("The shipments charged for that you may see.")
    async def shipments(self, info: Info) -> list[Shipment]:
        return await _linked(self.backing, info, Shipment)

    @field_resolver(_LAST_UPDATED)
    async def last_updated_at(self, info: Info) -> datetime | None:
        return await _last_updated(self.backing, info)

    @field_resolver(_LAST_EVENT)
    async def last_event(self, info: Info) -> EventProvenance | None:
        return await _last_event(self.backing, info)
