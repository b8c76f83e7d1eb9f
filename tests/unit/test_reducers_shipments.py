"""Shipments: plan, milestones from several carriers' vocabularies, POD, cancellation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from projections.events import Event
from projections.reducers import apply
from projections.status_mapping import load_status_mapping
from tests.helpers import MAPPING, fold
from tests.unit import strategies as s


def planned(sequence: int = 1, delivery: float = 4000) -> Event:
    return s.event(
        "shipment.planned",
        s.shipment_plan(delivery=delivery),
        source="tms/us-road",
        sequence=sequence,
    )


def ms(
    sequence: int,
    code: str,
    minutes: float,
    *,
    milestone_id: str | None = None,
    source: str = "tms/us-road",
    eta: float | None = None,
) -> Event:
    payload = s.milestone(milestone_id or f"ms-{sequence}", code, minutes, eta=eta)
    return s.event("shipment.milestone", payload, source=source, sequence=sequence)


def when(minutes: float) -> Any:
    return s.BASE_TIME + timedelta(minutes=minutes)


def test_a_planned_shipment_is_planned_with_the_planned_eta() -> None:
    doc = fold(planned())
    assert doc["known"] is True
    assert doc["status"] == "PLANNED"
    assert doc["eta"] == when(4000)
    assert doc["carrierScac"] == "ODFL"
    assert doc["milestones"] == [] and doc["unknownStatusCodes"] == 0
    assert doc["deliveredAt"] is None and doc["pod"] is None and doc["cancelled"] is False


def test_status_follows_the_latest_occurrence_not_the_latest_arrival() -> None:
    delivered, picked_up = ms(3, "D1", 3000), ms(2, "AF", 100)
    doc = fold(planned(), delivered, picked_up)
    assert doc["status"] == "DELIVERED"
    assert [m["rawCode"] for m in doc["milestones"]] == ["AF", "D1"]
    assert doc == fold(planned(), picked_up, delivered)


def test_an_unknown_code_is_kept_counted_and_does_not_move_the_status() -> None:
    doc = fold(planned(), ms(2, "AF", 100), ms(3, "ZZ", 200))
    assert doc["status"] == "PICKED_UP"
    assert doc["unknownStatusCodes"] == 1
    unknown = doc["milestones"][-1]
    assert (unknown["rawCode"], unknown["status"]) == ("ZZ", None)


def test_codes_of_an_unmapped_source_are_unknown() -> None:
    doc = fold(planned(), ms(1, "D1", 100, source="tms/brand-new"))
    assert doc["status"] == "PLANNED"
    assert doc["unknownStatusCodes"] == 1


def test_an_estimate_updates_the_eta_without_moving_the_status() -> None:
    doc = fold(planned(), ms(2, "X6", 3000, eta=3300), ms(3, "AG", 3100, eta=3500))
    assert doc["status"] == "OUT_FOR_DELIVERY"
    assert doc["eta"] == when(3500)
    assert doc["unknownStatusCodes"] == 0  # informational, not unknown


def test_departing_the_delivery_location_does_not_undo_delivery() -> None:
    doc = fold(planned(), ms(2, "D1", 3000), ms(3, "CD", 3010))
    assert doc["status"] == "DELIVERED"


def test_eta_is_the_latest_milestone_estimate_else_the_plan() -> None:
    assert fold(planned(), ms(2, "AF", 100))["eta"] == when(4000)
    doc = fold(planned(), ms(2, "AF", 100, eta=4200), ms(3, "P1", 50, eta=3900))
    assert doc["eta"] == when(4200)  # AF occurred later than P1, so its estimate is newer


def test_delivered_at_and_pod_are_kept() -> None:
    pod = s.event(
        "shipment.pod-captured",
        {
            "shipmentId": s.SHIPMENT_ID,
            "signedBy": "J. RIVERA",
            "capturedAt": s.at(3001),
            "documentUrl": "https://docs.example/pod.pdf",
        },
        source="tms/us-road",
        sequence=9,
    )
    doc = fold(pod, planned(), ms(2, "AH", 2900), ms(3, "D1", 3000))
    assert doc["status"] == "DELIVERED"
    assert doc["deliveredAt"] == when(3000)
    assert doc["pod"]["signedBy"] == "J. RIVERA"


def test_a_cancelled_shipment_stays_cancelled() -> None:
    cancel = s.event(
        "shipment.cancelled",
        {"shipmentId": s.SHIPMENT_ID, "reason": "customer", "cancelledAt": s.at(500)},
        source="tms/us-road",
        sequence=5,
    )
    doc = fold(planned(), ms(2, "AF", 100), cancel, ms(6, "D1", 3000))
    assert doc["status"] == "CANCELLED"
    assert doc["cancelled"] is True
    assert doc["cancellation"]["reason"] == "customer"


def test_a_milestone_before_the_plan_is_kept_and_the_plan_completes_it() -> None:
    early = fold(ms(1, "COLLECTED", 100, source="tms/eu-road"))
    assert early["known"] is False
    assert early["status"] == "PICKED_UP"
    assert early["eta"] is None
    doc = fold(planned(), start=early)
    assert doc["known"] is True
    assert doc["status"] == "PICKED_UP"
    assert doc["eta"] == when(4000)
    assert len(doc["milestones"]) == 1


def test_a_restated_milestone_replaces_the_older_statement_only() -> None:
    first = ms(2, "X6", 3000, milestone_id="ms-7")
    correction = ms(3, "X1", 3000, milestone_id="ms-7")
    for doc in (fold(first, correction), fold(correction, first)):
        assert [m["rawCode"] for m in doc["milestones"]] == ["X1"]


def test_the_same_milestone_id_from_two_sources_is_two_milestones() -> None:
    doc = fold(
        ms(1, "AF", 100, milestone_id="ms-1", source="tms/us-road"),
        ms(1, "COLLECTED", 110, milestone_id="ms-1", source="tms/eu-road"),
    )
    assert [m["source"] for m in doc["milestones"]] == ["tms/us-road", "tms/eu-road"]


def test_an_earlier_plan_arriving_late_changes_nothing() -> None:
    newest = fold(planned(1, delivery=4000), planned(3, delivery=3000), ms(4, "AF", 100))
    assert apply(newest, planned(2, delivery=5000), MAPPING) == newest
    assert newest["eta"] == when(3000)


def test_a_mapping_change_reaches_the_shipment_with_its_next_event(tmp_path: Path) -> None:
    doc = fold(planned(), ms(2, "PU", 100, source="tms/new"), ms(3, "ZZ", 200, source="tms/new"))
    assert (doc["status"], doc["unknownStatusCodes"]) == ("PLANNED", 2)
    path = tmp_path / "map.toml"
    path.write_text('[sources."tms/new"]\nPU = "PICKED_UP"\n')
    later = fold(ms(4, "ZZ", 50, source="tms/new"), start=doc, mapping=load_status_mapping(path))
    assert later["status"] == "PICKED_UP"
    assert later["unknownStatusCodes"] == 2
    assert [m["status"] for m in later["milestones"]] == [None, "PICKED_UP", None]
