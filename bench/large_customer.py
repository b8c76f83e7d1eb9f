"""Large-customer benchmark: one customer's pages in every sort order, and support search,
over 100,000 documents each, through the real readers and schema.

Run against the local stack (``scripts/stack start``):

    .venv/bin/python bench/large_customer.py [--documents 100000] [--requests 200]
        [--mongodb-uri URI]

What one run does, on one machine and one store:

1. inserts ``--documents`` orders, shipments and invoices of one customer (plus a tenth as
   many for each of nine others, so the customer is not the whole collection) into a fresh
   database prepared as the projector prepares it (``ProjectionStore.ensure_indexes``), and
   waits until PostgreSQL has table statistics;
2. for every connection and sort order, runs ``--requests`` first pages of 20 and as many
   pages after a cursor 100 items deep, one after another, through
   ``graph.schema`` with a viewer/finance caller of that customer (GraphQL execution,
   entitlements and the store; no HTTP), and prints p50 and p99;
3. runs ``searchShipments`` for a tracking number fragment as that customer and as support
   staff across every customer, and prints p50 and p99.

Targets (issue 11): a page of 20 in each sort order p99 < 50 ms; support search over 100,000
shipments p99 < 100 ms. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from graph.schema import build_schema
from projections.store import ProjectionStore
from tests.helpers import caller
from tests.integration.world_harness import T0, invoice, order, run, shipment

BIG = "BIGCO"
OTHERS = [f"OTHER{n}" for n in range(9)]
PAGES = {
    "orders": ("ORDERED_AT_DESC", "ORDERED_AT_ASC"),
    "shipments": ("PLANNED_PICKUP_AT_DESC", "PLANNED_PICKUP_AT_ASC", "ETA_DESC", "ETA_ASC"),
    "invoices": ("ISSUED_AT_DESC", "ISSUED_AT_ASC", "DUE_DATE_DESC", "DUE_DATE_ASC"),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _documents(customer: str, count: int) -> dict[str, list[dict[str, Any]]]:
    docs: dict[str, list[dict[str, Any]]] = {"orders": [], "shipments": [], "invoices": []}
    for n in range(count):
        at = T0 + timedelta(minutes=n)
        docs["orders"].append(
            order(f"SO-{customer}-{n:07d}", customer, reference=f"PO-{n}", ordered_at=at)
        )
        docs["shipments"].append(
            shipment(
                f"SH-{customer}-{n:07d}",
                customer,
                order_ids=[f"SO-{customer}-{n:07d}"],
                tracking=f"1Z{customer}{n:09d}",
                planned_pickup_at=at,
                milestones=1,
            )
        )
        docs["invoices"].append(
            invoice(
                f"IN-{customer}-{n:07d}",
                customer,
                number=f"INV-{customer}-{n}",
                issued_at=at,
                due_date=(at + timedelta(days=30)).date().isoformat(),
            )
        )
    return docs


async def _load(db: AsyncDatabase[dict[str, Any]], count: int) -> None:
    await ProjectionStore(db).ensure_indexes("")
    for customer, size in [(BIG, count), *((c, count // 10) for c in OTHERS)]:
        for kind, docs in _documents(customer, size).items():
            for i in range(0, len(docs), 5000):
                await db[kind].insert_many(docs[i : i + 5000], ordered=False)
    # autovacuum (naptime 1 s in the local stack) gathers statistics after a bulk load
    await asyncio.sleep(10)


async def _timed(db: AsyncDatabase[dict[str, Any]], who: Any, query: str, n: int) -> list[float]:
    schema = build_schema()
    times: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        result = await run(schema, db, who, query)
        times.append(time.perf_counter() - started)
        assert not result.errors, result.errors
    return times


def _line(label: str, times: list[float], target_ms: float) -> str:
    p50, p99 = percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000
    verdict = "met" if p99 < target_ms else "NOT met"
    target = f"target p99 < {target_ms:g} ms: {verdict}"
    return f"  {label:<44} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  ({target})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--mongodb-uri", default="mongodb://127.0.0.1:27017/")
    args = parser.parse_args()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(args.mongodb_uri, tz_aware=True)
    db = client[f"bench_large_{uuid.uuid4().hex[:8]}"]
    who = caller(BIG, roles=("viewer", "finance"))
    try:
        started = time.perf_counter()
        await _load(db, args.documents)
        print(
            f"loaded {args.documents} orders, shipments and invoices of {BIG} (+{len(OTHERS)} "
            f"customers of {args.documents // 10}) in {time.perf_counter() - started:.0f}s"
        )
        print(f"pages of 20, {args.requests} requests each:")
        for connection, sorts in PAGES.items():
            for sort in sorts:
                first = f"{connection}(sort: {sort}, first: 100)"
                deep = await run(
                    build_schema(), db, who, f"{{ c: {first} {{ pageInfo {{ endCursor }} }} }}"
                )
                cursor = deep.data["c"]["pageInfo"]["endCursor"]
                for label, page in (
                    (f"{connection} {sort}", f"{connection}(sort: {sort}, first: 20)"),
                    (
                        f"{connection} {sort}, 100 deep",
                        f'{connection}(sort: {sort}, first: 20, after: "{cursor}")',
                    ),
                ):
                    times = await _timed(
                        db, who, f"{{ c: {page} {{ edges {{ node {{ id }} }} }} }}", args.requests
                    )
                    print(_line(label, times, 50))
        print(
            f"support search over {args.documents + len(OTHERS) * args.documents // 10} shipments:"
        )
        support = caller(BIG, roles=("support",), subject="sam")
        for label, who_, search in (
            ("own customer, tracking fragment", who, 'searchShipments(text: "00000123")'),
            (
                "support, every customer",
                support,
                'searchShipments(text: "00000123", crossCustomer: true)',
            ),
        ):
            times = await _timed(
                db,
                who_,
                f"{{ s: {search} {{ edges {{ node {{ id }} }} }} }}",
                max(20, args.requests // 10),
            )
            print(_line(label, times, 100))
    finally:
        await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
