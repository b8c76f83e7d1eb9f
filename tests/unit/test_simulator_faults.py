"""Fault injection: the backbone's misbehaviour, exactly as the contract warns about it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from projections.events import InvalidEvent, decode_event
from simulator.faults import FaultRates
from simulator.records import SimRecord
from simulator.world import expected_counts, generate

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HEAVY = FaultRates(duplicate=0.05, stale_snapshot=0.5, disorder=0.15, broken=0.01)
ARGS: dict[str, Any] = {"days": 20, "orders_per_day": 25, "now": NOW}


@pytest.fixture(scope="module")
def clean() -> list[SimRecord]:
    return list(generate(21, **ARGS))


@pytest.fixture(scope="module")
def faulty() -> list[SimRecord]:
    return list(generate(21, faults=HEAVY, **ARGS))


def events(records: list[SimRecord]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records if not r.broken]


def test_faults_are_off_by_default(clean: list[SimRecord]) -> None:
    assert clean == list(generate(21, faults=FaultRates.none(), **ARGS))
    assert not any(r.broken for r in clean)


def test_faults_add_records_but_lose_none(clean: list[SimRecord], faulty: list[SimRecord]) -> None:
    valid = [r for r in faulty if not r.broken]
    assert set(valid) == set(clean)  # the same world: every clean record, nothing new
    assert len(valid) > len(clean)  # ... some of them more than once


def test_duplicates_repeat_the_same_delivery_later(faulty: list[SimRecord]) -> None:
    first_seen: dict[tuple[str, str], int] = {}
    repeats = []
    for index, event in enumerate(events(faulty)):
        key = (event["source"], event["id"])
        if key in first_seen:
            repeats.append(index - first_seen[key])
        else:
            first_seen[key] = index
    assert len(repeats) > 100
    assert max(repeats) > 100  # some arrive much later, not just back to back


def test_an_older_snapshot_arrives_after_a_newer_one(faulty: list[SimRecord]) -> None:
    newest: dict[tuple[str, str], int] = {}
    stale_types: Counter[str] = Counter()
    for event in events(faulty):
        key = (event["source"], event["subject"])
        if event["sequence"] < newest.get(key, 0):
            stale_types[event["type"]] += 1
        newest[key] = max(newest.get(key, 0), event["sequence"])
    assert stale_types["logistics.order.created.v1"] > 0
    assert stale_types["logistics.shipment.planned.v1"] > 0


def test_related_records_arrive_before_what_they_depend_on(faulty: list[SimRecord]) -> None:
    created: set[str] = set()
    planned: set[str] = set()
    wms_before_erp = milestone_before_plan = invoice_before_order = 0
    for event in events(faulty):
        kind = event["type"]
        if kind == "logistics.order.created.v1":
            created.add(event["subject"])
        elif kind == "logistics.shipment.planned.v1":
            planned.add(event["subject"])
        elif kind == "logistics.fulfillment.progressed.v1":
            wms_before_erp += event["subject"] not in created
        elif kind == "logistics.shipment.milestone.v1":
            milestone_before_plan += event["subject"] not in planned
        elif kind == "logistics.invoice.issued.v1":
            orders = {line["orderId"] for line in event["data"]["lines"] if "orderId" in line}
            invoice_before_order += bool(orders - created)
    assert wms_before_erp > 0
    assert milestone_before_plan > 0
    assert invoice_before_order > 0


def test_broken_records_are_flagged_and_rejected_by_the_decoder(faulty: list[SimRecord]) -> None:
    broken = [r for r in faulty if r.broken]
    assert len(broken) > 50
    assert expected_counts(faulty).total_broken == len(broken)
    reasons: Counter[str] = Counter()
    for record in broken:
        with pytest.raises(InvalidEvent) as raised:
            decode_event(record.value)
        reasons[raised.value.reason.split(":")[0].split(" ")[0]] += 1
    # Not UTF-8, not JSON, not an object, missing fields, unknown types, wrong types.
    assert {"not", "type"} <= set(reasons)
    assert len(reasons) >= 6, reasons


def test_every_valid_record_still_decodes(faulty: list[SimRecord]) -> None:
    for record in faulty:
        if not record.broken:
            decode_event(record.value)


def test_fault_streams_are_deterministic_too() -> None:
    args: dict[str, Any] = {"days": 3, "orders_per_day": 20, "now": NOW}
    first = list(generate(4, faults=FaultRates.default(), **args))
    assert first == list(generate(4, faults=FaultRates.default(), **args))


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_rates_outside_zero_to_one_are_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        FaultRates(duplicate=rate)


def test_presets_by_name() -> None:
    assert FaultRates.named("none") == FaultRates()
    assert FaultRates.named("default").active
    with pytest.raises(ValueError, match="unknown fault preset"):
        FaultRates.named("chaos")
