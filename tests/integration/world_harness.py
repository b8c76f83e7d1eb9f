"""Documents as the projector stores them, for the resolver and graph tests, and a runner.

The resolver tests write projections directly, in the shapes of ``readmodel.documents``,
with the embedded summaries computed by the projector's own ``summarize``, so they test the
readers against what the writer produces without running Kafka
(``tests/integration/test_resolvers.py`` checks that claim).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.caller import Caller
from entitlements.policy import Policy
from graph.context import GraphContext
from projections.search_writes import fill
from projections.store import ProjectionStore, with_derived
from projections.summaries import summarize
from readmodel import documents
from readmodel.collections import CollectionNames
from readmodel.documents import field_key
from resolvers.audit import AuditSink
from resolvers.generation import GenerationPointer

Doc = dict[str, Any]

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _event(source: str, event_id: str, type_: str, at: datetime) -> Doc:
    return {"source": source, "id": event_id, "type": type_, "time": at}


def order(
    order_id: str,
    customer: str,
    *,
    reference: str,
    ordered_at: datetime = T0,
    warehouse: str = "DC-ATL",
    ship_to: str = "Dock Seven Ltd",
    city: str = "Atlanta",
    stage: str | None = None,
    cancelled: bool = False,
    order_type: str = "OUTBOUND",
    known: bool = True,
) -> Doc:
    address = {"line1": "1 Main St", "city": city, "postalCode": "30301", "countryCode": "US"}
    doc: Doc = {
        "_id": order_id,
        "customerId": customer,
        "known": known,
        "rev": 3,
        "updatedAt": ordered_at + timedelta(minutes=5),
        "lastEvent": _event(
            "erp/s4-prod", f"e-{order_id}", "logistics.order.created.v1", ordered_at
        ),
        "customerReference": reference,
        "orderType": order_type,
        "orderedAt": ordered_at,
        "requestedDeliveryDate": "2026-11-20",
        "shipFrom": {"warehouseId": warehouse, "name": "Atlanta DC", "address": address},
        "shipTo": {"name": ship_to, "address": {**address, "city": city}},
        "warehouseId": warehouse,
        "lines": [
            {"lineNumber": 1, "sku": "SKU-1", "description": "Widget", "quantity": 40, "uom": "EA"},
            {"lineNumber": 2, "sku": "SKU-2", "description": "Gadget", "quantity": 5, "uom": "CS"},
        ],
        "cancelled": cancelled,
        "cancellation": {"reason": "customer request", "cancelledAt": ordered_at}
        if cancelled
        else None,
        "fulfillmentStage": stage,
        "_orderState": {"version": ["secret-bookkeeping"]},
    }
    if stage is not None:
        doc["fulfillment"] = {
            "stage": stage,
            "warehouseId": warehouse,
            "history": [{"stage": stage, "occurredAt": ordered_at, "warehouseId": warehouse}],
            "handlingUnits": [{"sscc": "003012345678901234", "weightKg": 212.5}],
            "lines": [{"lineNumber": 1, "quantityPicked": 40, "quantityShipped": 40}],
            "shipmentIds": [],
        }
    return doc


def shipment(
    shipment_id: str,
    customer: str,
    *,
    order_ids: Iterable[str] = (),
    tracking: str,
    planned_pickup_at: datetime = T0,
    status: str = "IN_TRANSIT",
    city: str = "Chicago",
    scac: str = "ODFL",
    milestones: int = 3,
) -> Doc:
    events = [
        {
            "source": "tms/us-road",
            "milestoneId": f"{shipment_id}-m{i}",
            "rawCode": "AF" if i else "X3",
            "status": "PICKED_UP" if i else None,
            "occurredAt": planned_pickup_at + timedelta(hours=i),
            "location": {"city": "Atlanta", "countryCode": "US", "lat": 33.75, "lon": -84.39},
        }
        for i in range(milestones)
    ]
    return {
        "_id": shipment_id,
        "customerId": customer,
        "known": True,
        "rev": 2,
        "updatedAt": planned_pickup_at,
        "lastEvent": _event("tms/us-road", f"e-{shipment_id}", "logistics.shipment.planned.v1", T0),
        "orderIds": list(order_ids),
        "mode": "LTL",
        "carrier": {"scac": scac, "name": f"{scac} Freight"},
        "carrierScac": scac,
        "trackingNumber": tracking,
        "origin": {
            "line1": "1 Dock Rd",
            "city": "Atlanta",
            "postalCode": "30301",
            "countryCode": "US",
        },
        "destination": {
            "line1": "9 Elm St",
            "city": city,
            "postalCode": "60601",
            "countryCode": "US",
        },
        "plannedPickupAt": planned_pickup_at,
        "plannedDeliveryAt": planned_pickup_at + timedelta(days=2),
        "serviceLevel": "STANDARD",
        "milestones": events,
        "status": status,
        "eta": planned_pickup_at + timedelta(days=2),
        "deliveredAt": None,
        "pod": None,
        "cancelled": False,
        "cancellation": None,
        "unknownStatusCodes": 0,
        "_shipmentState": {"secret": True},
    }


def invoice(
    invoice_id: str,
    customer: str,
    *,
    number: str,
    order_ids: Iterable[str] = (),
    shipment_ids: Iterable[str] = (),
    issued_at: datetime = T0,
    due_date: str = "2026-12-01",
    total: str = "1150.00",
    paid: str = "0.00",
    status: str = "OPEN",
) -> Doc:
    orders, shipments = sorted(order_ids), sorted(shipment_ids)
    balance = f"{float(total) - float(paid):.2f}"
    return {
        "_id": invoice_id,
        "customerId": customer,
        "known": True,
        "rev": 1,
        "updatedAt": issued_at,
        "lastEvent": _event("erp/s4-prod", f"e-{invoice_id}", "logistics.invoice.issued.v1", T0),
        "invoiceNumber": number,
        "issuedAt": issued_at,
        "dueDate": due_date,
        "currency": "USD",
        "lines": [
            {
                "description": "Freight",
                "chargeType": "FREIGHT",
                "amount": "1000.00",
                "orderId": orders[0] if orders else None,
                "shipmentId": shipments[0] if shipments else None,
            }
        ],
        "subtotal": "1000.00",
        "tax": "150.00",
        "total": total,
        "documentUrl": f"https://docs.example/{invoice_id}.pdf",
        "orderIds": orders,
        "shipmentIds": shipments,
        "payments": [{"paymentId": "p1", "amount": paid, "paidAt": issued_at}]
        if paid != "0.00"
        else [],
        "amountPaid": paid,
        "balance": balance,
        "status": status,
        "voided": status == "VOID",
        "voidReason": None,
        "voidedAt": None,
        "_invoiceState": {"secret": True},
    }


def _embed(target: Doc, kind: str, source: Doc, extra: Mapping[str, Any]) -> None:
    summary = {**summarize(kind, source), "rev": source["rev"], **extra}
    related = target.setdefault("related", {})
    related.setdefault(kind, {})[field_key(str(source["_id"]))] = summary


@dataclass
class World:
    """A set of documents, linked the way the projector links them."""

    orders: list[Doc] = field(default_factory=list)
    shipments: list[Doc] = field(default_factory=list)
    invoices: list[Doc] = field(default_factory=list)
    sources: list[Doc] = field(default_factory=list)

    def link(self, *, summary_extra: bool = False) -> World:
        """Embed summaries both ways for every link a document declares.

        ``summary_extra`` adds ``customerId`` to every summary and ``warehouseId`` to order
        summaries: the shape ``entitlements.scope`` expects for warehouse rules, and with
        which related entities need no query at all. (``projections.summaries`` does not
        write them yet.)
        """
        by_id = {
            **{("orders", d["_id"]): d for d in self.orders},
            **{("shipments", d["_id"]): d for d in self.shipments},
            **{("invoices", d["_id"]): d for d in self.invoices},
        }

        def extra(doc: Doc) -> dict[str, Any]:
            if not summary_extra:
                return {}
            if "warehouseId" in doc:
                return {"customerId": doc["customerId"], "warehouseId": doc["warehouseId"]}
            return {"customerId": doc["customerId"]}

        def tie(a_kind: str, a: Doc, b_kind: str, b: Doc) -> None:
            _embed(a, b_kind, b, extra(b))
            _embed(b, a_kind, a, extra(a))

        for s in self.shipments:
            for order_id in s["orderIds"]:
                o = by_id.get(("orders", order_id))
                if o is not None:
                    tie("shipments", s, "orders", o)
                    if "fulfillment" in o:
                        o["fulfillment"]["shipmentIds"].append(s["_id"])
        for i in self.invoices:
            for order_id in i["orderIds"]:
                if (o := by_id.get(("orders", order_id))) is not None:
                    tie("invoices", i, "orders", o)
            for shipment_id in i["shipmentIds"]:
                if (t := by_id.get(("shipments", shipment_id))) is not None:
                    tie("invoices", i, "shipments", t)
        return self

    async def insert(self, db: AsyncDatabase[Doc], suffix: str = "") -> None:
        """Insert the documents into a generation prepared as the projector prepares it,
        with their search documents (``readmodel.search_keys``)."""
        store = ProjectionStore(db)
        await store.ensure_indexes(suffix)
        for base, docs in (
            (documents.ORDERS, self.orders),
            (documents.SHIPMENTS, self.shipments),
            (documents.INVOICES, self.invoices),
            (documents.SOURCES, self.sources),
        ):
            if docs:
                name = documents.generation_collection(base, suffix)
                await db[name].insert_many([with_derived(name, d) for d in docs])
        await fill(store, suffix)


class MemoryAudit:
    """An audit sink that keeps entries for assertions."""

    def __init__(self) -> None:
        self.entries: list[Any] = []

    async def record(self, entry: Any) -> None:
        self.entries.append(entry)


@dataclass(frozen=True)
class Result:
    data: Any
    errors: list[dict[str, Any]]

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]

    def text(self) -> str:
        return json.dumps(self.data, default=str)


async def run(
    schema: strawberry.federation.Schema,
    db: AsyncDatabase[Doc],
    who: Caller | None,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    policy: Policy | None = None,
    audit: AuditSink | None = None,
    collections: CollectionNames | None = None,
    pointer: GenerationPointer | None = None,
) -> Result:
    context = GraphContext.build(
        db,
        policy or Policy(),
        who,
        audit or MemoryAudit(),
        None,
        collections=collections,
        pointer=pointer,
    )
    result = await schema.execute(query, variable_values=variables, context_value=context)
    errors = [dict(e.formatted) for e in result.errors or []]
    for error in result.errors or []:
        original = error.original_error
        if original is not None and not hasattr(original, "code"):
            raise original  # an unexpected failure: show it, not a masked message
    return Result(data=result.data, errors=errors)
