"""What a batch means beyond its own documents: summaries folded into its writes, change notices
(pure: documents in memory, no store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from projections.batch import EntityChange, EntityKey, plan_entity
from projections.effects import (
    Effects,
    NamingRead,
    SummaryPush,
    fan_out_pushes,
    fan_out_reads,
    fold,
    link_fields,
    linked_keys,
    missing_summaries,
    notices,
    unlink,
    unlink_reads,
    unnamed_by_document,
)
from projections.events import Event, decode_event
from readmodel import documents
from readmodel.changes import ShipmentChange
from tests.contract import example
from tests.helpers import MAPPING
from tests.helpers import fold as fold_events

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ORDER = EntityKey("orders", "SO-1")
SHIPMENT = EntityKey("shipments", "SH-1")


def order(rev: int, **extra: Any) -> dict[str, Any]:
    return {"_id": "SO-1", "customerId": "ACME", "known": True, "rev": rev, **extra}


def shipment(rev: int, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "_id": "SH-1",
        "customerId": "ACME",
        "known": True,
        "rev": rev,
        "orderIds": ["SO-1"],
        "status": status,
        **extra,
    }


def change(key: EntityKey, before: dict[str, Any] | None, after: dict[str, Any]) -> EntityChange:
    return EntityChange(
        key=key,
        before=before,
        after=after,
        set_fields={k: v for k, v in after.items() if (before or {}).get(k) != v},
        unset_fields=(),
        last_event=documents.EventRef(source="tms", id="e1", type="t", time=T0),
        customer_id="ACME",
    )


def test_a_summary_between_two_documents_of_the_batch_rides_in_the_targets_write() -> None:
    shipment_change = change(SHIPMENT, None, shipment(0, "PLANNED"))
    order_change = change(ORDER, order(4), order(4, customerReference="PO-9"))
    folded = fold(
        {ORDER: order(4)},
        [shipment_change, order_change],
        set(),
        [],
        {SHIPMENT: [], ORDER: []},
    )
    assert folded.outside == [] and folded.outside_pulls == {}
    into_order = folded.folded[ORDER]
    assert [
        (p.source_id, p.rev, p.summary["status"] if p.summary else None) for p in into_order
    ] == [
        ("SH-1", 1, "PLANNED")  # a new document's first write makes rev 1
    ]
    into_shipment = folded.folded[SHIPMENT]  # the order's summary, at its next rev
    assert [(p.source_id, p.rev) for p in into_shipment] == [("SO-1", 5)]
    after = {effect.key: effect.after for effect in folded.effects}
    assert after[ORDER]["related"]["shipments"]["SH-1"]["status"] == "PLANNED"
    assert after[SHIPMENT]["rev"] == 1 and after[ORDER]["rev"] == 5


def test_a_summary_no_newer_than_the_one_held_is_not_written_again() -> None:
    held = {"shipments": {"SH-1": {"shipmentId": "SH-1", "status": "IN_TRANSIT", "rev": 7}}}
    stored_order = order(4, related=held)
    stale = change(SHIPMENT, shipment(5, "PLANNED"), shipment(5, "PLANNED", eta=T0))
    folded = fold(
        {ORDER: stored_order, SHIPMENT: shipment(5, "PLANNED")}, [stale], set(), [], {SHIPMENT: []}
    )
    assert ORDER not in folded.folded  # rev 6 < 7: the order keeps the newer summary
    assert folded.outside == []


def test_a_related_document_outside_the_batch_gets_a_separate_push_and_is_pulled() -> None:
    new_link = change(SHIPMENT, None, shipment(0, "PLANNED"))
    folded = fold({}, [new_link], set(), [], {SHIPMENT: []})
    assert [(p.target_id, p.source_id) for p in folded.outside] == [("SO-1", "SH-1")]
    assert folded.outside_pulls == {("orders", "SO-1"): [SHIPMENT]}
    assert folded.folded == {}


def test_a_related_document_loaded_with_the_batch_takes_the_push_and_answers_the_pull() -> None:
    """The projector loads the documents outside the batch that it pushes into or pulls from
    and folds again: the push rides in the related document's one write, and the pull is
    answered from it as stored, so it replaces even a predicted summary of the same rev."""
    predicted = {"orders": {"SO-1": {"orderId": "SO-1", "customerReference": "old", "rev": 4}}}
    new_link = change(SHIPMENT, None, shipment(0, "PLANNED", related=predicted))
    stored_order = order(4, customerReference="PO-9")
    folded = fold({ORDER: stored_order}, [new_link], set(), [], {SHIPMENT: []})
    assert folded.outside == [] and folded.outside_pulls == {}
    assert [(p.source_id, p.rev) for p in folded.folded[ORDER]] == [("SH-1", 1)]
    pulled = folded.folded[SHIPMENT]
    assert [(p.source_id, p.rev, p.exact) for p in pulled] == [("SO-1", 4, True)]
    assert pulled[0].summary is not None and pulled[0].summary["customerReference"] == "PO-9"
    assert folded.pulls == {("orders", "SO-1"): [SHIPMENT]}


def test_the_documents_read_ahead_are_those_the_loaded_ones_link_to_either_way() -> None:
    """What a batch reads while it is planned (``linked_keys``): the orders a shipment
    names, the shipments whose summaries an order holds, never a document already loaded
    (the batch's own); a document linking to nothing asks for nothing."""
    summarised_by = {"SH-2": {"shipmentId": "SH-2", "rev": 3}}
    loaded = {
        SHIPMENT: shipment(2, "PLANNED", orderIds=["SO-1", "SO-7"]),
        ORDER: order(5, related={"shipments": summarised_by}),
        EntityKey("orders", "SO-9"): {"_id": "SO-9", "known": True, "rev": 1},
        EntityKey("sources", "tms"): {"_id": "tms"},
    }
    assert linked_keys(loaded) == {
        EntityKey("orders", "SO-7"),
        EntityKey("shipments", "SH-2"),
    }


# --- change notices ---------------------------------------------------------------------


def _shipment_event(
    name: str, event_id: str, customer: str, sequence: int, **milestone: str
) -> Event:
    """The contract's example ``name`` for shipment SH-55021, as ``customer`` sent it; a
    milestone's id is ``event_id`` unless ``milestone`` (its data fields) says otherwise."""
    event = example(name)
    event["id"], event["customerid"], event["sequence"] = event_id, customer, sequence
    if "milestoneId" in event["data"]:
        event["data"].update({"milestoneId": event_id, **milestone})
    if "customerId" in event["data"]:
        event["data"]["customerId"] = customer
    return decode_event(json.dumps(event).encode())


SH_55021 = EntityKey("shipments", "SH-55021")
#: Two milestones before the shipment's plan, claiming different customers: until the plan
#: (the snapshot, authoritative for the customer) the shipment's customer is the first claim,
#: and the other claim's milestone is set aside (``reducers.FOREIGN_FACTS``).
EARLY = _shipment_event("shipment-milestone.json", "ms-1", "BETA", 2)
CLAIMED = _shipment_event("shipment-milestone.json", "ms-2", "ACME", 3)
PLANNED = _shipment_event("shipment-planned.json", "plan-1", "BETA", 1)


def test_a_shipment_not_yet_planned_is_announced_to_nobody() -> None:
    # Reads hide it (known: False); the feed would announce ms-1 to BETA before the plan says
    # whose shipment it is.
    first = fold_events(EARLY)
    second = fold_events(CLAIMED, start=first)
    assert second["customerId"] == "BETA" and second["known"] is False
    assert notices([Effects(SH_55021, None, first, [EARLY])], T0) == []
    assert notices([Effects(SH_55021, first, second, [CLAIMED])], T0) == []


def test_the_plan_announces_its_customer_s_milestones_that_came_before_it() -> None:
    # ms-2 was ACME's claim: BETA's plan never announces it, in either order of the claims.
    for placeholder in (fold_events(EARLY, CLAIMED), fold_events(CLAIMED, EARLY)):
        planned = fold_events(PLANNED, start=placeholder)
        sent = notices([Effects(SH_55021, placeholder, planned, [PLANNED])], T0)
        assert [(n.customer_id, n.notice_id) for n in sent] == [("BETA", "tms/us-road|ms-1|2")]
    # and a milestone after the plan is announced alone, as before
    later = _shipment_event("shipment-milestone.json", "ms-3", "BETA", 4)
    after = fold_events(later, start=planned)
    sent = notices([Effects(SH_55021, planned, after, [later])], T0)
    assert [n.notice_id for n in sent] == ["tms/us-road|ms-3|4"]


def test_a_restated_milestone_that_moves_the_status_is_announced_under_its_own_id() -> None:
    """A restatement (same source and milestoneId, a higher sequence) of an out-for-delivery
    milestone as delivered: subscribers get the new status, under an id that is not the first
    statement's (they drop ids they have seen); a late copy of the first statement, which
    changes nothing, announces nothing."""
    name = "shipment-milestone.json"
    stated = _shipment_event(name, "ms-1", "BETA", 2, statusCode="X6")
    restated = _shipment_event(name, "ms-1-r", "BETA", 5, milestoneId="ms-1", statusCode="D1")
    planned = fold_events(PLANNED, stated)
    after = fold_events(restated, start=planned)

    (first,) = notices([Effects(SH_55021, None, planned, [PLANNED])], T0)
    (sent,) = notices([Effects(SH_55021, planned, after, [restated])], T0)
    assert (first.status, first.notice_id) == ("OUT_FOR_DELIVERY", "tms/us-road|ms-1|2")
    assert (sent.status, sent.notice_id) == ("DELIVERED", "tms/us-road|ms-1|5")
    assert (sent.milestone or {})["rawCode"] == "D1"
    # a batch whose events were repeats announces the restatement again, under its id
    (again,) = notices([Effects(SH_55021, None, after, [restated])], T0)
    assert again.notice_id == sent.notice_id
    late = fold_events(stated, start=after)
    assert notices([Effects(SH_55021, after, late, [stated])], T0) == []


def _batch_notices(before: dict[str, Any], *events: Event) -> list[ShipmentChange]:
    """The notices of one batch of ``events`` for SH-55021 stored as ``before``, as the
    projector makes them: planned (``plan_entity``), folded, announced."""
    plan = plan_entity(SH_55021, before, list(events), MAPPING)
    assert plan.change is not None
    folded = fold({}, [plan.change], set(), [], {SH_55021: list(events)})
    return notices(folded.effects, T0)


def test_each_milestone_of_a_batch_says_the_status_it_left_the_shipment_in() -> None:
    """A pickup and a delivery in one batch (a burst, a catch-up after an outage): the
    pickup's notice says PICKED_UP, so ``milestoneFeed(statuses: [PICKED_UP])`` gets it,
    not the DELIVERED the batch ends with; both carry the batch's one revision."""
    name = "shipment-milestone.json"
    planned = {**fold_events(PLANNED), "rev": 4}
    pickup = _shipment_event(name, "ms-1", "BETA", 2, occurredAt="2026-11-21T10:00:00Z")
    delivery = _shipment_event(
        name, "ms-2", "BETA", 3, statusCode="D1", occurredAt="2026-11-22T10:00:00Z"
    )
    sent = _batch_notices(planned, pickup, delivery)
    assert [(n.notice_id, n.status, n.rev) for n in sent] == [
        ("tms/us-road|ms-1|2", "PICKED_UP", 5),
        ("tms/us-road|ms-2|3", "DELIVERED", 5),
    ]


def test_a_late_older_milestone_says_the_status_it_left_unchanged() -> None:
    """A milestone that happened before the shipment's newest (a late report) leaves the
    status as it was: its notice says that status, not its own milestone's, nor the
    status a later milestone of the same batch moved the shipment to."""
    name = "shipment-milestone.json"
    pickup = _shipment_event(name, "ms-1", "BETA", 2, occurredAt="2026-11-21T10:00:00Z")
    before = fold_events(PLANNED, pickup)
    late = _shipment_event(
        name, "ms-0", "BETA", 3, statusCode="P1", occurredAt="2026-11-21T09:00:00Z"
    )
    delivery = _shipment_event(
        name, "ms-2", "BETA", 4, statusCode="D1", occurredAt="2026-11-22T10:00:00Z"
    )
    sent = _batch_notices(before, late, delivery)
    assert [(n.notice_id, n.status, (n.milestone or {})["status"]) for n in sent] == [
        ("tms/us-road|ms-0|3", "PICKED_UP", "IN_TRANSIT"),
        ("tms/us-road|ms-2|4", "DELIVERED", "DELIVERED"),
    ]


def test_a_notice_of_a_projected_milestone_reads_back_as_the_json_subscribers_knew() -> None:
    """A notice of the projector's own document (its milestone's times are datetimes, with
    microseconds; its city is not ASCII; lat/lon floats) encodes to the JSON the earlier
    encoder (``json.dumps``, datetimes as ``isoformat``) wrote, and decodes to itself."""
    event = example("shipment-milestone.json")
    event["data"]["occurredAt"] = "2026-11-21T15:42:00.123456-05:00"
    event["data"]["location"].update(city="São Paulo", lat=-23.5505, lon=-46.6333)
    event["customerid"] = "BETA"  # the plan's customer
    milestone = decode_event(json.dumps(event).encode())
    planned = fold_events(PLANNED, start=fold_events(milestone))
    (sent,) = notices([Effects(SH_55021, None, planned, [PLANNED])], T0)
    assert isinstance((sent.milestone or {})["occurredAt"], datetime)

    body = {name: getattr(sent, name) for name in vars(sent)}
    body["order_warehouses"] = dict(sent.order_warehouses)
    earlier = json.dumps(body, default=lambda value: value.isoformat())
    assert json.loads(sent.encode()) == json.loads(earlier)
    decoded = ShipmentChange.decode(sent.encode())
    assert decoded.encode() == sent.encode() and decoded.projected_at == sent.projected_at
    assert (decoded.milestone or {})["location"]["city"] == "São Paulo"


def test_the_plans_batch_announces_earlier_milestones_when_it_repeats_an_event_too() -> None:
    """A batch holding the plan and a redelivered milestone (``before`` None: some events
    were repeats), or a rerun of the plan's batch, still announces every milestone the
    shipment holds: nothing was announced before the plan, and nothing would be after."""
    later = _shipment_event("shipment-milestone.json", "ms-4", "BETA", 5)
    placeholder = fold_events(EARLY, CLAIMED, later)
    planned = fold_events(PLANNED, EARLY, start=placeholder)
    sent = notices([Effects(SH_55021, None, planned, [PLANNED, EARLY])], T0)
    assert [(n.customer_id, n.notice_id) for n in sent] == [
        ("BETA", "tms/us-road|ms-1|2"),
        ("BETA", "tms/us-road|ms-4|5"),
    ]
    rerun = notices([Effects(SH_55021, None, planned, [PLANNED])], T0)
    assert [n.notice_id for n in rerun] == ["tms/us-road|ms-1|2", "tms/us-road|ms-4|5"]


def test_a_fold_again_with_the_related_documents_read_is_a_fold_with_them_from_the_start() -> None:
    """The projector folds a second time once it has read the related documents outside the
    batch, reusing what the batch's own entities push and pull (``fold(again=...)``): the
    result is the fold it would have made had it read them with the batch."""
    other = EntityKey("orders", "SO-2")
    new_link = change(SHIPMENT, None, shipment(0, "PLANNED", orderIds=["SO-1", "SO-2"]))
    in_batch = {other: {**order(2), "_id": "SO-2"}}
    groups: dict[EntityKey, list[Event]] = {SHIPMENT: []}
    first = fold(in_batch, [new_link], set(), [], groups)
    assert first.outside_pulls == {("orders", "SO-1"): [SHIPMENT]}
    loaded = {**in_batch, ORDER: order(4, customerReference="PO-9")}
    again = fold(loaded, [new_link], set(), [], groups, again=first)
    assert again == fold(loaded, [new_link], set(), [], groups)
    assert sorted(p.source_id for p in again.folded[SHIPMENT]) == ["SO-1", "SO-2"]


def _removed(removals: list[SummaryPush]) -> set[tuple[str, str, int]]:
    """Each removal as (target id, source id, the revision it is guarded by)."""
    assert all(push.summary is None for push in removals)
    return {(push.target_id, push.source_id, push.rev) for push in removals}


def test_a_link_neither_side_names_loses_both_summaries_and_one_named_back_keeps_them() -> None:
    """The shipment names SO-1 and summarises SO-1, SO-2 and SO-3: SO-2 names it back (its
    fulfillment), SO-3 does not and holds the shipment's summary: SO-3's link goes, on
    both sides, each removal guarded by the revision it was decided on."""
    related = {"orders": {o: {"orderId": o, "rev": 1} for o in ("SO-1", "SO-2", "SO-3")}}
    held = shipment(7, "PLANNED", related=related)
    others = {
        EntityKey("orders", "SO-2"): order(3, fulfillment={"shipmentIds": ["SH-1"]}),
        EntityKey("orders", "SO-3"): {
            **order(5),
            "_id": "SO-3",
            "related": {"shipments": {"SH-1": {"rev": 6}}},
        },
    }

    effects = [Effects(SHIPMENT, None, held, [])]
    removals, healed = unlink(effects, unnamed_by_document(effects), {}, others)

    assert _removed(removals) == {("SH-1", "SO-3", 5), ("SO-3", "SH-1", 7)}
    assert sorted(healed[0].after["related"]["orders"]) == ["SO-1", "SO-2"]
    assert sorted(held["related"]["orders"]) == ["SO-1", "SO-2", "SO-3"]  # not changed


def test_a_link_a_replanned_write_dropped_is_removed_where_only_the_other_side_holds_it() -> None:
    """The shipment does not show SO-3's summary, but SO-3 holds the shipment's. Both are
    removed: a rewritten write's pulls may have pushed SO-3's into the shipment after its
    effects were taken (a removal of a summary the holder does not hold matches nothing)."""
    held = shipment(7, "PLANNED")
    gone = EntityKey("orders", "SO-3")
    others = {gone: {**order(5), "_id": "SO-3", "related": {"shipments": {"SH-1": {"rev": 6}}}}}

    effects = [Effects(SHIPMENT, None, held, [])]
    removals, healed = unlink(effects, unnamed_by_document(effects), {SHIPMENT: {gone}}, others)

    assert _removed(removals) == {("SO-3", "SH-1", 7), ("SH-1", "SO-3", 5)}
    assert healed[0].after is held


def test_a_named_link_lacks_the_summaries_of_its_known_sides_only() -> None:
    """SH-1 (known) names SO-1, SO-2 and SO-3. SO-1 holds its summary and it SO-1's: sound.
    SO-2 (known) holds neither way: each lacks the other's. SO-3 does not exist: the push
    would have created it to hold SH-1's summary, so it lacks it. SH-2, not known, names
    SO-1: it pushes nothing, and is owed SO-1's only once it is known (pulled then: what
    it names may have come before SO-1 did). SO-9 was only read beside them: its links are
    not checked."""
    sh1 = shipment(4, "PLANNED", orderIds=["SO-1", "SO-2", "SO-3"])
    sh1["related"] = {"orders": {"SO-1": {"orderId": "SO-1", "rev": 2}}}
    so1 = order(2, related={"shipments": {"SH-1": {"shipmentId": "SH-1", "rev": 4}}})
    so2 = {**order(1), "_id": "SO-2"}
    sh2 = {"_id": "SH-2", "known": False, "rev": 1, "orderIds": ["SO-1"]}
    docs = {SHIPMENT: sh1, ORDER: so1, EntityKey("shipments", "SH-2"): sh2}
    so9 = {**order(1), "_id": "SO-9", "fulfillment": {"shipmentIds": ["SH-9"]}}
    others = {EntityKey("orders", "SO-2"): so2, EntityKey("orders", "SO-9"): so9}

    assert missing_summaries(docs, others) == {
        EntityKey("orders", "SO-2"): [SHIPMENT],
        EntityKey("orders", "SO-3"): [SHIPMENT],
        SHIPMENT: [EntityKey("orders", "SO-2")],
    }
    sh2["known"] = True
    assert missing_summaries(docs, others)[EntityKey("shipments", "SH-2")] == [ORDER]
    sh2["related"] = {"orders": {"SO-1": {"orderId": "SO-1", "rev": 2}}}
    assert EntityKey("shipments", "SH-2") not in missing_summaries(docs, others)


def test_a_holder_overflowing_for_a_kind_lacks_none_of_its_summaries() -> None:
    """SO-2 embeds no summary of SH-1, which names it, because it holds as many shipment
    summaries as it may (``relatedOverflow``): by design, not a loss; its summary of SH-1's
    kind is still owed by SH-1 the other way."""
    sh1 = shipment(4, "PLANNED", orderIds=["SO-2"])
    so2 = {**order(1), "_id": "SO-2", documents.RELATED_OVERFLOW: {"shipments": True}}
    others = {EntityKey("orders", "SO-2"): so2}

    assert missing_summaries({SHIPMENT: sh1}, others) == {SHIPMENT: [EntityKey("orders", "SO-2")]}
    sh1[documents.RELATED_OVERFLOW] = {"orders": True}
    assert missing_summaries({SHIPMENT: sh1}, others) == {}


def test_only_candidates_the_batch_cannot_settle_are_read_and_only_their_link_fields() -> None:
    """The order holds summaries of SH-1 to SH-4 and names none. SH-1, written by the batch,
    names it back: settled, nothing read. SH-2 as the batch loaded it does not name the
    order and SH-3 the batch never saw: both read. SH-4 names the order as loaded, but the
    order's re-planned write dropped it: another writer's change, so read too."""
    related = {"shipments": {s: {"rev": 1} for s in ("SH-1", "SH-2", "SH-3", "SH-4")}}
    held = order(4, related=related)
    sh = {n: EntityKey("shipments", f"SH-{n}") for n in range(1, 5)}
    known = {
        sh[1]: shipment(2, "PLANNED"),
        sh[2]: {**shipment(2, "PLANNED"), "orderIds": ["SO-9"]},
        sh[4]: shipment(2, "PLANNED"),
    }

    unnamed = unnamed_by_document([Effects(ORDER, None, held, [])])
    decided, unread = unlink_reads(unnamed, {ORDER: {sh[4]}}, known)

    assert decided == {sh[1]: known[sh[1]]}
    assert unread == {sh[2]: {"orders"}, sh[3]: {"orders"}, sh[4]: {"orders"}}
    assert link_fields("shipments", {"orders"}) == dict.fromkeys(
        ["rev", "orderIds", "related.orders"], True
    )
    assert set(link_fields("orders", {"invoices", "shipments"})) == {
        "rev",
        "shipmentIds",
        "fulfillment.shipmentIds",
        "related.invoices",
        "related.shipments",
    }


def _overflowing_order(rev: int, **extra: Any) -> dict[str, Any]:
    """SO-1 embedding SH-1's summary, with more shipments and invoices naming it than that."""
    held = {"shipments": {"SH-1": {"shipmentId": "SH-1", "rev": 1}}}
    marks = {"shipments": True, "invoices": True}
    return order(rev, related=held, **{documents.RELATED_OVERFLOW: marks}, **extra)


def test_an_overflowing_entity_whose_summary_changed_looks_up_what_names_it() -> None:
    """Shipments through their own index (any customer), invoices through the order's
    customer (no index of their ``orderIds``); nothing for an entity not overflowing or
    whose summary the batch left as it was."""
    moved = Effects(
        ORDER,
        _overflowing_order(1, warehouseId="DC-ATL"),
        _overflowing_order(2, warehouseId="DC-LAX"),
        [],
    )
    reads = fan_out_reads([moved])
    assert sorted(reads) == [
        NamingRead("invoices", "orderIds", "orders", ("ACME",), ("SO-1",)),
        NamingRead("shipments", "orderIds", "orders", None, ("SO-1",)),
    ]
    same_summary = Effects(ORDER, _overflowing_order(1), _overflowing_order(2, notes="x"), [])
    not_overflowing = Effects(
        ORDER, order(1, warehouseId="DC-ATL"), order(2, warehouseId="DC-LAX"), []
    )
    assert fan_out_reads([same_summary, not_overflowing]) == []
    repeated = Effects(ORDER, None, _overflowing_order(2), [])  # a rerun pushes again
    assert len(fan_out_reads([repeated])) == 2


def test_an_overflowing_entitys_summary_goes_to_every_document_naming_it_not_yet_reached() -> None:
    moved = Effects(
        ORDER,
        _overflowing_order(1, warehouseId="DC-ATL"),
        _overflowing_order(2, warehouseId="DC-LAX"),
        [],
    )
    named_by = {ORDER: {"shipments": {"SH-1", "SH-2", "SH-3"}, "invoices": {"IN-1"}}}
    pushes = fan_out_pushes([moved], named_by)
    # SH-1 is embedded: summary_pushes reaches it already
    assert [(p.target_kind, p.target_id) for p in pushes] == [
        ("invoices", "IN-1"),
        ("shipments", "SH-2"),
        ("shipments", "SH-3"),
    ]
    assert {(p.source_id, p.rev, p.exact) for p in pushes} == {("SO-1", 2, False)}
    assert all(p.summary is not None and p.summary["warehouseId"] == "DC-LAX" for p in pushes)


def test_a_notice_carries_the_revision_offset_of_its_generation() -> None:
    """A rebuilt generation counts a shipment's ``rev`` from 1 again; its notices add the
    offset its switch gave it (``projections.revision_offsets``), so a subscriber's
    revisions go on rising."""
    planned = fold_events(PLANNED) | {"rev": 1}
    later = _shipment_event("shipment-milestone.json", "ms-3", "BETA", 4)
    after = fold_events(later, start=planned) | {"rev": 2}
    effects = [Effects(SH_55021, planned, after, [later])]
    (stored,) = notices(effects, T0)
    (offset,) = notices(effects, T0, revision_offset=20_150)
    assert (stored.rev, offset.rev) == (2, 20_152)
