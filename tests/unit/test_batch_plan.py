"""Planning one entity's batch: the diff to write and whether any event was a repeat."""

from __future__ import annotations

from projections.batch import EntityKey, plan_entity
from projections.events import Event
from projections.status_mapping import load_status_mapping
from tests.unit import strategies as s

MAPPING = load_status_mapping()
KEY = EntityKey("orders", s.ORDER_ID)


def _created(sequence: int, reference: str = "PO-1") -> Event:
    return s.event(
        "order.created", s.order_snapshot(reference=reference), source=s.ERP, sequence=sequence
    )


def test_new_events_give_a_change_and_no_repeat() -> None:
    plan = plan_entity(KEY, None, [_created(1)], MAPPING)

    assert plan.change is not None
    assert plan.change.set_fields["customerReference"] == "PO-1"
    assert not plan.repeated and not plan.rejected


def test_a_redelivered_batch_changes_nothing_and_says_it_repeated() -> None:
    first = plan_entity(KEY, None, [_created(1)], MAPPING)
    assert first.change is not None

    again = plan_entity(KEY, first.change.after, [_created(1)], MAPPING)

    assert again.change is None
    assert again.repeated


def test_a_repeat_next_to_a_new_event_still_says_it_repeated() -> None:
    first = plan_entity(KEY, None, [_created(1)], MAPPING)
    assert first.change is not None

    mixed = plan_entity(KEY, first.change.after, [_created(1), _created(2, "PO-2")], MAPPING)

    assert mixed.change is not None
    assert mixed.change.set_fields["customerReference"] == "PO-2"
    assert mixed.repeated
