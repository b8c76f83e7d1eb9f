"""The one parser of links between stored documents, as the writer and every reader see them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readmodel.documents import field_key, id_of_key
from readmodel.links import (
    declared_links,
    named_ids,
    order_warehouses,
    summaries,
    visible_warehouses,
)


@given(st.text())
def test_a_map_key_decodes_to_the_id_it_encodes(entity_id: str) -> None:
    key = field_key(entity_id)
    assert "." not in key and not key.startswith("$")
    assert id_of_key(key) == entity_id


def test_an_order_names_shipments_the_wms_reported_and_an_invoice_names_both_kinds() -> None:
    order = {"_id": "SO-1", "fulfillment": {"shipmentIds": ["SH-2", "SH-1", "SH-2"]}}
    invoice = {"_id": "INV-1", "orderIds": ["SO-1"], "shipmentIds": ["SH-1"]}
    assert named_ids(order, "shipments") == ["SH-1", "SH-2"]
    assert named_ids(invoice, "orders") == ["SO-1"]
    assert named_ids(invoice, "shipments") == ["SH-1"]
    assert named_ids(invoice, "invoices") == []


def test_malformed_names_are_not_links() -> None:
    doc = {"orderIds": ["SO-1", "", 7, None], "fulfillment": "broken", "shipmentIds": "SH-1"}
    assert named_ids(doc, "orders") == ["SO-1"]
    assert named_ids(doc, "shipments") == []


def test_declared_links_list_every_kind_a_document_can_name() -> None:
    assert declared_links("shipments", {"_id": "SH-1"}) == {"orders": []}
    assert declared_links("invoices", {"orderIds": ["SO-1"]}) == {
        "orders": ["SO-1"],
        "shipments": [],
    }


def test_summaries_are_keyed_by_their_entity_id() -> None:
    doc = {
        "related": {
            "orders": {
                field_key("SO.1"): {"orderId": "SO.1", "rev": 2},
                # written without its own id: counted under its (decoded) map key
                field_key("SO.2"): {"rev": 1},
                "junk": "not a summary",
            }
        }
    }
    assert set(summaries(doc, "orders")) == {"SO.1", "SO.2"}
    assert summaries(doc, "shipments") == {}
    assert summaries({"related": "broken"}, "orders") == {}


def test_order_warehouses_cover_named_and_summarised_orders() -> None:
    shipment: dict[str, Any] = {
        "orderIds": ["SO-1", "SO-2"],
        "related": {
            "orders": {
                "SO-1": {"orderId": "SO-1", "warehouseId": "W-1"},
                "SO-3": {"orderId": "SO-3", "warehouseId": None},
            }
        },
    }
    # SO-2's summary has not arrived; SO-3 named the shipment from its side only
    assert order_warehouses(shipment) == {"SO-1": "W-1", "SO-2": None, "SO-3": None}


def _summarised(*warehouses: tuple[str, str | None]) -> dict[str, Any]:
    return {
        "related": {
            "orders": {o: {"orderId": o, "warehouseId": w} for o, w in warehouses},
        }
    }


def test_visible_warehouses_are_every_orders_or_none() -> None:
    both = {"orderIds": ["SO-1", "SO-2"], **_summarised(("SO-1", "W-2"), ("SO-2", "W-1"))}
    assert visible_warehouses("shipments", both) == ["W-1", "W-2"]
    same = {"orderIds": ["SO-1", "SO-2"], **_summarised(("SO-1", "W-1"), ("SO-2", "W-1"))}
    assert visible_warehouses("shipments", same) == ["W-1"]
    # fail closed: a summary missing or without a warehouse, or no order at all
    assert visible_warehouses("shipments", {"orderIds": ["SO-1"]}) is None
    no_warehouse = {"orderIds": ["SO-1"], **_summarised(("SO-1", None))}
    assert visible_warehouses("shipments", no_warehouse) is None
    assert visible_warehouses("shipments", {}) is None
    with pytest.raises(ValueError, match="no warehouse rule"):
        visible_warehouses("orders", both)


def test_an_invoices_warehouses_need_every_line_to_name_an_order() -> None:
    summarised = _summarised(("SO-1", "W-1"), ("SO-2", "W-2"))
    lines = [{"orderId": "SO-1"}, {"orderId": "SO-2"}]
    assert visible_warehouses("invoices", {"lines": lines, **summarised}) == ["W-1", "W-2"]
    storage = [*lines, {"orderId": None, "chargeType": "STORAGE"}]
    assert visible_warehouses("invoices", {"lines": storage, **summarised}) is None
    assert visible_warehouses("invoices", {"lines": [], **summarised}) is None
    # a line's order whose summary has not arrived
    late = [{"orderId": "SO-1"}, {"orderId": "SO-3"}]
    assert visible_warehouses("invoices", {"lines": late, **summarised}) is None
