"""A tracking number is found by its key (``readmodel.search_keys.tracking_key``: without
spaces and dashes, case-folded) however it was stored and however it is typed, in a
generation its projector wrote and in one written before the key existed (filled once,
``projections.search_writes.FILLS``); until that fill, by the forms of the number's own
index (``tracking_number_forms``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from graph.schema import build_schema
from projections.search_writes import ensure_filled
from projections.store import ProjectionStore
from readmodel import documents
from readmodel.search_keys import TRACKING_KEYS_MARKER
from tests.helpers import caller
from tests.integration.world_harness import T0, World, run, shipment

Doc = dict[str, Any]
SCHEMA = build_schema()
ACME = caller("ACME")
LOOKUP = "query($t: String!) { shipmentByTrackingNumber(trackingNumber: $t) { shipmentId } }"


def _world() -> World:
    return World(
        [],
        [
            shipment("SH-PRO", "ACME", tracking="PRO-555"),
            shipment("SH-UPS", "ACME", tracking="1Zab"),
            # a carrier reused a number: the newest shipment is the one found
            shipment("SH-OLD", "ACME", tracking="9600 0005 19"),
            shipment(
                "SH-NEW", "ACME", tracking="9600-0005-19", planned_pickup_at=T0 + timedelta(1)
            ),
            shipment("SH-TBA", "ACME", tracking="-"),  # a TMS's placeholder
        ],
    ).link()


async def _found(db: AsyncDatabase[Doc], typed: str) -> str | None:
    result = await run(SCHEMA, db, ACME, LOOKUP, {"t": typed})
    assert result.errors == []
    found = result.data["shipmentByTrackingNumber"]
    return None if found is None else str(found["shipmentId"])


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("PRO555", "SH-PRO"),  # stored with a dash, typed without
        ("pro 555", "SH-PRO"),
        ("PRO-555", "SH-PRO"),
        ("1ZAB", "SH-UPS"),  # stored in mixed case
        ("1zab", "SH-UPS"),
        ("1 zA-b", "SH-UPS"),
        ("9600000519", "SH-NEW"),
        ("PRO55", None),  # a whole number, not a part of one
        ("PRO5555", None),
        ("-", None),  # spaces or dashes alone name no number, not the placeholder's
        (" ", None),
    ],
)
async def test_a_number_is_found_by_its_key_however_it_was_stored_and_typed(
    mongo_db: AsyncDatabase[Doc], typed: str, expected: str | None
) -> None:
    await _world().insert(mongo_db)
    assert await _found(mongo_db, typed) == expected


async def test_a_generation_written_before_the_key_is_found_by_the_forms_until_filled(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """Shipments an older projector wrote hold no key: readers look their numbers up by the
    forms of the number's index (as before) until the fill gives them their keys, then by
    the key."""
    await _world().insert(mongo_db)
    shipments = mongo_db[documents.SHIPMENTS]
    await shipments.update_many({}, {"$unset": {documents.TRACKING_KEY: ""}})
    await mongo_db[documents.SEARCH_KEYS].delete_one({"_id": TRACKING_KEYS_MARKER})

    assert await _found(mongo_db, "pro-555") == "SH-PRO"
    assert await _found(mongo_db, "PRO555") is None  # no key yet: the forms alone

    await ensure_filled(ProjectionStore(mongo_db), "")

    assert await _found(mongo_db, "PRO555") == "SH-PRO"
    assert await _found(mongo_db, "1zab") == "SH-UPS"
    keys = {doc["_id"]: doc[documents.TRACKING_KEY] async for doc in shipments.find({})}
    assert keys == {
        "SH-PRO": "pro555",
        "SH-UPS": "1zab",
        "SH-OLD": "9600000519",
        "SH-NEW": "9600000519",
        "SH-TBA": "",
    }


async def test_a_key_left_behind_by_a_renumbering_does_not_answer_another_number(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """A projector of older code renumbered a shipment of a filled generation (against the
    upgrade order): its number changed, its key did not. A lookup of the old number must not
    answer that shipment, which now carries another number."""
    await _world().insert(mongo_db)
    await mongo_db[documents.SHIPMENTS].update_one(
        {"_id": "SH-PRO"}, {"$set": {"trackingNumber": "PRO-777"}}
    )
    assert await _found(mongo_db, "PRO555") is None
