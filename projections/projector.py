"""The projector: Kafka batches in, MongoDB documents out, offsets committed last.

Order of operations for one batch, and why:

1. decode every record once; records that cannot be processed become dead letters;
2. read the current documents of every entity the batch touches (``_id`` lookups);
3. fold the events into them with the pure reducers (no I/O);
4. write each touched document once, with the summaries of the batch's other entities
   folded into it (``_write_folded``), then the summaries for documents outside the batch,
   then those pulled from them. A folded write lands only if its document is still as
   loaded; a document another writer changed meanwhile is written stepwise instead. A batch
   that drops links is written stepwise throughout (``_write_stepwise``: link removals,
   documents, then every summary as its own guarded write);
5. publish dead letters and change notices and wait for the broker to acknowledge them;
6. only then commit the batch's offsets.

A crash anywhere before 6 re-runs the batch. Every step is idempotent (see ``store``), so a
re-run changes nothing that was already written: nothing is doubled. Nothing is lost either,
although the re-run finds the documents of step 4 already written and so sees no change to
derive the rest from: for every entity with events the store already holds, the batch
re-derives summaries and notices from the stored document (rev-guarded writes, notices with
the same ids, which subscribers deduplicate). Link removals, which only the change itself
knows of, are written before the document, so a re-run still sees them.

Folding matters on FerretDB, where every operation costs milliseconds of its CPU (it decodes
and re-encodes the whole document): a batch needs about two operations per document it
touches (read, write) instead of about six (read, write, a guarded write per summary, a read
per pulled summary), and a new document is inserted with others, reading nothing back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
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

    async def process(
        self, records: Sequence[InboundRecord], *, stepwise: bool = False
    ) -> BatchOutcome:
        """Apply a batch; ``stepwise`` skips the folded writes (see ``_write_folded``)."""
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
        batch = _Batch(suffix, current, groups)
        for key, entity_events in groups.items():
            plan = planner.plan_entity(key, current.get(key), entity_events, self._mapping)
            outcome.dead_letters.extend(
                _dead_letter(record_of[id(r.event)], r.reason) for r in plan.rejected
            )
            outcome.applied_events += len(entity_events) - len(plan.rejected)
            if plan.repeated:
                batch.repeated.add(key)
            if plan.change is not None:
                batch.changes.append(plan.change)
            elif plan.repeated and key in current:
                batch.unchanged.append(_Effects(key, None, current[key], entity_events))

        now = _now_millis()
        removals = _link_removals(batch.changes)
        if stepwise or removals:
            effects = await self._write_stepwise(batch, removals, now)
        else:
            effects = await self._write_folded(batch, now)
        outcome.written_documents = len(batch.changes)
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

    async def _write_folded(self, batch: _Batch, now: datetime) -> list[_Effects]:
        """Each document the batch touches written once, with its summaries folded in.

        Summaries of entities in the batch (and pulls from them) are computed in memory and
        go into the related document's own write, whose ``rev`` is known in advance because
        every write lands only if the document is still as loaded
        (``ProjectionStore.write_if_unchanged``). Documents that did not exist are inserted
        whole, a thousand per round trip (``ProjectionStore.insert_new``). Only summaries for
        documents outside the batch are separate writes. A document another writer changed
        (or created) meanwhile is written the stepwise way instead (``_rewrite_lost``).
        """
        views: dict[EntityKey, dict[str, Any]] = {
            key: _with_own_related(doc) for key, doc in batch.current.items()
        }
        for change in batch.changes:
            view = _with_own_related(change.after)
            view["rev"] = int((change.before or {}).get("rev", 0)) + 1
            views[change.key] = view
        effects = [
            _Effects(
                change.key,
                None if change.key in batch.repeated else change.before,
                views[change.key],
                batch.groups[change.key],
            )
            for change in batch.changes
        ] + [effect._replace(after=views[effect.key]) for effect in batch.unchanged]
        pushes, pulls = _summary_pushes(effects)
        outside_pulls: dict[tuple[str, str], list[EntityKey]] = {}
        for (target_kind, target_id), pullers in pulls.items():
            pulled = views.get(EntityKey(target_kind, target_id))
            if pulled is None:
                outside_pulls[(target_kind, target_id)] = pullers
            elif pulled.get("known"):
                pushes.extend(_summary_of(pulled, target_kind, target_id, to=p) for p in pullers)
        outside: list[SummaryPush] = []
        folded: dict[EntityKey, list[SummaryPush]] = defaultdict(list)
        for push in pushes:
            target = EntityKey(push.target_kind, push.target_id)
            target_view = views.get(target)
            if target_view is None:
                outside.append(push)
            elif push.summary is not None and _stored_rev(target_view, push) < push.rev:
                summary = {**push.summary, "rev": push.rev}
                target_view["related"].setdefault(push.source_kind, {})[push.key] = summary
                folded[target].append(push)

        changed = {change.key: change for change in batch.changes}
        updated = sorted(key for key in changed.keys() | folded.keys() if key in batch.current)
        created: dict[str, list[EntityChange]] = defaultdict(list)
        for key, change in changed.items():
            if key not in batch.current:
                created[key.kind].append(change)
        landed, refused = await asyncio.gather(
            asyncio.gather(
                *(
                    self._store.write_if_unchanged(
                        self._store.collection_name(key.kind, batch.suffix),
                        key.id,
                        batch.current[key],
                        change=changed.get(key),
                        summaries=folded.get(key, ()),
                        now=now,
                    )
                    for key in updated
                )
            ),
            asyncio.gather(
                *(
                    self._store.insert_new(
                        self._store.collection_name(kind, batch.suffix),
                        changes,
                        {key.id: folded.get(key, ()) for key in (c.key for c in changes)},
                        now,
                    )
                    for kind, changes in created.items()
                )
            ),
        )
        lost = [key for key, ok in zip(updated, landed, strict=True) if not ok] + [
            EntityKey(kind, doc_id)
            for kind, ids in zip(created, refused, strict=True)
            for doc_id in sorted(ids)
        ]
        existing = {(key.kind, key.id) for key in views}
        if lost:
            effects = await self._rewrite_lost(batch, lost, folded, effects, existing, now)
        await self._store.push_summaries(batch.suffix, outside, existing=existing)
        await self._store.push_summaries(
            batch.suffix, await self._pull_summaries(batch.suffix, outside_pulls), existing=existing
        )
        return effects

    async def _rewrite_lost(
        self,
        batch: _Batch,
        lost: Sequence[EntityKey],
        folded: Mapping[EntityKey, Sequence[SummaryPush]],
        effects: list[_Effects],
        existing: Container[tuple[str, str]],
        now: datetime,
    ) -> list[_Effects]:
        """Write the documents whose folded write lost a race the stepwise way.

        Their own changes go in with ``write_entity`` (which returns the real ``rev``); their
        summaries are pushed again from the stored document to every related document, and
        the summaries meant for them become guarded pushes. Everything else of the batch
        stands: what was folded elsewhere with a predicted ``rev`` is replaced by these
        guarded pushes if the real one is newer.
        """
        log.info("%d documents were changed by another writer meanwhile: rewriting", len(lost))
        changed = {change.key: change for change in batch.changes}
        own = [changed[key] for key in lost if key in changed]
        stored = await asyncio.gather(
            *(
                self._store.write_entity(
                    self._store.collection_name(change.key.kind, batch.suffix), change, now
                )
                for change in own
            )
        )
        stored_of = {change.key: doc for change, doc in zip(own, stored, strict=True)}
        pushes, pulls = _summary_pushes(
            [_Effects(key, None, doc, batch.groups[key]) for key, doc in stored_of.items()]
        )
        pushes += [push for key in lost for push in folded.get(key, ())]
        await self._store.push_summaries(batch.suffix, pushes, existing=existing)
        await self._store.push_summaries(
            batch.suffix, await self._pull_summaries(batch.suffix, pulls), existing=existing
        )
        return [
            effect._replace(after=stored_of[effect.key]) if effect.key in stored_of else effect
            for effect in effects
        ]

    async def _write_stepwise(
        self, batch: _Batch, removals: Sequence[SummaryPush], now: datetime
    ) -> list[_Effects]:
        """Documents first, then the summaries they push and pull, each a guarded write.

        Safe whatever other writers do meanwhile; used when the folded writes lost a race
        and for batches that drop links (their removals must land before the documents).
        """
        existing = {(key.kind, key.id) for key in batch.current} | {
            (change.key.kind, change.key.id) for change in batch.changes
        }
        await self._store.push_summaries(batch.suffix, removals, existing=existing)
        stored = await asyncio.gather(
            *(
                self._store.write_entity(
                    self._store.collection_name(change.key.kind, batch.suffix), change, now
                )
                for change in batch.changes
            )
        )
        effects = [
            _Effects(
                change.key,
                None if change.key in batch.repeated else change.before,
                doc,
                batch.groups[change.key],
            )
            for change, doc in zip(batch.changes, stored, strict=True)
        ] + batch.unchanged
        pushes, pulls = _summary_pushes(effects)
        await self._store.push_summaries(batch.suffix, pushes, existing=existing)
        # Only after our summaries landed: of two entities linked at the same time by two
        # processes, one then sees the other's summary in its own write's result or here.
        await self._store.push_summaries(
            batch.suffix, await self._pull_summaries(batch.suffix, pulls), existing=existing
        )
        return effects

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
                if other.get("known"):
                    pushes.extend(
                        _summary_of(other, target_kind, target_id, to=puller)
                        for puller in pulls[(target_kind, target_id)]
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


@dataclass
class _Batch:
    """A planned batch: what was loaded, and what the events do to it."""

    suffix: str
    current: Mapping[EntityKey, Mapping[str, Any]]
    groups: Mapping[EntityKey, Sequence[Event]]
    changes: list[EntityChange] = field(default_factory=list)
    repeated: set[EntityKey] = field(default_factory=set)
    #: Entities with repeated events and no change: their effects are derived again.
    unchanged: list[_Effects] = field(default_factory=list)


def _with_own_related(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` whose ``related`` summaries can be changed without touching it."""
    view = dict(doc)
    view["related"] = {kind: dict(entries) for kind, entries in (doc.get("related") or {}).items()}
    return view


def _stored_rev(doc: Mapping[str, Any], push: SummaryPush) -> int:
    """The revision of ``push``'s source that ``doc`` holds a summary of (-1: none)."""
    entry = (doc.get("related") or {}).get(push.source_kind, {}).get(push.key)
    return int(entry.get("rev", 0)) if isinstance(entry, Mapping) else -1


def _summary_of(doc: Mapping[str, Any], kind: str, doc_id: str, *, to: EntityKey) -> SummaryPush:
    """The summary of ``doc`` (entity ``kind``/``doc_id``) for the document ``to``."""
    return SummaryPush(
        target_kind=to.kind,
        target_id=to.id,
        source_kind=kind,
        source_id=doc_id,
        rev=int(doc.get("rev", 0)),
        summary=summarize(kind, dict(doc)),
        customer_id=doc.get("customerId"),
    )


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
