"""Helpers for driving the real projector against the real broker and database in tests."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import bson
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from pymongo.asynchronous.database import AsyncDatabase

from projections.dead_letter import KafkaRecord
from projections.generations import Status, list_generations
from projections.projector import BatchProcessor
from projections.settings import ProjectorSettings
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore
from readmodel import documents, search_keys
from readmodel.kafka_admin import partitions_of
from readmodel.topics import InboundKind, TopicNames
from simulator.faults import FaultRates
from simulator.world import generate
from tests.contract import example
from tests.helpers import Stack
from tests.integration.api_harness import api_env
from tests.integration.processes import terminate

#: A consumed record as the projector sees it (what the tests build and replay).
Record: TypeAlias = KafkaRecord

REPO = Path(__file__).resolve().parents[2]


def records_of(triples: Iterable[tuple[str, bytes | None, bytes | None]]) -> list[Record]:
    """(topic, key, value) triples as records of partition 0, numbered in order."""
    return [
        Record(topic, 0, offset, 0, key, value)
        for offset, (topic, key, value) in enumerate(triples)
    ]


def topic_names_from(mapping: Mapping[str, str]) -> TopicNames:
    return TopicNames(**{k: v for k, v in mapping.items() if k in TopicNames.__dataclass_fields__})


async def produce(bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    """Send (topic, key, value) records and wait for all acknowledgements."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key) for topic, key, value in records
        ]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(await partitions_of(consumer, topics)))
    finally:
        await consumer.stop()


async def wait_caught_up(
    bootstrap: str, group: str, topics: TopicNames, *, within: float = 300.0
) -> None:
    """Wait until the group has committed every inbound partition up to its end offset."""
    targets = await end_offsets(bootstrap, topics.inbound().values())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + within
        while True:
            try:
                committed = await admin.list_consumer_group_offsets(group)
            except GroupCoordinatorNotAvailableError:
                # a broker's first group: its offsets topic is still being created
                committed = {}
            behind = {
                tp: end
                for tp, end in targets.items()
                if end > 0 and (tp not in committed or committed[tp].offset < end)
            }
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"group {group} still behind on {behind}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def projector_env(
    bootstrap: str, database: str, group: str, topics: Mapping[str, str]
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        MONGODB_DATABASE=database,
        PROJECTOR_GROUP=group,
        PYTHONPATH=str(REPO),
        # several projector processes per test: each serves its metrics on a free port
        PROJECTOR_METRICS_PORT="0",
    )
    for kind, topic in topics.items():
        env[f"TOPIC_{kind.upper()}"] = topic
    return env


def projector_settings(
    stack: Stack, db: AsyncDatabase[Any], topics: Mapping[str, str]
) -> ProjectorSettings:
    """The settings of an in-process projector or rebuild writing ``db`` from ``topics``
    (a fixture's names by kind) on ``stack``, in a consumer group of its own (tests never
    share one), its batches waiting 50 ms for records rather than 100: less idle time."""
    return ProjectorSettings(
        kafka_bootstrap_servers=stack.kafka_bootstrap,
        mongodb_uri=stack.mongodb_uri,
        mongodb_database=db.name,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        topics=topic_names_from(topics),
        batch_wait_ms=50,
    )


def start_projector(env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "projections", "run"],
            cwd=REPO,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def run_projections(env: Mapping[str, str], *argv: str) -> tuple[int, str, str]:
    """``python -m projections <argv>`` run to its end with ``env``: its exit code, stdout
    and stderr (a command that has not ended within two minutes fails the test)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "projections",
        *argv,
        cwd=REPO,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def generations_held(db: AsyncDatabase[Any]) -> dict[str, Status]:
    """The generations whose collections the store holds ("" is the original), with their
    status as a listing now gives it."""
    _, generations = await list_generations(db, datetime.now(UTC))
    return {generation.suffix: generation.status for generation in generations}


def stop_projector(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """SIGKILL (a crash at whatever moment) or a graceful stop."""
    if kill:
        process.kill()
        process.wait(timeout=30)
    else:
        terminate(process, timeout=30)


#: Fields that record *how* a document was written rather than what it says.
VOLATILE = frozenset(
    {"updatedAt", "lastEvent", "rev", "lastAppliedAt", "lastEventId", "_writes", "_writer"}
)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _readable(value: Any) -> Any:
    """Bookkeeping blobs decoded, so a failing comparison shows what differs inside them."""
    if isinstance(value, bytes):
        try:
            return _readable(bson.decode(value))
        except Exception:
            return value
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    return value


def differences(actual: Mapping[str, Any], expected: Mapping[str, Any], limit: int = 5) -> str:
    """A short report of which documents and fields differ between two snapshots."""
    lines = []
    for key in sorted(actual.keys() | expected.keys()):
        if actual.get(key) == expected.get(key):
            continue
        if key not in actual or key not in expected:
            lines.append(f"{key}: only in {'actual' if key in actual else 'expected'}")
        else:
            got, want = _readable(actual[key]), _readable(expected[key])
            for field in sorted(got.keys() | want.keys()):
                if got.get(field) != want.get(field):
                    lines.append(
                        f"{key}.{field}:\n  got  {got.get(field)!r}\n  want {want.get(field)!r}"
                    )
        if len(lines) >= limit:
            lines.append("...")
            break
    return "\n".join(lines)


async def snapshot(db: AsyncDatabase[dict[str, Any]], suffix: str = "") -> dict[str, Any]:
    """Every projection document and search document (``readmodel.search_keys``), minus
    write bookkeeping (and the ``rev`` a search document was taken at), keyed by collection
    and id; the search documents are checked against their entities first."""
    result: dict[str, Any] = {}
    for base in documents.ENTITY_COLLECTIONS:
        name = documents.generation_collection(base, suffix)
        async for doc in db[name].find({}):
            result[f"{base}/{doc['_id']}"] = _canonical(doc)
    name = documents.generation_collection(documents.SEARCH_KEYS, suffix)
    async for doc in db[name].find({"_id": {"$nin": list(search_keys.MARKERS)}}):
        result[f"{documents.SEARCH_KEYS}/{doc['_id']}"] = _canonical(doc)
    assert not (stale := stale_search_documents(result)), stale[:5]
    return result


def stale_search_documents(snapshot: Mapping[str, Any]) -> list[str]:
    """Known orders and shipments of a ``snapshot`` whose search document is missing or is
    not the one their document gives (``rev`` aside), and search documents of no known
    entity (a placeholder has none: it is not served)."""
    expected: dict[str, Any] = {}
    for key, doc in snapshot.items():
        kind, _, entity_id = key.partition("/")
        wanted = search_keys.search_document(kind, entity_id, doc)
        if wanted is not None and doc.get("known") is True:
            expected[f"{documents.SEARCH_KEYS}/{wanted['_id']}"] = _canonical(dict(wanted))
    stored = {key for key in snapshot if key.startswith(f"{documents.SEARCH_KEYS}/")}
    return [
        f"{key}: stored {snapshot.get(key)!r}, derived {expected.get(key)!r}"
        for key in sorted(expected.keys() | stored)
        if snapshot.get(key) != expected.get(key)
    ]


#: The inbound kind of each contract example (``tests.contract.EXAMPLES``).
TOPIC_OF_EXAMPLE = {
    "order-created.json": "orders",
    "fulfillment-progressed.json": "fulfillment",
    "shipment-planned.json": "shipments",
    "shipment-milestone.json": "shipments",
    "shipment-pod-captured.json": "shipments",
    "invoice-issued.json": "invoices",
    "source-status-changed.json": "source_status",
}


async def read_topic(bootstrap: str, topic: str, partition: int = 0) -> list[Any]:
    """Every record of ``partition`` of ``topic``, from the beginning to the current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            records.extend(batch.get(tp, []))
        return records
    finally:
        await consumer.stop()


async def scrape(url: str) -> str:
    """The text of ``url``/metrics, waiting for the server to answer."""
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                return (await http.get(f"{url}/metrics")).text
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise AssertionError(f"nothing answers at {url}")


@dataclass(frozen=True)
class Pipeline:
    """One test's own slice of the stack for the processes it starts: its database, its
    topics, and a projector group of its own (tests never share a consumer group)."""

    stack: Stack
    database: str
    topics: Mapping[str, str]
    group: str

    def projector_env(self, **overrides: str) -> dict[str, str]:
        """The environment of a projector process of the group."""
        env = projector_env(self.stack.kafka_bootstrap, self.database, self.group, self.topics)
        env["MONGODB_URI"] = self.stack.mongodb_uri
        env.update(overrides)
        return env

    def api_env(self, **overrides: str) -> dict[str, str]:
        """The environment of an API process serving what the group projects."""
        topics = {f"TOPIC_{name.upper()}": topic for name, topic in self.topics.items()}
        return api_env(
            self.stack, self.database, PROJECTOR_GROUP=self.group, **{**topics, **overrides}
        )


def simulated_records(
    topics: Mapping[str, str] | Mapping[InboundKind, str], count: int
) -> list[tuple[str, bytes, bytes]]:
    """The first ``count`` records of a fixed simulated world (seed 11, with the contract's
    faults), as (topic, key, value) for ``topics`` by kind (a fixture's names or
    ``TopicNames.inbound()``)."""
    records = []
    for sim in generate(
        seed=11,
        days=20,
        customers=None,
        orders_per_day=12,
        now=datetime(2026, 11, 20, tzinfo=UTC),
        faults=FaultRates.default(),
    ):
        records.append((topics[sim.topic_kind], sim.key, sim.value))
        if len(records) >= count:
            break
    return records


async def process_in_batches(processor: BatchProcessor, records: list[Record], size: int) -> None:
    for start in range(0, len(records), size):
        await processor.process(records[start : start + size])


#: ``undisturbed_run``'s records and documents by (count, size), for the session.
_UNDISTURBED: dict[tuple[int, int], tuple[list[Record], dict[str, Any]]] = {}


async def undisturbed_run(
    db: AsyncDatabase[Any], count: int, size: int
) -> tuple[list[Record], Any]:
    """``count`` simulated records, and the documents they give in batches of ``size``.

    The records are a fixed world's, so the documents are the same every time: they are
    projected (into ``db``) the first time the session asks for them, and each caller gets
    its own copy (a dozen tests compared against the same reference run each projected it
    again, seconds each)."""
    key = (count, size)
    if key not in _UNDISTURBED:
        topics = TopicNames()
        records = records_of(simulated_records(topics.inbound(), count))
        processor = BatchProcessor(ProjectionStore(db), load_status_mapping(), topics)
        await process_in_batches(processor, records, size)
        _UNDISTURBED[key] = (records, await snapshot(db))
    records, expected = _UNDISTURBED[key]
    return list(records), copy.deepcopy(expected)


class Upstream:
    """Events of the contract's examples with other ids, as the systems of record send them
    (each entity's sequence counts up, every event has its own id), projected in batches."""

    def __init__(self, processor: BatchProcessor) -> None:
        self._processor = processor
        self._ids = itertools.count()
        self._sequence: dict[str, int] = {}

    def _event(self, name: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
        event = example(name)
        self._sequence[subject] = self._sequence.get(subject, 0) + 1
        n = next(self._ids)
        event.update(id=f"e-{n}", subject=subject, sequence=self._sequence[subject])
        event["data"].update(data)
        return event

    def order(self, order_id: str, warehouse: str) -> dict[str, Any]:
        event = example("order-created.json")
        ship_from = {**event["data"]["shipFrom"], "warehouseId": warehouse}
        data = {"orderId": order_id, "customerReference": f"PO-{order_id}", "shipFrom": ship_from}
        made = self._event("order-created.json", order_id, data)
        if self._sequence[order_id] > 1:
            made["type"] = "logistics.order.updated.v1"
        return made

    def shipment(self, shipment_id: str, *order_ids: str, hour: int = 15) -> dict[str, Any]:
        data = {
            "shipmentId": shipment_id,
            "orderIds": list(order_ids),
            "trackingNumber": f"T-{shipment_id}",
            "plannedPickupAt": f"2026-11-21T{hour:02d}:00:00+00:00",
        }
        return self._event("shipment-planned.json", shipment_id, data)

    def invoice(self, invoice_id: str, *line_orders: str | None) -> dict[str, Any]:
        line = example("invoice-issued.json")["data"]["lines"][0]
        lines = [{**line, "orderId": order_id, "shipmentId": None} for order_id in line_orders]
        data = {"invoiceId": invoice_id, "invoiceNumber": invoice_id, "lines": lines}
        return self._event("invoice-issued.json", invoice_id, data)

    async def project(self, *events: dict[str, Any]) -> None:
        """One batch of ``events``, none of them refused."""
        outcome = await self._processor.process(self._records(events))
        assert not outcome.dead_letters, outcome.dead_letters

    def _records(self, events: Iterable[dict[str, Any]]) -> list[Record]:
        """``events`` on their topics as one consumed batch (``records_of``: positions tell a
        batch's records apart; the processor keeps none across batches)."""
        topics = TopicNames()
        by_type = {
            "logistics.order.created.v1": topics.orders,
            "logistics.order.updated.v1": topics.orders,
            "logistics.shipment.planned.v1": topics.shipments,
            "logistics.invoice.issued.v1": topics.invoices,
        }
        return records_of(
            (by_type[event["type"]], None, json.dumps(event).encode()) for event in events
        )
