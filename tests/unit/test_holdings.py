"""What ``projections verify`` counts as missing agrees with what the projector refuses."""

from __future__ import annotations

from projections.batch import EntityKey, plan_entity
from projections.document_size import encoded_size
from projections.events import Event
from projections.holdings import missing_events
from projections.status_mapping import StatusMapping, load_status_mapping
from tests.helpers import fold
from tests.unit import strategies as s

MAPPING = load_status_mapping()
SHIPMENT = EntityKey("shipments", s.SHIPMENT_ID)


def _milestone(
    sequence: int, milestone_id: str, signed_by: str, code: str = "X3", customer: str = s.CUSTOMER
) -> Event:
    data = dict(s.milestone(milestone_id, code, sequence), signedBy=signed_by)
    return s.event(
        "shipment.milestone", data, source="tms/us-road", sequence=sequence, customer=customer
    )


def _remapped(**codes: str) -> StatusMapping:
    """The packaged mapping with some of ``tms/us-road``'s codes changed; ``""`` unmaps."""
    table = {source: dict(mapped) for source, mapped in MAPPING.table.items()}
    for code, status in codes.items():
        if status:
            table["tms/us-road"][code] = status
        else:
            table["tms/us-road"].pop(code)
    return StatusMapping(table)


def test_after_a_status_mapping_change_only_the_event_not_held_is_missing() -> None:
    """``status_map.toml`` changed after the projector stored the shipment (AF now an
    exception, X6 unknown: each milestone's status, the shipment's status and its count of
    unknown codes differ under it): every event it holds is still held, the one it lacks
    missing."""
    plan = s.event("shipment.planned", s.shipment_plan(), source="tms/us-road", sequence=1)
    held = [plan, _milestone(2, "m1", "a", "AF"), _milestone(3, "m2", "b", "X6")]
    lost = _milestone(4, "m3", "c", "D1")
    stored = fold(*held, stored=True)
    remapped = _remapped(AF="EXCEPTION", X6="")

    assert missing_events(SHIPMENT, stored, [*held, lost], remapped) == [lost]
    assert missing_events(SHIPMENT, stored, held, remapped) == []


def test_after_a_status_mapping_change_facts_set_aside_are_still_held() -> None:
    """Before its plan, a shipment keeps another customer's milestones aside, with their
    statuses as the mapping then derived them (``reducers``, "Tenancy")."""
    own, aside = _milestone(1, "m1", "a", "AF"), _milestone(2, "m2", "b", "AF", "BETA")
    stored = fold(own, aside, stored=True)
    assert stored["_foreignFacts"][0]["milestones"][0]["status"] == "PICKED_UP"

    assert missing_events(SHIPMENT, stored, [own, aside], _remapped(AF="EXCEPTION")) == []


def test_an_event_refused_for_the_documents_size_is_not_missing_one_that_fits_is() -> None:
    stored = plan_entity(SHIPMENT, None, [_milestone(1, "m1", "J. RIVERA")], MAPPING).change
    assert stored is not None
    limit = encoded_size(stored.after) + 1_000
    runaway, fitting = _milestone(2, "m2", "x" * 2_000), _milestone(3, "m3", "y")
    plan = plan_entity(SHIPMENT, stored.after, [runaway], MAPPING, limit=limit)
    assert [r.event for r in plan.rejected] == [runaway]  # what the projector does with it

    missing = missing_events(SHIPMENT, stored.after, [runaway, fitting], MAPPING, limit=limit)

    assert missing == [fitting]
