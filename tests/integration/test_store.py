"""The projection store keeps MongoDB's guarantees on the local FerretDB stack.

Two things the projector relies on that FerretDB 1.24 on PostgreSQL does not give by itself
(scripts/lib/ferretdb_postgresql.sql): concurrent updates of one document must not lose one
another, and a lookup by ``_id`` must use an index rather than read the whole collection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from projections import documents
from projections.effects import SummaryPush
from projections.store import WRITES, ProjectionStore


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


async def test_id_and_customer_lookups_use_an_index(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("")
    await store.ensure_indexes("")
    collection = mongo_db[documents.SHIPMENTS]
    await collection.insert_many(
        [{"_id": f"SH-{i:05d}", "customerId": f"C{i % 50}"} for i in range(2000)]
    )

    for query in ({"_id": "SH-00042"}, {"customerId": "C7"}):
        plan = await mongo_db.command("explain", {"find": collection.name, "filter": query})
        text = str(plan.get("queryPlanner", plan))
        if "ferretdbVersion" in str(plan.get("serverInfo", {})):
            assert "Index" in text and "Seq Scan" not in text, (query, text)
        else:  # MongoDB
            assert any(s in text for s in ("IDHACK", "IXSCAN", "EXPRESS")), (query, text)
