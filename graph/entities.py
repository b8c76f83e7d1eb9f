"""Order, Shipment and Invoice: the federation entities, and their relations both ways.

The three types live in one module because each refers to the other two.

An entity object is backed either by its full (visible, redacted) document or by the summary
another document embeds under ``related``. Fields the summary holds are answered from it with
no query; any other field loads the full document through the request's DataLoader, so a
list of related entities costs one batched query however long it is, and none at all when
only summary fields are selected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Final, Self, TypeVar, cast

import strawberry

from graph.common import (
    Address,
    Cancellation,
    EventProvenance,
    Money,
    Party,
    calendar_date,
    each,
    items,
    mapping,
    text,
    utc,
)
from graph.context import GraphContext, Info, readers_of
from graph.enums import (
    FulfillmentStage,
    InvoiceStatus,
    OrderStatus,
    OrderType,
    ShipmentStatus,
    TransportMode,
    enum_or_none,
    member_of,
)
from graph.global_ids import KIND_OF_TYPE, encode, number_for
from graph.node import Node
from graph.plain_readers import NOT_AT_HAND, at_hand, at_hand_in_request
from graph.values import (
    Carrier,
    Fulfillment,
    InvoiceLine,
    Milestone,
    OrderLine,
    Payment,
    ProofOfDelivery,
)
from readmodel.documents import EntityKind
from readmodel.links import naming_scans
from resolvers.filters import invoice_view_status
from resolvers.readers import Readers, RelatedEntity

_T = TypeVar("_T")


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

    def answer(self, info: Info, read: Callable[[Fields], _T]) -> _T:
        """``read`` applied to this entity's fields, synchronously when what it reads is at
        hand (the document, or the summary while the document is not loaded).

        Otherwise the document is loaded first and ``read`` runs again: the value is then an
        awaitable, which graphql-core awaits (a resolver may return either). Answering
        synchronously matters because graphql-core pays for every awaited field, and most
        fields of most entities need no I/O: that was most of the API's CPU per request.
        """
        try:
            return read(Fields(self))
        except _NeedsDocument:
            return cast(_T, self._answer_loaded(info, read))

    def at_hand(self, read: Callable[[Fields], _T]) -> _T | object:
        """``read`` applied to this entity's fields when what it reads is at hand, else
        ``NOT_AT_HAND`` (``graph.leaf_fields``: the resolver then loads the document)."""
        try:
            return read(Fields(self))
        except _NeedsDocument:
            return NOT_AT_HAND

    async def _answer_loaded(self, info: Info, read: Callable[[Fields], _T]) -> _T:
        await self.doc(info)
        return read(Fields(self))


class _NeedsDocument(Exception):
    """A field ``read`` asked for is neither in the loaded document nor in the summary."""


class Fields:
    """What a field resolver reads of one entity (see ``Backing.answer``)."""

    __slots__ = ("_backing",)

    def __init__(self, backing: Backing) -> None:
        self._backing = backing

    def __call__(self, name: str, summary_key: str | None = None) -> Any:
        """A stored field, from the summary when it holds it and the document is not loaded."""
        backing = self._backing
        if backing.document is not None:
            return backing.document.get(name)
        key = summary_key or name
        if key in backing.summary:
            return backing.summary[key]
        raise _NeedsDocument

    def document(self) -> Mapping[str, Any]:
        """The whole document (empty if it vanished or is no longer visible)."""
        if self._backing.document is None:
            raise _NeedsDocument
        return self._backing.document


def _backing(kind: EntityKind, doc: Mapping[str, Any]) -> Backing:
    return Backing(kind=kind, id=str(doc["_id"]), document=doc)


def _related_backing(entity: RelatedEntity) -> Backing:
    return Backing(kind=entity.kind, id=entity.id, document=entity.document, summary=entity.summary)


@dataclass(kw_only=True)
class _Entity(Node):
    """How the three entity types are built, and resolved for a federation gateway.

    ``id`` is the global id (``Node``'s field; ``graph.global_ids``); ``backing.id`` the
    entity's own number, which each type also exposes (``orderId``, ``shipmentId``,
    ``invoiceId``) and declares as a second federation key. Entitlements apply to
    ``resolve_reference`` as to every read (it goes through the request's readers), so another
    customer's entity resolves to null.
    """

    KIND: ClassVar[EntityKind]
    #: The field holding the entity's own number, a federation key beside ``id``.
    NUMBER_KEY: ClassVar[str]
    #: What the fields are answered from; a dataclass field, so each type's constructor takes it.
    backing: strawberry.Private[Backing]

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
        return (await cls.resolve_ids(info, [number]))[0]

    @classmethod
    async def resolve_ids(cls, info: Info, numbers: list[str | None]) -> list[Self | None]:
        """The entities the numbers name, in order (None where there is none the caller may
        see, or no number): one read of the store for all of them (``Readers.load_many``: one
        ``$in``, or the request's DataLoader, which batches a single id with other fields'),
        and entities backed by their documents, so every plain field of every one of them is
        answered without awaiting anything."""
        wanted = [number for number in numbers if number]
        docs = iter(await readers_of(info).load_many(cls.KIND, wanted) if wanted else [])
        found = [next(docs) if number else None for number in numbers]
        return [cls.of(doc) if doc else None for doc in found]


# --- relations and provenance, declared once for the three types --------------------------

#: Every relation between the entities: type -> (field, type it lists, what it lists). Each
#: link is answered by ``Readers.related`` from whichever side stores it
#: (``readmodel.links``), so both directions of a link are listed here.
RELATIONS: Final[Mapping[str, tuple[tuple[str, str, str], ...]]] = {
    "Order": (
        ("shipments", "Shipment", "The shipments carrying this order that you may see."),
        ("invoices", "Invoice", "The invoices charging for this order."),
    ),
    "Shipment": (
        ("orders", "Order", "The orders this shipment carries that you may see."),
        ("invoices", "Invoice", "The invoices charging for this shipment."),
    ),
    "Invoice": (
        ("orders", "Order", "The orders charged for that you may see."),
        ("shipments", "Shipment", "The shipments charged for that you may see."),
    ),
}
#: The relations (type, field) whose complete read, an overflowing holder's
#: (``Readers.related``), may scan a customer's list (``links.naming_scans``): the cost
#: limit charges each a store read (``web.limits``).
SCANNING_RELATIONS: Final = frozenset(
    (holder, field)
    for holder, relations in RELATIONS.items()
    for field, target, _ in relations
    if naming_scans(KIND_OF_TYPE[holder], KIND_OF_TYPE[target])
)
#: Invoices are behind a role: a list of them is null (with FORBIDDEN) for other callers.
_INVOICES_FORBIDDEN = " FORBIDDEN (and null) unless your roles include reading invoices."


_E = TypeVar("_E", bound=_Entity)


def _linked(backing: Backing, info: Info, kind: type[_E]) -> list[_E]:
    """The entities of ``kind`` this one links to that the caller may see: at once when the
    document at hand and its summaries suffice (the usual case), else an awaitable (see
    ``Backing.answer`` for why answering synchronously matters)."""
    linked = _linked_at_hand(backing, info.context, kind)
    if linked is NOT_AT_HAND:
        return cast(list[_E], _linked_loaded(backing, info, kind))
    return cast(list[_E], linked)


def _linked_at_hand(backing: Backing, context: GraphContext, kind: type[_E]) -> list[_E] | object:
    """The linked entities when the document at hand and its summaries suffice, else
    ``NOT_AT_HAND`` (``graph.leaf_fields``: the resolver then loads what it needs)."""
    if backing.document is not None:
        related = context.readers.related_at_hand(backing.document, kind.KIND)
        if related is not None:
            return [kind.related(entity) for entity in related]
    return NOT_AT_HAND


async def _linked_loaded(backing: Backing, info: Info, kind: type[_E]) -> list[_E]:
    parent = await backing.doc(info)
    readers = readers_of(info)
    related = await readers.related(parent, kind.KIND, parent_kind=backing.kind) if parent else []
    return [kind.related(entity) for entity in related]


def _relation(target: str, description: str) -> Any:
    """The field listing the ``target`` entities an entity links to that the caller may see.

    The return type is named as a string, resolved when the schema is built: the three
    types refer to each other, so none of them exists when the first one is declared.
    """

    def kind() -> type[_Entity]:
        return cast(type[_Entity], globals()[target])

    @at_hand_in_request(lambda entity, context: _linked_at_hand(entity.backing, context, kind()))
    def linked(self: _Entity, info: Info) -> list[_Entity]:
        return _linked(self.backing, info, kind())

    if target == "Invoice":
        linked.__annotations__["return"] = f"list[{target}] | None"
        description += _INVOICES_FORBIDDEN
    else:
        linked.__annotations__["return"] = f"list[{target}]"
    return strawberry.field(resolver=linked, description=description)


def _read_last_updated(get: Fields) -> datetime | None:
    return utc(get.document().get("updatedAt"))


@at_hand(lambda entity: entity.backing.at_hand(_read_last_updated))
def _last_updated(self: _Entity, info: Info) -> datetime | None:
    return self.backing.answer(info, _read_last_updated)


def _last_event(self: _Entity, info: Info) -> EventProvenance | None:
    return self.backing.answer(
        info, lambda get: EventProvenance.of(get.document().get("lastEvent"))
    )


_EntityType = TypeVar("_EntityType", bound=type[_Entity])


def entity_type(
    kind: EntityKind, number_key: str, description: str
) -> Callable[[_EntityType], _EntityType]:
    """Declares an entity type: its kind, the field holding its own number (a federation key
    beside ``id``), and ``RELATIONS[cls]`` and the provenance fields every entity ends with.

    Those fields are added before ``strawberry.federation.type`` runs, so Strawberry sees them
    as if they were written in the class body, after the type's own fields.
    """

    def declare(cls: _EntityType) -> _EntityType:
        cls.KIND = kind
        cls.NUMBER_KEY = number_key
        _add_relations(cls)
        federated: _EntityType = strawberry.federation.type(
            keys=["id", number_key], description=description
        )(cls)
        return federated

    return declare


def _add_relations(cls: type[_Entity]) -> None:
    for name, target, description in RELATIONS[cls.__name__]:
        setattr(cls, name, _relation(target, description))
    cls.last_updated_at = strawberry.field(  # type: ignore[attr-defined]
        resolver=_last_updated,
        description="When the read model last changed this record (any source).",
    )
    cls.last_event = strawberry.field(  # type: ignore[attr-defined]
        resolver=_last_event,
        description=(
            "Provenance: the upstream event that last changed this record, as the read "
            "model applied them (an event that changed nothing, such as a redelivery, never "
            "replaces it). Quote it when asking support about a value."
        ),
    )


def _order_status(get: Fields) -> OrderStatus:
    if get("cancelled") is True:
        return OrderStatus.CANCELLED
    stage = get("fulfillmentStage")
    if stage == FulfillmentStage.SHIPPED.name:
        return OrderStatus.SHIPPED
    return OrderStatus.IN_FULFILLMENT if stage else OrderStatus.OPEN


def _ship_to_name(get: Fields) -> str | None:
    """From the summary's ``shipToName`` while the order is not loaded (no query)."""
    ship_to = get("shipTo", summary_key="shipToName")
    if isinstance(ship_to, str):
        return ship_to
    return text((mapping(ship_to) or {}).get("name"))


def _unknown_status_codes(get: Fields) -> int:
    value = get("unknownStatusCodes")
    return value if isinstance(value, int) else 0


def _order_lines(get: Fields) -> list[OrderLine]:
    return OrderLine.lines_of(get.document())


def _invoice_status_read(readers: Readers) -> Callable[[Fields], InvoiceStatus | None]:
    """The stored status, OVERDUE for an open invoice past its due date (today's date)."""
    today = readers.now().date()
    return lambda get: enum_or_none(
        InvoiceStatus, invoice_view_status(text(get("status")), text(get("dueDate")), today)
    )


@at_hand_in_request(
    lambda entity, context: entity.backing.at_hand(_invoice_status_read(context.readers))
)
def _invoice_status(self: _Entity, info: Info) -> InvoiceStatus | None:
    return self.backing.answer(info, _invoice_status_read(readers_of(info)))


def _invoice_lines(get: Fields) -> list[InvoiceLine]:
    doc = get.document()
    return [InvoiceLine.of(line, doc.get("currency")) for line in items(doc.get("lines"))]


def _payments(get: Fields) -> list[Payment]:
    doc = get.document()
    return [Payment.of(p, doc.get("currency")) for p in items(doc.get("payments"))]


# --- fields declared once, answered through Backing.answer ------------------------------


def _answered(read: Callable[[Fields], Any], description: str) -> Any:
    """A field answered by ``read`` over the entity's fields (``Backing.answer``: at once when
    what it reads is at hand, else after loading the document).

    Typed ``Any`` as ``strawberry.field`` is: the class annotation gives the field's type.
    """

    @at_hand(lambda entity: entity.backing.at_hand(read))
    def answer(self: _Entity, info: Info) -> Any:
        return self.backing.answer(info, read)

    return strawberry.field(resolver=answer, description=description)


def _stored(key: str, convert: Callable[[Any], Any], description: str) -> Any:
    """A field that is ``convert`` applied to the entity's stored ``key``."""
    return _answered(lambda get: convert(get(key)), description)


def _is_true(value: Any) -> bool:
    return value is True


def _own_number(description: str) -> Any:
    """The entity's own number (``orderId``...), known without loading anything."""

    def read(entity: _Entity) -> strawberry.ID:
        return strawberry.ID(entity.backing.id)

    @at_hand(read)
    def number(self: _Entity) -> strawberry.ID:
        return read(self)

    return strawberry.field(resolver=number, description=description)


def _money(key: str, description: str) -> Any:
    """An amount of the invoice: null without the role to see amounts, and then answered
    without loading the document (it would be redacted anyway)."""

    def read(get: Fields) -> Money | None:
        return Money.of(get(key), get("currency"))

    def at_hand_for(entity: _Entity, context: GraphContext) -> Money | object | None:
        """The one place the amounts role is checked, for the leaf path and the resolver."""
        if not context.readers.scope.can_see_amounts:
            return None
        return entity.backing.at_hand(read)

    @at_hand_in_request(at_hand_for)
    def amount(self: _Entity, info: Info) -> Money | None:
        answer = at_hand_for(self, info.context)
        if answer is NOT_AT_HAND:
            return self.backing.answer(info, read)
        return cast(Money | None, answer)

    return strawberry.field(resolver=amount, description=description)


# --- orders ------------------------------------------------------------------------------


@entity_type(
    "orders",
    "orderId",
    (
        "A customer order as the ERP holds it, with the warehouse's fulfillment progress and "
        "links to the shipments and invoices that concern it."
    ),
)
class Order(_Entity):
    order_id: strawberry.ID = _own_number(
        "The order number (ERP sales order number), e.g. SO-100234: what `order(id:)` "
        "takes and the ERP shows."
    )
    customer_id: str | None = _stored(
        "customerId", text, "The customer account that owns the order."
    )
    customer_reference: str | None = _stored(
        "customerReference", text, "The customer's own reference for the order (PO number)."
    )
    order_type: OrderType | None = _stored(
        "orderType", member_of(OrderType), "Outbound, inbound or return."
    )
    status: OrderStatus = _answered(
        _order_status, "Overall state, derived from cancellation and fulfillment."
    )
    ordered_at: datetime | None = _stored("orderedAt", utc, "When the order was placed.")
    requested_delivery_date: date | None = _stored(
        "requestedDeliveryDate", calendar_date, "The delivery date the customer asked for."
    )
    ship_from: Party | None = _stored("shipFrom", Party.of, "The shipping warehouse.")
    ship_to: Party | None = _stored("shipTo", Party.of, "The consignee.")
    ship_to_name: str | None = _answered(
        _ship_to_name, "The consignee's name (answered without loading the order)."
    )
    warehouse_id: str | None = _stored("warehouseId", text, "The shipping warehouse's id.")
    lines: list[OrderLine] = _answered(
        _order_lines, "The ordered lines, with picked and shipped quantities."
    )
    cancelled: bool = _stored("cancelled", _is_true, "Whether the order was cancelled.")
    cancellation: Cancellation | None = _stored(
        "cancellation", Cancellation.of, "Why and when the order was cancelled, if it was."
    )
    fulfillment_stage: FulfillmentStage | None = _stored(
        "fulfillmentStage",
        member_of(FulfillmentStage),
        "The furthest warehouse stage reached, if any.",
    )
    fulfillment: Fulfillment | None = _stored(
        "fulfillment", Fulfillment.of, "The warehouse's progress in detail."
    )


# --- shipments ---------------------------------------------------------------------------


@entity_type(
    "shipments",
    "shipmentId",
    (
        "A shipment planned in a TMS, with its carrier milestones, current status and "
        "estimated delivery, and links to its orders and invoices."
    ),
)
class Shipment(_Entity):
    shipment_id: strawberry.ID = _own_number(
        "The shipment number (TMS load number): what `shipment(id:)` takes and the TMS shows."
    )
    customer_id: str | None = _stored(
        "customerId", text, "The customer account that owns the shipment."
    )
    status: ShipmentStatus | None = _stored(
        "status",
        member_of(ShipmentStatus),
        "Current status: that of the latest milestone (by when it happened) whose code "
        "is known; PLANNED before any; CANCELLED after a cancellation.",
    )
    mode: TransportMode | None = _stored(
        "mode", member_of(TransportMode), "Parcel, LTL, FTL, ocean or air."
    )
    carrier: Carrier | None = _stored("carrier", Carrier.of, "The carrier moving the shipment.")
    tracking_number: str | None = _stored("trackingNumber", text, "The carrier's tracking number.")
    origin: Address | None = _stored("origin", Address.of, "Where the shipment is picked up.")
    destination: Address | None = _stored(
        "destination", Address.of, "Where the shipment is delivered."
    )
    planned_pickup_at: datetime | None = _stored("plannedPickupAt", utc, "Planned pick-up time.")
    planned_delivery_at: datetime | None = _stored(
        "plannedDeliveryAt", utc, "Planned delivery time."
    )
    service_level: str | None = _stored(
        "serviceLevel", text, "The carrier service level, e.g. GROUND or EXPRESS."
    )
    eta: datetime | None = _stored(
        "eta", utc, "Expected delivery: the latest carrier estimate, else the planned time."
    )
    delivered_at: datetime | None = _stored(
        "deliveredAt", utc, "When it was delivered, once it was."
    )
    milestones: list[Milestone] = _stored(
        "milestones",
        each(Milestone.read),
        "The timeline, oldest first (by when each milestone happened).",
    )
    proof_of_delivery: ProofOfDelivery | None = _stored(
        "pod", ProofOfDelivery.of, "Proof of delivery, once captured."
    )
    cancelled: bool = _stored("cancelled", _is_true, "Whether the shipment was cancelled.")
    cancellation: Cancellation | None = _stored(
        "cancellation", Cancellation.of, "Why and when the shipment was cancelled, if it was."
    )
    unknown_status_codes: int = _answered(
        _unknown_status_codes,
        "How many milestones carry a code not mapped for their source (kept on the "
        "timeline with a null status; they never move the shipment's status).",
    )


# --- invoices ----------------------------------------------------------------------------

_AMOUNT_HIDDEN = " Null when your roles do not include seeing amounts."
_AMOUNTS_HIDDEN = " Amounts are null when your roles do not include seeing them."


@entity_type(
    "invoices",
    "invoiceId",
    (
        "An invoice issued by the ERP, with its lines, payments and balance. Readable only "
        "with a role that may read invoices; amounts only with a role that may see them."
    ),
)
class Invoice(_Entity):
    invoice_id: strawberry.ID = _own_number(
        "The ERP's invoice id (not the printed `invoiceNumber`): what `invoice(id:)` takes."
    )
    customer_id: str | None = _stored("customerId", text, "The customer account invoiced.")
    invoice_number: str | None = _stored(
        "invoiceNumber", text, "The invoice number printed on the document."
    )
    issued_at: datetime | None = _stored("issuedAt", utc, "When the invoice was issued.")
    due_date: date | None = _stored("dueDate", calendar_date, "The date payment is due.")
    currency: str | None = _stored(
        "currency", text, "ISO 4217 currency of every amount on the invoice."
    )
    status: InvoiceStatus | None = strawberry.field(
        resolver=_invoice_status,
        description="Open, overdue (open and past due today), paid or void.",
    )
    lines: list[InvoiceLine] = _answered(_invoice_lines, "The charges." + _AMOUNTS_HIDDEN)
    subtotal: Money | None = _money("subtotal", "Sum of the lines before tax." + _AMOUNT_HIDDEN)
    tax: Money | None = _money("tax", "Tax." + _AMOUNT_HIDDEN)
    total: Money | None = _money("total", "Total due." + _AMOUNT_HIDDEN)
    amount_paid: Money | None = _money(
        "amountPaid", "Sum of the payments recorded." + _AMOUNT_HIDDEN
    )
    balance: Money | None = _money("balance", "Total minus payments." + _AMOUNT_HIDDEN)
    payments: list[Payment] = _answered(
        _payments,
        "Payments recorded, oldest first." + _AMOUNT_HIDDEN.replace("Null", "Amounts null"),
    )
    document_url: str | None = _stored("documentUrl", text, "Link to the invoice document.")
    voided: bool = _stored("voided", _is_true, "Whether the invoice was voided.")
    void_reason: str | None = _stored("voidReason", text, "Why the invoice was voided, if it was.")
    voided_at: datetime | None = _stored("voidedAt", utc, "When the invoice was voided, if it was.")
