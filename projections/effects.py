"""What a batch's changes mean beyond their own documents (pure, no I/O).

Summaries to push into related documents and to pull from them, link removals, change
notices, and the folding of summaries into the writes of the batch's own documents: all
derived from documents in memory, so the projector's I/O stays a thin loop around it and
this is tested without services.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, cast

from projections import batch as planner
from projections.batch import NO_STATUSES, EntityChange, EntityKey, MilestoneStatuses
from projections.document_size import summary_bytes
from projections.event_schema import ShipmentCancelled, ShipmentMilestone, ShipmentPlanned
from projections.events import Event
from projections.reducers import milestone_versions
from projections.summaries import summarize
from readmodel import documents
from readmodel.changes import ShipmentChange, cancellation_notice_id, milestone_notice_id
from readmodel.documents import RELATED_OVERFLOW, RELATED_OVERFLOW_CUSTOMERS, EntityKind
from readmodel.links import (
    NAMES_KINDS,
    KindBytes,
    declared_links,
    has_room,
    named_ids,
    namers,
    naming_fields,
    naming_scans,
    order_warehouses,
    overflow_customers,
    overflowing,
    summarised_ids,
    with_overflow_customer,
)

#: Kinds whose documents summarise into others (sources do not).
LINKED_KINDS = frozenset({"orders", "shipments", "invoices"})


@dataclass(frozen=True)
class SummaryPush:
    """Write (or remove) the summary of entity ``source_kind/source_id`` inside ``target``."""

    target_kind: str
    target_id: str
    source_kind: str
    source_id: str
    rev: int
    #: None removes it: a removal with ``rev`` 0 removes any revision, one with a ``rev``
    #: only a summary no newer than that (``effects.unlink``).
    summary: Mapping[str, Any] | None
    customer_id: str | None
    #: Taken from the document as stored (not as a batch predicted it): the truth for its
    #: ``rev``, so it also replaces a stored summary of the same ``rev``, which can only be
    #: a prediction of a write that did not land (two writers each expected to write that
    #: revision, and the other one did).
    exact: bool = False
    #: The summary's BSON bytes as stored, with its key and ``rev``, or a bound of them below
    #: ``documents.MAX_SUMMARY_BYTES`` (``document_size.summary_bytes``): one over that is
    #: never embedded (``links.has_room``, which measures a kind's budget exactly).
    size: int = 0
    #: False: ``fold`` found no room for it in its target (``links.has_room``), whose folded
    #: write marks the target overflowing for ``source_kind`` instead of embedding it. The
    #: store's guarded push decides again, on the target as it is then.
    room: bool = True

    @property
    def key(self) -> str:
        """The source's field name under ``related.<source_kind>``."""
        return documents.field_key(self.source_id)

    @property
    def path(self) -> str:
        return f"related.{self.source_kind}.{self.key}"

    @property
    def overflow_path(self) -> str:
        """The target's mark of links of ``source_kind`` it embeds no summary of."""
        return f"{RELATED_OVERFLOW}.{self.source_kind}"

    def entry(self) -> dict[str, Any]:
        """The summary as stored in the target: with the revision it was taken at."""
        assert self.summary is not None, "a removal has no stored form"
        return {**self.summary, "rev": self.rev}


class Effects(NamedTuple):
    """One entity the batch touched: what follows from it beyond its own document."""

    key: EntityKey
    before: Mapping[str, Any] | None  # None: some events were repeats, re-derive everything
    after: Mapping[str, Any]
    events: Sequence[Event]
    #: What the change's fold saw of the shipment after each milestone
    #: (``EntityChange.statuses``); none for a document the batch's events left as it was.
    statuses: MilestoneStatuses = NO_STATUSES


@dataclass
class Fold:
    """A batch's documents with the summaries of the batch's other entities folded in."""

    #: What follows from each entity the batch touched; ``after`` is the document as it
    #: will be once written (with the predicted ``rev`` and folded summaries).
    effects: list[Effects]
    #: Per document of the batch, the summaries its own write carries; one source may come
    #: twice (pushed and pulled), then the later is the newer.
    folded: dict[EntityKey, list[SummaryPush]]
    #: Summaries for documents outside the batch: separate, guarded writes.
    outside: list[SummaryPush]
    #: Entities outside the batch whose summaries newly linked entities of it must pull.
    outside_pulls: dict[tuple[str, str], list[EntityKey]]
    #: Every pull, answered here or not: a document whose write lost a race is pulled from
    #: again once the pullers' summaries have landed in it.
    pulls: dict[tuple[str, str], list[EntityKey]]
    #: The summaries the batch's own entities push (``summary_pushes``), before pulls.
    pushed: list[SummaryPush]


def _pushes_of(
    effects: Sequence[Effects], again: Fold | None
) -> tuple[list[SummaryPush], dict[tuple[str, str], list[EntityKey]]]:
    """What ``effects`` push and pull: ``again``'s, when folding the same batch again (they
    derive from the batch's own documents alone, which the related documents read between
    the two folds do not change)."""
    if again is None:
        return summary_pushes(effects)
    assert [e.key for e in again.effects] == [e.key for e in effects]
    return again.pushed, again.pulls


def fold(
    current: Mapping[EntityKey, Mapping[str, Any]],
    changes: Sequence[EntityChange],
    repeated: set[EntityKey],
    unchanged: Sequence[Effects],
    groups: Mapping[EntityKey, Sequence[Event]],
    *,
    again: Fold | None = None,
) -> Fold:
    """Fold every summary whose target the batch writes anyway into that write.

    A changed document's ``rev`` after its write is its loaded ``rev`` plus one, because
    the write lands only if nobody wrote the document since it was loaded. A summary goes
    in only if it is newer than the one the target holds; pulls from entities of the batch
    are answered from memory.

    ``again``: a fold of the same batch with fewer related documents in ``current``. What
    the batch's entities push and pull derives from their own documents alone, which more
    related documents do not change, so it is taken from there rather than worked out
    again (``summary_pushes`` is most of a fold's work).
    """
    changed = {change.key for change in changes}
    views = _views(current, changes, changed)
    effects = [
        Effects(
            change.key,
            None if change.key in repeated else change.before,
            views[change.key],
            groups[change.key],
            change.statuses,
        )
        for change in changes
    ] + [effect._replace(after=views[effect.key]) for effect in unchanged]
    pushed, pulls = _pushes_of(effects, again)
    pushes = list(pushed)
    outside_pulls: dict[tuple[str, str], list[EntityKey]] = {}
    for (target_kind, target_id), pullers in pulls.items():
        pulled_key = EntityKey(target_kind, target_id)
        pulled = views.get(pulled_key)
        if pulled is None:
            outside_pulls[(target_kind, target_id)] = pullers
        elif pulled.get("known"):
            # a document the batch does not change is as stored: its summary is exact
            exact = pulled_key not in changed
            pushes.extend(summaries_of(pulled, target_kind, target_id, to=pullers, exact=exact))
    outside: list[SummaryPush] = []
    folded: dict[EntityKey, list[SummaryPush]] = defaultdict(list)
    measure = KindBytes()
    for push in pushes:
        target = EntityKey(push.target_kind, push.target_id)
        target_view = views.get(target)
        if target_view is None:
            outside.append(push)
        elif push.summary is not None and _replaces(target_view, push):
            placed = place(target_view, push, measure)
            folded[target].append(push if placed else replace(push, room=False))

    return Fold(effects, dict(folded), outside, outside_pulls, dict(pulls), pushed)


def place(doc: dict[str, Any], push: SummaryPush, measure: KindBytes) -> bool:
    """Embed ``push``'s summary in ``doc`` (in memory: a fold's view, a document about to be
    inserted) if ``doc`` has room for it (``links.has_room``), else mark ``doc`` overflowing
    for its kind and take out an older summary of the same source (a newer one grown past
    ``MAX_SUMMARY_BYTES`` or its kind's budget), as the store's guarded push does
    (``store._embed_or_mark``), recording the summary's customer where the documents naming
    ``doc`` are read through their customers (``links.with_overflow_customer``); whether it
    was embedded. ``doc``'s ``related`` maps must be its own (``_with_own_related``); its
    overflow marks are copied before they change. ``measure``: the sizes of the maps one
    run of placements fills (``links.KindBytes``), shared by all its placements so that
    none encodes a kind whole again."""
    kind = push.source_kind
    entry = push.entry()
    if has_room(doc, kind, push.key, entry, push.size, measure):
        measure.put(doc.setdefault("related", {}).setdefault(kind, {}), push.key, entry)
        return True
    held = (doc.get("related") or {}).get(kind)
    if isinstance(held, dict):
        measure.take(held, push.key)
    doc[RELATED_OVERFLOW] = {**(doc.get(RELATED_OVERFLOW) or {}), kind: True}
    source_kind = cast(EntityKind, kind)
    if customers := with_overflow_customer(push.target_kind, doc, source_kind, push.customer_id):
        recorded = doc.get(RELATED_OVERFLOW_CUSTOMERS) or {}
        doc[RELATED_OVERFLOW_CUSTOMERS] = {**recorded, kind: customers}
    return False


def _views(
    current: Mapping[EntityKey, Mapping[str, Any]],
    changes: Sequence[EntityChange],
    changed: AbstractSet[EntityKey],
) -> dict[EntityKey, dict[str, Any]]:
    """Every document of the batch as its write will leave it, before summaries go in: a
    changed one (``changed``: the keys of ``changes``) with the ``rev`` its write gives it,
    each with ``related`` of its own (only looked up by key: a changed one's view is made
    once, from its change)."""
    views = {key: _with_own_related(doc) for key, doc in current.items() if key not in changed}
    for change in changes:
        view = _with_own_related(change.after)
        view["rev"] = int((change.before or {}).get("rev", 0)) + 1
        views[change.key] = view
    return views


def summary_pushes(
    effects: Sequence[Effects],
) -> tuple[list[SummaryPush], dict[tuple[str, str], list[EntityKey]]]:
    """Summaries to write into related documents, in both directions.

    Out: this document's summary goes to every entity it names and every entity that
    named it. In (returned as pulls, by the entity to read): for a link this batch added,
    the other side may have been written before it knew of us, so its current summary is
    pulled into this document. A document with repeated events (``before`` None) counts
    every link as added, and so does one the batch makes known (``_pulled``).
    """
    pushes: list[SummaryPush] = []
    pulls: dict[tuple[str, str], list[EntityKey]] = defaultdict(list)
    for effect in effects:
        kind, doc = effect.key.kind, effect.after
        if kind not in LINKED_KINDS:
            continue
        delta = planner.link_delta(kind, effect.before, doc)
        targets = _push_targets(doc, delta)
        if doc.get("known"):
            summary = summarize(kind, doc)
            # Related documents already hold this summary when the batch changed nothing it
            # shows: only links the batch added need it (a repeated batch re-pushes all).
            unchanged = not _summary_changed(effect, summary)
            for target_kind, target_ids in targets.items():
                if unchanged:
                    target_ids &= delta.added.get(target_kind, frozenset())
                to = [EntityKey(target_kind, target_id) for target_id in sorted(target_ids)]
                pushes += summaries_of(
                    doc, kind, effect.key.id, to=to, exact=False, precomputed=summary
                )
        for target_kind, ids in _pulled(effect, delta).items():
            for target_id in ids:
                pulls[(target_kind, target_id)].append(effect.key)
    return pushes, pulls


def _push_targets(doc: Mapping[str, Any], delta: planner.LinkDelta) -> dict[str, set[str]]:
    """Where a document's summary goes, as far as the document tells: the entities it names
    and those whose summaries it embeds, less the links the batch dropped."""
    targets: dict[str, set[str]] = defaultdict(set)
    for target_kind, ids in delta.current.items():
        targets[target_kind].update(ids)
    for target_kind, named_us in summarised_ids(doc).items():
        targets[target_kind].update(named_us)
    for target_kind, ids in delta.removed.items():
        targets[target_kind].difference_update(ids)
    return targets


def _summary_changed(effect: Effects, summary: Mapping[str, Any]) -> bool:
    """Whether the batch may have changed what ``summary`` (the entity's, as written) shows:
    it did, or its events were repeats (``before`` None: the rerun re-pushes all)."""
    before = effect.before
    return (
        before is None or not before.get("known") or summarize(effect.key.kind, before) != summary
    )


class NamingRead(NamedTuple):
    """The ``kind`` documents whose ``field`` names any of ``holder_ids`` (``holder_kind``
    documents overflowing for ``kind``). ``customer_ids``: only those customers', where no
    index serves ``field`` (``links.naming_scans``: the read goes through the customers'
    indexes): the holders' own, and those recorded with their overflow marks."""

    kind: EntityKind
    field: str
    holder_kind: EntityKind
    customer_ids: tuple[str, ...] | None
    holder_ids: tuple[str, ...]


def fan_out_reads(effects: Sequence[Effects]) -> list[NamingRead]:
    """The reads that find where the summary of an entity overflowing for some kind goes.

    Such a document embeds summaries of only some of the documents naming it
    (``links.overflowing``), so ``summary_pushes`` reaches only those: the others would keep
    its old summary for ever. Only entities whose summary the batch may have changed need
    them; a document newly naming one pulls its summary anyway (``_pulled``).
    """
    holders: dict[tuple[EntityKind, str, EntityKind, tuple[str, ...] | None], list[str]] = (
        defaultdict(list)
    )
    for effect in effects:
        doc = effect.after
        if effect.key.kind not in LINKED_KINDS or not doc.get("known"):
            continue
        holder_kind = cast(EntityKind, effect.key.kind)
        naming = [(kind, field) for kind, field in namers(holder_kind) if overflowing(doc, kind)]
        if not naming or not _summary_changed(effect, summarize(holder_kind, doc)):
            continue
        for kind, field in naming:
            customer_ids = None
            if naming_scans(holder_kind, kind):
                customer_ids = _naming_customers(doc, kind)
                if not customer_ids:
                    continue  # no customer to read through: nothing names it readers show
            holders[(kind, field, holder_kind, customer_ids)].append(effect.key.id)
    return [NamingRead(*group, tuple(ids)) for group, ids in holders.items()]


def _naming_customers(doc: Mapping[str, Any], kind: EntityKind) -> tuple[str, ...]:
    """The customers whose ``kind`` documents may name ``doc`` beyond those it embeds:
    its own, and those of the summaries that found no room in it
    (``links.overflow_customers``: an invoice of another customer than an order's)."""
    own = doc.get("customerId")
    return tuple(sorted({*([own] if isinstance(own, str) else []), *overflow_customers(doc, kind)}))


def fan_out_pushes(
    effects: Sequence[Effects], named_by: Mapping[EntityKey, Mapping[str, AbstractSet[str]]]
) -> list[SummaryPush]:
    """The summary of each entity in ``named_by`` (what ``fan_out_reads`` found naming it,
    by kind) for each document naming it that ``summary_pushes`` did not reach."""
    pushes: list[SummaryPush] = []
    for effect in effects:
        naming = named_by.get(effect.key)
        if not naming:
            continue
        kind, doc = effect.key.kind, effect.after
        reached = _push_targets(doc, planner.link_delta(kind, effect.before, doc))
        to = [
            EntityKey(other_kind, other_id)
            for other_kind, ids in sorted(naming.items())
            for other_id in sorted(set(ids) - reached.get(other_kind, set()))
        ]
        pushes += summaries_of(doc, kind, effect.key.id, to=to, exact=False)
    return pushes


def _pulled(effect: Effects, delta: planner.LinkDelta) -> dict[str, frozenset[str]]:
    """The links whose other side's summary ``effect``'s document pulls: those its batch
    added, or all it names in the batch that makes it known. A document can name an entity
    before its own snapshot (an order's ``fulfillment.shipmentIds``, from the WMS); its pull
    then may have found the entity unknown, and the entity, once known, pushes only to the
    documents it names or holds the summary of, which an unknown document never pushed."""
    became_known = (
        effect.before is not None
        and not effect.before.get("known")
        and bool(effect.after.get("known"))
    )
    return delta.current if became_known else delta.added


def linked_keys(docs: Mapping[EntityKey, Mapping[str, Any]]) -> set[EntityKey]:
    """The documents outside ``docs`` that their entities name or are summarised by: where
    their summaries go and what they pull from, as far as the documents say (links that a
    batch's events add are not among them)."""
    keys: set[EntityKey] = set()
    for key, doc in docs.items():
        if key.kind not in LINKED_KINDS:
            continue
        for kind, ids in declared_links(key.kind, doc).items():
            keys.update(EntityKey(kind, doc_id) for doc_id in ids)
        for kind, named_us in summarised_ids(doc).items():
            keys.update(EntityKey(kind, doc_id) for doc_id in named_us)
    return keys - docs.keys()


def _with_own_related(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` whose ``related`` summaries can be changed without touching it."""
    view = dict(doc)
    view["related"] = {kind: dict(entries) for kind, entries in (doc.get("related") or {}).items()}
    return view


def _replaces(doc: Mapping[str, Any], push: SummaryPush) -> bool:
    """Whether ``push`` replaces the summary of its source that ``doc`` holds: a newer
    revision, or (an exact push, see ``SummaryPush.exact``) a different one of the same."""
    entry = (doc.get("related") or {}).get(push.source_kind, {}).get(push.key)
    if not isinstance(entry, Mapping):
        return True
    stored = int(entry.get("rev", 0))
    return stored < push.rev or (push.exact and stored == push.rev and entry != push.entry())


def summaries_of(
    doc: Mapping[str, Any],
    kind: str,
    doc_id: str,
    *,
    to: Sequence[EntityKey],
    exact: bool,
    precomputed: dict[str, Any] | None = None,
) -> list[SummaryPush]:
    """The summary of ``doc`` (entity ``kind``/``doc_id``) for each document of ``to``:
    worked out once (or ``precomputed``) and shared (nothing changes a summary once made;
    ``SummaryPush.entry`` copies it)."""
    if not to:
        return []
    rev = int(doc.get("rev", 0))
    summary = summarize(kind, doc) if precomputed is None else precomputed
    customer_id = doc.get("customerId")
    size = summary_bytes(documents.field_key(doc_id), {**summary, "rev": rev})
    return [
        SummaryPush(
            target_kind=target.kind,
            target_id=target.id,
            source_kind=kind,
            source_id=doc_id,
            rev=rev,
            summary=summary,
            customer_id=customer_id,
            exact=exact,
            size=size,
        )
        for target in to
    ]


def link_removals(changes: Sequence[EntityChange]) -> list[SummaryPush]:
    """For each link a change drops, the other side's summary of the changed entity, to be
    removed before the change is written (only the change knows of it).

    The changed document's own summary of the other side is not among them: its removal
    lands only on a document that no longer names its source (``store._push_operation``),
    which this one does until its write lands. It goes after the write, in ``unlink``,
    unless the other side names the document."""
    removals: list[SummaryPush] = []
    for change in changes:
        kind = change.key.kind
        if kind not in LINKED_KINDS or change.before is None:
            continue
        for other in sorted(dropped_links(kind, change.before, change.after)):
            removals.append(_removal(other, change.key))
    return removals


def dropped_links(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> set[EntityKey]:
    """The entities a ``kind`` document named as ``before`` and no longer names as ``after``."""
    return {
        EntityKey(other_kind, other_id)
        for other_kind, ids in planner.link_delta(kind, before, after).removed.items()
        for other_id in ids
    }


def unnamed_summaries(key: EntityKey, doc: Mapping[str, Any]) -> set[EntityKey]:
    """The entities whose summaries ``doc`` (of entity ``key``) holds under a kind it names
    (an invoice's orders and shipments, a shipment's orders, an order's shipments) without
    naming them: stale links, unless the other side names ``doc`` (``stale_summaries``)."""
    if key.kind not in LINKED_KINDS:
        return set()
    held = summarised_ids(doc)
    return {
        EntityKey(kind, other_id)
        for kind, ids in declared_links(key.kind, doc).items()
        for other_id in held.get(kind, set()).difference(ids)
    }


def _names(other: Mapping[str, Any] | None, other_kind: str, key: EntityKey) -> bool:
    """Whether ``other`` (a stored ``other_kind`` document, None: absent) names ``key``."""
    return (
        other is not None
        and key.kind in NAMES_KINDS.get(other_kind, ())
        and key.id in named_ids(other, key.kind)
    )


def stale_summaries(
    key: EntityKey,
    unnamed: AbstractSet[EntityKey],
    others: Mapping[EntityKey, Mapping[str, Any]],
) -> list[EntityKey]:
    """Of ``unnamed`` (the ``unnamed_summaries`` of entity ``key``'s document), the
    entities that do not name it either (as stored in ``others``; missing: absent): links
    neither side names, what the projector removes (``unlink``) and ``projections verify``
    reports."""
    return sorted(
        other_key for other_key in unnamed if not _names(others.get(other_key), other_key.kind, key)
    )


def unnamed_by_document(effects: Sequence[Effects]) -> dict[EntityKey, set[EntityKey]]:
    """Per written document of ``effects``, its ``unnamed_summaries``: the candidates
    ``unlink_reads`` reads and ``unlink`` decides on, worked out once for both."""
    return {effect.key: unnamed_summaries(effect.key, effect.after) for effect in effects}


def missing_summaries(
    docs: Mapping[EntityKey, Mapping[str, Any]],
    others: Mapping[EntityKey, Mapping[str, Any]],
) -> dict[EntityKey, list[EntityKey]]:
    """Holder -> the entities whose summaries it lacks though the projector writes them
    there: for every link a document of ``docs`` names, the entity it names holds its
    summary once it is known (``summary_pushes``; a missing target is created to hold it,
    so one absent from ``docs`` and ``others`` lacks it too), and it holds the summary of
    the entity it names once that one is known (pulled when the link came or the document
    became known, pushed by the entity since); a holder overflowing for the kind
    (``links.overflowing``) embeds only some by design and lacks none. What ``projections
    verify`` reports; ``others`` holds the named entities outside ``docs`` (``linked_keys``)
    that exist."""
    missing: dict[EntityKey, set[EntityKey]] = defaultdict(set)
    for key, doc, other_key in named_links(docs):
        other = docs.get(other_key, others.get(other_key))
        if doc.get("known") and not (other is not None and _vouches(other, key)):
            missing[other_key].add(key)
        # pulled when the link came or the document became known: an unknown document (an
        # order the WMS names shipments in before its ERP snapshot) is owed nothing yet
        if (
            doc.get("known")
            and other is not None
            and other.get("known")
            and not _vouches(doc, other_key)
        ):
            missing[key].add(other_key)
    return {holder: sorted(lacked) for holder, lacked in sorted(missing.items())}


def named_links(
    docs: Mapping[EntityKey, Mapping[str, Any]],
) -> Iterator[tuple[EntityKey, Mapping[str, Any], EntityKey]]:
    """Every link a document of ``docs`` names (``declared_links``): the document's key,
    the document, and the key of the entity it names."""
    for key, doc in docs.items():
        if key.kind in LINKED_KINDS:
            for kind, ids in declared_links(key.kind, doc).items():
                for other_id in ids:
                    yield key, doc, EntityKey(kind, other_id)


def unlink_reads(
    unnamed: Mapping[EntityKey, AbstractSet[EntityKey]],
    dropped: Mapping[EntityKey, AbstractSet[EntityKey]],
    known: Mapping[EntityKey, Mapping[str, Any]],
) -> tuple[dict[EntityKey, Mapping[str, Any]], dict[EntityKey, set[str]]]:
    """What ``unlink`` needs read of the other sides: the candidates (``unnamed``, per
    written document: ``unnamed_by_document``, and those of ``dropped``) the batch decided
    itself, with their documents from ``known`` (its own writes as they landed, and the
    documents it loaded): each names every document asking about it, so no link of it is
    gone; and the rest, each with the kinds of the documents asking (under which ``unlink``
    looks for their summaries in it), to read from the store.

    Most candidates are an order's summaries of shipments that name the order, held before
    the WMS names the shipment in the order: about half are the batch's own entities or
    documents it loaded, which this spares a read. A dropped link is always read: another
    writer's change is what dropped it. A document that stopped naming its holder since the
    batch read it is not read again: the writer that changed it removes that link
    (``link_removals``), or the holder's next write does."""
    asking: dict[EntityKey, set[EntityKey]] = defaultdict(set)
    for holder, candidates in unnamed.items():
        for other in candidates:
            asking[other].add(holder)
    unread: dict[EntityKey, set[str]] = defaultdict(set)
    for holder, gone in dropped.items():
        for other in gone:
            unread[other].add(holder.kind)
    decided: dict[EntityKey, Mapping[str, Any]] = {}
    for other, holders in asking.items():
        doc = known.get(other)
        if (
            doc is not None
            and other not in unread
            and all(_names(doc, other.kind, holder) for holder in holders)
        ):
            decided[other] = doc
        else:
            unread[other].update(holder.kind for holder in holders)
    return decided, dict(unread)


def link_fields(kind: str, holder_kinds: AbstractSet[str]) -> dict[str, bool]:
    """The projection ``unlink`` reads of a ``kind`` document: its ``rev``, the fields it
    names entities in, and its summaries of ``holder_kinds`` entities (not its milestones,
    lines or bookkeeping)."""
    names = [field for named in NAMES_KINDS[kind] for field in naming_fields(kind, named)]
    return dict.fromkeys(["rev", *names, *(f"related.{h}" for h in sorted(holder_kinds))], True)


def unlink(
    effects: Sequence[Effects],
    unnamed: Mapping[EntityKey, AbstractSet[EntityKey]],
    dropped: Mapping[EntityKey, AbstractSet[EntityKey]],
    others: Mapping[EntityKey, Mapping[str, Any]],
) -> tuple[list[SummaryPush], list[Effects]]:
    """Removals of both sides' summaries for every link the written documents of
    ``effects`` no longer have, and the effects with those removed from their documents.

    A link is gone when neither side names the other: ``stale_summaries`` of the
    document's candidates in ``unnamed`` (``unnamed_by_document``, as ``unlink_reads`` was
    given: a document keeps the summary of an entity it stopped naming, say because another
    writer added the link after the batch read it and the batch's re-planned write dropped
    it, or a crash came between a write and its removals), and the entities of ``dropped``
    (per document, links its re-planned write dropped, whose summary only the other side
    may hold, or its rewrite pushed in after ``effects`` were taken: both sides' summaries
    are removed, held or not), as ``others`` (read after the writes) name them. Each
    removal is guarded by the revision the removal was decided on (``SummaryPush.rev``): a
    summary written later, by an entity that names its target again, stays. Idempotent: a
    rerun finds nothing more to remove.
    """
    removals: dict[tuple[EntityKey, EntityKey], SummaryPush] = {}
    healed: list[Effects] = []
    for effect in effects:
        key, doc = effect.key, effect.after
        gone = set(stale_summaries(key, unnamed[key], others))
        dropped_here = dropped.get(key, set())
        for other_key in dropped_here:
            if not _names(others.get(other_key), other_key.kind, key):
                gone.add(other_key)
        taken = {other_key for other_key in gone if _holds(doc, other_key)}
        for other_key in sorted(gone):
            other = others.get(other_key)
            # A dropped link's summary may have been pushed in after ``doc`` was read (the
            # pulls of a rewritten first plan): removed whether ``doc`` shows it or not.
            if other_key in taken or other_key in dropped_here:
                rev = int(other.get("rev", 0)) if other is not None else 0
                removals[(key, other_key)] = _removal(key, other_key, rev=rev)
            if other is not None and _holds(other, key):
                removals[(other_key, key)] = _removal(other_key, key, rev=int(doc.get("rev", 0)))
        healed.append(effect._replace(after=_without(doc, taken)) if taken else effect)
    return list(removals.values()), healed


def _vouches(doc: Mapping[str, Any], source: EntityKey) -> bool:
    """Whether ``doc`` holds a summary of ``source`` or, overflowing for its kind, need not."""
    return _holds(doc, source) or overflowing(doc, source.kind)


def _holds(doc: Mapping[str, Any], source: EntityKey) -> bool:
    """Whether ``doc`` holds a summary of ``source`` (where a removal of it looks)."""
    entries = (doc.get("related") or {}).get(source.kind)
    return isinstance(entries, Mapping) and documents.field_key(source.id) in entries


def _without(doc: Mapping[str, Any], gone: AbstractSet[EntityKey]) -> dict[str, Any]:
    """``doc`` without the summaries of the entities ``gone``, as their removals leave it."""
    view = _with_own_related(doc)
    for other in gone:
        view["related"].get(other.kind, {}).pop(documents.field_key(other.id), None)
    return view


def _removal(target: EntityKey, source: EntityKey, *, rev: int = 0) -> SummaryPush:
    """The removal of ``source``'s summary from ``target``: of any revision (``rev`` 0), or
    of one no newer than ``rev``."""
    return SummaryPush(*target, *source, rev, summary=None, customer_id=None)


def notices(
    effects: Sequence[Effects], now: datetime, *, revision_offset: int = 0
) -> list[ShipmentChange]:
    """One notice per new or restated milestone and per cancellation of a known shipment.

    A shipment is announced once its plan made it known: before, its ``customerId`` is only
    what its events claimed (``reducers``), so reads hide it, and a notice would tell that
    customer about a shipment the plan may give to another. The batch that makes it known
    announces every milestone it shows (``_announced``): the plan's customer's alone, since
    the reducers keep other customers' aside.

    A milestone's notice id names its statement (``milestone_notice_id``): a restatement
    that wins is announced under a new id, with the status it leaves the shipment in.

    For a shipment with repeated events, the milestones and cancellation its events carry are
    announced again under the same notice ids: the first announcement may have been lost
    with a crash, and subscribers drop ids they have already seen.

    A milestone's notice says the status it left the shipment in (``_milestone_notices``);
    a cancellation says CANCELLED (sticky, whatever follows). ``rev`` is the shipment's
    revision once the batch was stored, shared by all its notices: the store writes the
    batch's document once, so no revision exists between its events. Plus the generation's
    ``revision_offset``: a rebuild counts ``rev`` from 1 again (``revision_offsets``).
    """
    notices: list[ShipmentChange] = []
    for effect in effects:
        doc = effect.after
        if effect.key.kind != "shipments" or doc.get("known") is not True:
            continue
        milestones, cancelled = _announced(effect)
        if not (milestones or cancelled):
            continue
        status = str(doc.get("status", "PLANNED"))
        # What every notice says of the shipment, read once; a notice is then one call (not
        # a ``dataclasses.replace`` of a template, which costs several constructions).
        shipment = partial(
            ShipmentChange,
            shipment_id=effect.key.id,
            customer_id=str(doc.get("customerId", "")),
            tracking_number=doc.get("trackingNumber"),
            rev=revision_offset + int(doc.get("rev", 0)),
            projected_at=now,
            order_warehouses=order_warehouses(doc),
        )
        notices.extend(_milestone_notices(effect, milestones, shipment, status))
        if cancelled:
            trace = next(
                (e.traceparent for e in effect.events if isinstance(e.data, ShipmentCancelled)),
                None,
            )
            notices.append(
                shipment(
                    notice_id=cancellation_notice_id(effect.key.id),
                    status=status,
                    milestone=None,
                    traceparent=trace,
                )
            )
    return notices


def _milestone_notices(
    effect: Effects,
    milestones: Sequence[Mapping[str, Any]],
    shipment: Callable[..., ShipmentChange],
    after_batch: str,
) -> Iterator[ShipmentChange]:
    """The notices of ``milestones`` (``shipment`` makes one), each with the status the
    shipment had right after the batch applied that statement (``Effects.statuses``), not
    after the whole batch: of a pickup and a delivery in one batch, the pickup's notice says
    PICKED_UP (``milestoneFeed(statuses: [PICKED_UP])`` receives it), and a late milestone
    older than the shipment's newest says the status it left unchanged. One the batch did
    not apply while the shipment was known (held from before the plan that made it known,
    or announced again by a batch of repeats that changed nothing) says ``after_batch``,
    the status after the batch."""
    if not milestones:
        return
    traces = _milestone_traces(effect.events)
    versions = milestone_versions(effect.after)
    for milestone in milestones:
        key = (str(milestone.get("source")), str(milestone.get("milestoneId")))
        statement = (*key, int(versions.get(key, [0])[0]))
        yield shipment(
            notice_id=milestone_notice_id(*statement),
            status=effect.statuses.get(statement, after_batch),
            milestone=dict(milestone),
            traceparent=traces.get(statement),
        )


def _announced(effect: Effects) -> tuple[list[dict[str, Any]], bool]:
    """The milestones a known shipment's ``effect`` announces, and whether it announces its
    cancellation: what the batch added or restated; everything the shipment holds in a batch
    that may have made it known (nothing was announced before its plan): one whose document
    was not known before, or, when what it was before is not known (``before`` None: a new
    shipment, or some events were repeats), one carrying the plan, which a redelivery or a
    rerun of that batch carries again (notice ids are stable: a subscriber drops what it has
    seen); otherwise what the batch's events carry."""
    doc, before, events = effect.after, effect.before, effect.events
    if before is not None and before.get("known") is True:
        return planner.restated_milestones(before, doc), planner.became_cancelled(before, doc)
    if before is not None or any(isinstance(event.data, ShipmentPlanned) for event in events):
        return list(doc.get("milestones", [])), bool(doc.get("cancelled"))
    carried = {
        (event.source, event.data.milestone_id)
        for event in events
        if isinstance(event.data, ShipmentMilestone)
    }
    milestones = [
        m for m in doc.get("milestones", []) if (m.get("source"), m.get("milestoneId")) in carried
    ]
    cancelled = bool(doc.get("cancelled")) and any(
        isinstance(event.data, ShipmentCancelled) for event in events
    )
    return milestones, cancelled


def _milestone_traces(events: Sequence[Event]) -> dict[tuple[str, str, int], str | None]:
    """(source, milestoneId, sequence) -> the ``traceparent`` of the first of ``events`` that
    carried that statement of the milestone (None: untraced); one lookup per notice rather
    than a pass over the shipment's events."""
    traces: dict[tuple[str, str, int], str | None] = {}
    for event in events:
        if isinstance(event.data, ShipmentMilestone):
            key = (event.source, event.data.milestone_id, event.sequence)
            traces.setdefault(key, event.traceparent)
    return traces
