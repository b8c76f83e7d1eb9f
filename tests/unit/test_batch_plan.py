"""Planning one entity's batch: the diff to write and whether any event was a repeat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.batch import EntityKey, EntityPlan, plan_entity
from projections.document_size import encoded_size
from projections.events import Event
from projections.holdings import missing_events
from projections.metrics import reason_class
from projections.status_mapping import load_status_mapping
from readmodel.documents import FOREIGN_FACTS
from tests.unit import strategies as s

MAPPING = load_status_mapping()
KEY = EntityKey("orders", s.ORDER_ID)


def _created(sequence: int, reference: str = "PO-1") -> Event:
    return s.event(
        "order.created", s.order_snapshot(reference=reference), source=s.ERP, sequence=sequence
    )


def _stored(before: Mapping[str, Any] | None, events: list[Event]) -> dict[str, Any]:
    """The document ``events`` leave ``before`` in, with the ``lastEvent`` the store writes."""
    change = plan_entity(KEY, before, events, MAPPING).change
    assert change is not None
    return {**change.after, "lastEvent": change.last_event}


def test_last_event_is_the_last_event_that_changed_the_document() -> None:
    """Not the batch's newest event when that changed nothing (a stale snapshot sent again
    later), but a late event that did change it (a cancellation reported late); and an
    event dated years ahead does not name itself for good."""
    stored = _stored(None, [_created(2)])  # sent at minute 2
    update = s.event("order.updated", s.order_snapshot(reference="PO-2"), source=s.ERP, sequence=3)
    stale = s.event("order.created", s.order_snapshot(), source=s.ERP, sequence=1, time=s.at(9))
    assert _stored(stored, [update, stale])["lastEvent"]["id"] == update.id

    updated = _stored(stored, [update])
    payload = {"orderId": s.ORDER_ID, "reason": "late", "cancelledAt": s.at(1)}
    late = s.event("order.cancelled", payload, source=s.ERP, sequence=4, time=s.at(1))
    cancelled = _stored(updated, [late])
    assert cancelled["cancelled"] is True and cancelled["lastEvent"]["id"] == late.id

    ahead = s.event(
        "order.updated",
        s.order_snapshot(reference="PO-3"),
        source=s.ERP,
        sequence=5,
        time=s.at(60 * 24 * 365 * 5),
    )
    then = s.event("order.updated", s.order_snapshot(reference="PO-4"), source=s.ERP, sequence=6)
    after = _stored(_stored(cancelled, [ahead]), [then])
    assert after["customerReference"] == "PO-4" and after["lastEvent"]["id"] == then.id


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
    """An order's search document holds two keys per character of its ship-to name (free
    text, which no id cap bounds): a name of varied text long enough is refused even while
    the order itself fits."""
    name = "".join(f"{n:06x}" for n in range(1_000))  # 6,000 characters, few repeats
    order = plan_entity(KEY, None, [_created(1)], MAPPING).change
    assert order is not None
    limit = 60_000
    data = s.order_snapshot()
    data["shipTo"]["name"] = name
    long = s.event("order.created", data, source=s.ERP, sequence=2)

    plan = plan_entity(KEY, order.after, [long], MAPPING, limit=limit)

    assert [r.event for r in plan.rejected] == [long]
    assert plan.rejected[0].reason.startswith(
        f"document-too-large: applying it would make the search document of orders '{KEY.id}' "
    )
    grown = plan_entity(KEY, order.after, [long], MAPPING).change
    assert grown is not None and encoded_size(grown.after) < limit  # the order itself fits


def _foreign_milestones(count: int) -> list[Event]:
    """GLOBEX's milestones for ACME's shipment (``s.shipment_plan``'s customer)."""
    return [
        s.event(
            "shipment.milestone",
            s.milestone(f"ms-{n}", "AF", 100 + n),
            source=TMS,
            sequence=10 + n,
            customer="GLOBEX",
            time=s.at(2 + n),
        )
        for n in range(count)
    ]


def _shown(plans: list[EntityPlan]) -> dict[str, Any]:
    """The document after ``plans`` (each folded onto the one before), facts set aside left
    out."""
    changes = [plan.change for plan in plans if plan.change is not None]
    return {name: value for name, value in changes[-1].after.items() if name != FOREIGN_FACTS}


def test_another_customers_facts_set_aside_do_not_count_toward_the_documents_size() -> None:
    """GLOBEX's facts kept aside before ACME's plan do not get the plan refused for the
    document's size: the plan is shown whichever came first, as when it came first."""
    plan = s.event("shipment.planned", s.shipment_plan(), source=TMS, sequence=1, time=s.at(1))
    foreign = _foreign_milestones(200)
    aside = plan_entity(SHIPMENT, None, foreign, MAPPING).change
    alone = plan_entity(SHIPMENT, None, [plan], MAPPING).change
    assert aside is not None and alone is not None
    limit = encoded_size(aside.after) + encoded_size(alone.after) // 2  # not both together

    first = plan_entity(SHIPMENT, None, [plan], MAPPING, limit=limit)
    assert first.change is not None
    plan_first = [first, plan_entity(SHIPMENT, first.change.after, foreign, MAPPING, limit=limit)]
    facts = plan_entity(SHIPMENT, None, foreign, MAPPING, limit=limit)
    assert facts.change is not None
    facts_first = [facts, plan_entity(SHIPMENT, facts.change.after, [plan], MAPPING, limit=limit)]

    assert not facts_first[1].rejected
    assert _shown(facts_first) == _shown(plan_first)
    assert _shown(facts_first)["known"] is True


def test_a_fact_that_would_take_the_facts_set_aside_over_their_cap_is_refused() -> None:
    """Another customer's facts kept aside stop at their own cap: the one beyond it is a
    dead letter of reason class ``customer conflict``, as it would be after the snapshot."""
    own = s.event("shipment.milestone", s.milestone("own", "AF", 1), source=TMS, sequence=1)
    foreign = _foreign_milestones(20)
    whole = plan_entity(SHIPMENT, None, [own, *foreign], MAPPING).change
    assert whole is not None
    cap = encoded_size({FOREIGN_FACTS: whole.after[FOREIGN_FACTS]}) - 100  # not the last one

    plan = plan_entity(SHIPMENT, None, [own, *foreign], MAPPING, aside_limit=cap)

    assert [r.event for r in plan.rejected] == [foreign[-1]]
    assert reason_class(plan.rejected[0].reason) == "customer conflict"
    assert plan.rejected[0].reason.endswith(f"over the limit of {cap:,}")
    assert plan.change is not None
    kept = plan.change.after[FOREIGN_FACTS][0]["milestones"]
    assert [m["milestoneId"] for m in kept] == [f"ms-{n}" for n in range(19)]
    # ``projections verify`` agrees: the refused fact is not missing, but would be under a
    # larger cap
    assert missing_events(SHIPMENT, plan.change.after, foreign, MAPPING, aside_limit=cap) == []
    assert missing_events(SHIPMENT, plan.change.after, foreign, MAPPING) == [foreign[-1]]


def test_a_snapshot_naming_another_customer_is_applied_though_it_sets_aside_more_than_the_cap() -> (
    None
):
    """GLOBEX's facts shown before ACME's plan go aside when it comes, however many: the
    plan is not refused for them (it would be shown had it come first)."""
    foreign = _foreign_milestones(20)
    shown = plan_entity(SHIPMENT, None, foreign, MAPPING).change
    assert shown is not None and FOREIGN_FACTS not in shown.after  # GLOBEX's, shown
    plan = s.event("shipment.planned", s.shipment_plan(), source=TMS, sequence=1, time=s.at(1))

    swapped = plan_entity(SHIPMENT, shown.after, [plan], MAPPING, aside_limit=1_000)

    assert not swapped.rejected
    assert swapped.change is not None and swapped.change.after["known"] is True
    assert len(swapped.change.after[FOREIGN_FACTS][0]["milestones"]) == 20
