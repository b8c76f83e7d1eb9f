"""Projector benchmark: throughput against the store's bulk-write ceiling, and freshness.

Run against the local stack (``scripts/stack start``):

    .venv/bin/python bench/projector.py [--events 200000] [--rates 1000,200] [--seconds 20]
        [--batch-max N] [--cache-documents N] [--processes N] [--profile [--profile-top N]]

All three figures come from one run on the same machine and store:

1. projector throughput: a realistic simulated stream (several hundred customers' worth of
   orders, shipments, milestones and invoices, with the contract's faults) is loaded into
   fresh topics, then the projector consumes it from the start (in this process, or as
   ``--processes N`` processes of one consumer group); events/s, and the projector's CPU
   seconds per event (what the code costs, whatever else the machine is doing);
2. ceiling: the final documents the projector produced are written again with plain
   ``insert_many`` into an empty database, no Kafka, no reads; expressed as events/s (the
   same event count divided by the time to write the documents they produced). Then each
   of those documents is read and written once by ``_id``: the least work any projector
   that reads a document before writing it needs even if the whole stream were one batch,
   which bounds the ratio such a projector can reach on this store. The *logic floor*
   (``bench/logic_floor.py``): the stream decoded, folded by the reducers and its final
   documents BSON-encoded in memory, no I/O at all, the most any projector built on these
   reducers could reach whatever its store or batching. Last, the *indexed
   ceiling*: the same final documents and their search documents inserted into collections
   with the readers' indexes (the search collection's built after, as the projector does in
   a new generation), what any projector of this read model must at
   least write (the plain ceiling writes rows with no index but ``_id``). And the *events
   ceiling*: the stream's events themselves inserted with ``insert_many``, one document
   each (the issue's table measured ``insert_many`` of ~1 KB documents, an event's size);
3. freshness: with the projector caught up, events are produced at each steady rate; the time
   from producing a milestone to its change notice (published only after the document is
   written) is measured, p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from bench.api import cpu_seconds
from bench.arguments import add_broker_argument, add_store_argument
from bench.logic_floor import measure_logic_floor
from bench.results import percentile
from bench.store_cpu import StoreCpu
from projections import runner
from projections.deferred_indexes import SEARCH_COLLECTION
from projections.metrics import ProjectorMetrics
from projections.runner import run_projector
from projections.search_writes import is_complete
from projections.settings import ProjectorSettings
from projections.store import ProjectionStore
from readmodel import documents
from readmodel.changes import ShipmentChange, milestone_notice_id
from readmodel.search_keys import MARKERS
from readmodel.topics import TopicNames
from simulator.faults import FaultRates
from simulator.world import generate
from tests.integration.projector_harness import wait_caught_up

ROOT = Path(__file__).resolve().parents[1]


async def create_topics(bootstrap: str, topics: TopicNames) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=4, replication_factor=1) for t in topics.inbound().values()]
        )
    finally:
        await admin.close()


def world_args(count: int, now: datetime) -> dict[str, Any]:
    """A 90-day history of about ``count`` events over 300 customers."""
    return {
        "seed": 42,
        "days": 90,
        "customers": 300,
        "orders_per_day": max(10, count // 90 // 12),
        "now": now,
        "faults": FaultRates.default(),
    }


def history(count: int, topics: TopicNames, now: datetime) -> list[tuple[str, bytes, bytes]]:
    names = topics.inbound()
    return [
        (names[record.topic_kind], record.key, record.value)
        for record in islice(generate(**world_args(count, now)), count)
    ]


async def produce_all(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        futures = [await producer.send(t, value=v, key=k) for t, k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def insert_all(
    target: AsyncDatabase[dict[str, Any]], docs: dict[str, list[dict[str, Any]]]
) -> dict[str, float]:
    """Seconds to write ``docs`` with ``insert_many`` in commands of 1,000, by collection."""
    seconds: dict[str, float] = {}
    for name, rows in docs.items():
        started = time.perf_counter()
        for i in range(0, len(rows), 1000):
            await target[name].insert_many(rows[i : i + 1000], ordered=False)
        seconds[name] = time.perf_counter() - started
    return seconds


def event_documents(records: list[tuple[str, bytes, bytes]]) -> list[dict[str, Any]]:
    """Each record as the document ``insert_many`` would store for it: its JSON, or, for the
    contract's malformed faults, its bytes."""
    out: list[dict[str, Any]] = []
    for _topic, key, value in records:
        try:
            doc = json.loads(value)
        except ValueError:
            doc = None
        out.append(doc if isinstance(doc, dict) else {"key": key, "raw": value})
    return out


async def measure_events_ceiling(
    client: AsyncMongoClient[Any], records: list[tuple[str, bytes, bytes]]
) -> float:
    """Seconds to insert the stream's events themselves, one document each, with
    ``insert_many`` (the issue's "``insert_many`` ceiling over 200,000 events" read
    literally: its table measured ``insert_many`` of ~1 KB documents, about an event's size)."""
    docs = event_documents(records)
    target = client[f"bench_ceiling_{uuid.uuid4().hex[:8]}"]
    try:
        return (await insert_all(target, {"events": docs}))["events"]
    finally:
        await client.drop_database(target.name)


async def read_final_documents(
    client: AsyncMongoClient[Any], source_db: str
) -> dict[str, list[dict[str, Any]]]:
    """What the projector wrote, by collection: its entities, then its search documents."""
    return {
        name: [d async for d in client[source_db][name].find({"_id": {"$nin": list(MARKERS)}})]
        for name in (*documents.ENTITY_COLLECTIONS, documents.SEARCH_KEYS)
    }


async def measure_indexed_ceiling(
    client: AsyncMongoClient[Any], docs: dict[str, list[dict[str, Any]]]
) -> dict[str, float]:
    """Seconds to insert the final documents *and* their search documents into an empty
    database with the readers' indexes (``ProjectionStore.ensure_indexes``; those of the
    search collection built afterwards, as the projector builds them in a new generation,
    ``projections.deferred_indexes``): what any projector keeping this read model must at
    least write, where the plain ceiling writes bare rows with no index but ``_id``."""
    target = client[f"bench_ceiling_{uuid.uuid4().hex[:8]}"]
    store = ProjectionStore(target)
    try:
        # as the projector writes a new generation: the search collection's indexes after
        await store.ensure_indexes("", deferring=SEARCH_COLLECTION)
        seconds = await insert_all(target, docs)
        started = time.perf_counter()
        await store.ensure_indexes("")
        seconds["search index build"] = time.perf_counter() - started
        return seconds
    finally:
        await client.drop_database(target.name)


async def measure_ceiling(
    client: AsyncMongoClient[Any],
    docs: dict[str, list[dict[str, Any]]],
    events: int,
    concurrency: int,
) -> tuple[float, float]:
    """Seconds to insert the projector's final documents (``docs``, the entities) into an
    empty database, then seconds to read and write each of them once by ``_id``
    (``concurrency`` at a time)."""
    target = client[f"bench_ceiling_{uuid.uuid4().hex[:8]}"]
    limit = asyncio.Semaphore(concurrency)

    async def read_and_write(collection: str, doc_id: Any) -> None:
        async with limit:
            await target[collection].find_one({"_id": doc_id})
            await target[collection].update_one({"_id": doc_id}, {"$inc": {"_writes": 1}})

    try:
        inserted = sum((await insert_all(target, docs)).values())
        started = time.perf_counter()
        await asyncio.gather(
            *(read_and_write(name, row["_id"]) for name, rows in docs.items() for row in rows)
        )
        return inserted, time.perf_counter() - started
    finally:
        await client.drop_database(target.name)
        total = sum(len(r) for r in docs.values())
        print(f"  final documents: {total} for {events} events")


class Freshness(NamedTuple):
    """Each milestone's latency from send to its notice, in seconds, and its three legs:
    send to the batch's write time (``projected_at``: queued, fetched, read and planned),
    that to the notice's publication (its Kafka timestamp: the batch's writes, then the
    notice's send) and that to its arrival at a subscriber. ``to_fetch``: every record's
    time from its send (Kafka timestamp) to the projector's taking it into a batch (the
    projector in this process only)."""

    latencies: list[float]
    to_write: list[float]
    to_publish: list[float]
    to_arrival: list[float]
    to_fetch: list[float]

    def add(self, sent: float, notice: ShipmentChange, published: float, received: float) -> None:
        """One milestone's notice (``published``: its Kafka timestamp, seconds)."""
        written = notice.projected_at.timestamp()
        self.latencies.append(received - sent)
        self.to_write.append(written - sent)
        self.to_publish.append(published - written)
        self.to_arrival.append(received - published)

    def print(self, rate: int, seconds: int) -> None:
        if not (latencies := self.latencies):
            print(f"freshness at {rate} events/s: no milestone notices received")
            return
        print(
            f"freshness at {rate} events/s over {seconds}s: "
            f"{len(latencies)} milestones, p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms"
        )
        for leg, values in (
            ("send -> taken into a batch (every record)", self.to_fetch),
            ("send -> batch writes (queued, fetched, read, planned)", self.to_write),
            ("batch writes -> notice published", self.to_publish),
            ("notice published -> received", self.to_arrival),
        ):
            if values:
                print(
                    f"  {leg:<56} p50 {percentile(values, 0.5) * 1000:5.0f} ms,"
                    f" p99 {percentile(values, 0.99) * 1000:5.0f} ms"
                )


def record_notice_id(value: bytes) -> str | None:
    """The notice id of the change a milestone record gives, None for other records."""
    try:
        body = json.loads(value)
        if isinstance(body, dict) and body.get("type") == "logistics.shipment.milestone.v1":
            data = body["data"]
            return milestone_notice_id(body["source"], data["milestoneId"], body["sequence"])
    except (ValueError, KeyError, TypeError):
        pass
    return None


class FetchTimes:
    """Wraps ``runner.fetch_batch`` (the projector in this process): each record's time from
    its send to the projector's taking it into a batch, while ``into`` is set."""

    def __init__(self) -> None:
        self.into: list[float] | None = None
        fetch = runner.fetch_batch

        async def timed(*args: Any, **kwargs: Any) -> Any:
            batches = await fetch(*args, **kwargs)
            if self.into is not None:
                now = time.time()
                self.into.extend(
                    now - record.timestamp / 1000
                    for records in batches.values()
                    for record in records
                )
            return batches

        runner.fetch_batch = timed


FETCH_TIMES = FetchTimes()


async def measure_freshness(
    bootstrap: str,
    records: list[tuple[str, bytes, bytes]],
    topics: TopicNames,
    rate: int,
    group: str,
) -> Freshness:
    """Produce at ``rate`` events/s; latency of each milestone from send to its notice.

    Waits for the projector to catch up afterwards, so a backlog shows in the figures
    instead of hiding as notices that were never counted.
    """
    sent_at: dict[str, float] = {}
    measured = Freshness([], [], [], [], [])
    FETCH_TIMES.into = measured.to_fetch
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(topics.changes, 0)
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    await consumer.position(tp)
    done = asyncio.Event()

    async def listen() -> None:
        while not done.is_set():
            batch = await consumer.getmany(tp, timeout_ms=200)
            received = time.time()
            for record in batch.get(tp, []):
                notice = ShipmentChange.decode(record.value)
                started = sent_at.pop(notice.notice_id, None)
                if started is not None:
                    measured.add(started, notice, record.timestamp / 1000, received)

    # Which records are milestones, worked out before the clock starts: parsing them while
    # producing cost the projector's loop (it runs in this process) ~30 ms per batch.
    milestones = [record_notice_id(value) for _, _, value in records]
    listener = asyncio.create_task(listen())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await producer.start()
    try:
        interval = 1.0 / rate
        start = time.perf_counter()
        for i, ((topic, key, value), notice_id) in enumerate(zip(records, milestones, strict=True)):
            target = start + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if notice_id is not None:
                sent_at[notice_id] = time.time()
            await producer.send(topic, value=value, key=key)
        await producer.flush()
        await wait_caught_up(bootstrap, group, topics, within=3600)
        await asyncio.sleep(1)
    finally:
        FETCH_TIMES.into = None
        done.set()
        await listener
        await producer.stop()
        await consumer.stop()
    return measured


def projector_environment(settings: ProjectorSettings) -> dict[str, str]:
    """What ``python -m projections run`` reads to be the same projector as ``settings``."""
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        MONGODB_URI=settings.mongodb_uri,
        MONGODB_DATABASE=settings.mongodb_database,
        PROJECTOR_GROUP=settings.group_id,
        PROJECTOR_BATCH_MAX=str(settings.batch_max_records),
        PROJECTOR_CACHE_DOCUMENTS=str(settings.cache_documents),
        PROJECTOR_METRICS_PORT="0",
        PYTHONPATH=str(ROOT),
    )
    for name in TopicNames.__dataclass_fields__:
        env[f"TOPIC_{name.upper()}"] = getattr(settings.topics, name)
    return env


def start_processes(
    settings: ProjectorSettings, count: int, logs: Path
) -> list[subprocess.Popen[bytes]]:
    """``count`` projector processes in one consumer group, as they run in production."""
    env = projector_environment(settings)
    processes = []
    for n in range(count):
        with (logs / f"projector-{n}.log").open("wb") as log_file:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "projections", "run"],
                    cwd=ROOT,
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
    return processes


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


#: The projector's phases, by the function that does each (cumulative time, profiled).
PHASES = (
    ("decode records into events", "projections/projector.py", "decode_records"),
    ("load documents ($in)", "projections/projector.py", "_load"),
    ("plan: reducers over each entity's events", "projections/batch.py", "plan_entity"),
    ("fold summaries into the batch's writes", "projections/effects.py", "fold"),
    ("folded writes (bulk, compare-and-set)", "projections/store.py", "write_all_if_unchanged"),
    ("inserts of new documents", "projections/store.py", "insert_new"),
    ("summary pushes and pulls", "projections/projector.py", "_push_and_pull"),
    ("source freshness", "projections/store.py", "touch_sources"),
    ("publish notices and dead letters", "projections/runner.py", "publish_outcome"),
    ("commit offsets", "aiokafka/consumer/consumer.py", "commit"),
)


def print_profile(profile: cProfile.Profile, wall: float, cpu: float) -> None:
    """Where the catch-up's time went: wall and CPU of this process (the projector runs in
    it; the benchmark's own producer is done before), then each phase's cumulative time
    (wall time inside the phase's coroutine, waits for the store included)."""
    stats = pstats.Stats(profile)
    print(f"  profile: {wall:.1f}s wall, {cpu:.1f}s CPU in the projector's process")
    table: dict[tuple[str, str], float] = {}
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        for _label, suffix, name in PHASES:
            if function == name and filename.endswith(suffix):
                table[(suffix, name)] = table.get((suffix, name), 0.0) + row[3]
    for label, suffix, name in PHASES:
        seconds = table.get((suffix, name), 0.0)
        print(f"    {label:<44} {seconds:6.1f}s  {seconds / wall:5.0%} of wall")


class PhaseTotals(NamedTuple):
    """The projector's phase accounts at one moment: a run's figures are the difference of
    two of these (the catch-up's, then each freshness rate's)."""

    batches: float
    records: float
    wall: dict[str, float]
    cpu: dict[str, float]
    commands: dict[str, int]
    operations: dict[str, int]
    store_seconds: dict[str, float]

    @classmethod
    def of(cls, projectors: Projectors) -> PhaseTotals:
        registry = projectors.metrics.registry
        wall: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for family in registry.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                if family.name == "portal_projector_phase_seconds":
                    wall[sample.labels["phase"]] = sample.value
                elif family.name == "portal_projector_phase_cpu_seconds":
                    cpu[sample.labels["phase"]] = sample.value
        store = projectors.store_commands
        return cls(
            registry.get_sample_value("portal_projector_batch_records_count") or 0.0,
            registry.get_sample_value("portal_projector_batch_records_sum") or 0.0,
            wall,
            cpu,
            dict(store.commands),
            dict(store.operations),
            dict(store.seconds),
        )


def print_phases(projectors: Projectors, wall: float, since: PhaseTotals | None = None) -> None:
    """The projector's own account of a run (``portal_projector_phase_seconds``) since
    ``since`` (default: its start): wall and CPU per batch phase, and the store commands its
    client sent per batch."""
    now = PhaseTotals.of(projectors)
    before = since or PhaseTotals(0.0, 0.0, {}, {}, {}, {}, {})
    batches = max(now.batches - before.batches, 1)
    records = max(now.records - before.records, 1)
    print(f"  batches: {batches:.0f} committed, {records / batches:,.0f} records each")
    print(
        f"    {'phase':<44} {'wall s':>7} {'of wall':>8} {'ms/batch':>9} {'CPU s':>6}"
        f" {'CPU us/rec':>10}"
    )
    for phase, seconds in now.wall.items():
        spent = seconds - before.wall.get(phase, 0.0)
        cpu = now.cpu.get(phase, 0.0) - before.cpu.get(phase, 0.0)
        print(
            f"    {phase:<44} {spent:7.1f} {spent / wall:8.0%} {spent / batches * 1000:9.0f}"
            f" {cpu:6.1f} {cpu / records * 1e6:10.1f}"
        )
    print("    store commands per batch (operations per batch, store seconds in total):")
    for name in sorted(now.commands, key=lambda n: -now.store_seconds.get(n, 0.0)):
        commands = now.commands[name] - before.commands.get(name, 0)
        operations = now.operations.get(name, 0) - before.operations.get(name, 0)
        seconds = now.store_seconds.get(name, 0.0) - before.store_seconds.get(name, 0.0)
        print(
            f"      {name:<24} {commands / batches:8.1f} commands"
            f" {operations / batches:10.1f} ops {seconds:7.1f}s"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--rates", default="1000,200", help="steady rates (events/s) for the freshness runs"
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument(
        "--batch-max",
        type=int,
        default=ProjectorSettings().batch_max_records,
        help="the projector's PROJECTOR_BATCH_MAX (default: the projector's default)",
    )
    parser.add_argument(
        "--cache-documents",
        type=int,
        default=ProjectorSettings().cache_documents,
        help="the projector's PROJECTOR_CACHE_DOCUMENTS (0: no document cache)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the projector's catch-up (cProfile) and print where its time went",
    )
    parser.add_argument(
        "--profile-top",
        type=int,
        default=0,
        help="with --profile, also print the N functions with the most time of their own"
        " (of the catch-up and of each freshness rate)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="projector processes in the group (1: in this process; more: python -m"
        " projections run each, logs under --logs)",
    )
    parser.add_argument("--logs", default="/tmp", help="where --processes N writes their logs")
    add_broker_argument(parser)
    add_store_argument(parser)
    args = parser.parse_args()
    if args.profile and args.processes > 1:
        parser.error("--profile profiles the projector in this process: use it with --processes 1")
    return args


class StoreCommands(monitoring.CommandListener):
    """Commands the projector's MongoDB client sends: count, operations (documents
    inserted, updates, ids read) and seconds per command name."""

    def __init__(self) -> None:
        self.commands: dict[str, int] = defaultdict(int)
        self.operations: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self._names: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        name = self._name(event.command_name, command)
        self._names[event.request_id] = name
        self.commands[name] += 1
        if event.command_name == "insert":
            self.operations[name] += len(command.get("documents", ()))
        elif event.command_name == "update":
            self.operations[name] += len(command.get("updates", ()))
        elif event.command_name == "find":
            ids = command.get("filter", {}).get("_id")
            self.operations[name] += len(ids["$in"]) if isinstance(ids, dict) else 1
        else:
            self.operations[name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        name = self._names.pop(event.request_id, event.command_name)
        self.seconds[name] += event.duration_micros / 1e6

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        name = self._names.pop(event.request_id, event.command_name)
        self.seconds[name] += event.duration_micros / 1e6

    @staticmethod
    def _name(command_name: str, command: Any) -> str:
        """The command and the collection it writes or reads, without its generation."""
        target = command.get(command_name)
        if command_name in ("insert", "update", "find") and isinstance(target, str):
            return f"{command_name} {target.split('__')[0]}"
        return command_name


class Projectors:
    """The projector under test: a task in this process, or ``--processes`` processes."""

    def __init__(self, settings: ProjectorSettings, args: argparse.Namespace) -> None:
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.processes: list[subprocess.Popen[bytes]] = []
        self.metrics = ProjectorMetrics()
        self.store_commands = StoreCommands()
        if args.processes > 1:
            self.processes = start_processes(settings, args.processes, Path(args.logs))
        else:
            # Registered before the projector makes its client: only that client reports.
            monitoring.register(self.store_commands)
            self.task = asyncio.create_task(run_projector(settings, self.stop, self.metrics))

    def cpu(self, cpu_started: float) -> list[float]:
        """CPU seconds of each projector process since the start (this process: since
        ``cpu_started``; the benchmark itself only polls the group's offsets meanwhile)."""
        if self.processes:
            return [cpu_seconds(process.pid) for process in self.processes]
        return [time.process_time() - cpu_started]

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        stop_processes(self.processes)


async def wait_search_complete(settings: ProjectorSettings, within: float = 600) -> None:
    """Wait for the generation's search marker: the catch-up counts as done only once its
    deferred indexes are built (``projections.deferred_indexes``)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri)
    try:
        store = ProjectionStore(client[settings.mongodb_database])
        deadline = time.monotonic() + within
        while not await is_complete(store, await store.active_suffix()):
            if time.monotonic() > deadline:
                raise TimeoutError("the projector's search documents were not marked complete")
            await asyncio.sleep(0.1)
    finally:
        await client.close()


async def catch_up(
    settings: ProjectorSettings, events: int, args: argparse.Namespace
) -> tuple[Projectors, float]:
    """Start the projector over the produced backlog; it, and its events per second until it
    caught up (with ``--profile``, also where that time went)."""
    profile = cProfile.Profile() if args.profile else None
    started, cpu_started, store_started = time.perf_counter(), time.process_time(), StoreCpu.now()
    if profile is not None:
        profile.enable()
    projectors = Projectors(settings, args)
    await wait_caught_up(
        settings.kafka_bootstrap_servers, settings.group_id, settings.topics, within=3600
    )
    await wait_search_complete(settings)
    projector_seconds = time.perf_counter() - started
    store_cpu = StoreCpu.now().since(store_started)
    if profile is not None:
        profile.disable()
        print_profile(profile, projector_seconds, time.process_time() - cpu_started)
        if args.profile_top:
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile_top)
    cpus = projectors.cpu(cpu_started)
    if not projectors.processes:
        print_phases(projectors, projector_seconds)
    projector_rate = events / projector_seconds
    print(
        f"projector ({len(cpus)} process{'es' if len(cpus) > 1 else ''}):"
        f" {events} events in {projector_seconds:.1f}s = {projector_rate:,.0f} events/s;"
        f" {sum(cpus):.1f}s CPU = {sum(cpus) / events * 1e6:.0f} us/event"
    )
    for n, cpu in enumerate(cpus):
        print(f"  process {n}: {cpu:.1f}s CPU ({cpu / projector_seconds:.0%} of one core)")
    print(f"  {store_cpu.report(events)}")
    return projectors, projector_rate


async def compare_with_ceiling(
    client: AsyncMongoClient[Any],
    settings: ProjectorSettings,
    records: list[tuple[str, bytes, bytes]],
    projector_rate: float,
) -> None:
    """The same documents written as fast as the store takes them, side by side."""
    events = len(records)
    written = await read_final_documents(client, settings.mongodb_database)
    entities = {name: written[name] for name in documents.ENTITY_COLLECTIONS}
    ceiling_seconds, bound_seconds = await measure_ceiling(
        client, entities, events, settings.store_concurrency
    )
    ceiling_rate = events / ceiling_seconds
    print(
        f"ceiling (insert_many of final documents): {ceiling_seconds:.1f}s"
        f" = {ceiling_rate:,.0f} events/s"
    )
    print(f"ratio projector/ceiling: {projector_rate / ceiling_rate:.2f}")
    floor = await asyncio.to_thread(measure_logic_floor, [value for _topic, _key, value in records])
    print(
        f"logic floor (decode, reducers and BSON encoding in memory, no I/O): {floor.report()};"
        f" {floor.events / floor.seconds / ceiling_rate:.2f} of the ceiling"
    )
    bound_rate = events / bound_seconds
    print(
        "bound (one find_one and one update_one per final document, the least a projector"
        f" that reads before it writes needs): {bound_seconds:.1f}s = {bound_rate:,.0f}"
        f" events/s, {bound_rate / ceiling_rate:.2f} of the ceiling"
    )
    by_collection = await measure_indexed_ceiling(client, written)
    indexed_seconds = sum(by_collection.values())
    indexed_rate = events / indexed_seconds
    print(
        "indexed ceiling (insert_many of the final and search documents into collections with"
        f" the readers' indexes): {indexed_seconds:.1f}s = {indexed_rate:,.0f} events/s,"
        f" {indexed_rate / ceiling_rate:.2f} of the ceiling;"
        f" ratio projector/indexed ceiling: {projector_rate / indexed_rate:.2f}"
    )
    print("  of which " + ", ".join(f"{name} {sec:.1f}s" for name, sec in by_collection.items()))
    events_rate = events / await measure_events_ceiling(client, records)
    print(
        f"events ceiling (insert_many of the {events:,} events themselves, one document each):"
        f" {events_rate:,.0f} events/s; ratio projector/events ceiling:"
        f" {projector_rate / events_rate:.2f}"
    )


async def freshness_runs(
    settings: ProjectorSettings,
    following: list[tuple[str, bytes, bytes]],
    rates: list[int],
    projectors: Projectors,
    seconds: int,
    profile_top: int = 0,
) -> None:
    """Milestone freshness (publish to change notice) at each steady rate, and (projector
    in this process) what its batches were made of meanwhile; ``profile_top``: also the
    functions with the most CPU of their own during each rate (cProfile; the benchmark's
    producer and listener share the process)."""
    offset = 0
    for rate in rates:
        records_at_rate = following[offset : offset + rate * seconds]
        offset += len(records_at_rate)
        since, started, cpu_started, store_started = (
            PhaseTotals.of(projectors),
            time.perf_counter(),
            time.process_time(),
            StoreCpu.now(),
        )
        profile = cProfile.Profile() if profile_top else None
        if profile is not None:
            profile.enable()
        freshness = await measure_freshness(
            settings.kafka_bootstrap_servers,
            records_at_rate,
            settings.topics,
            rate,
            settings.group_id,
        )
        if profile is not None:
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(profile_top)
        freshness.print(rate, seconds)
        print(f"  {StoreCpu.now().since(store_started).report(len(records_at_rate))}")
        if not projectors.processes:
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started  # the benchmark's producer included
            print(
                f"  {wall:.1f}s, {cpu:.1f}s CPU in this process"
                f" ({cpu / max(len(records_at_rate), 1) * 1e6:.0f} us/event with the producer)"
            )
            print_phases(projectors, wall, since)


async def main() -> None:
    args = parse_args()
    run = uuid.uuid4().hex[:8]
    topics = TopicNames(
        **{f: f"bench{run}.{getattr(TopicNames(), f)}" for f in TopicNames.__dataclass_fields__}
    )
    await create_topics(args.bootstrap, topics)
    client: AsyncMongoClient[Any] = AsyncMongoClient(args.mongodb_uri, tz_aware=True)
    db_name = f"bench_projector_{run}"
    now = datetime(2026, 11, 27, tzinfo=UTC)
    try:
        print(f"generating {args.events} events ... (projector batches of up to {args.batch_max})")
        rates = [int(r) for r in args.rates.split(",")]
        # One world: the first --events records are the backlog, the rest arrive at steady
        # rates afterwards (new orders, shipments and milestones of the same world).
        stream = history(args.events + sum(rates) * args.seconds, topics, now)
        records, following = stream[: args.events], stream[args.events :]
        await produce_all(args.bootstrap, records)
        settings = ProjectorSettings(
            kafka_bootstrap_servers=args.bootstrap,
            mongodb_uri=args.mongodb_uri,
            mongodb_database=db_name,
            group_id=f"bench-{run}",
            topics=topics,
            batch_max_records=args.batch_max,
            cache_documents=args.cache_documents,
        )
        projectors, projector_rate = await catch_up(settings, len(records), args)
        await compare_with_ceiling(client, settings, records, projector_rate)
        await freshness_runs(
            settings,
            following,
            rates,
            projectors,
            args.seconds,
            args.profile_top if args.profile else 0,
        )
        await projectors.close()
    finally:
        await client.drop_database(db_name)
        await client.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([getattr(topics, f) for f in TopicNames.__dataclass_fields__])
        finally:
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
