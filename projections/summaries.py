"""The summary of an entity that other documents embed under ``related`` (see ``documents``).

A summary holds what a portal list or a related-entity panel shows without a second lookup.
It is computed from the whole stored document, so it reflects every writer's fields (an
order's summary carries the WMS stage as well as the ERP header). ``rev`` is added by the
caller, which knows the revision the summary was taken at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from readmodel.documents import InvoiceSummary, OrderSummary, ShipmentSummary


def summarize(kind: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """``OrderSummary`` / ``ShipmentSummary`` / ``InvoiceSummary`` of ``doc`` (without rev).

    Every summary field is present (None when the document lacks it), so a summary written
    over an older one replaces every field and never leaves a stale value behind.
    """
    try:
        summarizer = _SUMMARIZERS[kind]
    except KeyError:
        raise ValueError(f"no summary for entity kind {kind!r}") from None
    return {**summarizer(doc), "customerId": doc.get("customerId")}


def _order(doc: Mapping[str, Any]) -> OrderSummary:
    ship_to = doc.get("shipTo") or {}
    return OrderSummary(
        orderId=str(doc["_id"]),
        customerReference=doc.get("customerReference"),
        orderType=doc.get("orderType"),
        shipToName=ship_to.get("name"),
        warehouseId=doc.get("warehouseId"),
        fulfillmentStage=doc.get("fulfillmentStage"),
        cancelled=bool(doc.get("cancelled", False)),
    )


def _shipment(doc: Mapping[str, Any]) -> ShipmentSummary:
    carrier = doc.get("carrier")
    return ShipmentSummary(
        shipmentId=str(doc["_id"]),
        status=str(doc.get("status") or "PLANNED"),
        mode=doc.get("mode"),
        carrier=dict(carrier) if carrier else None,
        trackingNumber=doc.get("trackingNumber"),
        eta=doc.get("eta"),
        deliveredAt=doc.get("deliveredAt"),
    )


def _invoice(doc: Mapping[str, Any]) -> InvoiceSummary:
    return InvoiceSummary(
        invoiceId=str(doc["_id"]),
        invoiceNumber=doc.get("invoiceNumber"),
        currency=doc.get("currency"),
        total=doc.get("total"),
        balance=doc.get("balance"),
        status=str(doc.get("status") or "OPEN"),
        dueDate=doc.get("dueDate"),
    )


_SUMMARIZERS: Final[dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]]] = {
    "orders": _order,
    "shipments": _shipment,
    "invoices": _invoice,
}
