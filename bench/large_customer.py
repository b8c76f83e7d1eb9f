"""Large-customer benchmark: one customer's pages in every sort order, and support search,
over 100,000 documents each, through the real readers and schema.

Run against the local stack (``scripts/stack start``):

    .venv/bin/python bench/large_customer.py [--documents 100000] [--requests 200]
        [--mongodb-uri URI] [--database NAME]

What one run does, on one machine and one store:

1. inserts ``--documents`` orders, shipments and invoices of one customer (plus a tenth as
   many for each of nine others, so the customer is not the whole collection) into a fresh
   database prepared as the projector prepares it (``ProjectionStore.ensure_indexes``), and
   waits until PostgreSQL has table statistics (``--database NAME`` keeps the database and
   reuses it when it already holds the documents: loading takes minutes);
2. for every connection and sort order, runs ``--requests`` first pages of 20 and as many
   pages after a cursor 100 items deep, one after another, through ``graph.schema`` as the
   API runs a query text it has seen before (``ApiPath``) with a viewer/finance caller of
   that customer (GraphQL execution, entitlements and the store; no HTTP), and prints p50
   and p99. A first page is read in windows from a per-process hint
   (``resolvers/paging_windows.py``); the first such page of a process finds the hint by
   probes (``EdgeSearch``): that *cold* first page is timed ``--requests / 10`` times (at
   least 4), the hints cleared before each, on a line of its own, its "commands" the probes
   plus the page's reads. Side by side, the same pages read as one plain sorted query each
   (no hints and no probes, cursors without a window width: how every page was read before
   windows, and every cold first page before probes), fewer times (they are slow), and the
   ratio; and, for every line, the time spent in store commands per request (from the
   driver's command monitoring) and the process's CPU per request, p50 and p99, and the
   slowest request taken apart: store, CPU (of which the garbage collector) and waiting for
   a core (the machine's other work). With 100 requests a line's p99 is its slowest request;
3. runs ``searchShipments`` for a tracking number fragment and an order reference as that
   customer, and the fragment as support staff across every customer, and prints p50 and
   p99;
4. looks up one of that customer's shipments by tracking number, an order by its reference
   and an invoice by its number (``--parts lookups``), p50 and p99.

Documents are loaded as the projector writes them, the search side collection
(``readmodel/search_keys.py``) included.

Targets (issue 11): a page of 20 in each sort order p99 < 50 ms; support search over 100,000
shipments p99 < 100 ms. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from strawberry.types.graphql import OperationType

from bench.arguments import add_store_argument
from bench.results import percentile
from config.garbage import tune_garbage_collection
from entitlements.policy import Policy
from graph.context import GraphContext, generation_pointer
from graph.schema import build_schema
from projections.search_writes import ensure_complete
from projections.store import ProjectionStore
from readmodel.collections import CollectionNames
from resolvers.readers import PROCESS_WINDOW_HINTS
from tests.helpers import caller
from tests.integration.world_harness import T0, MemoryAudit, invoice, order, shipment
from web.document_cache import DocumentCache
from web.limits import MeasureCache
from web.metrics import Metrics
from web.prepared import PreparedOperations
from web.settings import QueryLimits

BIG = "BIGCO"
#: Collection names under which the readers find no filled search collection: they search
#: by the pattern over the entities (``Readers.search_shipments``).
WITHOUT_SEARCH_DOCUMENTS = CollectionNames(search_keys="bench_no_search_documents")
OTHERS = [f"OTHER{n}" for n in range(9)]
PAGES = {
    "orders": ("ORDERED_AT_DESC", "ORDERED_AT_ASC"),
    "shipments": ("PLANNED_PICKUP_AT_DESC", "PLANNED_PICKUP_AT_ASC", "ETA_DESC", "ETA_ASC"),
    "invoices": ("ISSUED_AT_DESC", "ISSUED_AT_ASC", "DUE_DATE_DESC", "DUE_DATE_ASC"),
}


class StoreTime(monitoring.CommandListener):
    """Seconds spent in store commands (sent to answered), and how many, since the last
    ``take``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.commands = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.seconds += event.duration_micros / 1e6
        self.commands += 1

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.seconds += event.duration_micros / 1e6
        self.commands += 1

    def take(self) -> tuple[float, int]:
        taken = self.seconds, self.commands
        self.seconds, self.commands = 0.0, 0
        return taken


class CollectorTime:
    """Seconds CPython's garbage collector ran since the last ``take`` (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def take(self) -> float:
        taken, self.seconds = self.seconds, 0.0
        return taken


@dataclass
class Timed:
    """Per request: wall, store (the sum of its commands' durations, from command
    monitoring: more than the wall when commands run at once, as a search's do), the
    process's CPU and its garbage collector's time, in seconds, and the store commands sent.
    What is left of the wall after store and CPU is waiting for a core (the machine's other
    work)."""

    wall: list[float] = field(default_factory=list)
    store: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    collector: list[float] = field(default_factory=list)
    commands: list[int] = field(default_factory=list)


STORE_TIME = StoreTime()
COLLECTOR_TIME = CollectorTime()


def without_width(cursor: str) -> str:
    """The cursor as issued before windows: no window width, so the next page is one plain
    sorted read."""
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    body.pop("w", None)
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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
    store = ProjectionStore(db)
    await store.ensure_indexes("")
    if await db["orders"].count_documents({"customerId": BIG}) != count:
        for customer, size in [(BIG, count), *((c, count // 10) for c in OTHERS)]:
            for kind, docs in _documents(customer, size).items():
                for i in range(0, len(docs), 5000):
                    await db[kind].insert_many(docs[i : i + 5000], ordered=False)
    # the search side collection as the projector fills it for a generation written before
    # it existed (a no-op once done: a kept database reuses it)
    await ensure_complete(store, "")
    # autovacuum (naptime 1 s in the local stack) gathers statistics after a bulk load
    await asyncio.sleep(10)


class ApiPath:
    """Requests executed as the API executes a query text it has seen before
    (``web.prepared``: the document parsed and validated once, graphql-core's ``execute``),
    with the process's remembered read pointer (one second, the API's default), so the
    figures are the API's own minus HTTP and JSON. Strawberry's ``Schema.execute`` would
    parse and validate every request again, which the API does not do for a known text."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._db = db
        self._pointers: dict[CollectionNames, Any] = {}
        self._prepared = PreparedOperations(
            build_schema(),
            DocumentCache(256),
            MeasureCache(256),
            QueryLimits(),
            Metrics(),
            freshness=None,
        )

    async def run(
        self, who: Any, query: str, collections: CollectionNames | None = None
    ) -> dict[str, Any]:
        names = collections or CollectionNames()
        if names not in self._pointers:
            self._pointers[names] = generation_pointer(names, max_age_seconds=1.0)
        prepared = self._prepared
        prepared.documents.pin(prepared.schema._schema, query)
        operation = prepared.prepare(query, None, None, {OperationType.QUERY})
        assert operation is not None, f"not a valid query: {query}"
        context = GraphContext.build(
            self._db,
            Policy(),
            who,
            MemoryAudit(),
            None,
            collections=names,
            pointer=self._pointers[names],
        )
        try:
            result = await prepared.execute(operation, context, None, None)
        finally:
            context.close()  # as the API does when a request ends
        assert not result.errors, result.errors
        assert isinstance(result.data, dict)
        return result.data


async def _timed(
    api: ApiPath,
    who: Any,
    query: str,
    n: int,
    *,
    cold: bool = False,
    plain: bool = False,
    collections: CollectionNames | None = None,
) -> Timed:
    """``n`` requests one after another; ``cold``: each without first-page hints, as the
    first of a new process (probes find the hint); ``plain``: without hints or probes (a
    first page is one plain sorted read, as before windows)."""
    timed = Timed()
    PROCESS_WINDOW_HINTS.probe = not plain
    for _ in range(n):
        if cold or plain:
            PROCESS_WINDOW_HINTS.clear()
        STORE_TIME.take()
        COLLECTOR_TIME.take()
        cpu = time.process_time()
        started = time.perf_counter()
        await api.run(who, query, collections)
        timed.wall.append(time.perf_counter() - started)
        timed.cpu.append(time.process_time() - cpu)
        in_store, commands = STORE_TIME.take()
        timed.store.append(in_store)
        timed.commands.append(commands)
        timed.collector.append(COLLECTOR_TIME.take())
    PROCESS_WINDOW_HINTS.probe = True
    return timed


def _ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000


def _line(label: str, timed: Timed, target_ms: float) -> str:
    """p50 and p99 of the wall, the store and the process's CPU; then the slowest request
    taken apart: store, CPU (of which garbage collection) and waiting for a core."""
    p99 = _ms(timed.wall, 0.99)
    verdict = "met" if p99 < target_ms else "NOT met"
    slowest = max(range(len(timed.wall)), key=timed.wall.__getitem__)
    wall, store, cpu = (timed.wall[slowest], timed.store[slowest], timed.cpu[slowest])
    waiting = max(0.0, wall - store - cpu)
    return (
        f"  {label:<40} p50 {_ms(timed.wall, 0.5):6.1f} ms  p99 {p99:6.1f} ms"
        f"  store p50 {_ms(timed.store, 0.5):5.1f} p99 {_ms(timed.store, 0.99):6.1f} ms"
        f"  cpu p50 {_ms(timed.cpu, 0.5):5.1f} p99 {_ms(timed.cpu, 0.99):5.1f} ms"
        f"  commands {max(timed.commands)}  (target p99 < {target_ms:g} ms: {verdict})\n"
        f"  {'':<40} slowest {wall * 1000:6.1f} ms = store {store * 1000:5.1f}"
        f" + cpu {cpu * 1000:5.1f} (gc {timed.collector[slowest] * 1000:4.1f})"
        f" + waiting {waiting * 1000:5.1f} ms"
    )


async def _cold(api: ApiPath, who: Any, connection: str, sort: str, n: int) -> None:
    """The first page of a new process (no hint: probes find it) ``n`` times, and side by
    side the same page as one plain sorted read (how a cold first page was read before
    probes), fewer times (they are slow)."""
    query = f"{{ c: {connection}(sort: {sort}, first: 20) {{ edges {{ node {{ id }} }} }} }}"
    cold = await _timed(api, who, query, n, cold=True)
    plain = await _timed(api, who, query, max(3, n // 4), plain=True)
    print(_line(f"{connection} {sort}, cold first page", cold, 50))
    plain_p50 = _ms(plain.wall, 0.5)
    print(
        f"  {'  the same, one plain sorted read':<40} p50 {plain_p50:7.1f} ms"
        f"  store p50 {_ms(plain.store, 0.5):6.1f} ms"
        f"  (cold p50 {plain_p50 / _ms(cold.wall, 0.5):.1f}x faster)"
    )


async def _pages(api: ApiPath, who: Any, requests: int) -> None:
    """Every connection and sort order: the cold first page, then first pages and pages 100
    deep, windowed and, side by side, as one plain sorted read."""
    plain_n = max(3, requests // 20)
    cold_n = max(4, requests // 10)
    print(
        f"pages of 20, {requests} requests each (windowed), {plain_n} each as one plain"
        f" sorted read; {cold_n} cold first pages each (hints cleared before each: probes):"
    )
    edges = "{ edges { node { id } } }"
    for connection, sorts in PAGES.items():
        for sort in sorts:
            await _cold(api, who, connection, sort, cold_n)
            first = f"{connection}(sort: {sort}, first: 100)"
            deep = await api.run(who, f"{{ c: {first} {{ pageInfo {{ endCursor }} }} }}")
            cursor = deep["c"]["pageInfo"]["endCursor"]
            for label, page, plain_page in (
                (
                    f"{connection} {sort}",
                    f"{connection}(sort: {sort}, first: 20)",
                    f"{connection}(sort: {sort}, first: 20)",
                ),
                (
                    f"{connection} {sort}, 100 deep",
                    f'{connection}(sort: {sort}, first: 20, after: "{cursor}")',
                    f'{connection}(sort: {sort}, first: 20, after: "{without_width(cursor)}")',
                ),
            ):
                windowed = await _timed(api, who, f"{{ c: {page} {edges} }}", requests)
                plain = await _timed(
                    api, who, f"{{ c: {plain_page} {edges} }}", plain_n, plain=True
                )
                print(_line(label, windowed, 50))
                plain_p50 = _ms(plain.wall, 0.5)
                plain_store = _ms(plain.store, 0.5)
                ratio = plain_p50 / _ms(windowed.wall, 0.5)
                print(
                    f"  {'  the same, one plain sorted read':<40} p50 {plain_p50:7.1f} ms"
                    f"  store p50 {plain_store:6.1f} ms  (windowed p50 {ratio:.1f}x faster)"
                )


async def _searches(api: ApiPath, who: Any, args: argparse.Namespace) -> None:
    print(f"support search over {args.documents + len(OTHERS) * args.documents // 10} shipments:")
    support = caller(BIG, roles=("support",), subject="sam")
    for label, who_, search in (
        ("own customer, tracking fragment", who, 'searchShipments(text: "00000123")'),
        ("own customer, order reference", who, 'searchShipments(text: "PO-4711")'),
        (
            "support, every customer",
            support,
            'searchShipments(text: "00000123", crossCustomer: true)',
        ),
    ):
        query = f"{{ s: {search} {{ edges {{ node {{ id }} }} }} }}"
        times = await _timed(api, who_, query, max(20, args.requests // 10))
        print(_line(label, times, 100))
        # side by side: the pattern over the entities, as every search was read before the
        # search documents (readers find no filled search collection under this name)
        pattern = await _timed(api, who_, query, 5, collections=WITHOUT_SEARCH_DOCUMENTS)
        pattern_p50 = percentile(pattern.wall, 0.5)
        print(
            f"  {'  the same by the pattern':<40} p50 {pattern_p50 * 1000:7.1f} ms"
            f"  p99 {percentile(pattern.wall, 0.99) * 1000:7.1f} ms"
            f"  (search documents p50 {pattern_p50 / percentile(times.wall, 0.5):.1f}x faster)"
        )


async def _lookups(api: ApiPath, who: Any, args: argparse.Namespace) -> None:
    """Lookups by a business key of the large customer: each must go through its key's
    index, not scan the customer's list (a tracking number read through the customer's sort
    index took 230-360 ms here before session 10)."""
    n = args.documents // 2
    print(f"lookups of {BIG}'s documents by their business keys:")
    for label, lookup in (
        ("tracking number", f'shipmentByTrackingNumber(trackingNumber: "1Z{BIG}{n:09d}")'),
        ("order reference", f'orderByReference(customerReference: "PO-{n}")'),
        ("invoice number", f'invoiceByNumber(invoiceNumber: "INV-{BIG}-{n}")'),
    ):
        times = await _timed(api, who, f"{{ found: {lookup} {{ id }} }}", args.requests)
        print(_line(label, times, 50))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    add_store_argument(parser)
    parser.add_argument("--database", help="keep this database, and reuse it if loaded")
    parser.add_argument(
        "--parts",
        default="pages,search,lookups",
        help="what to measure, comma-separated: pages, search, lookups (default: all)",
    )
    args = parser.parse_args()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        args.mongodb_uri, tz_aware=True, event_listeners=[STORE_TIME]
    )
    db = client[args.database or f"bench_large_{uuid.uuid4().hex[:8]}"]
    who = caller(BIG, roles=("viewer", "finance"))
    try:
        started = time.perf_counter()
        await _load(db, args.documents)
        print(
            f"loaded {args.documents} orders, shipments and invoices of {BIG} (+{len(OTHERS)} "
            f"customers of {args.documents // 10}) in {time.perf_counter() - started:.0f}s"
        )
        parts = set(args.parts.split(","))
        api = ApiPath(db)
        # As the API process does once it has started (web/__main__.py): without it, a full
        # collection every few hundred requests walks every module and the schema again,
        # which is most of this in-process measurement's p99.
        gc.collect()
        tune_garbage_collection()
        gc.callbacks.append(COLLECTOR_TIME)
        if "pages" in parts:
            await _pages(api, who, args.requests)
        if "search" in parts:
            await _searches(api, who, args)
        if "lookups" in parts:
            await _lookups(api, who, args)
    finally:
        if not args.database:
            await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
