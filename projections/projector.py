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
   documents, then every summary as its own guarded write). Last, the summaries of links
   the documents as written no longer have go, on both sides (``_unlink``: a link another
   writer added and a re-planned write dropped, or such damage left before);
5. write what nothing else of the batch reads (``PendingWrites``): the search documents of
   the orders and shipments whose searchable values changed (``search_writes``, a side
   collection, so most writes of a document touch no search key) and the sources' freshness;
   and publish dead letters and change notices and wait for the broker to acknowledge them.
   ``process`` does this itself; the runner does it while the next batch goes through 1-4
   (``BatchProcessor.apply``, then ``complete``), as these writes are rev-guarded or
   ``$max``, so their order between batches does not matter;
6. only then, once every write of 4 and 5 has landed, commit the batch's offsets.

A crash anywhere before 6 re-runs the batch. Every step is idempotent (see ``store``), so a
re-run changes nothing that was already written: nothing is doubled. Nothing is lost either,
although the re-run finds the documents of step 4 already written and so sees no change to
derive the rest from: for every entity with events the store already holds, the batch
re-derives summaries and notices from the stored document (rev-guarded writes, notices with
the same ids, which subscribers deduplicate). Link removals, which only the change itself
knows of, are written before the document, so a re-run still sees them.

Folding keeps the store's work per document small: a batch needs about two operations per
document it touches (read, write) instead of about six (read, write, a guarded write per
summary, a read per pulled summary), and a new document is inserted with others, reading
nothing back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from projections import batch as planner
from projections.batch import NO_STATUSES, EntityChange, EntityKey, MilestoneStatuses, SourceSeen
from projections.dead_letter import NO_VALUE, DeadLetter, InboundRecord, unreadable_header
from projections.deferred_indexes import DeferredIndexes
from projections.document_cache import CACHED_DOCUMENTS, DocumentCache
from projections.effects import (
    Effects,
    Fold,
    SummaryPush,
    dropped_links,
    fan_out_pushes,
    fan_out_reads,
    fold,
    link_fields,
    link_removals,
    linked_keys,
    notices,
    summaries_of,
    summary_pushes,
    unlink,
    unlink_reads,
    unnamed_by_document,
)
from projections.events import Event, InvalidEvent, decode_event
from projections.generation_config import projection_config, refusal
from projections.phases import PhaseClock
from projections.search_writes import likely_stored, write_search_keys
from projections.status_mapping import StatusMapping
from projections.store import (
    CONFLICT_ROUNDS,
    ActiveGeneration,
    FoldedWrite,
    Landed,
    ProjectionStore,
    StoreError,
    warehouses_unsettled,
)
from projections.together import together
from readmodel.changes import ShipmentChange
from readmodel.documents import SEARCH_KEYS
from readmodel.topics import TopicNames

log = logging.getLogger(__name__)

#: Entities planned between two yields to the event loop (the prefetch of related documents
#: and the previous batch's finish run meanwhile).
PLAN_SLICE = 100
#: The longest a batch starts from a pointer read earlier (``BatchProcessor._suffix``): one
#: read per batch at most when batches come further apart, none more under load.
POINTER_REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class PendingWrites:
    """The writes of a batch that no later step of it reads: its search documents and its
    sources' freshness, into generation ``suffix``. Written after the batch's documents and
    before its offsets are committed (``BatchProcessor.complete``)."""

    suffix: str
    effects: Sequence[Effects]
    sources: Mapping[str, SourceSeen]
    now: datetime
    #: The search documents most likely stored already (``search_writes.likely_stored``):
    #: written by the guarded update first, not by an insert the store would refuse.
    searched: frozenset[str] = frozenset()


@dataclass
class BatchOutcome:
    """What an applied batch still asks for before its offsets may be committed: the writes
    of ``pending`` and the publication of its dead letters and notices."""

    applied_events: int = 0
    written_documents: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    notices: list[ShipmentChange] = field(default_factory=list)
    #: Writes still to make (one per generation the batch went into).
    pending: list[PendingWrites] = field(default_factory=list)
    #: The applied events with their records (metrics, trace logs), in no particular order.
    applied: list[tuple[Event, InboundRecord]] = field(default_factory=list)
    #: Where the batch's time went (the runner adds fetching and finishing).
    phases: PhaseClock = field(default_factory=PhaseClock)


def decode_records(
    records: Sequence[InboundRecord], topics: TopicNames
) -> tuple[list[tuple[Event, InboundRecord]], list[DeadLetter]]:
    """Decode at the edge: typed events out, anything unusable as a dead letter."""
    events: list[tuple[Event, InboundRecord]] = []
    dead: list[DeadLetter] = []
    for record in records:
        kind = topics.kind_of(record.topic)
        unreadable = unreadable_header(record)
        if unreadable is not None:
            dead.append(unreadable)
            continue
        if record.value is None:
            dead.append(DeadLetter.of(record, NO_VALUE))
            continue
        try:
            event = decode_event(record.value)
        except InvalidEvent as exc:
            dead.append(DeadLetter.of(record, exc.reason))
            continue
        if event.topic_kind != kind:
            dead.append(
                DeadLetter.of(record, f"event type {event.type} does not belong on {record.topic}")
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
        cache: DocumentCache | None = None,
        deferring: frozenset[str] = frozenset(),
    ) -> None:
        """``target_suffix`` pins the generation written (a rebuild); None follows the pointer.
        ``cache``: the documents this process last read or wrote (default: a new one of
        ``CACHED_DOCUMENTS``, serving only the batch's own entities). ``deferring``: the
        collections whose indexes a generation not yet complete builds only once the
        process has ``caught_up`` (``projections.deferred_indexes``)."""
        self._store = store
        self._cache = cache if cache is not None else DocumentCache(CACHED_DOCUMENTS)
        self._mapping = mapping
        self._topics = topics
        self._target_suffix = target_suffix
        #: What this processor's documents follow (``projections.generation_config``).
        self._config = projection_config(mapping)
        self._generations = DeferredIndexes(store, deferring)
        #: The pointer as read at the end of the previous batch. The next batch starts from
        #: it without reading again: a switch since then is caught by that batch's own check
        #: at its end, which applies it to the new generation too; unless it was read more
        #: than ``POINTER_REFRESH_SECONDS`` ago (``_generation``). Its revision offset is
        #: what the batch's notices add to a shipment's ``rev``
        #: (``projections.revision_offsets``), so they keep the offset of the generation
        #: they were written to, even when published after a switch.
        self._followed: ActiveGeneration | None = None
        #: When ``_followed`` was read (``time.monotonic``); both set by ``_follow`` only.
        self._followed_at = 0.0
        #: The revision offset of ``target_suffix`` (a rebuild's), once its switch gave it
        #: one (``announce_with``); the catch-ups before it publish nothing.
        self._target_offset = 0

    async def process(
        self, records: Sequence[InboundRecord], *, stepwise: bool = False
    ) -> BatchOutcome:
        """Apply a batch and ``complete`` it: every write made, nothing published."""
        outcome = await self.apply(records, stepwise=stepwise)
        await self.complete(outcome)
        return outcome

    async def complete(self, outcome: BatchOutcome) -> None:
        """Make the writes ``apply`` left pending (idempotent: a retry after a store error,
        or a re-run of the batch, writes the same). The search documents and the sources
        go concurrently: neither reads the other; the first failure stops the rest (a retry
        writes them all again)."""
        await together(
            *(
                write
                for pending in outcome.pending
                for write in (
                    write_search_keys(
                        self._store,
                        pending.suffix,
                        pending.effects,
                        indexed=SEARCH_KEYS not in self._generations.waiting(pending.suffix),
                        stored=pending.searched,
                    ),
                    self._store.touch_sources(pending.suffix, pending.sources, pending.now),
                )
            )
        )
        outcome.pending.clear()

    async def apply(
        self, records: Sequence[InboundRecord], *, stepwise: bool = False
    ) -> BatchOutcome:
        """Write a batch's documents and summaries; what is left to write (``pending``) and
        publish. ``stepwise`` skips the folded writes (see ``_write_folded``).

        A batch that fails may have written some of its documents and not others: the cache
        is forgotten, and its rerun reads every document from the store."""
        try:
            return await self._apply(records, stepwise=stepwise)
        except BaseException:
            self._cache.forget_all()
            raise

    async def _apply(
        self, records: Sequence[InboundRecord], *, stepwise: bool = False
    ) -> BatchOutcome:
        clock = PhaseClock()
        decoded, dead = decode_records(records, self._topics)
        outcome = BatchOutcome(dead_letters=dead, phases=clock)
        clock.lap("decode")
        if not decoded:
            return outcome
        record_of = {id(event): record for event, record in decoded}
        events = [event for event, _ in decoded]
        suffix, revision_offset = await self._generation()
        groups = planner.group_by_entity(events)
        epoch = self._cache.epoch
        current = await self._load(suffix, groups.keys(), own=True)
        searched = likely_stored(current)
        clock.lap("load")
        batch = _Batch(suffix, current, groups, epoch)
        batch.prefetch(linked_keys(current) - groups.keys(), self._load)
        try:
            await self._plan(batch, groups, record_of, outcome)
            clock.lap("plan")
            now = _now_millis()
            effects = await self._write(batch, stepwise, now, clock)
        finally:
            await batch.settle_prefetch()
        _settle_replans(batch, record_of, outcome)
        seen = planner.sources_seen(event for event, _ in outcome.applied)
        if self._target_suffix is not None:
            seen = replayed_sources(seen, outcome.applied, now)
        outcome.pending.append(PendingWrites(suffix, effects, seen, now, searched))
        outcome.written_documents = len(batch.changes)
        outcome.notices = notices(effects, now, revision_offset=revision_offset)
        clock.lap("notices")
        if self._target_suffix is None:
            followed = await self._follow()
            clock.lap("pointer")
            if followed.suffix != suffix:
                # A rebuild switched readers to a new generation while this batch went into
                # the old one, and may have stopped reading before these records: apply them
                # there too (idempotent) before they are committed.
                log.info("generation switched from %r: applying the batch again", suffix)
                again = await self.apply(records)
                again.phases.merge(clock)
                again.pending[:0] = outcome.pending
                return again
        return outcome

    async def prepare(self) -> str:
        """Make sure of the generation the next batch writes, before consuming: its indexes
        (some perhaps deferred, ``projections.deferred_indexes``) and, in one written before
        they existed, the search documents and the shipments' and invoices' ``warehouseIds``
        (``search_writes.ensure_filled``), a fill that can take longer than a consumer may
        go without polling its group."""
        suffix, _ = await self._generation()
        return suffix

    async def _generation(self) -> tuple[str, int]:
        """The generation this batch writes (its indexes made sure of, once per process) and
        the revision offset its notices carry.

        The pointer read at the end of the previous batch, unless that was more than
        ``POINTER_REFRESH_SECONDS`` ago: a projector idle for hours across a switch would
        otherwise write its next batch into the previous generation (then again into the new
        one), recreating it after ``projections generations drop`` dropped it. So a batch
        writes the previous generation only if it started within that time of the switch,
        which the drop's grace period covers (docs/operations.md)."""
        if self._target_suffix is not None:
            suffix, offset = self._target_suffix, self._target_offset
        else:
            followed = self._followed
            if followed is None or time.monotonic() - self._followed_at > POINTER_REFRESH_SECONDS:
                followed = await self._follow()
            suffix, offset = followed.suffix, followed.revision_offset
        await self._generations.prepare(suffix)
        return suffix, offset

    def announce_with(self, revision_offset: int) -> None:
        """Give the notices of the batches this processor writes into its target generation
        from now on ``revision_offset``: a rebuild's, once it switched readers to it with
        that offset (the drain after the switch publishes them)."""
        self._target_offset = revision_offset

    async def _follow(self) -> ActiveGeneration:
        """The generation the read pointer names; ``ConfigMismatch`` (logged) if a rebuild
        built it with another status mapping or other reducers than this processor's, which
        would undo that rebuild (``projections.generation_config``). Kept as ``_followed``,
        with when it was read, for the next batch to start from (``_generation``)."""
        active = await self._store.active_generation()
        read_at = time.monotonic()
        refused = refusal(active.suffix, active.config, self._config)
        if refused is not None:
            log.error("%s", refused)
            raise refused
        self._followed, self._followed_at = active, read_at
        return active

    @property
    def config(self) -> str:
        """The fingerprint of this processor's status mapping and reducers (a rebuild
        records it with the generation it switches readers to)."""
        return self._config

    @property
    def store(self) -> ProjectionStore:
        """The store this processor writes (a rebuild switches its pointer through it)."""
        return self._store

    @property
    def indexes_due(self) -> bool:
        """Whether ``caught_up`` has a build to try now (not while a refusal's delay runs)."""
        return self._generations.due(self._written_suffix)

    async def caught_up(self) -> bool:
        """Told that the batches have reached the log's end: build the indexes a new
        generation deferred, then mark its search complete; whether none waits any more."""
        return await self._generations.caught_up(self._written_suffix)

    @property
    def _written_suffix(self) -> str | None:
        """The generation the batches go into, None before the first reads the pointer."""
        if self._target_suffix:
            return self._target_suffix
        return None if self._followed is None else self._followed.suffix

    async def _write(
        self, batch: _Batch, stepwise: bool, now: datetime, clock: PhaseClock
    ) -> list[Effects]:
        """Write the planned batch, folded or (``stepwise``, or a batch that drops links)
        stepwise, then remove the links its documents no longer have (``_unlink``); the
        effects of its entities."""
        removals = link_removals(batch.changes)
        if stepwise or removals:
            effects = await self._write_stepwise(batch, removals, now)
            clock.lap("write stepwise")
        else:
            effects = await self._write_folded(batch, now, clock)
        effects = await self._unlink(batch, effects)
        clock.lap("unlink")
        await self._fan_out(batch.suffix, effects)
        clock.lap("fan out")
        return effects

    async def _fan_out(self, suffix: str, effects: Sequence[Effects]) -> None:
        """Push the summary of every entity overflowing for a kind (``links.overflowing``)
        to the documents naming it that its own document does not list (``fan_out_reads``):
        guarded writes after the batch's own, so a rerun of the batch pushes them again."""
        reads = fan_out_reads(effects)
        if not reads:
            return
        found = await asyncio.gather(*(self._store.naming_ids(suffix, read) for read in reads))
        named_by: dict[EntityKey, dict[str, set[str]]] = defaultdict(dict)
        for read, by_holder in zip(reads, found, strict=True):
            for holder_id, ids in by_holder.items():
                named_by[EntityKey(read.holder_kind, holder_id)].setdefault(
                    read.kind, set()
                ).update(ids)
        if pushes := fan_out_pushes(effects, named_by):
            log.info("pushing %d summaries of overflowing entities", len(pushes))
            await self._push(suffix, pushes)

    async def _unlink(self, batch: _Batch, effects: list[Effects]) -> list[Effects]:
        """Remove both sides' summaries of every link the batch's documents, as written,
        no longer have (``effects.unlink``); the effects with those summaries gone.

        ``link_removals`` covers the other sides' summaries of the links a batch's first
        plan drops. This covers the rest: the written document's own summaries of those
        links, a link another writer added after the batch read the document, which the
        re-planned write dropped (``batch.dropped``), and any summary a document holds of
        an entity that neither it names nor names it (left by such a race before this was
        mended, or by a crash between a write and its removals): the document's next
        write, or a rerun, heals it. The other sides the batch does not settle itself
        (``unlink_reads``) are read after every write of the batch landed, from the store
        (not the cache: they belong to other writers), only their link fields.
        """
        known = {**batch.current, **{effect.key: effect.after for effect in effects}}
        unnamed = unnamed_by_document(effects)
        decided, unread = unlink_reads(unnamed, batch.dropped, known)
        if not unread:  # every candidate names the document asking: nothing is gone
            return effects
        fields: dict[str, set[str]] = defaultdict(set)
        for other, holder_kinds in unread.items():
            fields[other.kind] |= holder_kinds
        projection = {kind: link_fields(kind, kinds) for kind, kinds in fields.items()}
        others = {**decided, **await self._store.load_keys(batch.suffix, unread, projection)}
        removals, healed = unlink(effects, unnamed, batch.dropped, others)
        if removals:
            log.info("removing %d summaries of links no longer declared", len(removals))
            await self._push(batch.suffix, removals)
        return healed

    async def _plan(
        self,
        batch: _Batch,
        groups: Mapping[EntityKey, list[Event]],
        record_of: Mapping[int, InboundRecord],
        outcome: BatchOutcome,
    ) -> None:
        """Fold each entity's events into its document (no I/O); the events the reducers
        refuse become dead letters in ``outcome`` and their ids ``batch.refused``."""
        refused = batch.refused
        current = batch.current
        for n, (key, entity_events) in enumerate(groups.items()):
            if n % PLAN_SLICE == PLAN_SLICE - 1:
                await asyncio.sleep(0)  # let the prefetch and the previous batch's finish run
            plan = planner.plan_entity(key, current.get(key), entity_events, self._mapping)
            plan_refused = {id(r.event) for r in plan.rejected}
            refused |= plan_refused
            outcome.dead_letters.extend(
                DeadLetter.of(record_of[id(r.event)], r.reason) for r in plan.rejected
            )
            outcome.applied_events += len(entity_events) - len(plan.rejected)
            outcome.applied.extend(
                (e, record_of[id(e)]) for e in entity_events if id(e) not in plan_refused
            )
            if plan.repeated:
                batch.repeated.add(key)
            if plan.change is not None:
                batch.changes.append(plan.change)
            elif plan.repeated and key in current:
                batch.unchanged.append(Effects(key, None, current[key], entity_events))

    async def _write_folded(self, batch: _Batch, now: datetime, clock: PhaseClock) -> list[Effects]:
        """Each document the batch touches written once, with its summaries folded in.

        Summaries of entities in the batch (and pulls from them) are computed in memory and
        go into the related document's own write, whose ``rev`` is known in advance because
        every write lands only if the document is still as loaded
        (``ProjectionStore.write_all_if_unchanged``). Related documents outside the batch
        are loaded too (``_load_related``) and get the same treatment: one compare-and-set
        write each, however many of the batch's entities summarise into it, and pulls
        from them answered from memory. Documents that did not exist are inserted whole, in
        commands of ``store.WRITE_CHUNK`` side by side (``ProjectionStore.insert_new``); only
        summaries for targets that do not exist yet are separate writes (placeholders). A document
        another writer changed (or created) meanwhile is written the stepwise way instead
        (``_rewrite_lost``).
        """
        folding = fold(batch.current, batch.changes, batch.repeated, batch.unchanged, batch.groups)
        clock.lap("fold")
        if folding.outside or folding.outside_pulls:
            folding = await self._load_related(batch, folding)
            clock.lap("load related documents and fold again")
        lost = await self._write_documents(batch, folding, now)
        clock.lap("write folded")
        if lost:
            effects = await self._rewrite_lost(batch, lost, folding, now)
            clock.lap("rewrite lost")
            return effects
        pushes = await self._create_placeholders(batch.suffix, folding.outside)
        clock.lap("placeholders")
        await self._push_and_pull(batch.suffix, pushes, folding.outside_pulls)
        clock.lap("push and pull")
        return folding.effects

    async def _create_placeholders(
        self, suffix: str, pushes: Sequence[SummaryPush]
    ) -> list[SummaryPush]:
        """Insert the targets of ``pushes`` (none existed when the batch loaded them) as
        placeholders holding their summaries; the pushes still to send, those into targets
        another writer created meanwhile."""
        by_kind: dict[str, list[SummaryPush]] = defaultdict(list)
        for push in pushes:
            by_kind[push.target_kind].append(push)
        refused = await asyncio.gather(
            *(
                self._store.insert_placeholders(
                    self._store.collection_name(kind, suffix), kind_pushes
                )
                for kind, kind_pushes in by_kind.items()
            )
        )
        lost = {
            (kind, doc_id) for kind, ids in zip(by_kind, refused, strict=True) for doc_id in ids
        }
        return [push for push in pushes if (push.target_kind, push.target_id) in lost]

    async def _load_related(self, batch: _Batch, folding: Fold) -> Fold:
        """Read the related documents the batch pushes summaries into or pulls from, and fold
        again with them: they join the batch as documents without changes of their own
        (``batch.related``)."""
        targets = {EntityKey(push.target_kind, push.target_id) for push in folding.outside}
        targets.update(EntityKey(kind, doc_id) for kind, doc_id in folding.outside_pulls)
        related = await batch.prefetched(targets)
        if rest := targets - batch.prefetching:  # links the batch adds
            related.update(await self._load(batch.suffix, rest))
        if not related:
            return folding
        # never one of the batch's own documents: the second fold reuses what they push
        assert not related.keys() & batch.current.keys()
        batch.related.update(related)
        batch.current = {**batch.current, **related}
        return fold(
            batch.current,
            batch.changes,
            batch.repeated,
            batch.unchanged,
            batch.groups,
            again=folding,
        )

    async def _write_documents(
        self, batch: _Batch, folding: Fold, now: datetime
    ) -> list[EntityKey]:
        """The folded writes and the inserts, concurrently; the documents whose write lost a
        race with another writer.

        A loaded shipment or invoice whose stored ``warehouseIds`` does not follow its
        summaries is written too, with nothing of its own (``_folded_update`` derives the
        field): a failure between a summary push and its settle leaves one so, and the
        batch's rerun, whose pushes are repeats the fold skips, is what mends it. Documents
        written anyway are not asked: their write derives the field from what it leaves,
        so each written document's warehouses are derived once.
        """
        folded = folding.folded
        changed = {change.key: change for change in batch.changes}
        writing = {key for key in changed.keys() | folded.keys() if key in batch.current}
        unsettled = {
            key
            for key, doc in batch.current.items()
            if key not in writing and warehouses_unsettled(key.kind, doc)
        }
        updated = sorted(writing | unsettled)
        created: dict[str, list[EntityChange]] = defaultdict(list)
        for key, change in changed.items():
            if key not in batch.current:
                created[key.kind].append(change)
        by_kind: dict[str, list[FoldedWrite]] = defaultdict(list)
        for key in updated:
            by_kind[key.kind].append(
                FoldedWrite(key.id, batch.current[key], changed.get(key), folded.get(key, ()))
            )
        folded_landed, inserted = await asyncio.gather(
            asyncio.gather(
                *(
                    self._store.write_all_if_unchanged(
                        self._store.collection_name(kind, batch.suffix), writes, now
                    )
                    for kind, writes in by_kind.items()
                )
            ),
            asyncio.gather(
                *(
                    self._store.insert_new(
                        self._store.collection_name(kind, batch.suffix),
                        changes,
                        {change.key.id: folded.get(change.key, ()) for change in changes},
                        now,
                    )
                    for kind, changes in created.items()
                )
            ),
        )
        lost: list[EntityKey] = []
        for kinds, outcomes in ((by_kind, folded_landed), (created, inserted)):
            for kind, landed in zip(kinds, outcomes, strict=True):
                lost.extend(EntityKey(kind, doc_id) for doc_id in sorted(landed.missed))
                self._remember(batch, kind, landed)
        self._cache.forget(batch.suffix, lost)
        return lost

    def _remember(self, batch: _Batch, kind: str, landed: Landed) -> None:
        """Keep the documents as ``landed`` left them for the next batch (``DocumentCache``)."""
        self._cache.remember(
            batch.epoch,
            batch.suffix,
            {EntityKey(kind, doc_id): derive for doc_id, derive in landed.stored.items()},
        )

    async def _rewrite_lost(
        self,
        batch: _Batch,
        lost: Sequence[EntityKey],
        folding: Fold,
        now: datetime,
    ) -> list[Effects]:
        """Write the documents whose folded write lost a race the stepwise way.

        Their own changes go in with ``write_entity`` (which returns the real ``rev``); their
        summaries are pushed again from the stored document to every related document, and
        the summaries meant for them become guarded pushes. Everything else of the batch
        stands: what was folded elsewhere with a predicted ``rev`` is replaced by these
        guarded pushes if the real one is newer, or exact (``SummaryPush.exact``). A
        document of the batch that took one of them from memory (a pull) reads it again
        once the summaries meant for it have landed, as a pull from outside the batch does.
        """
        log.info("%d documents were changed by another writer meanwhile: rewriting", len(lost))
        changed = {change.key: change for change in batch.changes}
        own = [changed[key] for key in lost if key in changed]
        written = await asyncio.gather(*(self._write_own(batch, change, now) for change in own))
        landed_on = {change.key: w.landed_on for change, w in zip(own, written, strict=True)}
        stored_of = {change.key: w.stored for change, w in zip(own, written, strict=True)}
        statuses_of = {change.key: w.statuses for change, w in zip(own, written, strict=True)}
        for change in own:
            _drop_unwritten_links(batch, change, stored_of[change.key])
        pushes, pulls = _rewritten_summaries(batch, lost, folding, stored_of)
        await self._push_and_pull(batch.suffix, pushes, pulls)
        return [
            effect._replace(
                before=_measured_from(batch, effect.key, landed_on[effect.key]),
                after=stored_of[effect.key],
                statuses=statuses_of[effect.key],
            )
            if effect.key in stored_of
            else effect
            for effect in folding.effects
        ]

    async def _write_stepwise(
        self, batch: _Batch, removals: Sequence[SummaryPush], now: datetime
    ) -> list[Effects]:
        """Documents first, then the summaries they push and pull, each a guarded write.

        Safe whatever other writers do meanwhile, at about three times the operations of
        ``_write_folded``; used for batches that drop links (their removals must land before
        the documents, see the module docstring).
        """
        await self._push(batch.suffix, removals)
        written = await asyncio.gather(
            *(self._write_own(batch, change, now) for change in batch.changes)
        )
        effects = [
            Effects(
                change.key,
                _measured_from(batch, change.key, w.landed_on),
                w.stored,
                batch.groups[change.key],
                w.statuses,
            )
            for change, w in zip(batch.changes, written, strict=True)
        ] + batch.unchanged
        pushes, pulls = summary_pushes(effects)
        await self._push_and_pull(batch.suffix, [replace(p, exact=True) for p in pushes], pulls)
        return effects

    async def _write_own(self, batch: _Batch, change: EntityChange, now: datetime) -> _Written:
        """Write one document's own changes: what it landed on, what it stored, and the
        statuses of the plan that was written (``_Written``).

        ``write_entity`` lands only on the document the change was planned from. If another
        writer changed it since (a second group member still finishing a batch of the same
        partition after a rebalance, or the retry of a store write that did land), the
        batch's events are folded into the document as it is now and written again: the
        reducers are merges, so the result holds both writers' events. Each of the entity's
        events then has the fate this last plan gives it (``_settle_replans``): applied, or a
        dead letter, as a serial run or a rerun of the batch against that document would.
        """
        collection = self._store.collection_name(change.key.kind, batch.suffix)
        for _ in range(CONFLICT_ROUNDS):
            stored = await self._store.write_entity(collection, change, now)
            if stored is not None:
                self._cache.remember(batch.epoch, batch.suffix, {change.key: stored})
                if change.key in batch.replanned and change.before is not None:
                    # links the re-plan dropped from what it was planned on: ``_unlink``
                    batch.dropped[change.key] = dropped_links(
                        change.key.kind, change.before, stored
                    )
                return _Written(change.before, stored, change.statuses)
            self._cache.forget(batch.suffix, [change.key])
            current = (await self._store.load(collection, [change.key.id])).get(change.key.id)
            plan = planner.plan_entity(
                change.key, current, list(batch.groups[change.key]), self._mapping
            )
            batch.replanned[change.key] = plan.rejected
            if plan.repeated:
                # The stored document already holds some of these events: what its writer
                # derived from them may have been cut off by a crash, so derive it again.
                batch.repeated.add(change.key)
            if plan.change is None:
                if current is None:
                    raise StoreError(f"{change.key} vanished while it was written")
                # the other writer already applied every event: they moved no status here
                return _Written(current, current, NO_STATUSES)
            change = plan.change
        raise StoreError(f"{change.key} kept changing under {CONFLICT_ROUNDS} writes")

    async def _push_and_pull(
        self,
        suffix: str,
        pushes: Sequence[SummaryPush],
        pulls: Mapping[tuple[str, str], list[EntityKey]],
    ) -> None:
        """Guarded summary writes, then the summaries pulled from the ``pulls`` entities.

        Pulls read only after our pushes landed: of two entities linked at the same moment
        by two processes, one then sees the other's summary, in its own write's result or
        in the pull.
        """
        await self._push(suffix, pushes)
        await self._push(suffix, await self._pull_summaries(suffix, pulls))

    async def _push(self, suffix: str, pushes: Sequence[SummaryPush]) -> None:
        """Guarded summary writes. A push does not say what it left, so its targets are
        forgotten by the cache first: the next batch reads them again."""
        self._cache.forget(suffix, {EntityKey(p.target_kind, p.target_id) for p in pushes})
        await self._store.push_summaries(suffix, pushes)

    async def _load(
        self, suffix: str, keys: Iterable[EntityKey], *, own: bool = False
    ) -> dict[EntityKey, Mapping[str, Any]]:
        """The stored documents of ``keys`` (those that exist), from the cache where it may
        serve them (``own``: entities with events in the batch; see ``DocumentCache``), the
        rest from the store, which the cache then keeps."""
        epoch = self._cache.epoch
        if own or self._cache.serves_related:
            held, missing = self._cache.split(suffix, keys)
        else:
            held, missing = {}, list(keys)
        read = await self._store.load_keys(suffix, missing)
        self._cache.remember(epoch, suffix, read)
        return {**held, **read}

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
                        summaries_of(
                            other,
                            target_kind,
                            target_id,
                            to=pulls[(target_kind, target_id)],
                            exact=True,
                        )
                    )
        return pushes


def _settle_replans(
    batch: _Batch, record_of: Mapping[int, InboundRecord], outcome: BatchOutcome
) -> None:
    """Give each event of an entity whose write was planned again the fate of its last
    plan: one the first plan applied and the last refused becomes a dead letter, one the
    first refused and the last applied stops being one (dead letters are published only
    after the batch). So an event is applied or a dead letter, never both, and the same as
    a serial run or a rerun of the batch against the document it landed on."""
    late: dict[int, str] = {}
    revived: list[tuple[Event, InboundRecord]] = []
    for key, rejected in batch.replanned.items():
        refused_now = {id(rejection.event): rejection.reason for rejection in rejected}
        for event in batch.groups[key]:
            event_id = id(event)
            if event_id in refused_now and event_id not in batch.refused:
                late[event_id] = refused_now[event_id]
            elif event_id in batch.refused and event_id not in refused_now:
                revived.append((event, record_of[event_id]))
    if not (late or revived):
        return
    revived_at = {_position(record) for _, record in revived}
    outcome.dead_letters = [d for d in outcome.dead_letters if _position(d) not in revived_at]
    outcome.dead_letters += [DeadLetter.of(record_of[i], reason) for i, reason in late.items()]
    outcome.applied = [
        (event, record) for event, record in outcome.applied if id(event) not in late
    ]
    outcome.applied += revived
    outcome.applied_events += len(revived) - len(late)


def replayed_sources(
    seen: Mapping[str, SourceSeen],
    applied: Iterable[tuple[Event, InboundRecord]],
    now: datetime,
) -> dict[str, SourceSeen]:
    """``seen`` as a rebuild reports it: each source applied when the newest of its
    records reached the log (the record's Kafka timestamp), never later than ``now``.

    A rebuild replays records the live projector applied long ago: reporting them as
    applied ``now`` would make a source silent for days look fresh the moment readers
    switch (``stale`` false, the banners and ``PortalSourceStale`` gone). The record's
    timestamp is the earliest moment any projector could have applied it, so the new
    generation never looks fresher than the records it holds (at most the live
    projector's lag staler than the live generation), needs nothing of the previous
    generation (which may be gone, or lack sources whose events it refused), and a
    rebuild run twice reports the same. A record without a timestamp counts from its
    event's own time. One stamped ahead of ``now`` counts as ``now``, capped before it is
    read: its producer sets it, and one writing microseconds for milliseconds stamps a year
    past 50,000, which ``datetime`` cannot hold: the rebuild failed at that record on every
    attempt. (Kafka 4 refuses a timestamp over an hour ahead by default; Kafka 3 took any.)"""
    arrived: dict[str, datetime] = {}
    latest = now.timestamp()
    for event, record in applied:
        at = (
            datetime.fromtimestamp(min(record.timestamp / 1000, latest), UTC)
            if record.timestamp > 0
            else event.time
        )
        arrived[event.source] = max(arrived.get(event.source, at), at)
    return {
        source: replace(info, applied_at=min(arrived.get(source, now), now))
        for source, info in seen.items()
    }


def _position(record: InboundRecord) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


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
    #: ``DocumentCache.epoch`` when the batch started: what it writes is kept only if the
    #: cache was not forgotten since.
    epoch: int
    changes: list[EntityChange] = field(default_factory=list)
    repeated: set[EntityKey] = field(default_factory=set)
    #: Entities with repeated events and no change: their effects are derived again.
    unchanged: list[Effects] = field(default_factory=list)
    #: The ids of the events the reducers refused when the batch was planned (dead letters).
    refused: set[int] = field(default_factory=set)
    #: Per entity whose write was planned again (``_write_own``), the events its last plan
    #: refused.
    replanned: dict[EntityKey, list[planner.Rejected]] = field(default_factory=dict)
    #: Per entity whose re-planned write landed, the links it dropped from the document it
    #: was re-planned on (a link another writer added meanwhile: ``BatchProcessor._unlink``).
    dropped: dict[EntityKey, set[EntityKey]] = field(default_factory=dict)
    #: Documents without events in the batch that its entities summarise into or pull
    #: from: loaded with the batch and written once, with every summary folded in.
    related: dict[EntityKey, Mapping[str, Any]] = field(default_factory=dict)
    #: The documents the loaded ones link to (``linked_keys``), read while the batch is
    #: planned: most of ``related``, without a round trip after the fold.
    prefetching: set[EntityKey] = field(default_factory=set)
    _prefetch: asyncio.Task[dict[EntityKey, Mapping[str, Any]]] | None = None

    def prefetch(
        self,
        keys: set[EntityKey],
        load: Callable[
            [str, Iterable[EntityKey]], Coroutine[Any, Any, dict[EntityKey, Mapping[str, Any]]]
        ],
    ) -> None:
        """Start reading ``keys`` (``load``) while the batch is planned and folded."""
        self.prefetching = keys
        if keys:
            self._prefetch = asyncio.create_task(load(self.suffix, keys))

    async def prefetched(self, keys: set[EntityKey]) -> dict[EntityKey, Mapping[str, Any]]:
        """Those of ``keys`` the prefetch found (it read them after the previous batch's
        writes landed, like a read now: this process writes nothing in between)."""
        found = await self._prefetch if self._prefetch is not None else {}
        return {key: doc for key, doc in found.items() if key in keys}

    async def settle_prefetch(self) -> None:
        """Stop a prefetch the batch did not use (written stepwise, or failed)."""
        if self._prefetch is not None and not self._prefetch.done():
            self._prefetch.cancel()
        if self._prefetch is not None:
            await asyncio.gather(self._prefetch, return_exceptions=True)


def _rewritten_summaries(
    batch: _Batch,
    lost: Sequence[EntityKey],
    folding: Fold,
    stored_of: Mapping[EntityKey, Mapping[str, Any]],
) -> tuple[list[SummaryPush], dict[tuple[str, str], list[EntityKey]]]:
    """The summary writes of ``_rewrite_lost``: the rewritten documents' (``stored_of``)
    summaries, exact, to their links as stored; the summaries meant for every lost
    document; the batch's other writes outside it; and the pulls, the lost documents'
    pullers reading them again."""
    pushes, pulls = summary_pushes(
        [Effects(key, None, doc, batch.groups[key]) for key, doc in stored_of.items()]
    )
    # First the truth from the stored documents: it replaces what other documents were
    # given as these documents' summaries under a revision their lost write predicted.
    pushes = [replace(push, exact=True) for push in pushes]
    pushes += [push for key in lost for push in folding.folded.get(key, ())]
    # The rewritten documents' own pushes and pulls outside the batch are those of their
    # first plans: the stored documents' (above) replace them, and a link only a first
    # plan named must not reach a placeholder.
    pushes += [
        push
        for push in folding.outside
        if EntityKey(push.source_kind, push.source_id) not in stored_of
    ]
    for target, pullers in folding.outside_pulls.items():
        if kept := [puller for puller in pullers if puller not in stored_of]:
            pulls[target].extend(kept)
    for key in lost:
        # Answered from memory (the document as loaded, or as its lost write predicted
        # it), which is not what is stored. The stored document may not know of the
        # link that pull came from (the batch added it and its summary went in the lost
        # write), so its summaries pushed again above miss the puller: read it again.
        pulled = (key.kind, key.id)
        held = pulls.get(pulled, ())
        if again := [p for p in folding.pulls.get(pulled, ()) if p not in held]:
            pulls[pulled] = [*held, *again]
    return pushes, pulls


def _drop_unwritten_links(batch: _Batch, change: EntityChange, stored: Mapping[str, Any]) -> None:
    """Have ``_unlink`` remove the links ``change`` (a first plan, whose folded write lost)
    named and the document as stored does not: its re-plan on another writer's document
    superseded or refused the events that added them. The batch's folded writes that landed
    gave those entities this document's summary, and gave this one theirs (pulls, pushed
    again by ``_rewrite_lost`` with the rest meant for it), for a link no stored document
    names (``effects.unlink``: where neither side names the other, both go)."""
    if gone := dropped_links(change.key.kind, change.after, stored):
        batch.dropped.setdefault(change.key, set()).update(gone)


class _Written(NamedTuple):
    """One document's own write (``BatchProcessor._write_own``)."""

    #: The document the write landed on: what its effects are measured from (the search
    #: document and the notices follow the change from there, not from the document as
    #: loaded); None when it created the document.
    landed_on: Mapping[str, Any] | None
    #: The document as stored afterwards.
    stored: Mapping[str, Any]
    #: ``EntityChange.statuses`` of the plan written: re-planned on another writer's
    #: document, the batch's milestones may leave other statuses than first planned.
    statuses: MilestoneStatuses


def _measured_from(
    batch: _Batch, key: EntityKey, landed_on: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The ``before`` of an entity's effects: the document its write landed on, or None
    (re-derive everything) when the batch repeats events the store already holds."""
    return None if key in batch.repeated else landed_on
