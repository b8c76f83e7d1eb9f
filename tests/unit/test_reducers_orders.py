"""Orders: the ERP header and cancellation, the WMS fulfillment, and how they meet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import bson
import pytest

from projections.events import Event, InvalidEvent
from projections.reducers import ConflictingEvent, apply
from readmodel.documents import FOREIGN_FACTS
from tests.helpers import MAPPING, fold
from tests.unit import strategies as s


def created(sequence: int = 1, **kwargs: Any) -> Event:
    return s.event("order.created", s.order_snapshot(**kwargs), source=s.ERP, sequence=sequence)


def updated(sequence: int, **kwargs: Any) -> Event:
    return s.event("order.updated", s.order_snapshot(**kwargs), source=s.ERP, sequence=sequence)


def cancelled(sequence: int, minutes: float = 100, reason: str = "customer request") -> Event:
    payload = {"orderId": s.ORDER_ID, "reason": reason, "cancelledAt": s.at(minutes)}
    return s.event("order.cancelled", payload, source=s.ERP, sequence=sequence)


def progressed(
    sequence: int,
    stage: str,
    minutes: float,
    *,
    shipment: str | None = None,
    lines: list[dict[str, Any]] | None = None,
    source: str = s.WMS,
    customer: str = s.CUSTOMER,
) -> Event:
    payload: dict[str, Any] = {
        "orderId": s.ORDER_ID,
        "warehouseId": "DC-ATL",
        "stage": stage,
        "occurredAt": s.at(minutes),
    }
    if shipment is not None:
        payload["shipmentId"] = shipment
    if lines is not None:
        payload["lines"] = lines
    return s.event(
        "fulfillment.progressed", payload, source=source, sequence=sequence, customer=customer
    )


def test_a_created_order_is_known_with_its_header_and_lines() -> None:
    doc = fold(created(lines=3))
    assert doc["_id"] == s.ORDER_ID
    assert doc["known"] is True
    assert doc["customerId"] == s.CUSTOMER
    assert doc["customerReference"] == "PO-88812"
    assert doc["warehouseId"] == "DC-ATL"  # copied to top level for entitlement filters
    assert [line["quantity"] for line in doc["lines"]] == [10, 20, 30]
    assert doc["cancelled"] is False and doc["cancellation"] is None


def test_an_update_replaces_the_snapshot() -> None:
    doc = fold(created(reference="PO-1", lines=3), updated(2, reference="PO-2", lines=1))
    assert doc["customerReference"] == "PO-2"
    assert len(doc["lines"]) == 1


def test_an_older_snapshot_arriving_late_changes_nothing() -> None:
    newest = fold(created(reference="PO-1"), updated(3, reference="PO-3"))
    assert apply(newest, updated(2, reference="PO-2"), MAPPING) == newest
    assert apply(newest, created(reference="PO-1"), MAPPING) == newest


def test_a_cancellation_before_the_order_is_kept_and_shows_once_it_arrives() -> None:
    early = fold(cancelled(2, reason="duplicate"))
    assert early["known"] is False
    assert early["cancelled"] is True
    doc = fold(created(), start=early)
    assert doc["known"] is True
    assert doc["cancelled"] is True
    assert doc["cancellation"]["reason"] == "duplicate"
    assert doc["customerReference"] == "PO-88812"


def test_a_cancelled_order_is_kept_and_stays_cancelled_after_an_update() -> None:
    doc = fold(created(), cancelled(2), updated(3, reference="PO-9"))
    assert doc["cancelled"] is True
    assert doc["customerReference"] == "PO-9"


def test_of_two_cancellations_the_first_one_is_shown_whatever_the_arrival() -> None:
    first, second = (
        cancelled(2, minutes=10, reason="first"),
        cancelled(3, minutes=20, reason="second"),
    )
    assert fold(created(), second, first) == fold(created(), first, second)
    assert fold(created(), second, first)["cancellation"]["reason"] == "first"


def test_the_furthest_stage_wins_whatever_order_stages_arrive_in() -> None:
    doc = fold(
        progressed(3, "PACKED", 30),
        progressed(1, "RELEASED", 10),
        progressed(2, "PICKING", 20),
    )
    assert doc["fulfillmentStage"] == "PACKED"
    assert doc["fulfillment"]["stage"] == "PACKED"
    assert [step["stage"] for step in doc["fulfillment"]["history"]] == [
        "RELEASED",
        "PICKING",
        "PACKED",
    ]


def test_a_stage_reported_twice_is_one_step_at_its_first_report() -> None:
    doc = fold(progressed(2, "PICKING", 25), progressed(1, "PICKING", 20))
    history = doc["fulfillment"]["history"]
    assert len(history) == 1
    assert history[0]["occurredAt"] == s.BASE_TIME + timedelta(minutes=20)


def test_shipment_ids_are_collected_from_every_loaded_report() -> None:
    doc = fold(
        progressed(1, "LOADED", 10, shipment="SH-2"),
        progressed(2, "LOADED", 11, shipment="SH-1"),
        progressed(3, "SHIPPED", 12, shipment="SH-2"),
    )
    assert doc["fulfillment"]["shipmentIds"] == ["SH-1", "SH-2"]


def test_a_later_count_corrects_an_earlier_one_even_when_it_arrives_first() -> None:
    picked = progressed(1, "PICKED", 10, lines=[{"lineNumber": 1, "quantityPicked": 40}])
    corrected = progressed(
        2, "PACKED", 20, lines=[{"lineNumber": 1, "quantityPicked": 38, "quantityShipped": 38}]
    )
    for doc in (fold(picked, corrected), fold(corrected, picked)):
        assert doc["fulfillment"]["lines"] == [
            {"lineNumber": 1, "quantityPicked": 38, "quantityShipped": 38}
        ]


def test_warehouse_data_first_then_the_erp_order_keeps_both() -> None:
    early = fold(progressed(1, "PICKING", 10))
    assert early["known"] is False
    assert early["customerId"] == s.CUSTOMER
    doc = fold(created(), start=early)
    assert doc["known"] is True
    assert doc["fulfillmentStage"] == "PICKING"
    again = fold(progressed(2, "PACKED", 20), start=doc)
    assert again["customerReference"] == "PO-88812"
    assert again["fulfillmentStage"] == "PACKED"


def test_fields_of_other_writers_are_kept_and_io_fields_never_written() -> None:
    start = {
        "_id": s.ORDER_ID,
        "known": False,
        "rev": 7,
        "related": {"shipments": {"SH-1": {"shipmentId": "SH-1", "status": "PLANNED", "rev": 1}}},
    }
    doc = fold(created(), progressed(1, "PICKING", 10), start=start)
    assert doc["related"] == start["related"]
    assert doc["rev"] == 7
    assert "updatedAt" not in doc and "lastEvent" not in doc


def test_another_customers_event_for_a_known_order_is_refused() -> None:
    doc = fold(created())
    foreign = progressed(1, "PICKING", 10, customer="GLOBEX")
    with pytest.raises(ConflictingEvent) as refused:
        apply(doc, foreign, MAPPING)
    assert isinstance(refused.value, InvalidEvent)
    assert "GLOBEX" in refused.value.reason and "ACME" in refused.value.reason


def test_the_order_snapshot_decides_the_customer() -> None:
    early = fold(progressed(1, "PICKING", 10, customer="GLOBEX"))
    doc = fold(created(), start=early)
    assert doc["customerId"] == s.CUSTOMER
    # GLOBEX's warehouse progress is not ACME's order's: kept aside, never shown
    assert "fulfillment" not in doc and "fulfillmentStage" not in doc
    assert "_fulfillmentState" not in doc
    assert [(f["customerId"], f["fulfillmentStage"]) for f in doc[FOREIGN_FACTS]] == [
        ("GLOBEX", "PICKING")
    ]


def test_apply_refuses_a_document_of_another_entity() -> None:
    with pytest.raises(ValueError, match="applied to document"):
        apply({"_id": "SO-OTHER"}, created(), MAPPING)


def test_a_2000_line_order_stays_small() -> None:
    """Bookkeeping is a few versions plus two small integers per line, however many reports."""
    lines = 2000
    doc = fold(created(lines=lines))
    for n, stage in enumerate(["PICKED", "PACKED", "LOADED", "SHIPPED"] * 3):
        report = [
            {"lineNumber": i, "quantityPicked": n, "quantityShipped": n}
            for i in range(1, lines + 1)
        ]
        doc = fold(progressed(n + 1, stage, 10 + n, shipment="SH-1", lines=report), start=doc)
    state = doc["_fulfillmentState"]
    assert len(state["versions"]) == 1  # only the newest report's version is still referenced
    assert len(bson.encode(state)) < 40 * lines
    assert len(bson.encode(doc)) < 400 * lines
