"""The projector: Kafka batches in, MongoDB documents out, offsets committed last.

Order of operations for one batch, and why:

1. decode every record once; records that cannot be processed become dead letters;
2. read the current documents of every entity the batch touches (``_id`` lookups);
3. fold the events into them with the pure reducers (no I/O);
4. remove summaries of links the batch drops, write the changed documents, then the
   summaries they push into (and pull from) related documents;
5. publish dead letters and change notices and wait for the broker to acknowledge them;
6. only then commit the batch's offsets.

A crash anywhere before 6 re-runs the batch. Every step is idempotent (see ``store``), so a
re-run changes nothing that was already written: nothing is doubled. Nothing is lost either,
although the re-run finds the documents of step 4 already written and so sees no change to
derive the rest from: for every entity with events the store already holds, the batch
re-derives summaries and notices from the stored document (rev-guarded writes, notices with
the same ids, which subscribers deduplicate). Link removals, which only the change itself
knows of, are written before the document, so a re-run still sees them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from projections import batch as planner
from projections.batch import EntityChange, EntityKey
from projections.changes import ShipmentChange, order_warehouses_of
from projections.dead_letter import DeadLetter
from projections.events import (
    Event,
    InvalidEvent,
    ShipmentCancelled,
    ShipmentMilestone,
    decode_event,
)
from projections.status_mapping import StatusMapping
from projections.store import ProjectionStore, SummaryPush
from projections.summaries import summarize
from projections.topics import TopicNames

log = logging.getLogger(__name__)

#: Kinds whose documents summarise into others (sources do not).
LINKED_KINDS = frozenset({"orders", "shipments", "invoices"})


class InboundRecord(Protocol):
    """The parts of a Kafka consumer record the projector reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass
class BatchOutcome:
    """What a processed batch asks the Kafka side to publish before committing."""

    applied_events: int = 0
    written_documents: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    notices: list[ShipmentChange] = field(default_factory=list)


def _dead_letter(record: InboundRecord, reason: str) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        key=record.key,
        value=record.value,
        reason=reason,
    )


def decode_records(
    records: Sequence[InboundRecord], topics: TopicNames
) -> tuple[list[tuple[Event, InboundRecord]], list[DeadLetter]]:
    """Decode at the edge: typed events out, anything unusable as a dead letter."""
    events: list[tuple[Event, InboundRecord]] = []
    dead: list[DeadLetter] = []
    for record in records:
        kind = topics.kind_of(record.topic)
        if record.value is None:
            dead.append(_dead_letter(record, "record has no value"))
            continue
        try:
            event = decode_event(record.value)
        except InvalidEvent as exc:
            dead.append(_dead_letter(record, exc.reason))
            continue
        if event.topic_kind != kind:
            dead.append(
                _dead_letter(record, f"event type {event.type} does not belong on {record.topic}")
            )
            continue
        events.append((event, record))
    return events, dead


class BatchProcessor:
    """Applies one batch of records to the store; knows nothing of consumer groups."""

    def __init__(
        self,
        store: ProjectionStore,
        mapping: StatusMapping,
        topics: TopicNames,
        *,
        target_suffix: str | None = None,
    ) -> None:
        """``target_suffix`` pins the generation written (a rebuild); None follows the pointer."""
        self._store = store
        self._mapping = mapping
        self._topics = topics
        self._target_suffix = target_suffix
        self._prepared_suffixes: set[str] = set()
        #: The pointer as read at the end of the previous batch. The next batch starts from
        #: it without reading again: a switch since then is caught by that batch's own check
        #: at its end, which applies it to the new generation too.
        self._followed_suffix: str | None = None

    async def process(self, records: Sequence[InboundRecord]) -> BatchOutcome:
        decoded, dead = decode_records(records, self._topics)
        outcome = BatchOutcome(dead_letters=dead)
        if not decoded:
            return outcome
        record_of = {id(event): record for event, record in decoded}
        events = [event for event, _ in decoded]
        suffix = self._target_suffix
        if suffix is None:
            suffix = self._followed_suffix
        if suffix is None:
            suffix = await self._store.active_suffix()
        if suffix not in self._prepared_suffixes:
            await self._store.ensure_collections(suffix)
            self._prepared_suffixes.add(suffix)
        groups = planner.group_by_entity(events)

        current = await self._load(suffix, groups.keys())
        changes: list[EntityChange] = []
        repeated: set[EntityKey] = set()
        unchanged: list[_Effects] = []
        for key, entity_events in groups.items():
            plan = planner.plan_entity(key, current.get(key), entity_events, self._mapping)
            outcome.dead_letters.extend(
                _dead_letter(record_of[id(r.event)], r.reason) for r in plan.rejected
            )
            outcome.applied_events += len(entity_events) - len(plan.rejected)
            if plan.repeated:
                repeated.add(key)
            if plan.change is not None:
                changes.append(plan.change)
            elif plan.repeated and key in current:
                unchanged.append(_Effects(key, None, current[key], entity_events))

        existing = {(key.kind, key.id) for key in current} | {
            (change.key.kind, change.key.id) for change in changes
        }
        await self._store.push_summaries(suffix, _link_removals(changes), existing=existing)
        now = _now_millis()
        stored = await asyncio.gather(
            *(
                self._store.write_entity(
                    self._store.collection_name(change.key.kind, suffix), change, now
                )
                for change in changes
            )
        )
        outcome.written_documents = len(changes)
        effects = [
            _Effects(
                change.key,
                None if change.key in repeated else change.before,
                doc,
                groups[change.key],
            )
            for change, doc in zip(changes, stored, strict=True)
        ] + unchanged
        pushes, pulls = _summary_pushes(effects)
        await self._store.push_summaries(suffix, pushes, existing=existing)
        # Only after our summaries landed: of two entities linked at the same time by two
        # processes, one then sees the other's summary in its own write's result or here.
        await self._store.push_summaries(
            suffix, await self._pull_summaries(suffix, pulls), existing=existing
        )
        await self._store.touch_sources(suffix, planner.sources_seen(events), now)
        outcome.notices = _notices(effects, now)
        if self._target_suffix is None:
            self._followed_suffix = await self._store.active_suffix()
            if self._followed_suffix != suffix:
                # A rebuild switched readers to a new generation while this batch went into
                # the old one, and may have stopped reading before these records: apply them
                # there too (idempotent) before they are committed.
                log.info("generation switched from %r: applying the batch again", suffix)
                return await self.process(records)
        return outcome

    async def _load(
        self, suffix: str, keys: Iterable[EntityKey]
    ) -> dict[EntityKey, Mapping[str, Any]]:
        ids_by_kind: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            ids_by_kind[key.kind].append(key.id)
        loaded = await asyncio.gather(
            *(
                self._store.load(self._store.collection_name(kind, suffix), ids)
                for kind, ids in ids_by_kind.items()
            )
        )
        return {
            EntityKey(kind, doc_id): doc
            for kind, docs in zip(ids_by_kind, loaded, strict=True)
            for doc_id, doc in docs.items()
        }

    async def _pull_summaries(
        self, suffix: str, pulls: Mapping[tuple[str, str], list[EntityKey]]
    ) -> list[SummaryPush]:
        by_kind: dict[str, list[str]] = defaultdict(list)
        for target_kind, target_id in pulls:
            by_kind[target_kind].append(target_id)
        pushes: list[SummaryPush] = []
        for target_kind, ids in by_kind.items():
            docs = await self._store.load(self._store.collection_name(target_kind, suffix), ids)
            for target_id, other in docs.items():
                if not other.get("known"):
                    continue
                summary = summarize(target_kind, dict(other))
                for puller in pulls[(target_kind, target_id)]:
                    pushes.append(
                        SummaryPush(
                            target_kind=puller.kind,
                            target_id=puller.id,
                            source_kind=target_kind,
                            source_id=target_id,
                            rev=int(other.get("rev", 0)),
                            summary=summary,
                            customer_id=other.get("customerId"),
                        )
                    )
        return pushes


def _summary_pushes(
    effects: Sequence[_Effects],
) -> tuple[list[SummaryPush], dict[tuple[str, str], list[EntityKey]]]:
    """Summaries to write into related documents, in both directions.

    Out: this document's summary goes to every entity it names and every entity that
    named it. In (returned as pulls, by the entity to read): for a link this batch added,
    the other side may have been written before it knew of us, so its current summary is
    pulled into this document. A document with repeated events (``before`` None) counts
    every link as added.
    """
    pushes: list[SummaryPush] = []
    pulls: dict[tuple[str, str], list[EntityKey]] = defaultdict(list)
    for effect in effects:
        kind, doc = effect.key.kind, effect.after
        if kind not in LINKED_KINDS:
            continue
        delta = planner.link_delta(kind, effect.before, doc)
        targets: dict[str, set[str]] = defaultdict(set)
        for target_kind, ids in delta.current.items():
            targets[target_kind].update(ids)
        for target_kind, named_us in planner.related_ids(doc).items():
            targets[target_kind].update(named_us)
        for target_kind, ids in delta.removed.items():
            targets[target_kind].difference_update(ids)
        if doc.get("known"):
            summary = summarize(kind, dict(doc))
            # Related documents already hold this summary when the batch changed nothing it
            # shows: only links the batch added need it (a repeated batch re-pushes all).
            unchanged = (
                effect.before is not None
                and bool(effect.before.get("known"))
                and summarize(kind, dict(effect.before)) == summary
            )
            for target_kind, target_ids in targets.items():
                if unchanged:
                    target_ids &= delta.added.get(target_kind, frozenset())
                for target_id in sorted(target_ids):
                    pushes.append(
                        SummaryPush(
                            target_kind=target_kind,
                            target_id=target_id,
                            source_kind=kind,
                            source_id=effect.key.id,
                            rev=int(doc.get("rev", 0)),
                            summary=summary,
                            customer_id=doc.get("customerId"),
                        )
                    )
        for target_kind, ids in delta.added.items():
            for target_id in ids:
                pulls[(target_kind, target_id)].append(effect.key)
    return pushes, pulls


def _now_millis() -> datetime:
    """Now, at the millisecond precision BSON dates keep, so diffs compare stored values."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class _Effects(NamedTuple):
    """One entity the batch touched: what follows from it beyond its own document."""

    key: EntityKey
    before: Mapping[str, Any] | None  # None: some events were repeats, re-derive everything
    after: Mapping[str, Any]
    events: Sequence[Event]


def _link_removals(changes: Sequence[EntityChange]) -> list[SummaryPush]:
    """For each link a change drops, both sides' summaries of each other, to be removed."""
    removals: list[SummaryPush] = []
    for change in changes:
        kind = change.key.kind
        if kind not in LINKED_KINDS or change.before is None:
            continue
        for target_kind, ids in planner.link_delta(
            kind, change.before, change.after
        ).removed.items():
            for target_id in sorted(ids):
                removals.append(_removal(target_kind, target_id, kind, change.key.id))
                removals.append(_removal(kind, change.key.id, target_kind, target_id))
    return removals


def _removal(target_kind: str, target_id: str, source_kind: str, source_id: str) -> SummaryPush:
    return SummaryPush(
        target_kind=target_kind,
        target_id=target_id,
        source_kind=source_kind,
        source_id=source_id,
        rev=0,
        summary=None,
        customer_id=None,
    )


def _notices(effects: Sequence[_Effects], now: datetime) -> list[ShipmentChange]:
    """One notice per new milestone and per cancellation of a shipment.

    For a shipment with repeated events, the milestones and cancellation its events carry are
    announced again under the same notice ids: the first announcement may have been lost
    with a crash, and subscribers drop ids they have already seen.
    """
    notices: list[ShipmentChange] = []
    for effect in effects:
        if effect.key.kind != "shipments":
            continue
        doc = effect.after
        template = ShipmentChange(
            notice_id="",
            shipment_id=effect.key.id,
            customer_id=str(doc.get("customerId", "")),
            tracking_number=doc.get("trackingNumber"),
            status=str(doc.get("status", "PLANNED")),
            milestone=None,
            rev=int(doc.get("rev", 0)),
            projected_at=now,
            order_warehouses=order_warehouses_of(doc),
        )
        if effect.before is None:
            carried = {
                (event.source, event.data.milestone_id)
                for event in effect.events
                if isinstance(event.data, ShipmentMilestone)
            }
            milestones = [
                m
                for m in doc.get("milestones", [])
                if (m.get("source"), m.get("milestoneId")) in carried
            ]
            cancelled = bool(doc.get("cancelled")) and any(
                isinstance(event.data, ShipmentCancelled) for event in effect.events
            )
        else:
            milestones = planner.new_milestones(effect.before, doc)
            cancelled = planner.became_cancelled(effect.before, doc)
        for milestone in milestones:
            notice_id = f"{milestone.get('source')}|{milestone.get('milestoneId')}"
            notices.append(replace(template, notice_id=notice_id, milestone=dict(milestone)))
        if cancelled:
            notices.append(replace(template, notice_id=f"{effect.key.id}|cancelled"))
    return notices
