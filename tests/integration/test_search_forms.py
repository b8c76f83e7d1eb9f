"""Support search compares typed text and stored values without case, accents, spaces and
dashes on both sides (``readmodel.search_keys.search_form``), through the search documents
and the slow way alike; it never answers without the shipments of some matching orders."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from graph.schema import build_schema
from projections.search_writes import ensure_complete
from projections.store import ProjectionStore
from readmodel import documents
from readmodel.search_keys import (
    COMPLETE_MARKER,
    FILLED_MARKER,
    KEYS_FORMAT_FIELD,
    MARKERS,
    search_pattern,
)
from resolvers.filters import SEARCH_PATTERN_MAX, SEARCH_TEXT_MAX
from resolvers.readers import SEARCH_ORDER_MATCHES
from tests.helpers import caller
from tests.integration.world_harness import MemoryAudit, Result, World, order, run, shipment

Doc = dict[str, Any]
SCHEMA = build_schema()
ACME = caller("ACME")
SUPPORT = caller(roles=("support",), subject="sam")
SEARCH = "query($t: String!) { searchShipments(text: $t) { nodes { shipmentId } } }"
WAYS = ("search documents", "pattern", "search documents of an older form")
IOTA = "\u03b9"


async def _search(db: AsyncDatabase[Doc], text: str) -> Result:
    return await run(SCHEMA, db, ACME, SEARCH, {"t": text})


async def _found(db: AsyncDatabase[Doc], text: str) -> list[str]:
    result = await _search(db, text)
    assert result.errors == []
    return sorted(node["shipmentId"] for node in result.data["searchShipments"]["nodes"])


async def _searched(db: AsyncDatabase[Doc], way: str) -> None:
    """Make ``db``'s generation searched ``way``."""
    search = db[documents.SEARCH_KEYS]
    if way == "pattern":  # a generation not yet filled
        await search.delete_one({"_id": COMPLETE_MARKER})
    elif way == "search documents of an older form":
        # Written before session 22: keys of another form, which would find nothing.
        await search.update_one({"_id": COMPLETE_MARKER}, {"$unset": {KEYS_FORMAT_FIELD: ""}})
        await search.update_many({"_id": {"$nin": list(MARKERS)}}, {"$set": {"keys": []}})


@pytest.fixture(params=WAYS)
async def db(mongo_db: AsyncDatabase[Doc], request: pytest.FixtureRequest) -> AsyncDatabase[Doc]:
    orders = [
        order("SO-1", "ACME", reference="PO-10045", ship_to="Straße Logistik"),
        order("SO-2", "ACME", reference="PO20077"),
    ]
    shipments = [
        shipment("SH-1", "ACME", order_ids=["SO-1"], tracking="1Z 999 AA1", city="İstanbul"),
        shipment("SH-2", "ACME", order_ids=["SO-2"], tracking="9600000519", city="Zürich"),
        shipment("SH-3", "ACME", tracking="ODFL-77", city="Zu\u0308rich Nord"),  # decomposed
    ]
    await World(orders, shipments).link().insert(mongo_db)
    await _searched(mongo_db, request.param)
    return mongo_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PO10045", ["SH-1"]),  # stored with a dash, typed without
        ("po 10045", ["SH-1"]),
        ("PO-20077", ["SH-2"]),  # stored without, typed with
        ("1z999aa1", ["SH-1"]),  # stored in groups
        ("ODFL77", ["SH-3"]),
        ("istanbul", ["SH-1"]),
        ("ISTANBUL", ["SH-1"]),
        ("İstanbul", ["SH-1"]),
        ("zurich", ["SH-2", "SH-3"]),
        ("Zürich", ["SH-2", "SH-3"]),
        ("ZURICH NORD", ["SH-3"]),
        ("Straße", ["SH-1"]),
        ("STRASSE", []),  # a folding to two characters: only as the value writes it
        ("9600 0005 19", ["SH-2"]),
    ],
)
async def test_search_ignores_case_accents_spaces_and_dashes_on_both_sides(
    db: AsyncDatabase[Doc], text: str, expected: list[str]
) -> None:
    assert await _found(db, text) == expected


@pytest.mark.parametrize("way", WAYS)
async def test_a_search_matching_more_orders_than_it_follows_is_refused_not_cut_short(
    mongo_db: AsyncDatabase[Doc], way: str
) -> None:
    """More than ``SEARCH_ORDER_MATCHES`` matching orders: their shipments would not all
    be found, so the search says so instead of answering a part."""
    count = SEARCH_ORDER_MATCHES + 1
    orders = [order(f"SO-{n}", "ACME", reference=f"BULK-{n:04}") for n in range(count)]
    shipments = [shipment("SH-LAST", "ACME", order_ids=[f"SO-{count - 1}"], tracking="1ZX")]
    await World(orders, shipments).link().insert(mongo_db)
    await _searched(mongo_db, way)

    refused = await _search(mongo_db, "BULK-")
    assert refused.codes == ["BAD_USER_INPUT"]
    assert "more than 500 orders match" in refused.errors[0]["message"]
    assert await _found(mongo_db, f"BULK-{count - 1:04}") == ["SH-LAST"]


@pytest.mark.parametrize("way", WAYS)
async def test_a_cross_customer_search_refused_for_its_order_matches_is_audited(
    mongo_db: AsyncDatabase[Doc], way: str
) -> None:
    """Refused, a support search still told its user that more than 500 orders of every
    customer match the text: the audit log says so too."""
    count = SEARCH_ORDER_MATCHES + 1
    orders = [
        order(f"SO-{n}", ("ACME", "BETA")[n % 2], reference=f"BULK-{n:04}") for n in range(count)
    ]
    await World(orders, []).link().insert(mongo_db)
    await _searched(mongo_db, way)
    audit = MemoryAudit()
    query = '{ searchShipments(text: "BULK-", crossCustomer: true) { nodes { id } } }'

    refused = await run(SCHEMA, mongo_db, SUPPORT, query, audit=audit)

    assert refused.codes == ["BAD_USER_INPUT"]
    [entry] = audit.entries
    assert (entry["subject"], entry["answered"], entry["customerIds"]) == ("sam", "refused", [])


async def test_a_generation_filled_in_an_older_form_is_searched_the_slow_way_once_completed(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """A catch-up an upgrade interrupted: its search documents were filled by code before
    session 22 (the ``filled`` marker names no form of keys), today's code completes the
    generation. Its keys would miss values typed in another form: readers must go on
    searching it the slow way, not by those keys."""
    shipments = [shipment("SH-2", "ACME", tracking="9600000519", city="Zürich")]
    await World([], shipments).link().insert(mongo_db)
    search = mongo_db[documents.SEARCH_KEYS]
    await search.delete_one({"_id": COMPLETE_MARKER})
    await search.update_one({"_id": FILLED_MARKER}, {"$unset": {KEYS_FORMAT_FIELD: ""}})
    await search.update_many({"_id": {"$nin": list(MARKERS)}}, {"$set": {"keys": []}})

    await ensure_complete(ProjectionStore(mongo_db), "")

    assert await search.find_one({"_id": COMPLETE_MARKER}) is not None
    assert await _found(mongo_db, "zurich") == ["SH-2"]


@pytest.mark.parametrize("way", WAYS)
async def test_a_text_that_made_the_check_backtrack_exponentially_is_answered(
    mongo_db: AsyncDatabase[Doc], way: str
) -> None:
    """A stored run of U+0345 (it folds to iota) under typed iotas: until each could be only
    a letter, not also what stands between two, the store's PCRE2 gave up backtracking and
    the search failed (SERVICE_UNAVAILABLE). The value holds both keys of the text, so the
    check runs on it through the search documents too."""
    stored = "\u0345" * 60 + "z"
    await World([], [shipment("SH-1", "ACME", tracking="1ZX", city=stored)]).link().insert(mongo_db)
    await _searched(mongo_db, way)

    assert await _found(mongo_db, IOTA * 99 + "z") == []
    assert await _found(mongo_db, IOTA * 30 + "z") == ["SH-1"]


def _longest_searchable(char: str) -> str:
    """``char`` as many times as a search takes it (its pattern within the cap)."""
    count = SEARCH_TEXT_MAX
    while len(search_pattern(char * count).encode()) > SEARCH_PATTERN_MAX:
        count -= 1
    return char * count


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("char", ["\u33af", "\u1f80", "o"])  # ㎯, ᾀ: the largest patterns
async def test_the_largest_pattern_a_search_takes_runs_on_the_store(
    mongo_db: AsyncDatabase[Doc], way: str, char: str
) -> None:
    """Just under ``SEARCH_PATTERN_MAX``: the store compiles and runs it (beyond about
    26,000 bytes PCRE2 refused to compile it, a store error); one more character is
    ``BAD_USER_INPUT``, saying what to do."""
    text = _longest_searchable(char)
    await World([], [shipment("SH-1", "ACME", tracking="1ZX", city=text)]).link().insert(mongo_db)
    await _searched(mongo_db, way)

    assert await _found(mongo_db, text) == ["SH-1"]
    if len(text) < SEARCH_TEXT_MAX:
        refused = await _search(mongo_db, text + char)
        assert refused.codes == ["BAD_USER_INPUT"]
        assert refused.errors[0]["message"].startswith("text: search for fewer characters")
