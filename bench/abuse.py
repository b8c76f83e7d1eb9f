"""Abuse benchmark: does a trivial client stay fast while three others send the worst
documents the limits allow? (A benchmark, not a test: it prints figures, asserts nothing.)

Needs FerretDB (or MongoDB) and Kafka (``scripts/stack start``; Kafka only for the API's lag
poller):

    .venv/bin/python bench/abuse.py [--mongodb-uri URI] [--seconds 15]

What one run does:

1. seeds a fresh database with one customer's 300 orders and 100 shipments (tracking
   numbers ``TRK-0000``...), written directly (no projector: only reads matter here) in
   collections with the readers' indexes (``ProjectionStore.ensure_indexes``);
2. starts the real API (``python -m web``, default limits, access log off) on a free port;
3. phase "alone": the victim, one closed-loop client alternating ``{ __typename }`` (no
   token) and a shipment lookup by tracking number (with a token), for ``--seconds``;
4. phase "under attack": the same victim while three closed-loop attackers run, each in a
   process of its own and sending a new text every time (so the document cache never helps):

   * *fields*: 50 ``order(id: "…") { id }`` fields with distinct arguments (100 selections,
     the MAX_QUERY_FIELDS limit; every pair conflicts, validation's worst case), no token;
   * *entities*: ``_entities`` with 100 representations (MAX_ENTITY_REPRESENTATIONS) of
     existing orders, with a token, so all 100 are read and returned;
   * *fragments*: the worst fragments document the limits allow: 47 fragments (as many as
     MAX_QUERY_FIELDS and MAX_QUERY_TOKENS leave room for), each spreading the next, the
     first three twice (98 selections written, 719 once spread: just under
     MAX_QUERY_EXPANDED_FIELDS), with a variable and a directive so that every validation
     rule runs (``web.applicable_rules`` skips the directive and variable rules for a text
     without any), no token; valid, so validated in full and executed;

5. prints the victim's p50/p99/max per query for both phases, and each attacker's request
   count, p50/p99/max and how its requests were answered (status codes);
6. phase "solo", per attacker: that attacker alone (in a process of its own, as under
   attack) for ``--solo-seconds``, its latencies, and the CPU time the API's own process
   (the event loop) and its validation workers spent per request: figures a busy machine
   inflates far less than latencies, since they exclude waiting. The solo phase also runs
   *fanout*, the fragments document of session 8 (33 fragments each spreading the next
   twice: 99 selections written, 2^34 - 1 asked for), which MAX_QUERY_EXPANDED_FIELDS now
   refuses before validation.

Every phase also prints the CPU the API process and its workers used (from /proc).

``--check-cpu`` (no services needed) prints instead what checking one new hostile document
costs a validation worker, in this process: parse, screen and validation
(``DocumentCache.check_now``), and validation alone with graphql-core's rules as given and
as the API validates (``web.document_cache.validate_document``: the linear field-merging
pass, variable usages known for definitions without one, directive and variable rules left
out of a text without any, rule methods found once per class), rounds interleaved so that
both see the same machine; for the fields, fragments and fanout documents, and for 24
fragments with a variable in every one (what an attacker would send to keep graphql-core's
second walk of every fragment). The *fanout* document's "whole check" is
its refusal by the screen; its validation figures are what validating it would cost.

``--profile DIR`` records py-spy's raw samples of the API process and its validation workers
(``DIR/<attacker>.txt``, one collapsed stack per line) while each attacker runs alone;
``--only-solo`` skips the victim's phases.

``--favour-api`` runs the API (and its validation fork server) and the victim's client at nice
-10, the attackers at 0: on a machine shared with other work, that stands in for production,
where the API has cores of its own and attackers' clients run elsewhere. Figures taken so
are labelled as such.

The targets (issue 12): p99 of the trivial query under attack < 50 ms, and each attacker's
requests refused or answered in < 100 ms. The clients share the machine's two cores with the
API, FerretDB and PostgreSQL, so their CPU time is part of every figure; they send through
``bench.http_driver`` (keep-alive sockets, replies parsed in C, ~0.2 ms of CPU a request
against httpx's ~3 ms, which until session 10 took more of the cores than the API's answer).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from api import (
    TOKENS,
    cpu_seconds,
    percentile,
    server_environment,
    spawn,
    stop,
    wait_healthy,
)
from pymongo import AsyncMongoClient

from bench.arguments import add_broker_argument, add_store_argument
from bench.http_driver import HttpPool, Reply
from entitlements.mint import mint_token
from projections.store import ProjectionStore

Doc = dict[str, Any]
CUSTOMER: Final = "ACME"
ORDERS: Final = 300
SHIPMENTS: Final = 100
TRACK: Final = (
    "query($t: String!) { shipmentByTrackingNumber(trackingNumber: $t) "
    "{ id status trackingNumber carrier { name } } }"
)
ENTITIES: Final = (
    "query($r: [_Any!]!) { _entities(representations: $r) "
    "{ ... on Order { id customerId status orderedAt } } }"
)

Request = tuple[str, Doc, dict[str, str]]


async def seed(db: Any) -> None:
    """The documents, in a database prepared as the projector prepares one (its collections
    and the readers' indexes, which they name as hints: a lookup without its index logged a
    warning and read without it until session 11)."""
    await ProjectionStore(db).ensure_indexes("")
    now = datetime.now(UTC)
    await db.orders.insert_many(
        [
            {
                "_id": f"SO-{i:04d}",
                "customerId": CUSTOMER,
                "known": True,
                "rev": 1,
                "status": "RELEASED",
                "orderedAt": now - timedelta(hours=i),
                "updatedAt": now,
                "related": {},
            }
            for i in range(ORDERS)
        ]
    )
    await db.shipments.insert_many(
        [
            {
                "_id": f"SH-{i:04d}",
                "customerId": CUSTOMER,
                "known": True,
                "rev": 1,
                "trackingNumber": f"TRK-{i:04d}",
                "status": "IN_TRANSIT",
                "carrier": {"scac": "ODFL", "name": "Old Dominion"},
                "plannedPickupAt": now - timedelta(hours=i),
                "updatedAt": now,
                "milestones": [],
                "related": {},
            }
            for i in range(SHIPMENTS)
        ]
    )


# --- the requests ---------------------------------------------------------------------------


def fields_attack(n: int, _: str) -> Request:
    base = n * 50
    document = "{" + " ".join(f'order(id:"{base + i}"){{id}}' for i in range(50)) + "}"
    return document, {}, {}


def entities_attack(n: int, token: str) -> Request:
    representations = [
        {"__typename": "Order", "id": f"SO-{(n + i) % ORDERS:04d}"} for i in range(100)
    ]
    # A new text each time: an operation name the cache has not seen.
    document = ENTITIES.replace("query(", f"query E{n}(", 1)
    return document, {"r": representations}, {"authorization": f"Bearer {token}"}


def fragments_attack(n: int, _: str) -> Request:
    """The worst fragments document the limits allow: as many fragment definitions as
    MAX_QUERY_FIELDS and MAX_QUERY_TOKENS leave room for (47, each spreading the next, the
    first three twice), fanned out to 719 selections, just under MAX_QUERY_EXPANDED_FIELDS
    (1,000); a variable and a directive, so that every validation rule runs."""
    return _chained_fragments(n, 47, doubled=3, on_order=INCLUDE), {"v": True}, {}


def fanout_attack(n: int, _: str) -> Request:
    """The fragments document of session 8: 33 fragments each spreading the next twice, 99
    selections written and 2^34 - 1 asked for, refused before validation since
    MAX_QUERY_EXPANDED_FIELDS."""
    return _chained_fragments(n, 33, doubled=32), {}, {}


def fragments_with_variables(n: int, _: str) -> Request:
    """A fragments document with a variable in every fragment, so that graphql-core's
    variable rules walk each fragment again (``web.variable_usages`` skips only definitions
    without one): 27 fragments, as many as ``MAX_QUERY_TOKENS`` leaves room for, fanned out
    to 767 selections (``--check-cpu`` only)."""
    return _chained_fragments(n, 27, doubled=4, on_each=INCLUDE), {"v": True}, {}


#: The directive the fragments documents carry, with their one variable.
INCLUDE: Final = " @include(if: $v)"


def _chained_fragments(
    n: int, count: int, doubled: int, on_order: str = "", on_each: str = ""
) -> str:
    """Fragments F0..F<count - 1> on Order, each selecting ``id`` (with ``on_each``) and
    spreading the next (twice for the first ``doubled``), spread from one ``order`` field
    (with ``on_order``); the operation defines ``$v`` when either is given."""
    body = " ".join(
        f"fragment F{i} on Order {{ id{on_each} "
        f"{' '.join([f'...F{i + 1}'] * (2 if i < doubled else 1))} }}"
        for i in range(count - 1)
    )
    signature = "($v: Boolean!)" if on_order or on_each else ""
    return (
        f'query Q{n}{signature} {{ order(id: "SO-0001"){on_order} {{ ...F0 }} }} {body} '
        f"fragment F{count - 1} on Order {{ id{on_each} }}"
    )


ATTACKERS: Final[dict[str, Callable[[int, str], Request]]] = {
    "fields": fields_attack,
    "entities": entities_attack,
    "fragments": fragments_attack,
}
#: Attackers run alone only (the solo phase, ``--check-cpu``): documents the limits refuse.
REFUSED: Final[dict[str, Callable[[int, str], Request]]] = {"fanout": fanout_attack}


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    #: Per request, whether it was refused at once (429: the lane of new documents full).
    refused: list[bool] = field(default_factory=list)

    def split(self) -> str:
        """p99 of the answered and of the refused apart: a fast refusal meets the target too,
        but the answered ones say what a client whose document is checked waits."""
        parts = []
        for label, wanted in (("answered", False), ("refused", True)):
            ms = [s * 1000 for s, r in zip(self.seconds, self.refused, strict=True) if r == wanted]
            if ms:
                parts.append(f"{label} n={len(ms)} p99 {percentile(ms, 0.99):.1f} ms")
        return "; ".join(parts)

    def line(self) -> str:
        ms = [s * 1000 for s in self.seconds]
        p50, p99 = percentile(ms, 0.50), percentile(ms, 0.99)
        return (
            f"n={len(ms):5d}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"
            f"  max {max(ms, default=float('nan')):7.1f} ms"
        )


def outcome(response: Reply) -> str:
    body = response.json()
    codes = sorted({e.get("extensions", {}).get("code", "?") for e in body.get("errors") or []})
    return f"{response.status} {'+'.join(codes) or 'data'}"


async def run_loop(
    http: HttpPool,
    url: str,
    make: Callable[[int], Request],
    until: float,
    timings: Timings,
) -> None:
    for n in itertools.count():
        if time.perf_counter() >= until:
            return
        document, variables, headers = make(n)
        begun = time.perf_counter()
        response = await http.request(
            "POST",
            url,
            json={"query": document, "variables": variables},
            headers={"accept": "application/graphql-response+json", **headers},
        )
        timings.seconds.append(time.perf_counter() - begun)
        timings.statuses[outcome(response)] += 1
        timings.refused.append(response.status == 429)


async def attacker(base_url: str, name: str, token: str, seconds: float, offset: int) -> None:
    """One attacker in a process of its own (``--attacker``): its client-side work must not
    slow the victim's client. Prints its timings as JSON lines."""
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # never favoured, whatever the bench runs at
    timings = Timings()
    make = {**ATTACKERS, **REFUSED}[name]
    async with HttpPool(1) as http:
        until = time.perf_counter() + seconds
        await run_loop(
            http, f"{base_url}/graphql", lambda n: make(n + offset, token), until, timings
        )
    report = {"seconds": timings.seconds, "statuses": timings.statuses, "refused": timings.refused}
    print(json.dumps(report))


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the validation pool's fork server and its workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


@dataclass
class Cpu:
    """CPU seconds of the API process and of its descendants, between two readings."""

    pid: int
    api: float = 0.0
    workers: float = 0.0

    def _read(self) -> tuple[float, float]:
        workers = 0.0
        for child in descendants(self.pid):
            try:
                workers += cpu_seconds(child)
            except OSError:
                pass
        return cpu_seconds(self.pid), workers

    def __enter__(self) -> Cpu:
        self._start = self._read()
        return self

    def __exit__(self, *_: object) -> None:
        api, workers = self._read()
        self.api, self.workers = api - self._start[0], workers - self._start[1]


async def solo(
    base_url: str, pid: int, name: str, token: str, seconds: float, profile: Path | None
) -> str:
    """One attacker alone, in a process of its own like under attack (so a profiler can
    tell it from the bench), and the API's CPU per request; with ``profile``, py-spy
    samples the API process and its validation workers meanwhile (``--profile``)."""
    spy = None
    if profile is not None:
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--format",
            "raw",
            "--rate",
            "250",
            "--duration",
            str(int(seconds)),
            "-o",
            str(profile / f"{name}.txt"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(1.0)  # py-spy attaches
    with Cpu(pid) as cpu:
        timings = (await _attackers(base_url, token, seconds, [name], offset=10_000_000))[name]
    if spy is not None:
        await spy.wait()
    n = max(len(timings.seconds), 1)
    answers = ", ".join(f"{k} x{v}" for k, v in timings.statuses.most_common())
    return (
        f"  {name:10s} {timings.line()}  per request: API process "
        f"{cpu.api / n * 1000:5.1f} ms CPU, validation workers {cpu.workers / n * 1000:5.1f} ms "
        f"CPU  answers: {answers}"
    )


async def _attackers(
    base_url: str, token: str, seconds: float, names: list[str], offset: int = 0
) -> dict[str, Timings]:
    """Run the named attackers, each in a process of its own (``--attacker``), for
    ``seconds``; their timings once all have finished."""
    processes = {}
    for name in names:
        processes[name] = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--attacker",
            name,
            "--base-url",
            base_url,
            "--token",
            token,
            "--seconds",
            str(seconds),
            "--offset",
            str(offset),
            stdout=asyncio.subprocess.PIPE,
        )
    timings = {}
    for name, process in processes.items():
        out, _ = await process.communicate()
        report = json.loads(out.decode().strip().splitlines()[-1])
        timings[name] = Timings(report["seconds"], Counter(report["statuses"]), report["refused"])
    return timings


async def phase(
    base_url: str, token: str, seconds: float, attackers: bool
) -> tuple[dict[str, Timings], dict[str, Timings]]:
    def victim_request(n: int) -> Request:
        if n % 2 == 0:
            return "{ __typename }", {}, {}
        return TRACK, {"t": f"TRK-{n % SHIPMENTS:04d}"}, {"authorization": f"Bearer {token}"}

    attacking = None
    if attackers:
        attacking = asyncio.ensure_future(_attackers(base_url, token, seconds, list(ATTACKERS)))
        await asyncio.sleep(0.5)  # the attackers' interpreters start
    combined = Timings()
    async with HttpPool(1) as http:
        await run_loop(
            http, f"{base_url}/graphql", victim_request, time.perf_counter() + seconds, combined
        )
    attack_timings = await attacking if attacking is not None else {}
    # The victim alternates: even requests were the trivial query, odd ones the lookup.
    victim = {"{ __typename }": Timings(), "tracking lookup": Timings()}
    for i, took in enumerate(combined.seconds):
        victim["{ __typename }" if i % 2 == 0 else "tracking lookup"].seconds.append(took)
    return victim, attack_timings


def check_cpu(rounds: int = 15, documents: int = 40) -> None:
    """Per hostile kind, median CPU per document over interleaved rounds (``--check-cpu``)."""
    from graphql import parse, specified_rules, validate
    from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
    from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

    from web.document_cache import DocumentCache, validate_document
    from web.limits import screen_for
    from web.settings import QueryLimits
    from web.validation_worker import portal_graphql_schema

    schema, limits = portal_graphql_schema(), QueryLimits()
    most = limits.max_validation_errors
    checker = DocumentCache(
        0, max_tokens=limits.max_tokens, screen=screen_for(limits), max_errors=most
    )
    rules = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)
    print(f"CPU per new document ({documents} documents x {rounds} rounds, median of rounds)")
    kinds = {**ATTACKERS, **REFUSED, "fragments+variables": fragments_with_variables}
    for name in ("fields", "fragments", "fanout", "fragments+variables"):
        texts = [kinds[name](n, "")[0] for n in range(documents)]
        parsed = [parse(text) for text in texts]
        steps: dict[str, Callable[[int], object]] = {
            "whole check": functools.partial(
                lambda i, t: checker.check_now(schema, t[i], specified_rules), t=texts
            ),
            "graphql-core validation": functools.partial(
                lambda i, d: validate(schema, d[i], rules, max_errors=most), d=parsed
            ),
            "with the linear pass": functools.partial(
                lambda i, d: validate_document(schema, d[i], specified_rules, most), d=parsed
            ),
        }
        medians = _median_cpu(steps, rounds, documents)
        ratio = medians["with the linear pass"] / medians["graphql-core validation"]
        spent = ", ".join(f"{step} {ms:5.1f} ms" for step, ms in medians.items())
        print(f"  {name:19s} {spent} (validation ratio {ratio:.2f})")


async def pool_cpu(documents: int = 150) -> None:
    """Per hostile kind, what checking a new document through ``ValidationPool`` costs the
    process that asks (the API's event loop: the hand-over and the verdict's way back) and its
    workers, and how long each check takes, one at a time and with three clients at once
    (``--pool-cpu``, no services; on uvloop, as uvicorn runs the API)."""
    from graphql import specified_rules

    from web.admission import Lane
    from web.limits import screen_for
    from web.settings import QueryLimits
    from web.validation_pool import ValidationPool

    limits = QueryLimits()
    pool = ValidationPool(
        Lane(4, 1),
        max_tokens=limits.max_tokens,
        screen=screen_for(limits),
        max_errors=limits.max_validation_errors,
    )
    pool.start()
    await pool.check("warm", fields_attack(0, "")[0], specified_rules)
    print(f"ValidationPool.check ({documents} new documents per line, on uvloop)")
    for name in ("fields", "fragments"):
        for clients in (1, 3):
            texts = [ATTACKERS[name](n, "")[0] for n in range(documents)]
            seconds: list[float] = []

            async def client(
                k: int, texts: list[str] = texts, took: list[float] = seconds, every: int = clients
            ) -> None:
                for text in texts[k::every]:
                    begun = time.perf_counter()
                    await pool.check(k, text, specified_rules)
                    took.append(time.perf_counter() - begun)

            with Cpu(os.getpid()) as cpu:
                begun_cpu = time.process_time()
                await asyncio.gather(*(client(k) for k in range(clients)))
                here = time.process_time() - begun_cpu
            ms = [s * 1000 for s in seconds]
            print(
                f"  {name:10s} {clients} client(s): asking process {here / documents * 1000:5.2f} "
                f"ms CPU, workers {cpu.workers / documents * 1000:5.1f} ms CPU per check; "
                f"p50 {percentile(ms, 0.5):5.1f} ms, p99 {percentile(ms, 0.99):5.1f} ms"
            )
    pool.close()


def _median_cpu(
    steps: dict[str, Callable[[int], object]], rounds: int, documents: int
) -> dict[str, float]:
    spent: dict[str, list[float]] = {step: [] for step in steps}
    for _ in range(rounds):
        for step, run in steps.items():
            begun = time.process_time()
            for i in range(documents):
                run(i)
            spent[step].append((time.process_time() - begun) / documents * 1000)
    return {step: sorted(ms)[len(ms) // 2] for step, ms in spent.items()}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_store_argument(parser)
    add_broker_argument(parser)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--solo-seconds", type=float, default=4)
    parser.add_argument("--favour-api", action="store_true")
    parser.add_argument("--check-cpu", action="store_true")
    parser.add_argument(
        "--pool-cpu",
        action="store_true",
        help="what ValidationPool.check costs the asking process and its workers (no services)",
    )
    parser.add_argument(
        "--attacker", choices=sorted([*ATTACKERS, *REFUSED]), help=argparse.SUPPRESS
    )
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile",
        type=Path,
        help="directory for py-spy's raw samples of the API and its workers, per solo attacker",
    )
    parser.add_argument(
        "--only-solo", action="store_true", help="skip the victim's phases (profiling)"
    )
    return parser.parse_args()


def report(
    args: argparse.Namespace,
    alone: dict[str, Timings],
    attacked: dict[str, Timings],
    attacks: dict[str, Timings],
    cpus: tuple[Cpu, Cpu],
    solos: list[str],
) -> None:
    favoured = ", API and victim at nice -10" if args.favour_api else ""
    print(f"victim ({args.seconds:.0f} s per phase, one closed-loop client{favoured})")
    for query in alone:
        print(f"  {query:16s} alone        {alone[query].line()}")
        print(f"  {query:16s} under attack {attacked[query].line()}")
    print("attackers (one closed-loop client each, a new document text per request)")
    for name, timings in attacks.items():
        answers = ", ".join(f"{k} x{v}" for k, v in timings.statuses.most_common())
        print(f"  {name:10s} {timings.line()}  answers: {answers}")
        print(f"  {'':10s} {timings.split()}")
    for label, cpu in zip(("alone", "under attack"), cpus, strict=True):
        print(
            f"CPU {label:12s} API process {cpu.api:5.2f} s, validation workers "
            f"{cpu.workers:5.2f} s (over {args.seconds:.0f} s)"
        )
    print(f"each attacker alone ({args.solo_seconds:.0f} s each)")
    for line in solos:
        print(line)


async def measure(args: argparse.Namespace, base_url: str, pid: int, token: str) -> None:
    """The phases against a running API (``pid``), then the report."""
    await phase(base_url, token, 2, attackers=False)  # warm up
    if args.only_solo:
        for name in (*ATTACKERS, *REFUSED):
            print(await solo(base_url, pid, name, token, args.solo_seconds, args.profile))
        return
    with Cpu(pid) as alone_cpu:
        alone, _ = await phase(base_url, token, args.seconds, attackers=False)
    with Cpu(pid) as attacked_cpu:
        attacked, attacks = await phase(base_url, token, args.seconds, attackers=True)
    solos = [
        await solo(base_url, pid, name, token, args.solo_seconds, args.profile)
        for name in (*ATTACKERS, *REFUSED)
    ]
    report(args, alone, attacked, attacks, (alone_cpu, attacked_cpu), solos)


async def main() -> None:
    args = parse_args()
    if args.attacker:
        await attacker(args.base_url, args.attacker, args.token, args.seconds, args.offset)
        return
    if args.check_cpu:
        check_cpu()
        return
    if args.pool_cpu:
        await pool_cpu()
        return
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    database = f"bench_abuse_{uuid.uuid4().hex[:8]}"
    client: AsyncMongoClient[Doc] = AsyncMongoClient(args.mongodb_uri, tz_aware=True)
    logs = Path(tempfile.mkdtemp(prefix="bench-abuse-"))
    server = None
    try:
        await seed(client[database])
        env = server_environment(args, database)
        server = spawn("api", ["-m", "web"], env, logs / "api.log")
        await wait_healthy(server, logs / "api.log")
        if args.favour_api:
            for pid in (server.process.pid, *descendants(server.process.pid), os.getpid()):
                os.setpriority(os.PRIO_PROCESS, pid, -10)
        token = mint_token(
            TOKENS, subject="bench", customers=[CUSTOMER], roles=["viewer"], ttl_seconds=3600
        )
        await measure(args, server.base_url, server.process.pid, token)
    finally:
        if server is not None:
            stop(server)
        await client.drop_database(database)
        await client.close()


if __name__ == "__main__":
    uvloop.run(main())
