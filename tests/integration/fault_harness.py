"""Fault injection: a generated world through two projector processes on a bad day.

One ``run_world`` call:

1. generates a seeded world (``simulator``: duplicates, stale snapshots, disorder, broken
   records) and shuffles the whole stream, so every topic and key arrives in random order;
2. starts two ``python -m projections run`` processes in one group on a private stack
   (``private_stack``) and produces the stream into topics of 4 partitions, spread over the
   fault schedule (``Pace``);
3. meanwhile injects, on a seeded schedule: SIGKILLs of a random projector at random
   intervals (restarted at once); SIGKILLs at chosen steps of a batch (``crashing_projector``,
   before or after each step's I/O); a third member joining and leaving the group
   (rebalances); one stop and start of the store (PostgreSQL and FerretDB) and one of the
   broker, while records flow;
4. waits for the group to commit everything, then compares every stored document with the
   same world applied in source order by the pure reducers (``expected_documents``), and runs
   ``projections verify``'s check.

Nothing here decides what the projector should write by asking the projector.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from projections.batch import IO_FIELDS, EntityKey
from projections.document_size import sizes, step_refusal
from projections.effects import LINKED_KINDS, named_links
from projections.events import Event, InvalidEvent, decode_event
from projections.holdings import own_fields
from projections.reducers import apply
from projections.settings import ProjectorSettings
from projections.status_mapping import StatusMapping, load_status_mapping
from projections.store import decode_state, is_state_field
from projections.summaries import summarize
from projections.verify import check
from readmodel import documents
from readmodel.documents import WAREHOUSE_DERIVED_KINDS, WAREHOUSE_IDS, field_key
from readmodel.links import visible_warehouses
from readmodel.topics import TopicNames
from simulator.faults import FaultRates
from simulator.world import generate
from tests.helpers import wait_for_leaders
from tests.integration.crashing_projector import STEPS
from tests.integration.private_stack import PrivateStack
from tests.integration.processes import terminate
from tests.integration.projector_harness import REPO, wait_caught_up

#: Every moment of a batch the step crashes cover.
CRASH_POINTS = [f"{when}:{step}" for step in STEPS for when in ("before", "after")]


@dataclass(frozen=True)
class WorldSpec:
    seed: int
    orders: int
    #: The issue's bad day: a fifth of the records delivered twice.
    faults: FaultRates = field(
        default_factory=lambda: FaultRates(
            duplicate=0.2, stale_snapshot=0.2, disorder=0.05, broken=0.001
        )
    )


@dataclass(frozen=True)
class FaultPlan:
    """What to inject while the stream is produced (all on a schedule seeded by the world)."""

    rate: float = 300.0  # records per second produced, at most (``Pace``)
    random_kills: int = 6
    #: Seconds between two faults (2-5 until session 22, when a killed member held its
    #: partitions 10 s: ``SESSION_TIMEOUT_MS``).
    kill_interval: tuple[float, float] = (1.5, 3.5)
    #: Batch-step crashes (``CRASH_POINTS`` entries); each replaces one of the two processes.
    crash_points: Sequence[str] = tuple(CRASH_POINTS)
    rebalances: int = 2
    store_restarts: int = 1
    broker_restarts: int = 1
    batch_max: int = 200

    def actions(self) -> list[str]:
        """The faults the plan injects, one entry each (``_inject`` shuffles them)."""
        return (
            ["kill"] * self.random_kills
            + [f"crash {p}" for p in self.crash_points]
            + ["rebalance"] * self.rebalances
            + ["store"] * self.store_restarts
            + ["broker"] * self.broker_restarts
        )


@dataclass
class Result:
    seed: int
    records: int
    entities: int
    mismatches: list[str]
    behind: list[str]
    injected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def exact(self) -> bool:
        return not self.mismatches and not self.behind

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.injected.items()))
        return (
            f"seed {self.seed}: {self.records} records, {self.entities} entities, "
            f"{self.entities - len(self.mismatches)} exact, verify: {len(self.behind)} behind "
            f"[{faults}] in {self.seconds:.0f} s"
        )


# --- the world and what it must give ------------------------------------------------------


def world(spec: WorldSpec) -> list[tuple[str, bytes, bytes]]:
    """(topic kind, key, value) of every record, the whole stream shuffled."""
    days = 30
    records: list[tuple[str, bytes, bytes]] = [
        (r.topic_kind, r.key, r.value)
        for r in generate(
            seed=spec.seed,
            days=days,
            customers=None,
            orders_per_day=spec.orders / days,
            now=datetime(2026, 11, 20, tzinfo=UTC),
            faults=spec.faults,
        )
    ]
    random.Random(f"shuffle:{spec.seed}").shuffle(records)
    return records


def decoded_events(records: Iterable[tuple[str, bytes, bytes]]) -> list[Event]:
    """The records' valid events, each once (duplicates change nothing in the reducers)."""
    seen: dict[tuple[str, str], Event] = {}
    for kind, _key, value in records:
        try:
            event = decode_event(value)
        except InvalidEvent:
            continue
        if event.topic_kind == kind:
            seen.setdefault((event.source, event.id), event)
    return list(seen.values())


def expected_documents(
    events: Iterable[Event], mapping: StatusMapping
) -> dict[EntityKey, dict[str, Any]]:
    """Each entity's own fields, its events applied one by one in source order, but those
    the reducers refuse and those that would make the document too large
    (``document_size.refusal``). The projector measures the stored document, summaries included,
    and these hold none: the two agree for documents far from the limit, as a generated
    world's are (kilobytes)."""
    by_entity: dict[EntityKey, list[Event]] = defaultdict(list)
    for event in events:
        by_entity[EntityKey(event.entity_kind, event.entity_id)].append(event)
    docs: dict[EntityKey, dict[str, Any]] = {}
    limits = (documents.MAX_DOCUMENT_BYTES, documents.MAX_FOREIGN_FACTS_BYTES)
    for key, entity_events in by_entity.items():
        doc: dict[str, Any] | None = None
        size = sizes(key.kind, key.id, doc, limits[0])
        for event in sorted(entity_events, key=lambda e: (e.source, e.sequence, e.time, e.id)):
            try:
                after = apply(doc, event, mapping)
            except InvalidEvent:
                continue
            reason, grown = step_refusal(key.kind, key.id, doc, size, after, event, limits)
            if reason is None:
                doc, size = after, grown
        if doc is not None:
            # a document's ``known`` is False until its own snapshot; the store sets it
            # for kinds whose reducers do not (sources)
            docs[key] = {"known": False, **doc}
    return docs


def expected_related(
    docs: Mapping[EntityKey, Mapping[str, Any]],
) -> dict[EntityKey, dict[str, dict[str, dict[str, Any]]]]:
    """Per document, the summaries it must hold: of every entity on either side of a link
    that a document declares, once that entity's own snapshot is known."""
    related: dict[EntityKey, dict[str, dict[str, dict[str, Any]]]] = defaultdict(dict)
    for key, doc, other in named_links(docs):
        if doc.get("known"):
            related[other].setdefault(key.kind, {})[field_key(key.id)] = summarize(key.kind, doc)
        other_doc = docs.get(other)
        if other_doc is not None and other_doc.get("known"):
            related[key].setdefault(other.kind, {})[field_key(other.id)] = summarize(
                other.kind, other_doc
            )
    return related


def _stored_own(doc: Mapping[str, Any]) -> dict[str, Any]:
    fields = own_fields(doc)
    return {k: decode_state(v) if is_state_field(k) else v for k, v in fields.items()}


def _stored_related(doc: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        kind: {k: {f: v for f, v in entry.items() if f != "rev"} for k, entry in entries.items()}
        for kind, entries in (doc.get("related") or {}).items()
        if entries
    }


def compare(
    stored: Mapping[EntityKey, Mapping[str, Any]],
    docs: Mapping[EntityKey, Mapping[str, Any]],
    related: Mapping[EntityKey, Mapping[str, Any]],
) -> list[str]:
    """One line per entity whose stored document differs from the reducers' result."""
    problems: list[str] = []
    for key in sorted(stored.keys() | docs.keys() | related.keys()):
        got = stored.get(key)
        if got is None:
            problems.append(f"{key.kind}/{key.id}: no document")
            continue
        want = docs.get(key)
        lines: list[str] = []
        if want is None:
            if got.get("known"):
                lines.append("a placeholder that claims to be known")
        else:
            have = _stored_own(got)
            for name in sorted(have.keys() | want.keys() - IO_FIELDS):
                if have.get(name) != want.get(name):
                    lines.append(f"{name}: got {have.get(name)!r}, want {want.get(name)!r}")
        if key.kind in LINKED_KINDS and _stored_related(got) != dict(related.get(key, {})):
            lines.append(
                f"related: got {_stored_related(got)!r}, want {dict(related.get(key, {}))!r}"
            )
        if key.kind in WAREHOUSE_DERIVED_KINDS:
            derived = visible_warehouses(key.kind, got)
            if got.get(WAREHOUSE_IDS) != derived:
                lines.append(f"{WAREHOUSE_IDS}: got {got.get(WAREHOUSE_IDS)!r}, want {derived!r}")
        if lines:
            writes = f"rev {got.get('rev')}, _writes {got.get('_writes')}"
            problems.append(f"{key.kind}/{key.id} ({writes}): " + "; ".join(lines))
    return problems


async def stored_documents(uri: str, database: str) -> dict[EntityKey, dict[str, Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        found: dict[EntityKey, dict[str, Any]] = {}
        for kind, collection in (
            ("orders", documents.ORDERS),
            ("shipments", documents.SHIPMENTS),
            ("invoices", documents.INVOICES),
            ("sources", documents.SOURCES),
        ):
            async for doc in client[database][collection].find({}):
                found[EntityKey(kind, str(doc["_id"]))] = doc
        return found
    finally:
        await client.close()


# --- the processes ----------------------------------------------------------------------


class Projectors:
    """Two group members, each restarted at once when it dies; optionally a crashing one."""

    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        self.env = dict(env)
        self.logs = logs
        self.slots: list[subprocess.Popen[bytes] | None] = [None, None]
        self.extra: subprocess.Popen[bytes] | None = None
        self.held: list[subprocess.Popen[bytes]] = []
        self.log_of: dict[int, Path] = {}  # by pid
        self.started = 0

    def _spawn(self, crash_at: str | None = None) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        module = "projections"
        if crash_at is not None:
            env["PROJECTOR_CRASH_AT"] = crash_at
            module = "tests.integration.crashing_projector"
        self.started += 1
        path = self.logs / f"projector-{self.started:03d}.log"
        with path.open("ab") as log:
            log.write(f"crash at: {crash_at}\n".encode())
            log.flush()
            process = subprocess.Popen(
                [sys.executable, "-m", module, "run"],
                cwd=REPO,
                env=env,
                # a crashing member waits for a line here before it starts (``armed``)
                stdin=subprocess.PIPE if crash_at is not None else None,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.log_of[process.pid] = path
        return process

    def has_started(self, process: subprocess.Popen[bytes]) -> bool:
        """Whether ``process`` logged that it started (its consumer did)."""
        return b"projector started" in self.log_of[process.pid].read_bytes()

    def start(self) -> None:
        self.slots = [self._spawn(), self._spawn()]

    def revive(self) -> int:
        """Restart every member that died (crashed, or gave up while a service was down)."""
        revived = 0
        for i, process in enumerate(self.slots):
            if process is None or process.poll() is not None:
                self.slots[i] = self._spawn()
                revived += 1
        return revived

    def kill(self, rng: random.Random) -> None:
        i = rng.randrange(len(self.slots))
        process = self.slots[i]
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        self.slots[i] = self._spawn()

    def armed(self, rng: random.Random, point: str) -> subprocess.Popen[bytes]:
        """A member that dies at ``point`` of one of its next batches, imported and armed
        but held before it joins the group until ``crash_at`` lets it go: its start-up
        (seconds of imports on a busy machine, when the wait for its crash began after it)
        passes during the interval before its fault."""
        crashing = self._spawn(f"{point}:{rng.randint(1, 3)}")
        self.held.append(crashing)
        return crashing

    def crash_at(self, rng: random.Random, crashing: subprocess.Popen[bytes]) -> None:
        """Replace a member with ``crashing`` (``armed``), let go as soon as the member it
        replaces is asked to stop: the member's shutdown (leaving the group, a second or so)
        and the crashing one's joining overlap."""
        i = rng.randrange(len(self.slots))
        process = self.slots[i]
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert crashing.stdin is not None
        crashing.stdin.write(b"go\n")
        crashing.stdin.close()
        self.held.remove(crashing)
        self.slots[i] = crashing
        if process is not None:
            terminate(process, timeout=30)

    def join_extra(self) -> None:
        self.extra = self._spawn()

    def leave_extra(self) -> None:
        if self.extra is not None:
            terminate(self.extra, timeout=30)
            self.extra = None

    def stop(self) -> None:
        for process in [*self.slots, self.extra, *self.held]:
            if process is not None:
                terminate(process, timeout=30)
        self.slots = [None, None]
        self.extra = None
        self.held = []


async def _create_topics(bootstrap: str, topics: TopicNames) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        inbound = list(topics.inbound().values())
        await admin.create_topics([NewTopic(t, 4, 1) for t in inbound])
        await wait_for_leaders(admin, dict.fromkeys(inbound, 4))
    finally:
        await admin.close()


#: The projectors' session timeout (``PROJECTOR_SESSION_TIMEOUT_MS``; the private stack's
#: broker accepts it): a killed member's partitions pass to the others, and the member that
#: replaces it joins, this long after the kill, not the default 10 s later.
SESSION_TIMEOUT_MS = 3_000

#: How long one fault of a plan is taken to last until the first has been timed (``Pace``).
FIRST_FAULT_SECONDS = 8.0


@dataclass
class Pace:
    """How fast the stream goes out: spread over the faults still to come, so that records
    flow while each of them is injected, at most ``top`` records/s. A step crash fires only
    in a batch: with the stream out at a fixed rate (a test-sized world's 3,162 records in
    11 s), most of the schedule came after it, and no step crash fired (each then waited
    its ten seconds for nothing)."""

    faults: int
    top: float
    done: int = 0
    began: float = field(default_factory=time.monotonic)

    def rate(self, records_left: int) -> float:
        """Records/s that make ``records_left`` last as long as the faults left, each as
        long as those done took on average."""
        left = self.faults - self.done
        if left <= 0:
            return self.top
        took = (time.monotonic() - self.began) / self.done if self.done else FIRST_FAULT_SECONDS
        return min(self.top, records_left / (left * took))


async def _produce(
    bootstrap: str,
    topics: TopicNames,
    records: Sequence[tuple[str, bytes, bytes]],
    pace: Pace,
) -> None:
    """At ``pace``'s rate, in chunks of a tenth of a second; a chunk the broker did not
    acknowledge (it was down) is sent again, which at worst adds duplicates."""
    names = {str(kind): topic for kind, topic in topics.inbound().items()}
    producer: AIOKafkaProducer | None = None
    i = 0
    while i < len(records):
        rate = pace.rate(len(records) - i)
        part = records[i : i + max(1, int(rate / 10))]
        began = time.monotonic()
        try:
            if producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=bootstrap, acks="all", linger_ms=5, request_timeout_ms=10000
                )
                await producer.start()
            sends = [await producer.send(names[k], value=v, key=key) for k, key, v in part]
            await asyncio.wait_for(asyncio.gather(*sends), timeout=30)
        except (KafkaError, TimeoutError, OSError):
            if producer is not None:
                try:
                    await asyncio.wait_for(producer.stop(), timeout=30)
                except (KafkaError, TimeoutError, OSError):
                    pass
            producer = None
            await asyncio.sleep(1.0)
            continue
        i += len(part)
        await asyncio.sleep(max(0.0, began + len(part) / rate - time.monotonic()))
    if producer is not None:
        await producer.stop()


async def _inject(
    plan: FaultPlan,
    rng: random.Random,
    stack: PrivateStack,
    projectors: Projectors,
    pace: Pace,
    injected: dict[str, int],
) -> None:
    """Faults in a seeded random order, one every ``kill_interval`` seconds, while the
    stream is being produced (``pace`` told of each one done). ``injected`` counts them by
    kind, and the step crashes that fired as ``step crash fired``."""
    actions = plan.actions()
    rng.shuffle(actions)
    for action in actions:
        point = action.removeprefix("crash ")
        held = projectors.armed(rng, point) if point != action else None
        # the member the last step crash took is restarted at once, as a killed one is: its
        # start-up passes during the interval, not after it
        projectors.revive()
        await asyncio.sleep(rng.uniform(*plan.kill_interval))
        projectors.revive()
        # stopping a member waits for it: in a thread, so the stream flows meanwhile
        if action == "kill":
            await asyncio.to_thread(projectors.kill, rng)
        elif held is not None:
            await asyncio.to_thread(projectors.crash_at, rng, held)
            if await _step_crash(projectors, held):
                injected["step crash fired"] = injected.get("step crash fired", 0) + 1
        elif action == "rebalance":
            projectors.join_extra()
            await asyncio.sleep(rng.uniform(*plan.kill_interval))
            await asyncio.to_thread(projectors.leave_extra)
        elif action == "store":
            await asyncio.to_thread(stack.stop, "postgres", "ferretdb")
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            await asyncio.to_thread(stack.start, "postgres", "ferretdb")
        elif action == "broker":
            await asyncio.to_thread(stack.stop, "kafka")
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            await asyncio.to_thread(stack.start, "kafka")
        kind = action.split(" ")[0]
        injected[kind] = injected.get(kind, 0) + 1
        pace.done += 1


#: How long a crashing member is given to reach its step once it has started, and at most
#: from when it is let go (``_step_crash``).
STEP_CRASH_AFTER_START_SECONDS = 10.0
STEP_CRASH_WITHIN_SECONDS = 60.0


async def _step_crash(projectors: Projectors, crashing: subprocess.Popen[bytes]) -> bool:
    """Whether ``crashing``, just let go, died at its step (SIGKILL). It is given its chance
    from when it started, not from when it was let go: a member that needs seconds for its
    imports on a busy machine had used them up before it joined the group. If it does not
    die in time, it is revived as a plain member later."""
    deadline = time.monotonic() + STEP_CRASH_WITHIN_SECONDS
    started: float | None = None
    while crashing.poll() is None:
        now = time.monotonic()
        if started is None and projectors.has_started(crashing):
            started = now
        if now > deadline or (
            started is not None and now - started > STEP_CRASH_AFTER_START_SECONDS
        ):
            return False
        await asyncio.sleep(0.1)
    return crashing.returncode == -signal.SIGKILL


async def _caught_up(
    stack: PrivateStack, group: str, topics: TopicNames, projectors: Projectors, within: float
) -> None:
    deadline = time.monotonic() + within
    while True:
        projectors.revive()
        try:
            await wait_caught_up(stack.bootstrap, group, topics, within=10)
            return
        except (TimeoutError, KafkaError):
            if time.monotonic() > deadline:
                raise


async def run_world(
    spec: WorldSpec, plan: FaultPlan, stack: PrivateStack, logs: Path, *, within: float = 600
) -> Result:
    """One world through the faults; the stack must be running (and is left running)."""
    began = time.monotonic()
    records = world(spec)
    prefix = f"f{spec.seed}x{uuid.uuid4().hex[:6]}"
    topics = TopicNames(
        **{name: f"{prefix}.{topic}" for name, topic in asdict(TopicNames()).items()}
    )
    database, group = f"{prefix}db", f"{prefix}-projector"
    await _create_topics(stack.bootstrap, topics)
    env = stack.env()
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
        MONGODB_URI=stack.mongodb_uri,
        MONGODB_DATABASE=database,
        PROJECTOR_GROUP=group,
        PROJECTOR_BATCH_MAX=str(plan.batch_max),
        PYTHONPATH=str(REPO),
        # two members and their restarts: each serves its metrics on a free port (on the
        # default one, the second member died at start-up until the first did, so the world
        # had one member most of the time)
        PROJECTOR_METRICS_PORT="0",
        # every SIGKILL leaves a dead member in the group until its session times out, and
        # the member that replaces it waits that long to join (26 of the plan's 30 faults)
        PROJECTOR_SESSION_TIMEOUT_MS=str(SESSION_TIMEOUT_MS),
    )
    for name, topic in asdict(topics).items():
        env[f"TOPIC_{name.upper()}"] = topic
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    projectors = Projectors(env, logs)
    projectors.start()
    injected: dict[str, int] = {}
    rng = random.Random(f"faults:{spec.seed}")
    try:
        pace = Pace(faults=len(plan.actions()), top=plan.rate)
        producing = asyncio.create_task(_produce(stack.bootstrap, topics, records, pace))
        await _inject(plan, rng, stack, projectors, pace, injected)
        await producing
        await _caught_up(stack, group, topics, projectors, within)
    finally:
        projectors.stop()
    stored = await _retry_store(lambda: stored_documents(stack.mongodb_uri, database))
    mapping = load_status_mapping()
    docs = expected_documents(decoded_events(records), mapping)
    mismatches = compare(stored, docs, expected_related(docs))
    settings = ProjectorSettings(
        kafka_bootstrap_servers=stack.bootstrap,
        mongodb_uri=stack.mongodb_uri,
        mongodb_database=database,
        group_id=group,
        topics=topics,
    )
    report = await check(settings)
    return Result(
        seed=spec.seed,
        records=len(records),
        entities=len(stored.keys() | docs.keys()),
        mismatches=mismatches,
        behind=report.lines()[1:],
        injected=injected,
        seconds=time.monotonic() - began,
    )


async def _retry_store(read: Any) -> Any:
    for attempt in range(10):
        try:
            return await read()
        except PyMongoError:
            if attempt == 9:
                raise
            await asyncio.sleep(2)
    raise AssertionError("unreachable")


def dump(result: Result, path: Path) -> None:
    path.write_text(json.dumps(result.__dict__, indent=1, default=str))
