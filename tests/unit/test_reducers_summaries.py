"""Summaries embedded in related documents, declared links, and source declarations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from projections.events import Event
from projections.links import declared_links
from projections.reducers import apply
from projections.summaries import summarize
from tests.helpers import MAPPING, fold
from tests.unit import strategies as s


def order_doc() -> dict[str, Any]:
    created = s.event("order.created", s.order_snapshot(), source=s.ERP, sequence=1)
    loaded = s.event(
        "fulfillment.progressed",
        {
            "orderId": s.ORDER_ID,
            "warehouseId": "DC-ATL",
            "stage": "LOADED",
            "occurredAt": s.at(300),
            "shipmentId": "SH-2",
        },
        source=s.WMS,
        sequence=1,
    )
    return fold(created, loaded)


def shipment_doc() -> dict[str, Any]:
    plan = s.shipment_plan(order_ids=("SO-2", "SO-1", "SO-2"))
    return fold(
        s.event("shipment.planned", plan, source="tms/us-road", sequence=1),
        s.event(
            "shipment.milestone",
            s.milestone("m1", "D1", 3000),
            source="tms/us-road",
            sequence=2,
        ),
    )


def invoice_doc() -> dict[str, Any]:
    payload = s.invoice()
    payload["lines"].append(
        {"description": "storage", "chargeType": "STORAGE", "amount": "0.00", "orderId": "SO-0"}
    )
    return fold(s.event("invoice.issued", payload, source=s.ERP, sequence=1))


def test_an_order_summary_carries_erp_and_warehouse_fields() -> None:
    assert summarize("orders", order_doc()) == {
        "orderId": s.ORDER_ID,
        "customerReference": "PO-88812",
        "orderType": "OUTBOUND",
        "shipToName": "Acme Store 112",
        "warehouseId": "DC-ATL",
        "fulfillmentStage": "LOADED",
        "cancelled": False,
        "customerId": "ACME",
    }


def test_a_shipment_summary_carries_status_and_dates() -> None:
    summary = summarize("shipments", shipment_doc())
    assert summary["status"] == "DELIVERED"
    assert summary["deliveredAt"] == s.BASE_TIME + timedelta(minutes=3000)
    assert summary["carrier"] == {"scac": "ODFL", "name": "Old Dominion"}
    assert summary["trackingNumber"] == "7712093341"
    assert "rev" not in summary


def test_an_invoice_summary_carries_amounts_as_strings() -> None:
    summary = summarize("invoices", invoice_doc())
    assert summary == {
        "invoiceId": s.INVOICE_ID,
        "invoiceNumber": "4411",
        "currency": "USD",
        "total": "909.89",
        "balance": "909.89",
        "status": "OPEN",
        "dueDate": "2026-12-25",
        "customerId": "ACME",
    }


def test_a_summary_of_a_sparse_document_has_every_field() -> None:
    summary = summarize("shipments", {"_id": "SH-9", "known": False})
    assert summary["status"] == "PLANNED"
    assert summary["eta"] is None and summary["carrier"] is None


def test_summaries_exist_only_for_entities() -> None:
    with pytest.raises(ValueError, match="sources"):
        summarize("sources", {"_id": "erp/s4-prod"})


def test_declared_links_are_sorted_and_distinct() -> None:
    assert declared_links("shipments", shipment_doc()) == {"orders": ["SO-1", "SO-2"]}
    assert declared_links("invoices", invoice_doc()) == {
        "orders": ["SO-0", s.ORDER_ID],
        "shipments": [s.SHIPMENT_ID],
    }
    assert declared_links("orders", order_doc()) == {"shipments": ["SH-2"]}


def test_a_document_that_names_nothing_yet_has_empty_links() -> None:
    assert declared_links("orders", {"_id": s.ORDER_ID}) == {"shipments": []}
    assert declared_links("sources", {"_id": s.ERP}) == {}
    with pytest.raises(ValueError, match="widgets"):
        declared_links("widgets", {})


def declared(sequence: int, status: str) -> Event:
    payload = {"source": s.ERP, "status": status, "message": "upgrade"}
    return s.event("source.status-changed", payload, source=s.ERP, sequence=sequence, customer="*")


def test_a_source_shows_its_newest_declaration() -> None:
    doc = fold(declared(2, "AVAILABLE"), declared(1, "MAINTENANCE"))
    assert doc["declared"]["status"] == "AVAILABLE"
    assert "customerId" not in doc and "known" not in doc


def test_a_source_declaration_keeps_the_freshness_fields() -> None:
    start = {"_id": s.ERP, "lastEventAt": s.BASE_TIME, "lastEventId": "x"}
    doc = apply(start, declared(1, "DEGRADED"), MAPPING)
    assert doc["lastEventAt"] == s.BASE_TIME and doc["lastEventId"] == "x"
    assert doc["declared"]["status"] == "DEGRADED"
