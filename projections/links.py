"""Which other entities a document names itself: the edges the projector keeps summaries on.

Only the links a document *declares* are listed (a shipment's ``orderIds``, an invoice's
line references, an order's WMS shipment ids). The reverse direction is whatever pushed a
summary into ``related``; the projector combines both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def declared_links(kind: str, doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """Entity kind -> sorted distinct ids that ``doc`` (of entity ``kind``) names.

    Kinds without declared links (sources) and documents that name nothing yet give empty
    lists, never missing keys, so a removed link shows up as a difference.
    """
    if kind == "shipments":
        return {"orders": _ids(doc.get("orderIds"))}
    if kind == "invoices":
        return {"orders": _ids(doc.get("orderIds")), "shipments": _ids(doc.get("shipmentIds"))}
    if kind == "orders":
        fulfillment = doc.get("fulfillment") or {}
        return {"shipments": _ids(fulfillment.get("shipmentIds"))}
    if kind == "sources":
        return {}
    raise ValueError(f"no links for entity kind {kind!r}")


def _ids(values: Iterable[Any] | None) -> list[str]:
    return sorted({value for value in values or () if isinstance(value, str) and value})
