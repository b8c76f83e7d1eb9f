"""Planning one entity's batch: the diff to write and whether any event was a repeat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.batch import EntityKey, plan_entity
from projections.document_size import encoded_size
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


SHIPMENT = EntityKey("shipments", s.SHIPMENT_ID)
TMS = "tms/us-road"


def _milestone(sequence: int, milestone_id: str, signed_by: str = "J. RIVERA") -> Event:
    data = dict(s.milestone(milestone_id, "X3", sequence), signedBy=signed_by)
    return s.event("shipment.milestone", data, source=TMS, sequence=sequence)


def _size_after(before: Mapping[str, Any] | None, *events: Event) -> int:
    plan = plan_entity(SHIPMENT, before, list(events), MAPPING)
    assert plan.change is not None
    return encoded_size(plan.change.after)


def test_the_event_that_would_make_the_document_too_large_is_refused_and_the_rest_kept() -> None:
    """A runaway shipment: the milestone that would take its document over the limit is a
    dead letter with a reason that says so; the one before it and a later one that fits
    are applied, and the document is as if the refused one never came."""
    stored = plan_entity(SHIPMENT, None, [_milestone(1, "m1")], MAPPING).change
    assert stored is not None
    kept, runaway, small = (
        _milestone(2, "m2"),
        _milestone(3, "m3", "x" * 5_000),
        _milestone(4, "m4", "y"),
    )
    limit = _size_after(stored.after, kept, small) + 100
    assert _size_after(stored.after, kept, runaway) > limit  # the runaway does not fit

    plan = plan_entity(SHIPMENT, stored.after, [small, runaway, kept], MAPPING, limit=limit)

    assert [r.event.id for r in plan.rejected] == [runaway.id]
    reason = plan.rejected[0].reason
    assert reason.startswith(
        f"document-too-large: applying it would make shipments '{SHIPMENT.id}' "
    )
    assert reason.endswith(f" bytes, over the limit of {limit:,}")
    assert plan.change is not None and plan.change.last_event["id"] == small.id
    assert [m["milestoneId"] for m in plan.change.after["milestones"]] == ["m1", "m2", "m4"]
    without = plan_entity(SHIPMENT, stored.after, [kept, small], MAPPING).change
    assert without is not None and plan.change.after == without.after


def test_a_document_over_the_limit_still_takes_events_that_do_not_grow_it() -> None:
    """A document stored above the limit (grown by summaries, or under a larger limit) is not
    frozen: a restatement that shrinks it and a redelivery are applied, a new fact is not."""
    big = _milestone(1, "m1", "x" * 5_000)
    stored = plan_entity(SHIPMENT, None, [big], MAPPING).change
    assert stored is not None
    limit = encoded_size(stored.after) - 1_000
    # the same milestone restated (a higher sequence), shorter but still over the limit
    shorter = _milestone(2, "m1", "y" * 4_500)
    new_fact = _milestone(3, "m2", "z")

    plan = plan_entity(SHIPMENT, stored.after, [big, shorter, new_fact], MAPPING, limit=limit)

    assert [r.event.id for r in plan.rejected] == [new_fact.id]
    assert plan.repeated
    assert plan.change is not None
    assert [m["signedBy"] for m in plan.change.after["milestones"]] == ["y" * 4_500]
    assert encoded_size(plan.change.after) > limit


def test_an_event_that_would_make_the_search_document_too_large_is_refused() -> None:
    """An order's search document holds two keys per character of its reference: a
    reference of varied text long enough is refused even while the order itself fits."""
    reference = "".join(f"{n:06x}" for n in range(1_000))  # 6,000 characters, few repeats
    order = plan_entity(KEY, None, [_created(1)], MAPPING).change
    assert order is not None
    limit = 60_000
    long = _created(2, reference)

    plan = plan_entity(KEY, order.after, [long], MAPPING, limit=limit)

    assert [r.event for r in plan.rejected] == [long]
    assert plan.rejected[0].reason.startswith(
        f"document-too-large: applying it would make the search document of orders '{KEY.id}' "
    )
    grown = plan_entity(KEY, order.after, [long], MAPPING).change
    assert grown is not None and encoded_size(grown.after) < limit  # the order itself fits
