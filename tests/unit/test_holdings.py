"""What ``projections verify`` counts as missing agrees with what the projector refuses."""

from __future__ import annotations

from projections.batch import EntityKey, plan_entity
from projections.document_size import encoded_size
from projections.events import Event
from projections.holdings import missing_events
from projections.status_mapping import load_status_mapping
from tests.unit import strategies as s

MAPPING = load_status_mapping()
SHIPMENT = EntityKey("shipments", s.SHIPMENT_ID)


def _milestone(sequence: int, milestone_id: str, signed_by: str) -> Event:
    data = dict(s.milestone(milestone_id, "X3", sequence), signedBy=signed_by)
    return s.event("shipment.milestone", data, source="tms/us-road", sequence=sequence)


def test_an_event_refused_for_the_documents_size_is_not_missing_one_that_fits_is() -> None:
    stored = plan_entity(SHIPMENT, None, [_milestone(1, "m1", "J. RIVERA")], MAPPING).change
    assert stored is not None
    limit = encoded_size(stored.after) + 1_000
    runaway, fitting = _milestone(2, "m2", "x" * 2_000), _milestone(3, "m3", "y")
    plan = plan_entity(SHIPMENT, stored.after, [runaway], MAPPING, limit=limit)
    assert [r.event for r in plan.rejected] == [runaway]  # what the projector does with it

    missing = missing_events(SHIPMENT, stored.after, [runaway, fitting], MAPPING, limit=limit)

    assert missing == [fitting]
