"""FerretDB backend comparison: PostgreSQL vs SQLite for the read model's hot queries.

Start one FerretDB per backend, then:

    .venv/bin/python bench/ferretdb_backends.py \\
        --target postgresql=mongodb://127.0.0.1:27017/ --target sqlite=mongodb://127.0.0.1:27018/

For each target it inserts ``--docs`` order-like documents into a scratch database, then times
sequential single-document operations on random ids: ``find_one`` by ``_id``, by
``trackingNumber``, by ``_id`` plus ``rev`` (top-level equality, as the projector's guarded
writes and the readers use them) and ``update_one`` by ``_id`` with ``$set``. The
``trackingNumber`` lookup is timed again after creating the index ``projections/documents.py``
declares. ``explain`` tells whether FerretDB pushed each filter down to its backend
(``filterPushdown``) and which plan the backend chose. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

DB_NAME = "bench_ferretdb_backends"
Doc = dict[str, Any]


def order_document(i: int, rng: random.Random) -> Doc:
    """About 1.5 KB, shaped like a stored order with related summaries and bookkeeping."""
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    address = {
        "line1": f"{i} Main St",
        "city": "Atlanta",
        "postalCode": "30301",
        "countryCode": "US",
    }
    return {
        "_id": f"SO-{i:07d}",
        "customerId": f"C-{i % 50:03d}",
        "customerReference": f"PO-{i:08d}",
        "trackingNumber": f"1Z{i:012d}",
        "orderType": "OUTBOUND",
        "status": rng.choice(["OPEN", "PICKING", "SHIPPED"]),
        "rev": rng.randint(1, 9),
        "orderedAt": at,
        "updatedAt": at,
        "requestedDeliveryDate": "2026-02-01",
        "shipFrom": {"warehouseId": f"DC-{i % 4}", "name": "DC", "address": address},
        "shipTo": {"name": f"Customer {i}", "address": address},
        "lines": [
            {
                "lineNumber": n,
                "sku": f"SKU-{n:05d}",
                "description": "Widget",
                "quantity": n,
                "uom": "EA",
            }
            for n in range(1, 6)
        ],
        "related": {
            "shipments": {
                f"SH-{i:07d}": {"id": f"SH-{i:07d}", "rev": 2, "status": "IN_TRANSIT", "at": at}
            }
        },
        "_orderState": {
            "source": "erp/s4-prod",
            "sequence": rng.randint(1, 100),
            "seen": [f"e-{i}"],
        },
    }


def summarize(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return (
        f"n={len(ms):<4} mean {statistics.fmean(ms):8.2f} ms  p50 {statistics.median(ms):8.2f}"
        f"  p95 {p95:8.2f}"
    )


async def timed(n: int, op: Callable[[int], Awaitable[object]], budget: float) -> list[float]:
    """Up to ``n`` sequential calls, fewer once ``budget`` seconds are spent (SQLite is slow)."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    for k in range(n):
        start = time.perf_counter()
        await op(k)
        samples.append(time.perf_counter() - start)
        if start > deadline:
            break
    return samples


async def explain(coll: AsyncCollection[Doc], filter_: Doc) -> str:
    result = await coll.database.command(
        "explain", {"find": coll.name, "filter": filter_, "limit": 1}
    )
    plan = result.get("queryPlanner", {}).get("Plan")
    if isinstance(plan, dict):  # PostgreSQL: EXPLAIN (FORMAT JSON)
        shape = plan.get("Node Type", "?")
        if "Index Name" in plan:
            shape += f" using {plan['Index Name']}"
        elif plan.get("Plans"):
            shape += " > " + ", ".join(str(p.get("Node Type")) for p in plan["Plans"])
    else:  # SQLite: EXPLAIN QUERY PLAN rows
        shape = "; ".join(str(row).split("detail=")[-1] for row in plan or [])
    return f"filterPushdown={result.get('filterPushdown')}  plan: {shape}"


async def bench_target(name: str, uri: str, docs: int, lookups: int, budget: float) -> None:
    rng = random.Random(7)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri, tz_aware=True)
    try:
        await client.drop_database(DB_NAME)
        coll = client[DB_NAME]["orders"]
        print(f"\n== {name} ({uri})")

        start = time.perf_counter()
        batch = 1000
        for first in range(0, docs, batch):
            await coll.insert_many(
                [order_document(i, rng) for i in range(first, min(docs, first + batch))]
            )
        took = time.perf_counter() - start
        print(f"insert_many {docs} docs: {took:6.1f} s  ({docs / took:,.0f} docs/s)")

        picks = [rng.randrange(docs) for _ in range(lookups)]
        ids = {f"SO-{i:07d}": i for i in picks}
        revs = {
            ids[doc["_id"]]: int(doc["rev"])
            async for doc in coll.find({"_id": {"$in": list(ids)}}, {"rev": 1})
        }
        assert len(revs) == len(ids), "inserted documents missing"

        async def by_id(k: int) -> None:
            assert await coll.find_one({"_id": f"SO-{picks[k]:07d}"}) is not None

        async def by_tracking(k: int) -> None:
            assert await coll.find_one({"trackingNumber": f"1Z{picks[k]:012d}"}) is not None

        async def by_id_and_rev(k: int) -> None:
            i = picks[k]
            assert await coll.find_one({"_id": f"SO-{i:07d}", "rev": revs[i]}) is not None

        async def update(k: int) -> None:
            i = picks[k]
            result = await coll.update_one(
                {"_id": f"SO-{i:07d}"},
                {"$set": {"status": "DELIVERED", "updatedAt": datetime.now(UTC)}},
            )
            assert result.matched_count == 1

        rows: list[tuple[str, Callable[[int], Awaitable[None]], Doc | None]] = [
            ("find_one {_id}", by_id, {"_id": "SO-0000001"}),
            ("find_one {trackingNumber}", by_tracking, {"trackingNumber": "1Z000000000001"}),
            ("find_one {_id, rev}", by_id_and_rev, {"_id": "SO-0000001", "rev": 1}),
            ("update_one {_id} $set", update, None),
        ]
        for label, op, filter_ in rows:
            samples = await timed(lookups, op, budget)
            plan = await explain(coll, filter_) if filter_ else ""
            print(f"{label:34} {summarize(samples)}  {plan}")

        await coll.create_index([("trackingNumber", 1)], name="tracking_number")
        samples = await timed(lookups, by_tracking, budget)
        plan = await explain(coll, {"trackingNumber": "1Z000000000001"})
        print(f"{'find_one {trackingNumber} +index':34} {summarize(samples)}  {plan}")
    finally:
        await client.drop_database(DB_NAME)
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--target",
        action="append",
        required=True,
        metavar="NAME=URI",
        help="a FerretDB to measure; repeat for each backend",
    )
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument(
        "--budget", type=float, default=20.0, help="seconds per timed operation, at most"
    )
    args = parser.parse_args()
    for target in args.target:
        name, sep, uri = target.partition("=")
        if not sep:
            parser.error(f"--target must be NAME=URI, not {target!r}")
        asyncio.run(bench_target(name, uri, args.docs, args.lookups, args.budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
