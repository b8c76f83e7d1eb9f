"""API benchmark: three portal queries through the real API against a PyMongo ceiling.

Needs FerretDB (or MongoDB) and Kafka (``scripts/stack start``; Kafka only for the API's lag
poller):

    .venv/bin/python bench/api.py [--mongodb-uri URI] [--database NAME]
        [--concurrency 16] [--seconds 8] [--rounds 2] [--rate 200] [--processes 1]
        [--freshness-only | --in-process]

What one run does, on one machine and one store:

1. loads a seeded world (``simulator.world.generate``, about 23k events with the contract's
   faults) into a fresh database with the projector's own ``BatchProcessor`` and store
   (no Kafka). ``--database`` reuses an existing database as it is instead (not dropped
   afterwards);
2. starts the real API (``python -m web``) and the ceiling (``bench/api_ceiling.py``: the
   same MongoDB queries from a bare Starlette endpoint, no GraphQL or entitlements), both
   subprocesses on free ports reading the same database, access logs off in both;
   ``--processes N`` starts N of each (stateless, so they scale out) and sends requests to
   them in turn, as a load balancer would: the API and the ceiling always get the same;
3. checks that both answer each query with the same documents;
4. for each query (a shipment by tracking number; the orders page with each order's
   shipments nested; the invoice list) drives each server with ``--concurrency`` closed-loop
   clients for ``--seconds`` (maximum throughput; in ``--rounds`` slices alternating API and
   ceiling, so both see the same background load), then with an open loop at
   ``--rate`` requests/s for ``--seconds`` (latency at a fixed load). Open-loop latency is
   measured from when a request was due, not when it was sent, so a server that falls
   behind is charged for the queueing it causes; at most ``2 * --concurrency`` requests are
   in flight;
5. prints requests/s, p50 and p99 per query and server, the API/ceiling ratios, the
   server processes' CPU time per request (what each costs apart from the store) and the
   driver's own (``bench.http_driver``: keep-alive sockets, replies parsed in C; it shares
   the machine with what it measures, so it is kept lean);
6. the cost of ``extensions.freshness``: a second API process with it left out
   (``FRESHNESS_REFRESH_SECONDS=0``) against the first, tracking lookups in alternating
   closed-loop slices (req/s and CPU ms per request side by side), and the extension's own
   work per response timed in this process (``--freshness-only`` runs just this part).

``--in-process`` runs neither servers nor HTTP: the three queries as raw ASGI calls into
``web.app.create_app`` and into the ceiling's app, both in this process on uvloop, and prints
this process's CPU per request for each (``bench/in_process.py``; docs/benchmarks.md's in-process
figures use ``--concurrency 8``).

Requests rotate over the customers the default policy leaves unrestricted (a viewer with the
finance role, so invoices are readable); lookups use tracking numbers of their known
shipments. The driver shares the machine's cores with both servers, FerretDB and PostgreSQL,
so its own CPU time is part of every figure, for the API and the ceiling alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from bench.arguments import add_broker_argument, add_store_argument
from bench.http_driver import DriverError, HttpPool, Reply
from bench.results import Result, closed_loop_clients, percentile
from entitlements.caller import Caller
from entitlements.mint import mint_token
from entitlements.policy import load_policy
from entitlements.tokens import TokenSettings
from projections.projector import BatchProcessor
from projections.settings import ProjectorSettings
from projections.status_mapping import load_status_mapping
from projections.store import (
    ProjectionStore,
)
from readmodel import documents
from readmodel.topics import TopicNames
from simulator.faults import FaultRates
from simulator.world import generate
from tests.integration.processes import NotHealthy, terminate
from tests.integration.processes import wait_healthy as healthy
from tests.integration.projector_harness import records_of

REPO: Final = Path(__file__).resolve().parents[1]
SECRET: Final = "bench-api-secret-" + "a" * 40
TOKENS: Final = TokenSettings(hs256_secret=SECRET)
ROLES: Final = ("viewer", "finance")
NOW: Final = datetime(2026, 11, 27, tzinfo=UTC)
PAGE: Final = 20
#: How long an open loop waits for its last answers before abandoning them.
DRAIN_SECONDS: Final = 5.0

Doc = dict[str, Any]
Target = Literal["api", "ceiling"]
QueryName = Literal["tracking", "orders page", "invoices"]

TRACKING_QUERY: Final = """
query Track($tn: String!) {
  shipmentByTrackingNumber(trackingNumber: $tn) {
    id shipmentId status mode trackingNumber carrier { scac name } eta deliveredAt plannedPickupAt
    destination { city countryCode }
    milestones { status rawCode occurredAt location { city } }
    orders { id orderId customerReference }
  }
}"""
ORDERS_QUERY: Final = """
query OrdersPage($first: Int!) {
  orders(first: $first) {
    edges { cursor node {
      id orderId customerReference status orderedAt shipToName fulfillmentStage
      shipments { id shipmentId status trackingNumber eta carrier { scac name } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""
INVOICES_QUERY: Final = """
query Invoices($first: Int!) {
  invoices(first: $first) {
    edges { cursor node {
      id invoiceId invoiceNumber status issuedAt dueDate
      total { amount currency } balance { amount }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the world -----------------------------------------------------------------------------


async def load_world(args: argparse.Namespace, db: AsyncDatabase[Doc]) -> tuple[int, float]:
    """Project a seeded world into ``db``: (event count, seconds spent projecting).

    The projector's own ``BatchProcessor`` and store, without Kafka: records go in emission
    order, in batches of the runner's default size.
    """
    topics = TopicNames()
    names = topics.inbound()
    world = generate(
        seed=args.seed,
        days=args.days,
        orders_per_day=args.orders_per_day,
        now=NOW,
        faults=FaultRates.default(),
    )
    records = records_of((names[r.topic_kind], r.key, r.value) for r in world)
    store = ProjectionStore(db)
    await store.ensure_collections("")
    await store.ensure_indexes("")
    processor = BatchProcessor(store, load_status_mapping(None), topics)
    started = time.perf_counter()
    size = ProjectorSettings().batch_max_records
    for i in range(0, len(records), size):
        await processor.process(records[i : i + size])
    return len(records), time.perf_counter() - started


@dataclass(frozen=True)
class Sample:
    """What requests are made of: one customer, its token and its tracking numbers."""

    customer: str
    token: str
    tracking_numbers: tuple[str, ...]


async def samples(db: AsyncDatabase[Doc]) -> list[Sample]:
    """Customers without warehouse limits (so the ceiling's filter, customer and ``known``,
    is the API's), that have orders, shipments and invoices."""
    policy = load_policy(None, environ={})
    out: list[Sample] = []
    for customer in sorted(await db[documents.ORDERS].distinct("customerId", {"known": True})):
        caller = Caller(
            subject="bench",
            customers=frozenset({customer}),
            roles=frozenset(ROLES),
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
        scope = policy.scope(caller)
        if scope.warehouse_limits:
            continue
        query = {"customerId": customer, "known": True}
        shipments = await db[documents.SHIPMENTS].find(query, {"trackingNumber": True}).to_list()
        tracking = tuple(
            sorted({s["trackingNumber"] for s in shipments if s.get("trackingNumber")})
        )
        if not tracking or not await db[documents.INVOICES].find_one(query, {"_id": True}):
            continue
        token = mint_token(
            TOKENS, subject=f"bench-{customer}", customers=[customer], roles=ROLES, ttl_seconds=3600
        )
        out.append(Sample(customer, token, tracking))
    return out


# --- the servers ---------------------------------------------------------------------------


@dataclass
class Server:
    """One server as its clients see it: one or more identical processes, each on its own
    port; requests go to them in turn (as a load balancer would spread them)."""

    name: Target
    ports: list[int]
    processes: list[subprocess.Popen[bytes]]
    _turn: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The first (with ``count=1`` the only) process."""
        return self.processes[0]

    def next_url(self, path: str) -> str:
        self._turn = (self._turn + 1) % len(self.ports)
        return f"http://127.0.0.1:{self.ports[self._turn]}{path}"

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(process.pid) for process in self.processes)


def spawn(
    name: Target, argv: list[str], env: Mapping[str, str], log: Path, count: int = 1
) -> Server:
    ports, processes = [], []
    for _ in range(count):
        port = free_port()
        with log.open("ab") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, *argv],
                    cwd=REPO,
                    env={**env, "API_PORT": str(port), "CEILING_PORT": str(port)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        ports.append(port)
    return Server(name, ports, processes)


async def wait_healthy(server: Server, log: Path) -> None:
    for port, process in zip(server.ports, server.processes, strict=True):
        try:
            await healthy(process, f"http://127.0.0.1:{port}/healthz")
        except NotHealthy as exc:
            process.kill()
            tail = await asyncio.to_thread(log.read_text)
            raise RuntimeError(
                f"{server.name} did not start ({exc}); log:\n{tail[-3000:]}"
            ) from None


def stop(server: Server) -> None:
    for process in server.processes:
        terminate(process)


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: Doc | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None


def make_call(query: QueryName, target: Target, sample: Sample, rng: random.Random) -> Call:
    """One request for ``query`` of ``sample``'s customer, in ``target``'s dialect."""
    if query == "tracking":
        tracking = rng.choice(sample.tracking_numbers)
        if target == "api":
            return _graphql(sample, TRACKING_QUERY, {"tn": tracking})
        return Call("GET", "/shipment", params={"customer": sample.customer, "tracking": tracking})
    if target == "api":
        text = ORDERS_QUERY if query == "orders page" else INVOICES_QUERY
        return _graphql(sample, text, {"first": PAGE})
    path = "/orders" if query == "orders page" else "/invoices"
    return Call("GET", path, params={"customer": sample.customer, "first": str(PAGE)})


def _graphql(sample: Sample, query: str, variables: Doc) -> Call:
    return Call(
        "POST",
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {sample.token}"},
    )


async def send(http: HttpPool, call: Call, server: Server) -> Reply:
    """``call``, to ``server``'s next process."""
    url = server.next_url(call.url)
    return await http.request(
        call.method, url, json=call.json, params=call.params, headers=call.headers
    )


def succeeded(target: Target, status: int, content: bytes) -> bool:
    if status != 200:
        return False
    # A GraphQL error still answers 200; any error entry makes the request a failure.
    return target == "ceiling" or b'"errors"' not in content


def _ids(items: list[Doc]) -> list[str]:
    """Order or invoice numbers (the API's ``id`` is a global id; the ceiling's is ``_id``)."""
    return [str(item.get("orderId") or item.get("invoiceId") or item.get("_id")) for item in items]


async def same_answers(
    servers: dict[Target, Server], query: QueryName, sample: Sample, rng: random.Random
) -> None:
    """Fail unless the API and the ceiling return the same documents for one request."""
    seed = rng.random()
    found: dict[str, Any] = {}
    for target, server in servers.items():
        async with HttpPool(1) as http:
            call = make_call(query, target, sample, random.Random(seed))
            response = await send(http, call, server)
        if not succeeded(target, response.status, response.content):
            raise RuntimeError(f"{target} {query}: {response.status} {response.text[:500]}")
        body = response.json()
        if query == "tracking":
            one = body["data"]["shipmentByTrackingNumber"] if target == "api" else body["shipment"]
            found[target] = one and (one.get("shipmentId") or one.get("_id"))
        elif target == "api":
            key = "orders" if query == "orders page" else "invoices"
            found[target] = _ids([edge["node"] for edge in body["data"][key]["edges"]])
        else:
            found[target] = _ids(body["items"])
        if query == "orders page" and target == "api":
            nested = sum(len(e["node"]["shipments"]) for e in body["data"]["orders"]["edges"])
            found["nested"] = nested
        if query == "orders page" and target == "ceiling":
            found["nested ceiling"] = sum(
                len(item.get("related", {}).get("shipments", {})) for item in body["items"]
            )
    if found["api"] != found["ceiling"] or not found["api"]:
        raise RuntimeError(f"{query} for {sample.customer}: answers differ: {found}")
    if query == "orders page" and found["nested"] != found["nested ceiling"]:
        raise RuntimeError(f"nested shipments differ for {sample.customer}: {found}")


# --- load ----------------------------------------------------------------------------------


CallMaker = Callable[[random.Random], Call]


async def timed(
    http: HttpPool,
    server: Server,
    call: Call,
    target: Target,
    result: Result,
    *,
    since: float,
) -> None:
    """Send one call and record it: its latency from ``since``, or a failure."""
    try:
        response = await send(http, call, server)
    except DriverError:
        result.failures += 1
        return
    if succeeded(target, response.status, response.content):
        result.latencies.append(time.perf_counter() - since)
    else:
        result.failures += 1


async def closed_loop(
    server: Server, target: Target, calls: CallMaker, concurrency: int, seconds: float
) -> Result:
    """``concurrency`` clients, each sending its next request as soon as the last answered."""
    async with HttpPool(concurrency) as http:

        async def step(rng: random.Random, result: Result) -> None:
            call = calls(rng)
            await timed(http, server, call, target, result, since=time.perf_counter())

        return await closed_loop_clients(concurrency, seconds, server.cpu_seconds, step)


async def open_loop(
    server: Server, target: Target, calls: CallMaker, rate: float, seconds: float, in_flight: int
) -> Result:
    """Requests due every ``1/rate`` s whatever happened to earlier ones; latency counts
    from when each was due. Those unanswered ``DRAIN_SECONDS`` after the last was due are
    abandoned (counted, not timed)."""
    result = Result()
    gate = asyncio.Semaphore(in_flight)
    rng = random.Random(7)
    async with HttpPool(in_flight) as http:

        async def one(due: float, call: Call) -> None:
            async with gate:
                await timed(http, server, call, target, result, since=due)

        cpu_before = server.cpu_seconds()
        driver_before = time.process_time()
        started = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        for i in range(int(rate * seconds)):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, calls(rng))))
        done, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # a request that failed in a way ``timed`` does not expect still counts as failed
        result.failures += sum(1 for task in done if task.exception() is not None)
        result.unfinished = len(pending)
        result.elapsed = time.perf_counter() - started
        result.cpu = server.cpu_seconds() - cpu_before
        result.driver_cpu = time.process_time() - driver_before
    return result


# --- report --------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


Results = dict[tuple[QueryName, Target, str], Result]
QUERIES: Final[list[QueryName]] = ["tracking", "orders page", "invoices"]
TARGETS: Final[list[Target]] = ["api", "ceiling"]


def print_table(results: Results, args: argparse.Namespace) -> None:
    """Each query and server: closed-loop throughput and latency, open-loop latency."""
    print()
    print(
        f"each server: {args.processes} process(es); cpu ms/req is all of them together;"
        " drv ms/req is the load driver's own CPU (this process)"
    )
    print(
        f"{'query':<12} {'server':<8} | closed loop, {args.concurrency} clients, "
        f"{args.seconds:g}s"
        f"{'':<19}| open loop at {args.rate:g} req/s, {args.seconds:g}s"
    )
    print(
        f"{'':<12} {'':<8} | {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/req':>10} "
        f"{'drv ms/req':>10} {'fail':>4} | {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'drv ms/req':>10} {'fail':>4} {'gave up':>7}"
    )
    for query in QUERIES:
        for target in TARGETS:
            closed = results[(query, target, "closed")]
            opened = results[(query, target, "open")]
            print(
                f"{query:<12} {target:<8} | {closed.rate:>7.1f} "
                f"{ms(percentile(closed.latencies, 0.5)):>7} "
                f"{ms(percentile(closed.latencies, 0.99)):>7} {closed.cpu_ms_per_request:>10.1f} "
                f"{closed.driver_cpu_ms_per_request:>10.2f} "
                f"{closed.failures:>4} | {opened.rate:>7.1f} "
                f"{ms(percentile(opened.latencies, 0.5)):>7} "
                f"{ms(percentile(opened.latencies, 0.99)):>7} "
                f"{opened.driver_cpu_ms_per_request:>10.2f} {opened.failures:>4} "
                f"{opened.unfinished:>7}"
            )


def report(results: Results, args: argparse.Namespace) -> None:
    print_table(results, args)
    print()
    print("api / ceiling (closed-loop throughput and server CPU per request; open-loop p99):")
    for query in QUERIES:
        api, ceiling = (results[(query, t, "closed")] for t in TARGETS)
        api_open, ceiling_open = (results[(query, t, "open")] for t in TARGETS)
        ratio = api.rate / ceiling.rate if ceiling.rate else float("nan")
        cpu_ratio = api.cpu_ms_per_request / ceiling.cpu_ms_per_request
        p99_ratio = percentile(api_open.latencies, 0.99) / percentile(ceiling_open.latencies, 0.99)
        print(
            f"  {query:<12} throughput {ratio:.2f}   cpu/request {cpu_ratio:.1f}x   "
            f"p99 {p99_ratio:.2f}x"
        )
    nested_api = results[("orders page", "api", "closed")]
    nested_ceiling = results[("orders page", "ceiling", "closed")]
    half = nested_api.rate >= 0.5 * nested_ceiling.rate
    print()
    print(
        f"target 1, nested orders page at >= half the ceiling's throughput: "
        f"{'MET' if half else 'NOT MET'} ({nested_api.rate:.1f} vs {nested_ceiling.rate:.1f} req/s)"
    )
    for query in QUERIES:
        opened = results[(query, "api", "open")]
        p99 = percentile(opened.latencies, 0.99)
        kept_up = opened.unfinished == 0 and opened.failures == 0
        met = p99 < 0.050 and kept_up
        print(
            f"target 2, api p99 < 50 ms at {args.rate:g} req/s, {query:<12}: "
            f"{'MET' if met else 'NOT MET'} (p99 {ms(p99)} ms, {opened.rate:.1f} req/s served)"
        )


# --- the freshness extension's cost --------------------------------------------------------


@dataclass
class _Readers:
    kinds_read: set[str]


@dataclass
class _Context:
    readers: _Readers


@dataclass
class _Execution:
    context: _Context


async def extension_micros(db: AsyncDatabase[Doc], calls: int = 20_000) -> tuple[float, int]:
    """The extension's work for one tracking-lookup response (its result, JSON-encoded), in
    microseconds, and the number of sources in the copy."""
    from resolvers.freshness_copy import FreshnessCopy
    from web.freshness import FreshnessExtension, FreshnessReport

    copy = FreshnessCopy(max_age_seconds=0)
    await copy.refresh(db)
    extension = FreshnessExtension(FreshnessReport(copy))
    extension.execution_context = _Execution(_Context(_Readers({"shipments"})))  # type: ignore[assignment]
    started = time.perf_counter()
    for _ in range(calls):
        json.dumps(extension.get_results())  # what the response body gains, encoded
    return (time.perf_counter() - started) / calls * 1e6, len(copy.by_source)


async def freshness_cost(
    args: argparse.Namespace,
    db: AsyncDatabase[Doc],
    env: Mapping[str, str],
    customers: list[Sample],
    logs: Path,
    servers: dict[str, Server],
) -> None:
    """Tracking lookups with and without ``extensions.freshness``, side by side."""
    servers["with"] = spawn("api", ["-m", "web"], env, logs / "api-with.log")
    servers["without"] = spawn(
        "api", ["-m", "web"], {**env, "FRESHNESS_REFRESH_SECONDS": "0"}, logs / "api-without.log"
    )
    for name in ("with", "without"):
        await wait_healthy(servers[name], logs / f"api-{name}.log")

    def calls(rng: random.Random) -> Call:
        return make_call("tracking", "api", rng.choice(customers), rng)

    for name in ("with", "without"):  # warm up
        await closed_loop(servers[name], "api", calls, args.concurrency, 1)
    results = {name: Result() for name in ("with", "without")}
    rounds = max(args.rounds, 4)
    for _ in range(rounds):
        for name in ("with", "without"):
            part = await closed_loop(
                servers[name], "api", calls, args.concurrency, args.seconds / rounds
            )
            results[name].add(part)
    micros, sources = await extension_micros(db)
    with_, without = results["with"], results["without"]
    print()
    print(f"extensions.freshness, tracking lookups, {args.concurrency} clients, {args.seconds:g}s")
    print(f"{'api':<22} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/req':>10} {'fail':>4}")
    for name, result in (("with freshness", with_), ("without freshness", without)):
        print(
            f"{name:<22} {result.rate:>7.1f} {ms(percentile(result.latencies, 0.5)):>7} "
            f"{ms(percentile(result.latencies, 0.99)):>7} {result.cpu_ms_per_request:>10.2f} "
            f"{result.failures:>4}"
        )
    share = micros / 1000 / without.cpu_ms_per_request
    print(
        f"extension's own work per response: {micros:.1f} us ({sources} sources in the copy) "
        f"= {share:.2%} of the API's CPU per tracking lookup without it "
        f"({'under' if share < 0.02 else 'NOT under'} 2%); end to end: "
        f"{with_.cpu_ms_per_request / without.cpu_ms_per_request - 1:+.1%} CPU per request, "
        f"{with_.rate / without.rate - 1:+.1%} req/s (noise on a shared machine included)"
    )


# --- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", help="reuse this database as it is (not dropped)")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--orders-per-day", type=float, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument(
        "--rounds", type=int, default=2, help="closed-loop slices alternating api and ceiling"
    )
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="processes of the API and, alike, of the ceiling; requests go to them in turn",
    )
    add_broker_argument(parser, ", for the API's lag poller")
    add_store_argument(parser)
    parser.add_argument(
        "--freshness-only", action="store_true", help="only the extensions.freshness cost"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="raw ASGI calls into both apps in this process (bench/in_process.py): process "
        "CPU per request, no servers",
    )
    parser.add_argument(
        "--queries",
        default=",".join(QUERIES),
        help="with --in-process, the queries to run, comma-separated (to profile one alone)",
    )
    return parser.parse_args()


async def prepare(args: argparse.Namespace, db: AsyncDatabase[Doc]) -> list[Sample]:
    """Project the seeded world into ``db`` (unless reused) and pick the sample customers."""
    if args.database is None:
        events, projected = await load_world(args, db)
        print(
            f"projected {events} events into {db.name} in {projected:.0f}s "
            f"({events / projected:.0f} events/s, no Kafka)"
        )
    counts = {c: await db[c].count_documents({}) for c in documents.ENTITY_COLLECTIONS}
    print(f"documents: {counts}")
    customers = await samples(db)
    if not customers:
        raise SystemExit(f"no unrestricted customer with shipments and invoices in {db.name}")
    print(
        "customers: "
        + ", ".join(f"{s.customer} ({len(s.tracking_numbers)} tracking numbers)" for s in customers)
    )
    return customers


def server_environment(args: argparse.Namespace, database: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AUTH_HS256_SECRET": SECRET,
        "MONGODB_URI": args.mongodb_uri,
        "MONGODB_DATABASE": database,
        "KAFKA_BOOTSTRAP_SERVERS": args.bootstrap,
        # Access logs off on both sides: the ceiling has none either.
        "LOG_LEVEL": "WARNING",
    }


async def start_servers(
    env: Mapping[str, str], logs: Path, servers: dict[Any, Server], processes: int
) -> None:
    """The API and the ceiling, ``processes`` of each, added to ``servers`` as they start (for
    the caller to stop)."""
    for name, argv in (("api", ["-m", "web"]), ("ceiling", ["bench/api_ceiling.py"])):
        target: Target = "api" if name == "api" else "ceiling"
        servers[target] = spawn(target, argv, env, logs / f"{name}.log", processes)
    print(f"servers: {processes} process(es) each for the API and the ceiling")
    for name, server in servers.items():
        await wait_healthy(server, logs / f"{name}.log")


async def compare(
    args: argparse.Namespace, servers: dict[Any, Server], customers: list[Sample]
) -> Results:
    """Check both answer alike, warm both up, then measure each query on both, interleaved."""
    check_rng = random.Random(3)
    for query in QUERIES:
        for sample in customers[:3]:
            await same_answers(servers, query, sample, check_rng)
    print("answers checked: the API and the ceiling return the same documents")

    def calls_for(query: QueryName, target: Target) -> CallMaker:
        return lambda rng: make_call(query, target, rng.choice(customers), rng)

    for target, server in servers.items():  # warm up: connection pools, code paths
        for query in QUERIES:
            await closed_loop(server, target, calls_for(query, target), args.concurrency, 1)

    results: Results = {}
    for query in QUERIES:
        # The machine is shared: alternating slices give the API and the ceiling the
        # same background load.
        for _ in range(args.rounds):
            for target, server in servers.items():
                part = await closed_loop(
                    server,
                    target,
                    calls_for(query, target),
                    args.concurrency,
                    args.seconds / args.rounds,
                )
                results.setdefault((query, target, "closed"), Result()).add(part)
        for target, server in servers.items():
            results[(query, target, "open")] = await open_loop(
                server,
                target,
                calls_for(query, target),
                args.rate,
                args.seconds,
                args.concurrency * 2,
            )
        rates = ", ".join(f"{t} {results[(query, t, 'closed')].rate:.1f}" for t in servers)
        print(f"  {query}: closed loop req/s {rates}", flush=True)
    return results


async def in_process(args: argparse.Namespace, database: str, customers: list[Sample]) -> None:
    """The three queries through both apps in this process (``bench/in_process.py``)."""
    from bench.api_ceiling import create_app as ceiling_app
    from bench.in_process import api_app, compare_in_process

    env = server_environment(args, database)
    apps = {"api": api_app(env), "ceiling": ceiling_app(args.mongodb_uri, database)}

    def calls_for(query: str, target: str) -> CallMaker:
        named, side = cast(QueryName, query), cast(Target, target)
        return lambda rng: make_call(named, side, rng.choice(customers), rng)

    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        await compare_in_process(
            apps,
            [query for query in args.queries.split(",") if query in QUERIES],
            calls_for,
            lambda target, status, body: succeeded(cast(Target, target), status, body),
            concurrency=args.concurrency,
            seconds=args.seconds,
            rounds=args.rounds,
        )


async def main(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:8]
    database = args.database or f"bench_api_{run}"
    client: AsyncMongoClient[Doc] = AsyncMongoClient(args.mongodb_uri, tz_aware=True, maxPoolSize=8)
    servers: dict[Any, Server] = {}
    logs = Path(tempfile.mkdtemp(prefix="bench-api-"))
    try:
        db = client[database]
        customers = await prepare(args, db)
        if args.in_process:
            await in_process(args, database, customers)
            return
        env = server_environment(args, database)
        if args.freshness_only:
            await freshness_cost(args, db, env, customers, logs, servers)
            return
        await start_servers(env, logs, servers, args.processes)
        report(await compare(args, servers, customers), args)
        await freshness_cost(args, db, env, customers, logs, servers)
    finally:
        for server in servers.values():
            stop(server)
        if args.database is None:
            await client.drop_database(database)
        await client.close()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.in_process:
        import uvloop  # as uvicorn runs the API

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(arguments))
    else:
        asyncio.run(main(arguments))
