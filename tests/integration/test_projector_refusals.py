"""Events the reducers refuse, against the real database: they are dead letters only. No
source freshness moves by them, and no metric or trace log counts them as applied."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from projections.batch import EntityChange, EntityKey
from projections.dead_letter import DeadLetter
from projections.events import decode_event
from projections.holdings import SetAside, missing_events, set_aside
from projections.metrics import ProjectorMetrics
from projections.projector import BatchOutcome, BatchProcessor
from projections.runner import record_outcome
from projections.status_mapping import load_status_mapping
from projections.store import FoldedWrite, Landed, ProjectionStore
from readmodel import documents
from readmodel.topics import TopicNames
from tests.contract import example
from tests.integration.projector_harness import Record, records_of

TOPICS = TopicNames()
ORDER = "SO-100234"  # the contract examples' order, of customer ACME


def _fulfillment(event_id: str, source: str, time: str, customer: str) -> dict[str, Any]:
    return dict(
        example("fulfillment-progressed.json"),
        id=event_id,
        source=source,
        time=time,
        customerid=customer,
    )


def _records(*events: dict[str, Any]) -> list[Record]:
    topic_of = {"orders": TOPICS.orders, "fulfillment": TOPICS.fulfillment}
    return records_of(
        (
            topic_of["orders" if event["type"].endswith("order.created.v1") else "fulfillment"],
            event["subject"].encode(),
            json.dumps(event).encode(),
        )
        for event in events
    )


async def _source(db: AsyncDatabase[Any], source: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await db[documents.SOURCES].find_one({"_id": source})
    return found


def _counted(outcome: BatchOutcome) -> tuple[float, float]:
    """What the projector's metrics count of ``outcome``: events applied, dead letters."""
    metrics = ProjectorMetrics()
    record_outcome(metrics, outcome)
    samples = [s for family in metrics.registry.collect() for s in family.samples]

    def total(name: str) -> float:
        return sum(s.value for s in samples if s.name == name)

    return total("portal_projector_events_applied_total"), total(
        "portal_projector_dead_letters_total"
    )


async def test_a_sources_freshness_moves_only_with_the_events_applied_from_it(
    mongo_db: AsyncDatabase[Any],
) -> None:
    """A portal reads a source's ``lastEventAt`` as "data from it is in up to here": an event
    the reducers refused (here, of another customer than the known order's) is not in."""
    applied = _fulfillment("wms-atl-1", "wms/dc-atl", "2026-11-21T14:02:11-05:00", "ACME")
    refused = _fulfillment("wms-atl-2", "wms/dc-atl", "2026-11-22T09:00:00-05:00", "OTHER")
    refused_alone = _fulfillment("wms-sav-1", "wms/dc-sav", "2026-11-22T10:00:00-05:00", "OTHER")
    records = _records(example("order-created.json"), applied, refused, refused_alone)
    processor = BatchProcessor(ProjectionStore(mongo_db), load_status_mapping(), TOPICS)

    outcome = await processor.process(records)

    assert sorted(dead.offset for dead in outcome.dead_letters) == [2, 3]
    atl = await _source(mongo_db, "wms/dc-atl")
    assert atl is not None and atl["lastEventId"] == "wms-atl-1"
    assert atl["lastEventAt"] == datetime.fromisoformat(applied["time"])
    assert await _source(mongo_db, "wms/dc-sav") is None
    erp = await _source(mongo_db, "erp/s4-prod")
    assert erp is not None and erp["lastEventId"] == example("order-created.json")["id"]


class _OvertakenStore(ProjectionStore):
    """The real store; runs ``interlude`` once, just before the batch's first document
    write: another group member writing the same order in between this batch's read and
    its write (as around a rebalance)."""

    def __init__(self, db: AsyncDatabase[Any], interlude: Callable[[], Awaitable[Any]]) -> None:
        super().__init__(db)
        self.interlude: Callable[[], Awaitable[Any]] | None = interlude

    async def _overtaken(self) -> None:
        interlude, self.interlude = self.interlude, None
        if interlude is not None:
            await interlude()

    async def insert_new(
        self, collection: str, changes: Sequence[EntityChange], *args: Any, **kwargs: Any
    ) -> Landed:
        await self._overtaken()
        return await super().insert_new(collection, changes, *args, **kwargs)

    async def write_entity(
        self, collection: str, change: EntityChange, now: datetime
    ) -> dict[str, Any] | None:
        await self._overtaken()
        return await super().write_entity(collection, change, now)

    async def write_all_if_unchanged(
        self, collection: str, writes: Sequence[FoldedWrite], now: datetime
    ) -> Landed:
        await self._overtaken()
        return await super().write_all_if_unchanged(collection, writes, now)


@pytest.mark.parametrize("stepwise", [False, True], ids=["folded", "stepwise"])
async def test_an_event_refused_only_when_its_write_is_planned_again_is_only_a_dead_letter(
    stepwise: bool, mongo_db: AsyncDatabase[Any]
) -> None:
    """The batch's event is accepted against the order as read (not known yet), but another
    member makes the order known as ACME's before the batch writes: planned again, the
    event of customer OTHER is refused. It is one dead letter, and nothing else: not counted
    or logged as applied, and its source's freshness does not move."""
    mapping = load_status_mapping()
    member_b = BatchProcessor(ProjectionStore(mongo_db), mapping, TOPICS)
    store = _OvertakenStore(
        mongo_db, lambda: member_b.process(_records(example("order-created.json")))
    )
    event = _fulfillment("wms-atl-9", "wms/dc-atl", "2026-11-21T14:02:11-05:00", "OTHER")

    outcome = await BatchProcessor(store, mapping, TOPICS).process(
        _records(event), stepwise=stepwise
    )

    assert store.interlude is None
    assert [dead.offset for dead in outcome.dead_letters] == [0]
    assert "does not match the customer" in outcome.dead_letters[0].reason
    assert outcome.applied == [] and outcome.applied_events == 0
    assert _counted(outcome) == (0, 1)
    order = await mongo_db[documents.ORDERS].find_one({"_id": ORDER})
    assert order is not None and order["customerId"] == "ACME" and order["known"] is True
    assert await _source(mongo_db, "wms/dc-atl") is None


def _order_created(event_id: str, time: str, sequence: int, customer: str) -> dict[str, Any]:
    event = dict(
        example("order-created.json"),
        id=event_id,
        time=time,
        sequence=sequence,
        customerid=customer,
    )
    event["data"] = dict(event["data"], customerId=customer)
    return event


@pytest.mark.parametrize("stepwise", [False, True], ids=["folded", "stepwise"])
async def test_an_event_planned_again_has_the_fate_of_its_last_plan_only(
    stepwise: bool, mongo_db: AsyncDatabase[Any]
) -> None:
    """The order is ACME's: of the batch's two fulfillment events, ACME's is accepted and
    OTHER's refused. Before the batch writes, another member applies the ERP's newer order
    snapshot, which makes the order OTHER's. Planned again against it, ACME's event is
    refused and OTHER's applied, as a serial run or a rerun of the batch would: ACME's is
    the one dead letter, OTHER's is applied (and moves its source), never both."""
    mapping = load_status_mapping()
    member_b = BatchProcessor(ProjectionStore(mongo_db), mapping, TOPICS)
    await member_b.process(_records(example("order-created.json")))
    newer = _order_created("erp-7f3a92", "2026-11-20T09:15:02+01:00", 2, "OTHER")
    store = _OvertakenStore(mongo_db, lambda: member_b.process(_records(newer)))
    ours = _fulfillment("wms-atl-9", "wms/dc-atl", "2026-11-21T14:02:11-05:00", "ACME")
    theirs = _fulfillment("wms-atl-10", "wms/dc-atl", "2026-11-21T14:05:11-05:00", "OTHER")

    outcome = await BatchProcessor(store, mapping, TOPICS).process(
        _records(ours, theirs), stepwise=stepwise
    )

    assert store.interlude is None
    assert [dead.offset for dead in outcome.dead_letters] == [0]
    assert "does not match the customer 'OTHER'" in outcome.dead_letters[0].reason
    assert [record.offset for _, record in outcome.applied] == [1]
    assert _counted(outcome) == (1, 1)
    order = await mongo_db[documents.ORDERS].find_one({"_id": ORDER})
    assert order is not None and order["customerId"] == "OTHER"
    assert order["lastEvent"]["id"] == "wms-atl-10" and "fulfillment" in order
    atl = await _source(mongo_db, "wms/dc-atl")
    assert atl is not None and atl["lastEventId"] == "wms-atl-10"


async def test_an_sscc_with_a_nul_is_a_dead_letter_and_the_partition_goes_on(
    mongo_db: AsyncDatabase[Any],
) -> None:
    """An SSCC becomes a field name of the order's ``handlingUnits``, and BSON field names
    cannot hold NUL: refused when decoded, the record is a dead letter saying so, and the
    records after it are applied, instead of a batch that fails on every restart."""
    poisoned = _fulfillment("wms-atl-1", "wms/dc-atl", "2026-11-21T14:02:11-05:00", "ACME")
    poisoned["data"]["handlingUnits"][0]["sscc"] = "00\x001"
    after = _fulfillment("wms-atl-2", "wms/dc-atl", "2026-11-21T15:02:11-05:00", "ACME")
    records = _records(example("order-created.json"), poisoned, after)
    processor = BatchProcessor(ProjectionStore(mongo_db), load_status_mapping(), TOPICS)

    outcome = await processor.process(records)

    assert [(dead.offset, dead.reason) for dead in outcome.dead_letters] == [
        (
            1,
            "data.handlingUnits[0].sscc: expected an identifier (no control characters), "
            "got '00\\x001'",
        )
    ]
    order = await mongo_db[documents.ORDERS].find_one({"_id": ORDER})
    assert order is not None and order["fulfillmentStage"] == "LOADED"
    atl = await _source(mongo_db, "wms/dc-atl")
    assert atl is not None and atl["lastEventId"] == "wms-atl-2"


@pytest.mark.parametrize("theirs_first", [True, False], ids=["theirs-first", "order-first"])
async def test_another_customer_s_fulfillment_never_shows_whichever_came_first(
    theirs_first: bool, mongo_db: AsyncDatabase[Any]
) -> None:
    """OTHER's warehouse reports ACME's order (naming shipment SH-55021) in one batch, the
    ERP's order snapshot comes in another. In either order ACME's order shows no
    fulfillment and links to no shipment (no summary of it pushed anywhere); OTHER's report
    is a dead letter after the snapshot and kept aside before it, which verify lists and
    does not count as missing."""
    processor = BatchProcessor(ProjectionStore(mongo_db), load_status_mapping(), TOPICS)
    theirs = _fulfillment("wms-atl-66", "wms/dc-atl", "2026-11-21T14:02:11-05:00", "OTHER")
    batches = [theirs, example("order-created.json")]
    dead: list[DeadLetter] = []
    for event in batches if theirs_first else reversed(batches):
        dead += (await processor.process(_records(event))).dead_letters

    order = await mongo_db[documents.ORDERS].find_one({"_id": ORDER})
    assert order is not None and order["customerId"] == "ACME" and order["known"] is True
    assert "fulfillment" not in order and "fulfillmentStage" not in order
    assert await mongo_db[documents.SHIPMENTS].find_one({"_id": "SH-55021"}) is None
    key = EntityKey(documents.ORDERS, ORDER)
    if theirs_first:
        assert dead == []
        assert set_aside({key: order}) == [SetAside(key, ("OTHER",))]
    else:
        assert [d.reason for d in dead] == [
            "customerid 'OTHER' does not match the customer 'ACME' of orders 'SO-100234'"
        ]
        assert set_aside({key: order}) == []
    held = [decode_event(json.dumps(theirs).encode())]
    assert missing_events(key, order, held, load_status_mapping()) == []


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ((b'"DC-ATL"', b'"DC-\xffATL"'), "not UTF-8: invalid start byte at byte "),
        ((b'"stage"', b'"x":' + b"[" * 5000 + b"]" * 5000 + b',"stage"'), "nested too deeply: "),
    ],
    ids=["not-utf8", "nested"],
)
async def test_a_record_msgspec_cannot_read_is_a_dead_letter_and_the_partition_goes_on(
    damage: tuple[bytes, bytes], reason: str, mongo_db: AsyncDatabase[Any]
) -> None:
    """A string that is not UTF-8 inside a known field, or arrays nested thousands deep in an
    unknown one: msgspec raised ``UnicodeDecodeError``/``RecursionError``, which escaped the
    decoding, failed the batch and stopped the projector at that record after every restart.
    Now it is a dead letter saying why, and the records after it are applied."""
    poisoned = _fulfillment("wms-atl-1", "wms/dc-atl", "2026-11-21T14:02:11-05:00", "ACME")
    after = _fulfillment("wms-atl-2", "wms/dc-atl", "2026-11-21T15:02:11-05:00", "ACME")
    records = _records(example("order-created.json"), poisoned, after)
    value = records[1].value
    assert value is not None and damage[0] in value
    records[1] = replace(records[1], value=value.replace(*damage, 1))
    processor = BatchProcessor(ProjectionStore(mongo_db), load_status_mapping(), TOPICS)

    outcome = await processor.process(records)

    assert [dead.offset for dead in outcome.dead_letters] == [1]
    assert outcome.dead_letters[0].reason.startswith(reason)
    assert outcome.dead_letters[0].value == records[1].value  # kept byte for byte
    order = await mongo_db[documents.ORDERS].find_one({"_id": ORDER})
    assert order is not None and order["fulfillmentStage"] == "LOADED"
    atl = await _source(mongo_db, "wms/dc-atl")
    assert atl is not None and atl["lastEventId"] == "wms-atl-2"
