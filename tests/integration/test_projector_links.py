"""Links dropped while another writer adds them: no summary of a dropped link may stay;
and links added while another writer changes one side: each side ends up holding the
other's summary as stored.

Two writers of one shipment (or of an order) meet at a rebalance handover (the revoked
member still applying while the new owner re-reads) and when a rebuild's drain runs beside
the live projector after a switch. Each test runs one such schedule, or leaves the damage an
older projector left, and checks what readers see: a shipment's order summaries, and the
orders' shipment summaries, exactly for the orders the shipment names (the example orders
name no shipments of their own, but for one the WMS loads onto it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from projections.batch import EntityKey
from projections.dead_letter import InboundRecord
from projections.effects import SummaryPush
from projections.projector import BatchProcessor
from projections.status_mapping import load_status_mapping
from projections.store import Landed, ProjectionStore
from projections.summaries import summarize
from readmodel import documents
from readmodel.topics import InboundKind, TopicNames
from tests.contract import example
from tests.integration.projector_harness import records_of

SHIPMENT = "SH-55021"
ORDERS = ("SO-1", "SO-2", "SO-3")


def _event(name: str, **data: Any) -> dict[str, Any]:
    event = example(name)
    event["data"].update(data)
    return event


def _order(order_id: str) -> dict[str, Any]:
    event = _event("order-created.json", orderId=order_id)
    event["id"], event["subject"] = f"erp-{order_id}", order_id
    return event


def _planned(sequence: int, order_ids: Sequence[str]) -> dict[str, Any]:
    """The shipment's plan number ``sequence``, naming ``order_ids``."""
    event = _event("shipment-planned.json", orderIds=list(order_ids))
    event["id"], event["sequence"] = f"tms-plan-{sequence}", sequence
    event["time"] = f"2026-11-21T09:3{sequence}:00-05:00"
    return event


def _records(*events: dict[str, Any]) -> list[InboundRecord]:
    topics = TopicNames().inbound()
    return records_of(
        (
            topics[_topic_kind(e["type"])],
            e["subject"].encode(),
            json.dumps(e).encode(),
        )
        for e in events
    )


def _topic_kind(event_type: str) -> InboundKind:
    if ".order." in event_type:
        return "orders"
    return "fulfillment" if ".fulfillment." in event_type else "shipments"


def _processor(store: ProjectionStore) -> BatchProcessor:
    return BatchProcessor(store, load_status_mapping(), TopicNames())


async def _linked(db: AsyncDatabase[Any]) -> dict[str, list[str]]:
    """What each side shows: the shipment's named orders and the orders it summarises, and
    each order's summarised shipments."""
    shipment = await db[documents.SHIPMENTS].find_one({"_id": SHIPMENT})
    assert shipment is not None
    shown = {
        "named": sorted(shipment.get("orderIds", [])),
        SHIPMENT: sorted(shipment.get("related", {}).get("orders", {})),
    }
    async for order in db[documents.ORDERS].find({"_id": {"$in": list(ORDERS)}}):
        shown[order["_id"]] = sorted(order.get("related", {}).get("shipments", {}))
    return shown


def _exactly(order_ids: Sequence[str]) -> dict[str, list[str]]:
    """``_linked`` of a shipment naming ``order_ids`` and nothing stale on either side."""
    return {
        "named": sorted(order_ids),
        SHIPMENT: sorted(order_ids),
        **{order: [SHIPMENT] if order in order_ids else [] for order in ORDERS},
    }


class _InterludeStore(ProjectionStore):
    """The real store; the first call of ``method`` runs ``interlude`` first: the other
    writer's batch, in between this batch's read of the shipment and its write. Calls of
    ``method`` made meanwhile (the batch writes each kind's documents side by side) wait
    for its end, so which of the batch's writes the other writer beats is certain."""

    def __init__(self, db: AsyncDatabase[Any], method: str) -> None:
        super().__init__(db)
        self.method = method
        self.interlude: Callable[[], Awaitable[Any]] | None = None
        self._over: asyncio.Event | None = None

    async def _maybe(self, method: str) -> None:
        if method != self.method:
            return
        if self.interlude is not None:
            interlude, self.interlude = self.interlude, None
            self._over = asyncio.Event()
            await interlude()
            self._over.set()
        elif self._over is not None:
            await self._over.wait()

    async def write_all_if_unchanged(self, *args: Any, **kwargs: Any) -> Landed:
        await self._maybe("write_all_if_unchanged")
        return await super().write_all_if_unchanged(*args, **kwargs)

    async def push_summaries(self, suffix: str, pushes: Sequence[SummaryPush]) -> None:
        await self._maybe("push_summaries")
        await super().push_summaries(suffix, pushes)

    async def load_keys(self, *args: Any, **kwargs: Any) -> dict[EntityKey, dict[str, Any]]:
        found = await super().load_keys(*args, **kwargs)
        if len(args) > 2 or "fields" in kwargs:  # link fields only: what ``_unlink`` reads
            await self._maybe("after the unlink read")
        return found


@pytest.mark.parametrize(
    ("last_plan", "meanwhile_at", "known"),
    [
        (["SO-1"], "write_all_if_unchanged", ORDERS),
        (["SO-2"], "push_summaries", ORDERS),
        (["SO-1"], "write_all_if_unchanged", ("SO-1", "SO-2")),
    ],
    ids=[
        "folded write re-planned",
        "stepwise write re-planned",
        "folded write re-planned, SO-3 not yet known",
    ],
)
async def test_a_link_another_writer_added_meanwhile_and_a_replanned_write_drops_leaves_no_summary(
    last_plan: list[str], meanwhile_at: str, known: Sequence[str], mongo_db: AsyncDatabase[Any]
) -> None:
    """Writer A read the shipment naming SO-1; writer B then wrote plan 2 (SO-1, SO-3), so
    SO-3's and the shipment's summaries went into each other (into a placeholder for SO-3
    when its order is not known yet, which has no summary to give back); A's write of plan
    3 lost the race and was re-planned on B's document, and plan 3 does not name SO-3.
    Either way A writes (folded, keeping SO-1; stepwise, its first plan already dropping
    SO-1), neither side may keep a summary of the SO-3 link, which a serial run never
    shows."""
    await _processor(ProjectionStore(mongo_db)).process(
        _records(*map(_order, known), _planned(1, ["SO-1"]))
    )
    store = _InterludeStore(mongo_db, meanwhile_at)
    member_b = _processor(ProjectionStore(mongo_db))

    async def plan_two() -> None:
        await member_b.process(_records(_planned(2, ["SO-1", "SO-3"])))
        assert (await _linked(mongo_db))["SO-3"] == [SHIPMENT]

    store.interlude = plan_two
    await _processor(store).process(_records(_planned(3, last_plan)))

    assert store.interlude is None  # B did write in between
    assert await _linked(mongo_db) == _exactly(last_plan)


async def test_a_link_named_again_while_its_removal_was_decided_keeps_its_summaries(
    mongo_db: AsyncDatabase[Any],
) -> None:
    """Writer A writes plan 2 (SO-1 only) and reads SO-3, which does not name the
    shipment: SO-3's summary in the shipment is to go. Before that removal lands, writer B
    writes plan 3 naming SO-3 again: the shipment still holds SO-3's summary, so B's pull
    of it writes nothing. The shipment names SO-3 and must keep its summary."""
    await _processor(ProjectionStore(mongo_db)).process(
        _records(*map(_order, ORDERS), _planned(1, ["SO-1", "SO-3"]))
    )
    store = _InterludeStore(mongo_db, "after the unlink read")
    member_b = _processor(ProjectionStore(mongo_db))

    async def plan_three() -> None:
        await member_b.process(_records(_planned(3, ["SO-1", "SO-3"])))

    store.interlude = plan_three
    await _processor(store).process(_records(_planned(2, ["SO-1"])))

    assert store.interlude is None  # B did write in between
    assert await _linked(mongo_db) == _exactly(["SO-1", "SO-3"])


def _reordered(order_id: str) -> dict[str, Any]:
    """A newer snapshot of order ``order_id`` (another ship-to name)."""
    event = _order(order_id)
    event["id"], event["sequence"] = f"erp-{order_id}-2", 2
    event["data"]["shipTo"]["name"] = "Acme Store 113"
    return event


@pytest.mark.parametrize("next_write", ["the shipment's new event", "a rerun", "the orders'"])
async def test_summaries_of_a_dropped_link_left_behind_are_removed_by_the_next_write(
    next_write: str, mongo_db: AsyncDatabase[Any]
) -> None:
    """A shipment and an order holding each other's summaries though neither names the
    other (left by the race above before it was mended): the next write of either, or a
    rerun of their last batch, removes both; the summaries of the link the shipment names
    stay, on the order's side too, though the order does not name the shipment."""
    batch = _records(*map(_order, ORDERS), _planned(1, ["SO-1"]))
    await _processor(ProjectionStore(mongo_db)).process(batch)
    shipment = await mongo_db[documents.SHIPMENTS].find_one({"_id": SHIPMENT})
    order = await mongo_db[documents.ORDERS].find_one({"_id": "SO-3"})
    assert shipment is not None and order is not None
    stale_order = {"orderId": "SO-3", "shipToName": "x", "cancelled": False, "rev": order["rev"]}
    stale_shipment = {"shipmentId": SHIPMENT, "status": "PLANNED", "rev": shipment["rev"]}
    await mongo_db[documents.SHIPMENTS].update_one(
        {"_id": SHIPMENT}, {"$set": {"related.orders.SO-3": stale_order}}
    )
    await mongo_db[documents.ORDERS].update_one(
        {"_id": "SO-3"}, {"$set": {f"related.shipments.{SHIPMENT}": stale_shipment}}
    )
    assert (await _linked(mongo_db))[SHIPMENT] == ["SO-1", "SO-3"]

    later = {
        "the shipment's new event": _records(_event("shipment-milestone.json")),
        "a rerun": batch,
        "the orders'": _records(_reordered("SO-1"), _reordered("SO-3")),
    }
    await _processor(ProjectionStore(mongo_db)).process(later[next_write])

    assert await _linked(mongo_db) == _exactly(["SO-1"])


async def test_an_order_known_after_the_wms_named_a_shipment_planned_without_it_shows_it(
    mongo_db: AsyncDatabase[Any],
) -> None:
    """The WMS names the shipment in an order the ERP has not sent yet, the shipment is
    planned for another order, then the order arrives: the shipment never pushes to the
    order (it neither names it nor held its summary), so the order pulls the shipment's
    summary when its snapshot makes it known (``projections verify`` reports a link so
    left as MISSING)."""
    fulfilled = _event("fulfillment-progressed.json", orderId="SO-3", shipmentId=SHIPMENT)
    fulfilled["subject"] = "SO-3"
    store = ProjectionStore(mongo_db)
    for event in (fulfilled, _planned(1, ["SO-1"]), _order("SO-3")):
        await _processor(store).process(_records(event))

    order = await mongo_db[documents.ORDERS].find_one({"_id": "SO-3"})
    assert (
        order is not None and order["known"] and order["fulfillment"]["shipmentIds"] == [SHIPMENT]
    )
    assert order["related"]["shipments"][SHIPMENT]["status"] == "PLANNED"


def _cancelled(order_id: str) -> dict[str, Any]:
    """The ERP's cancellation of order ``order_id``, after ``_reordered``."""
    event = _order(order_id)
    event["type"], event["id"], event["sequence"] = "logistics.order.cancelled.v1", "erp-x", 3
    event["data"] = {"orderId": order_id, "reason": "duplicate", "cancelledAt": event["time"]}
    return event


def _fulfilled(order_id: str) -> dict[str, Any]:
    """The WMS loading order ``order_id`` onto the shipment: the order names it."""
    event = _event("fulfillment-progressed.json", orderId=order_id, shipmentId=SHIPMENT)
    event["subject"] = order_id
    return event


def _delivered() -> dict[str, Any]:
    """The shipment's delivery, after its pickup (the contract's milestone example)."""
    at = "2026-11-24T10:00:00-05:00"
    event = _event("shipment-milestone.json", milestoneId="ms-99121", statusCode="D1")
    event["data"]["occurredAt"] = event["time"] = at
    event["id"], event["sequence"] = "tms-us-4504", 4
    return event


async def _held_summaries(db: AsyncDatabase[Any], order_id: str) -> dict[str, Any]:
    """What the shipment holds as order ``order_id``'s summary and the order as the
    shipment's, each beside the summary of the other as it is stored (``summarize``)."""
    shipment = await db[documents.SHIPMENTS].find_one({"_id": SHIPMENT})
    order = await db[documents.ORDERS].find_one({"_id": order_id})
    assert shipment is not None and order is not None
    return {
        "shipment holds": shipment.get("related", {}).get("orders", {}).get(order_id),
        "order as stored": {**summarize(documents.ORDERS, order), "rev": order["rev"]},
        "order holds": order.get("related", {}).get("shipments", {}).get(SHIPMENT),
        "shipment as stored": {**summarize(documents.SHIPMENTS, shipment), "rev": shipment["rev"]},
    }


#: Per scenario: what is stored first, writer A's batch, and writer B's batch (written
#: after A read its documents, before A's writes). A's batch links the shipment and SO-1
#: and changes both; B changes the side that did not name the other before (so it knows
#: nothing of the new link), and either re-applies A's event of it (a rebalance's new
#: owner re-reading the partition: that side's stored ``rev`` is then the one A predicted)
#: or applies only a newer one (a rebuild's drain: A re-plans on top of it).
_LOST_RACES = {
    "the order's write, B holding A's event": (
        [_order("SO-1")],
        [_reordered("SO-1"), _planned(1, ["SO-1"])],
        [_reordered("SO-1"), _cancelled("SO-1")],
    ),
    "the order's write, B newer": (
        [_order("SO-1")],
        [_reordered("SO-1"), _planned(1, ["SO-1"])],
        [_cancelled("SO-1")],
    ),
    "the shipment's write, B holding A's event": (
        [_order("SO-1"), _order("SO-2"), _planned(1, ["SO-2"])],
        [_fulfilled("SO-1"), _event("shipment-milestone.json")],
        [_event("shipment-milestone.json"), _delivered()],
    ),
    "the shipment's write, B newer": (
        [_order("SO-1"), _order("SO-2"), _planned(1, ["SO-2"])],
        [_fulfilled("SO-1"), _event("shipment-milestone.json")],
        [_delivered()],
    ),
}


@pytest.mark.parametrize("scenario", list(_LOST_RACES))
async def test_a_summary_folded_in_from_a_document_whose_write_lost_matches_it_as_stored(
    scenario: str, mongo_db: AsyncDatabase[Any]
) -> None:
    """Writer A's batch newly links the shipment and SO-1 and changes both: each side's
    folded write carries the other's summary as A predicts it (its loaded ``rev`` plus
    one). Writer B changes one side meanwhile, so that side's write loses and is
    re-planned on B's document, and the other side's write lands with a summary of a
    document that was never stored. Once both are done, each holds the summary of the
    other exactly as stored: the shipment shows SO-1 cancelled, the order shows the
    shipment delivered."""
    stored, batch, meanwhile = _LOST_RACES[scenario]
    await _processor(ProjectionStore(mongo_db)).process(_records(*stored))
    store = _InterludeStore(mongo_db, "write_all_if_unchanged")
    member_b = _processor(ProjectionStore(mongo_db))
    store.interlude = lambda: member_b.process(_records(*meanwhile))
    await _processor(store).process(_records(*batch))

    assert store.interlude is None  # B did write in between
    held = await _held_summaries(mongo_db, "SO-1")
    assert held["shipment holds"] == held["order as stored"]
    assert held["order holds"] == held["shipment as stored"]


@pytest.mark.parametrize("target", ["SO-3", "SO-4"], ids=["known order", "order not yet stored"])
async def test_a_link_only_the_lost_write_named_leaves_no_summary_once_it_is_replanned(
    target: str, mongo_db: AsyncDatabase[Any]
) -> None:
    """Writer A's batch holds plan 2, naming ``target`` besides SO-1: its folded writes
    give ``target`` the shipment's summary (into the order's own write, or a placeholder
    for an order not yet stored). Writer B meanwhile applies plans 2 and 3 (a rebalance's
    new owner re-reading the partition), and plan 3 names SO-1 only, so A's shipment write
    loses and its re-plan supersedes plan 2: the stored shipment never named ``target``.
    A serial run never shows ``target`` holding the shipment's summary; before session 19
    it was left there (or pushed there again), a link neither side names."""
    await _processor(ProjectionStore(mongo_db)).process(
        _records(*map(_order, ORDERS), _planned(1, ["SO-1"]))
    )
    store = _InterludeStore(mongo_db, "write_all_if_unchanged")
    member_b = _processor(ProjectionStore(mongo_db))
    store.interlude = lambda: member_b.process(
        _records(_planned(2, ["SO-1", target]), _planned(3, ["SO-1"]))
    )
    await _processor(store).process(_records(_planned(2, ["SO-1", target])))

    assert store.interlude is None  # B did write in between
    assert await _linked(mongo_db) == _exactly(["SO-1"])
    stray = await mongo_db[documents.ORDERS].find_one({"_id": target})
    assert stray is None or SHIPMENT not in stray.get("related", {}).get("shipments", {})
