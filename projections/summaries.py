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
    over an older one replaces every field and never leaves a stale value behind. The
    TypedDict in ``readmodel.documents`` says which fields a summary holds: each is the
    document's field of the same name, unless ``derived`` below works it out.
    """
    try:
        shown, derived = _SUMMARIES[kind]
    except KeyError:
        raise ValueError(f"no summary for entity kind {kind!r}") from None
    return {**{name: doc.get(name) for name in shown}, **derived(doc)}


def _order(doc: Mapping[str, Any]) -> OrderSummary:
    ship_to = doc.get("shipTo") or {}
    return OrderSummary(
        orderId=str(doc["_id"]),
        shipToName=ship_to.get("name"),
        cancelled=bool(doc.get("cancelled", False)),
    )


def _shipment(doc: Mapping[str, Any]) -> ShipmentSummary:
    carrier = doc.get("carrier")
    return ShipmentSummary(
        shipmentId=str(doc["_id"]),
        status=str(doc.get("status") or "PLANNED"),
        carrier=dict(carrier) if carrier else None,
    )


def _invoice(doc: Mapping[str, Any]) -> InvoiceSummary:
    return InvoiceSummary(invoiceId=str(doc["_id"]), status=str(doc.get("status") or "OPEN"))


_Derived = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def _summary(shape: type[Mapping[str, Any]], derived: _Derived) -> tuple[tuple[str, ...], _Derived]:
    """The fields of TypedDict ``shape`` (but ``rev``, the caller's), and how the derived are
    worked out."""
    return tuple(name for name in shape.__annotations__ if name != "rev"), derived


_SUMMARIES: Final = {
    "orders": _summary(OrderSummary, _order),
    "shipments": _summary(ShipmentSummary, _shipment),
    "invoices": _summary(InvoiceSummary, _invoice),
}
