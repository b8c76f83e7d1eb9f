"""``python -m projections verify``: replay the log against the stored documents, report loss.

The projector commits an offset only once everything the records up to it imply has landed
(see ``runner``). So every retained event *below the group's committed offsets* must be held
by its entity's document; one that is not (``holdings.missing_events``) was acknowledged and
lost. Records past the committed offsets are still in flight and are not checked (``--to-end``
checks them too, for a stopped, caught-up projector).

The check reads every retained inbound record and loads one document per entity it names:
a periodic job, not a hot path. Its result goes to stdout, to the exit status (1: some entity
is behind) and, with ``--metrics-file``, to a Prometheus text file (the node_exporter
textfile-collector format, so no Pushgateway and no open port are needed):

It also checks every loaded shipment's and invoice's ``warehouseIds`` against what its
summaries derive (``store.warehouses_unsettled``): a wrong one shows or hides the document
from warehouse-limited callers; such documents are listed and set the exit status too. And
it checks every loaded document's ``related`` summaries of the kinds it names against the
entities it names plus those that name it (``effects.stale_summaries``): one of neither is
a link that was dropped while its summaries stayed, which readers still show; such
documents are listed with the summaries, and set the exit status too. The other way round,
it checks that every link a loaded document names has the summaries the projector writes
for it (``effects.missing_summaries``): the named entity holds the summary of a known
namer, the namer that of a known named entity. One lacking is a link that readers find from
the naming side only, which warehouse-limited checks and nested pages read from the
summaries; such documents are listed with the summaries they lack and set the exit status.
A document linked to more entities of a kind than it embeds summaries of
(``links.overflowing``) lacks some by design (its readers query the other side) and is not
reported for that kind; its ``warehouseIds`` derive as none (fail closed), which is what
the projector stores.
And it lists the loaded documents holding facts another customer reported before their
snapshot named their customer (``holdings.set_aside``): an upstream error to follow up,
as the dead letters of such facts arriving after the snapshot are; nothing is lost or
shown, so they do not set the exit status.

* ``portal_projection_entities_behind``: entities whose document lacks an event the log holds;
* ``portal_projection_events_missing``: such events;
* ``portal_projection_warehouses_unsettled``: documents so listed;
* ``portal_projection_related_stale``: documents holding summaries of links neither side
  names;
* ``portal_projection_related_missing``: documents lacking summaries of links a side names;
* ``portal_projection_foreign_facts_set_aside``: documents holding another customer's facts;
* ``portal_projection_verify_events_checked`` and ``..._last_run_timestamp_seconds``.
"""

from __future__ import annotations

import logging
import time
from asyncio import sleep
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from pymongo import AsyncMongoClient

from projections.batch import EntityKey
from projections.dead_letter import InboundRecord
from projections.effects import (
    linked_keys,
    missing_summaries,
    stale_summaries,
    unnamed_summaries,
)
from projections.events import Event
from projections.header_names import tolerate_unreadable_header_names
from projections.holdings import Behind, SetAside, entities_behind, set_aside
from projections.projector import decode_records
from projections.settings import ProjectorSettings
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore, warehouses_unsettled
from readmodel.kafka_admin import partitions_of
from readmodel.topics import INBOUND_ISOLATION

log = logging.getLogger(__name__)

#: How often, and how far apart, a document whose ``warehouseIds`` looks unsettled is read
#: again before verify reports it (a running projector settles a push within its batch).
SETTLE_ROUNDS: Final = 3
SETTLE_GRACE_SECONDS: Final = 2.0


@dataclass(frozen=True)
class VerifyReport:
    events_checked: int
    entities_checked: int
    behind: list[Behind]
    #: Shipments and invoices whose stored ``warehouseIds`` their summaries do not derive.
    unsettled: list[EntityKey]
    #: Documents -> the entities whose summaries they hold though neither side names the
    #: other (``effects.stale_summaries``).
    stale: Mapping[EntityKey, list[EntityKey]]
    #: Documents (or entities with none) -> the entities whose summaries they lack though
    #: one side names the other (``effects.missing_summaries``).
    missing: Mapping[EntityKey, list[EntityKey]]
    #: Documents holding facts other customers reported (kept aside, not shown).
    foreign: list[SetAside]

    def lines(self) -> list[str]:
        out = [
            f"checked {self.events_checked} events of {self.entities_checked} entities: "
            f"{len(self.behind)} behind the log, "
            f"{len(self.unsettled)} with warehouseIds their summaries do not derive, "
            f"{len(self.stale)} with summaries of links neither side names, "
            f"{len(self.missing)} lacking summaries of links a side names, "
            f"{len(self.foreign)} holding facts of another customer (set aside, not shown)"
        ]
        out += [f"UNSETTLED {key.kind}/{key.id}: warehouseIds" for key in self.unsettled]
        out += [
            f"STALE {key.kind}/{key.id}: "
            + ", ".join(f"related.{other.kind}.{other.id}" for other in others)
            for key, others in self.stale.items()
        ]
        out += [
            f"MISSING {key.kind}/{key.id}: "
            + ", ".join(f"related.{other.kind}.{other.id}" for other in others)
            for key, others in self.missing.items()
        ]
        out += [
            f"SET ASIDE {entry.key.kind}/{entry.key.id}: facts of {', '.join(entry.customers)}"
            for entry in self.foreign
        ]
        for entity in self.behind:
            state = "no document" if entity.absent else "document lacks"
            out.append(
                f"BEHIND {entity.key.kind}/{entity.key.id}: {state} "
                f"{len(entity.missing)} events: {', '.join(entity.missing)}"
            )
        return out


async def _committed(settings: ProjectorSettings) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group_id)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def read_log(settings: ProjectorSettings, *, to_end: bool) -> list[InboundRecord]:
    """The retained inbound records below the group's committed offsets (or the end)."""
    tolerate_unreadable_header_names()  # refused as the projector refuses them
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        isolation_level=INBOUND_ISOLATION,
    )
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, settings.topics.inbound().values())
        ends = await consumer.end_offsets(partitions)
        committed = {} if to_end else await _committed(settings)
        bounds = {
            tp: ends[tp] if to_end else min(ends[tp], committed.get(tp, 0)) for tp in partitions
        }
        wanted = [tp for tp in partitions if bounds[tp] > 0]
        consumer.assign(wanted)
        if wanted:
            await consumer.seek_to_beginning(*wanted)
        records: list[InboundRecord] = []
        pending = set(wanted)
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, batch in batches.items():
                records.extend(r for r in batch if r.offset < bounds[tp])
            pending = {tp for tp in pending if await consumer.position(tp) < bounds[tp]}
        return records
    finally:
        await consumer.stop()


async def check(settings: ProjectorSettings, *, to_end: bool = False) -> VerifyReport:
    records = await read_log(settings, to_end=to_end)
    decoded, _dead = decode_records(records, settings.topics)
    events: list[Event] = [event for event, _ in decoded]
    keys = {EntityKey(event.entity_kind, event.entity_id) for event in events}
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongodb_uri, tz_aware=True
    )
    try:
        store = ProjectionStore(
            client[settings.mongodb_database], concurrency=settings.store_concurrency
        )
        suffix = await store.active_suffix()
        docs = await store.load_keys(suffix, keys)
        unsettled = await _still_found(store, suffix, docs, _unsettled)
        stale = await _still_found(store, suffix, docs, partial(_stale, store, suffix))
        missing = await _still_found(store, suffix, docs, partial(_missing, store, suffix))
    finally:
        await client.close()
    behind = entities_behind(docs, events, load_status_mapping(settings.status_map_file))
    entities = len(keys)
    return VerifyReport(
        len(events), entities, behind, sorted(unsettled), stale, missing, set_aside(docs)
    )


#: What a check finds in some stored documents: document -> what is wrong with it.
_Finder = Callable[
    [Mapping[EntityKey, Mapping[str, Any]]], Awaitable[dict[EntityKey, list[EntityKey]]]
]


async def _still_found(
    store: ProjectionStore,
    suffix: str,
    docs: Mapping[EntityKey, Mapping[str, Any]],
    find: _Finder,
) -> dict[EntityKey, list[EntityKey]]:
    """What ``find`` finds in ``docs``, its documents read again ``SETTLE_ROUNDS`` times
    ``SETTLE_GRACE_SECONDS`` apart: one found sound in any read is dropped, one found in
    every read is reported. A running projector mends what it leaves so within its batch
    (a summary push unsets ``warehouseIds`` and settles it; a write is followed by the
    removal of the summaries of the links it dropped), so a document caught in between is
    not a defect; one left so, or one an old projector keeps writing wrongly (its
    ``_writes`` moving), is. Each read takes the entities a document is found with too:
    what a document lacks may be called for by the other side's links."""
    found = await find(docs)
    for _ in range(SETTLE_ROUNDS):
        if not found:
            break
        await sleep(SETTLE_GRACE_SECONDS)
        involved = set(found).union(*found.values())
        again = await find(await store.load_keys(suffix, involved))
        found = {key: wrong for key, wrong in again.items() if key in found}
    return dict(sorted(found.items()))


async def _unsettled(
    docs: Mapping[EntityKey, Mapping[str, Any]],
) -> dict[EntityKey, list[EntityKey]]:
    """The shipments and invoices of ``docs`` whose ``warehouseIds`` their summaries do not
    derive (nothing more to say of each)."""
    return {key: [] for key, doc in docs.items() if warehouses_unsettled(key.kind, doc)}


async def _stale(
    store: ProjectionStore, suffix: str, docs: Mapping[EntityKey, Mapping[str, Any]]
) -> dict[EntityKey, list[EntityKey]]:
    """The documents of ``docs`` holding summaries of entities neither they name nor (as
    stored now) name them, with those entities."""
    unnamed = {key: unnamed_summaries(key, doc) for key, doc in docs.items()}
    wanted = set().union(*unnamed.values())
    others = await store.load_keys(suffix, wanted) if wanted else {}
    found = {key: stale_summaries(key, held, others) for key, held in unnamed.items()}
    return {key: stale for key, stale in found.items() if stale}


async def _missing(
    store: ProjectionStore, suffix: str, docs: Mapping[EntityKey, Mapping[str, Any]]
) -> dict[EntityKey, list[EntityKey]]:
    """The documents (of ``docs`` or that they name) lacking summaries that the links
    of ``docs`` call for, with the entities whose summaries they lack; what ``docs`` link
    to is read as stored now."""
    wanted = linked_keys(docs)
    return missing_summaries(docs, await store.load_keys(suffix, wanted) if wanted else {})


def write_metrics(report: VerifyReport, path: Path, labels: Mapping[str, str]) -> None:
    """The report as a Prometheus text file, replaced atomically (``write_to_textfile``)."""
    registry = CollectorRegistry()
    names = sorted(labels)

    def gauge(name: str, doc: str, value: float) -> None:
        metric = Gauge(name, doc, names, registry=registry)
        (metric.labels(**labels) if names else metric).set(value)

    gauge(
        "portal_projection_entities_behind",
        "Entities whose stored document lacks events below the projector's committed offsets",
        len(report.behind),
    )
    gauge(
        "portal_projection_events_missing",
        "Events below the committed offsets that their entity's document does not hold",
        sum(len(b.missing) for b in report.behind),
    )
    gauge(
        "portal_projection_warehouses_unsettled",
        "Shipments and invoices whose warehouseIds their order summaries do not derive",
        len(report.unsettled),
    )
    gauge(
        "portal_projection_related_stale",
        "Documents holding summaries of linked entities that neither side names any more",
        len(report.stale),
    )
    gauge(
        "portal_projection_related_missing",
        "Documents lacking summaries of linked entities that one side names",
        len(report.missing),
    )
    gauge(
        "portal_projection_foreign_facts_set_aside",
        "Documents holding facts another customer reported before their snapshot (not shown)",
        len(report.foreign),
    )
    gauge(
        "portal_projection_verify_events_checked",
        "Events the last verify run checked",
        report.events_checked,
    )
    gauge(
        "portal_projection_verify_last_run_timestamp_seconds",
        "When the last verify run finished",
        time.time(),
    )
    write_to_textfile(str(path), registry)
