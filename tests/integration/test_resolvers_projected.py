"""The API over documents written by the real projector (no hand-made documents).

The contract's example events go through the projector's batch processor (decoder, reducers,
store, summaries) into FerretDB, then the GraphQL schema reads them back. Kafka is not
needed: the records are handed to the processor as a consumer would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from graph.schema import build_schema
from projections.projector import BatchProcessor
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore
from readmodel import documents
from readmodel.topics import TopicNames
from tests.contract import EXAMPLES
from tests.global_ids import number, numbers
from tests.helpers import CommandRecorder, Stack, caller
from tests.integration.projector_harness import TOPIC_OF_EXAMPLE, Record
from tests.integration.world_harness import run

Doc = dict[str, Any]
SCHEMA = build_schema()

EXAMPLE_BYTES = {name: (EXAMPLES / name).read_bytes() for name in TOPIC_OF_EXAMPLE}


@pytest.fixture
async def projected(mongo_db: AsyncDatabase[Doc]) -> AsyncDatabase[Doc]:
    topics = TopicNames()
    records = [
        Record(getattr(topics, kind), 0, offset, 0, None, EXAMPLE_BYTES[name])
        for offset, (name, kind) in enumerate(TOPIC_OF_EXAMPLE.items())
    ]
    processor = BatchProcessor(ProjectionStore(mongo_db), load_status_mapping(), topics)
    # Two batches, the invoice and the shipment after the order: summaries flow both ways.
    first = await processor.process(records[:2])
    second = await processor.process(records[2:])
    assert not first.dead_letters and not second.dead_letters
    return mongo_db


async def test_the_example_order_reads_back_with_its_shipment_and_invoice(
    projected: AsyncDatabase[Doc],
) -> None:
    result = await run(
        SCHEMA,
        projected,
        caller("ACME", roles=("finance",)),
        """{ orderByReference(customerReference: "PO-88812") {
               id status fulfillmentStage lines { lineNumber quantityShipped }
               lastEvent { source type }
               shipments { id trackingNumber status eta proofOfDelivery { signedBy }
                           milestones { rawCode status location { city } } orders { id } }
               invoices { invoiceNumber status total { amount currency } shipments { id } } }
             shipmentByTrackingNumber(trackingNumber: "7712093341") { id carrier { name } }
             dataFreshness { source status message } }""",
    )
    assert result.errors == []
    got = result.data["orderByReference"]
    assert (number(got["id"]), got["status"], got["fulfillmentStage"]) == (
        "SO-100234",
        "IN_FULFILLMENT",
        "LOADED",
    )
    assert got["lines"][0] == {"lineNumber": 1, "quantityShipped": 40}
    [ship] = got["shipments"]
    assert (number(ship["id"]), ship["trackingNumber"], ship["status"]) == (
        "SH-55021",
        "7712093341",
        "PICKED_UP",
    )
    assert ship["eta"] == "2026-11-24T17:00:00+00:00"
    assert ship["proofOfDelivery"] == {"signedBy": "J. RIVERA"}
    assert ship["milestones"] == [
        {"rawCode": "AF", "status": "PICKED_UP", "location": {"city": "Atlanta"}}
    ]
    assert numbers(ship["orders"]) == ["SO-100234"]
    [bill] = got["invoices"]
    assert bill["invoiceNumber"] == "4411" and numbers(bill["shipments"]) == ["SH-55021"]
    assert bill["total"]["currency"] == "USD"
    assert result.data["shipmentByTrackingNumber"]["carrier"] == {"name": "Old Dominion"}
    erp = next(s for s in result.data["dataFreshness"] if s["source"] == "erp/s4-prod")
    assert (erp["status"], erp["message"]) == ("MAINTENANCE", "Quarterly upgrade")


async def test_a_status_announced_by_another_system_is_not_a_source_of_data(
    projected: AsyncDatabase[Doc],
) -> None:
    """An operations tool announcing a WMS outage on the status topic: a portal's freshness
    shows the WMS as degraded and never heard from, and not the tool, which holds no data
    and would otherwise be listed with every response and turn stale (a banner on every
    page, ``PortalSourceStale`` firing). The ERP announcing its own maintenance still
    counts as heard from."""
    announced = json.loads(EXAMPLE_BYTES["source-status-changed.json"])
    announced.update(id="ops-0001", source="ops/statuspage", subject="wms/dc-den", sequence=1)
    announced["data"] = {"source": "wms/dc-den", "status": "DEGRADED", "message": "Scanner outage"}
    topic = TopicNames().source_status
    processor = BatchProcessor(ProjectionStore(projected), load_status_mapping(), TopicNames())
    outcome = await processor.process(
        [Record(topic, 0, 99, 0, None, json.dumps(announced).encode())]
    )
    assert not outcome.dead_letters
    result = await run(
        SCHEMA,
        projected,
        caller("ACME"),
        "{ dataFreshness { source status message lastAppliedAt stale } }",
    )
    assert result.errors == []
    by_source = {s["source"]: s for s in result.data["dataFreshness"]}
    assert sorted(by_source) == ["erp/s4-prod", "tms/us-road", "wms/dc-atl", "wms/dc-den"]
    assert by_source["wms/dc-den"] == {
        "source": "wms/dc-den",
        "status": "DEGRADED",
        "message": "Scanner outage",
        "lastAppliedAt": None,
        "stale": True,
    }
    assert by_source["erp/s4-prod"]["lastAppliedAt"] is not None


async def test_another_customer_sees_none_of_it(projected: AsyncDatabase[Doc]) -> None:
    result = await run(
        SCHEMA,
        projected,
        caller("BETA", roles=("finance",)),
        '{ order(id: "SO-100234") { id } shipments { nodes { id } } invoices { nodes { id } } }',
    )
    assert result.data == {"order": None, "shipments": {"nodes": []}, "invoices": {"nodes": []}}


def _bookkeeping(doc: Mapping[str, Any]) -> set[str]:
    return {key for key in doc if key.startswith("_") and key != "_id"}


async def test_the_projector_s_bookkeeping_is_all_named_and_never_sent_to_the_readers(
    stack: Stack, projected: AsyncDatabase[Doc]
) -> None:
    """Every ``_`` field the projector and its store write is named in
    ``documents.BOOKKEEPING_FIELDS`` (which the readers' reads leave out), so the store never
    sends one to the readers: a field missing there would travel with every read."""
    for collection in documents.ENTITY_COLLECTIONS:
        stored = await projected[collection].find({}).to_list()
        assert stored, f"the examples write {collection}"
        written = set().union(*map(_bookkeeping, stored))
        assert documents.WRITES in written, collection
        assert written <= set(documents.BOOKKEEPING_FIELDS[collection]), collection

    recorder = CommandRecorder()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        stack.mongodb_uri, tz_aware=True, event_listeners=[recorder]
    )
    try:
        result = await run(
            SCHEMA,
            client[projected.name],
            caller("ACME", roles=("finance",)),
            """{ orders { nodes { id shipments { id } invoices { id } } }
                 shipments { nodes { id orders { id } } }
                 invoices { nodes { id shipments { id } } }
                 orderByReference(customerReference: "PO-88812") { id } }""",
        )
    finally:
        await client.close()
    assert result.errors == [] and result.data["orderByReference"] is not None
    replies = recorder.replied()
    read = {kind for kind, _ in replies}
    assert {documents.ORDERS, documents.SHIPMENTS, documents.INVOICES} <= read
    assert [(kind, _bookkeeping(doc)) for kind, doc in replies if _bookkeeping(doc)] == []


async def test_a_source_sending_data_after_its_maintenance_window_is_reported_available(
    projected: AsyncDatabase[Doc],
) -> None:
    """The ERP announced maintenance until 06:00 and never announced its end: once an
    order it sent at 07:00 is projected, ``dataFreshness`` reports it AVAILABLE (no
    maintenance banner over data that flows), where before it stayed MAINTENANCE."""
    query = "{ dataFreshness { source status message expectedBackAt statusChangedAt } }"
    before = await run(SCHEMA, projected, caller("ACME"), query)
    erp = next(s for s in before.data["dataFreshness"] if s["source"] == "erp/s4-prod")
    assert (erp["status"], erp["expectedBackAt"]) == ("MAINTENANCE", "2026-11-29T05:00:00+00:00")
    order = json.loads(EXAMPLE_BYTES["order-created.json"])
    order.update(id="erp-after-window", subject="SO-100299", time="2026-11-29T07:00:00+01:00")
    order["data"]["orderId"] = "SO-100299"
    processor = BatchProcessor(ProjectionStore(projected), load_status_mapping(), TopicNames())
    outcome = await processor.process(
        [Record(TopicNames().orders, 0, 99, 0, None, json.dumps(order).encode())]
    )
    assert not outcome.dead_letters
    after = await run(SCHEMA, projected, caller("ACME"), query)
    erp = next(s for s in after.data["dataFreshness"] if s["source"] == "erp/s4-prod")
    assert erp == {
        "source": "erp/s4-prod",
        "status": "AVAILABLE",
        "message": None,
        "expectedBackAt": None,
        "statusChangedAt": None,
    }


async def test_a_number_the_tms_sent_in_groups_is_found_as_a_person_types_it(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """The projector stores each shipment's tracking key with its number
    (``search_keys.tracking_key``), so a number a TMS sent in groups and in mixed case is
    found typed whole, in either case, or in other groups."""
    topics = TopicNames()
    planned = EXAMPLE_BYTES["shipment-planned.json"].replace(b'"7712093341"', b'"pro-7712 0933"')
    processor = BatchProcessor(ProjectionStore(mongo_db), load_status_mapping(), topics)
    outcome = await processor.process([Record(topics.shipments, 0, 0, 0, None, planned)])
    assert not outcome.dead_letters
    for typed in ("PRO77120933", "pro-7712 0933", "Pro 7712-0933"):
        result = await run(
            SCHEMA,
            mongo_db,
            caller("ACME"),
            "query($t: String!) { shipmentByTrackingNumber(trackingNumber: $t) "
            "{ id trackingNumber } }",
            {"t": typed},
        )
        assert result.errors == []
        found = result.data["shipmentByTrackingNumber"]
        assert found is not None, typed
        assert (number(found["id"]), found["trackingNumber"]) == ("SH-55021", "pro-7712 0933")
