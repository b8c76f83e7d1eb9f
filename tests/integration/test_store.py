"""What the projector relies on the store for, checked on the real store: concurrent updates
of one document never lose one another, a stale summary never replaces a newer one, and id
reads return every match however many ids they name."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from projections.effects import SummaryPush
from projections.store import ProjectionStore
from readmodel import documents
from readmodel.documents import WRITES


def _push(target: str, source: str, rev: int) -> SummaryPush:
    return SummaryPush(
        target_kind="orders",
        target_id=target,
        source_kind="shipments",
        source_id=source,
        rev=rev,
        summary={"shipmentId": source, "status": "IN_TRANSIT"},
        customer_id="ACME",
    )


async def test_concurrent_pushes_into_one_document_are_all_kept(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    # Two stores stand for two projector processes; each pushes many shipments' summaries
    # into the same order at the same time.
    stores = [ProjectionStore(mongo_db), ProjectionStore(mongo_db)]
    await stores[0].ensure_collections("")
    sources = [f"SH-{i:03d}" for i in range(40)]
    await asyncio.gather(
        *(
            stores[i % 2].push_summaries("", [_push("SO-1", source, rev=1)])
            for i, source in enumerate(sources)
        )
    )

    order = await mongo_db[documents.ORDERS].find_one({"_id": "SO-1"})

    assert order is not None
    assert sorted(order["related"]["shipments"]) == sources
    assert order[WRITES] == len(sources)


async def test_a_stale_summary_never_replaces_a_newer_one_under_concurrency(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("")
    await asyncio.gather(
        *(store.push_summaries("", [_push("SO-2", "SH-1", rev)]) for rev in range(1, 21))
    )

    order = await mongo_db[documents.ORDERS].find_one({"_id": "SO-2"})

    assert order is not None
    assert order["related"]["shipments"]["SH-1"]["rev"] == 20


async def test_loading_many_ids_returns_every_document(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = ProjectionStore(mongo_db)
    await store.ensure_indexes("")
    ids = [f"SO-{i:05d}" for i in range(2500)]
    await mongo_db[documents.ORDERS].insert_many([{"_id": i, "known": True} for i in ids])

    loaded = await store.load(documents.ORDERS, [*ids, "SO-missing", ids[0]])

    assert sorted(loaded) == ids


async def test_documents_already_there_are_advanced_whichever_command_refused_them(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """An insert the store refuses (the document is there) becomes a guarded update of that
    very document, also when the commands carry different numbers of documents."""
    collection = mongo_db[documents.SEARCH_KEYS]
    await collection.insert_many([{"_id": "d5", "rev": 1}, {"_id": "d3", "rev": 9}])
    store = ProjectionStore(mongo_db)
    docs = [{"_id": f"d{i}", "rev": 5, "text": [f"t{i}"]} for i in range(7)]

    await store.insert_or_advance(documents.SEARCH_KEYS, docs, per_command=3)

    stored = {doc["_id"]: doc async for doc in collection.find({})}
    assert {doc_id: doc["rev"] for doc_id, doc in stored.items()} == {
        **{f"d{i}": 5 for i in range(7)},
        "d3": 9,  # newer: left as it was
    }
    assert stored["d5"]["text"] == ["t5"]
