"""Pure planning of one batch: from decoded events and current documents to the writes.

Nothing here touches Kafka or MongoDB, so the planner is tested without services and the
projector's I/O stays a thin loop around it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from projections.document_size import over, sizes, step_refusal
from projections.event_schema import ShipmentMilestone
from projections.events import Event, InvalidEvent
from projections.reducers import apply, milestone_versions
from projections.status_mapping import StatusMapping
from readmodel import documents
from readmodel.links import declared_links

#: Fields that the I/O layer owns; reducers never change them and diffs ignore them (the
#: store derives ``WAREHOUSE_IDS`` from the others and ``related``).
IO_FIELDS: Final = frozenset(
    {"_id", "rev", "updatedAt", "lastEvent", "related", documents.WAREHOUSE_IDS}
)

#: Entity kind -> the collection it lives in (before the generation suffix).
COLLECTION_OF: Final[dict[str, str]] = {
    "orders": documents.ORDERS,
    "shipments": documents.SHIPMENTS,
    "invoices": documents.INVOICES,
    "sources": documents.SOURCES,
}


_MISSING: Final = object()

#: ``(source, milestoneId, sequence)`` of a milestone statement -> the shipment's status right
#: after the fold applied it (``_fold``): what the notice of that statement says.
MilestoneStatuses = Mapping[tuple[str, str, int], str]
NO_STATUSES: Final[MilestoneStatuses] = MappingProxyType({})


class EntityKey(NamedTuple):
    """One entity (and so one document): its kind and id.

    A named tuple, not a frozen dataclass: keys are hashed, compared and sorted several
    times per event (groups, views, the cache), and a tuple does that in C where a
    dataclass calls its generated Python ``__hash__``/``__eq__``/``__lt__``. The order
    is the same (kind, then id). A key equals the plain tuple ``(kind, id)``: no
    mapping holds both forms.
    """

    kind: str
    id: str


@dataclass(frozen=True)
class EntityChange:
    """The new state of one document after this batch's events, as a top-level diff."""

    key: EntityKey
    before: Mapping[str, Any] | None
    after: Mapping[str, Any]
    set_fields: dict[str, Any]
    unset_fields: tuple[str, ...]
    last_event: documents.EventRef
    customer_id: str | None
    #: The status each milestone statement of the batch left the known shipment in, as the
    #: events were applied one by one (``_fold``); the notices say it (``effects.notices``).
    statuses: MilestoneStatuses = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSeen:
    """The newest event this batch applied from one source (for freshness reporting)."""

    last_event_at: datetime
    last_event_id: str
    #: When the source's data counts as applied (``lastAppliedAt``): None for the batch's
    #: own time, as a live projector reports it; a rebuild replaying old records sets the
    #: time the newest of them reached the log (``projector.replayed_sources``).
    applied_at: datetime | None = None


def group_by_entity(events: Iterable[Event]) -> dict[EntityKey, list[Event]]:
    grouped: dict[EntityKey, list[Event]] = defaultdict(list)
    for event in events:
        grouped[EntityKey(event.entity_kind, event.entity_id)].append(event)
    return dict(grouped)


def _event_order(event: Event) -> tuple[datetime, str, int, str]:
    return (event.time, event.source, event.sequence, event.id)


@dataclass(frozen=True)
class Rejected:
    """An event that decoded but that the reducer refused (e.g. it contradicts the document)."""

    event: Event
    reason: str


class EntityPlan(NamedTuple):
    """What a batch's events do to one document."""

    change: EntityChange | None  # None: the events change nothing
    rejected: list[Rejected]
    #: Some events changed nothing: the document already held them (a redelivery, or a
    #: duplicate or stale event from upstream). What a previous run derived from them may
    #: have been cut off by a crash, so the caller derives it again.
    repeated: bool


class _Folded(NamedTuple):
    doc: dict[str, Any] | None
    applied: list[Event]
    rejected: list[Rejected]
    repeated: bool
    #: The last of the applied events (in ``_event_order``) that changed the document: what
    #: ``lastEvent`` names. Not compared with the stored one by time: an event dated far
    #: ahead (a producer's clock) would then name itself for good.
    changed_by: documents.EventRef | None
    statuses: dict[tuple[str, str, int], str]


def _fold(
    key: EntityKey,
    before: Mapping[str, Any] | None,
    ordered: list[Event],
    mapping: StatusMapping,
    limits: tuple[int, int] | None,
) -> _Folded:
    """Apply ``ordered`` to ``before`` one by one; with ``limits``, each event that changes
    the document is measured (``sizes``) and refused if its size is a ``refusal``.

    The status a known shipment has right after each milestone event is kept
    (``EntityChange.statuses``): the batch's document holds only the last, and a batch often
    holds several milestones of one shipment (a burst, a catch-up after an outage), each
    announced with the status it left. A statement applied twice keeps its first; one
    applied while the shipment was not known yet (before its plan: its customer is not
    settled) keeps none. One dictionary entry per milestone event, no copy, no extra read.
    """
    doc: dict[str, Any] | None = dict(before) if before is not None else None
    shipment = key.kind == "shipments"
    statuses: dict[tuple[str, str, int], str] = {}
    size = sizes(key.kind, key.id, doc, limits[0]) if limits is not None else None
    applied: list[Event] = []
    rejected: list[Rejected] = []
    repeated = False
    changed_by: documents.EventRef | None = None
    for event in ordered:
        try:
            folded = apply(doc, event, mapping)
        except InvalidEvent as exc:
            rejected.append(Rejected(event, exc.reason))
            continue
        unchanged = folded == doc
        if limits is not None and size is not None and not unchanged:
            reason, grown = step_refusal(key.kind, key.id, doc, size, folded, event, limits)
            if reason:
                rejected.append(Rejected(event, reason))
                continue
            size = grown
        applied.append(event)
        repeated = repeated or unchanged
        if not unchanged:
            changed_by = _reference(event)
        if shipment and type(event.data) is ShipmentMilestone and folded.get("known") is True:
            statement = (event.source, event.data.milestone_id, event.sequence)
            statuses.setdefault(statement, folded["status"])  # a known shipment has one
        doc = folded
    return _Folded(doc, applied, rejected, repeated, changed_by, statuses)


def plan_entity(
    key: EntityKey,
    before: Mapping[str, Any] | None,
    events: list[Event],
    mapping: StatusMapping,
    *,
    limit: int = documents.MAX_DOCUMENT_BYTES,
    aside_limit: int = documents.MAX_FOREIGN_FACTS_BYTES,
) -> EntityPlan:
    """Fold ``events`` into ``before``.

    The reducers are order-insensitive, so the sort only makes runs reproducible, the
    refusals for the document's size (``document_size.refusal``) included: the folded
    document is measured once when the events change it (with its search document when that
    may be near the limit, and its facts set aside for other customers apart, against
    ``aside_limit``: ``sizes``), and only when it is ``over`` a limit are they folded again
    one by one, each change measured, those refused for their size dead letters
    (``EntityPlan.rejected``). The same events in the same order give the same document and
    refusals, on a rerun or a rebuild; a document the batch leaves within the limits costs
    one encoding, one it does not change none.
    """
    ordered = sorted(events, key=_event_order)
    folded = _fold(key, before, ordered, mapping, None)
    change = _change(key, before, folded)
    if change is not None and over(
        sizes(key.kind, key.id, change.after, limit), limit, aside_limit
    ):
        folded = _fold(key, before, ordered, mapping, (limit, aside_limit))
        change = _change(key, before, folded)
    return EntityPlan(change, folded.rejected, folded.repeated)


def _change(
    key: EntityKey, before: Mapping[str, Any] | None, folded: _Folded
) -> EntityChange | None:
    """The diff ``folded`` makes to ``before``; None when it changes nothing."""
    doc, changed_by = folded.doc, folded.changed_by
    if doc is None or changed_by is None:
        return None
    previous = before or {}
    set_fields = {
        name: value
        for name, value in doc.items()
        if name not in IO_FIELDS and previous.get(name, _MISSING) != value
    }
    unset_fields = tuple(
        sorted(name for name in previous if name not in IO_FIELDS and name not in doc)
    )
    if not set_fields and not unset_fields:
        return None
    return EntityChange(
        key=key,
        before=before,
        after=doc,
        set_fields=set_fields,
        unset_fields=unset_fields,
        last_event=changed_by,
        customer_id=doc.get("customerId"),
        statuses=folded.statuses,
    )


def _reference(event: Event) -> documents.EventRef:
    return documents.EventRef(source=event.source, id=event.id, type=event.type, time=event.time)


def sources_seen(events: Iterable[Event]) -> dict[str, SourceSeen]:
    """Per source, the newest of ``events`` by source time: what freshness reports, so
    only the events a batch applied go in (not those the reducers refused).

    A status event that one system publishes about another (an operations tool announcing
    a WMS outage: ``source`` ``ops/statuspage``, ``subject`` ``wms/dc-den``) is left out:
    its publisher holds no data of the read model, yet would be reported with every
    response as a source of its own, turn stale minutes later (a portal banner on every
    page, ``PortalSourceStale`` firing) and stay so. The source it is about gets the
    declaration, not the freshness (nothing of its data was applied). A source announcing
    itself (the ERP's maintenance windows) counts as heard from, as before."""
    seen: dict[str, SourceSeen] = {}
    for event in events:
        if event.entity_kind == "sources" and event.entity_id != event.source:
            continue
        current = seen.get(event.source)
        if current is None or event.time > current.last_event_at:
            seen[event.source] = SourceSeen(event.time, event.id)
    return seen


@dataclass(frozen=True)
class LinkDelta:
    """How the entities a document names itself changed with this batch."""

    current: dict[str, frozenset[str]]
    added: dict[str, frozenset[str]]
    removed: dict[str, frozenset[str]]


def link_delta(kind: str, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> LinkDelta:
    """The documents are only read (no copies: this runs for every document of a batch)."""
    old = {k: frozenset(v) for k, v in declared_links(kind, before).items()} if before else {}
    new = {k: frozenset(v) for k, v in declared_links(kind, after).items()}
    kinds = set(old) | set(new)
    return LinkDelta(
        current={k: new.get(k, frozenset()) for k in kinds},
        added={k: new.get(k, frozenset()) - old.get(k, frozenset()) for k in kinds},
        removed={k: old.get(k, frozenset()) - new.get(k, frozenset()) for k in kinds},
    )


def restated_milestones(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Milestones whose statement changed with the batch, oldest first: new ones, and those
    a restatement (a higher sequence of the same ``(source, milestoneId)``) replaced, which
    may have moved the shipment's status."""
    stated = milestone_versions(before or {})
    now = milestone_versions(after)
    return [
        m
        for m in after.get("milestones", [])
        if (key := (m.get("source"), m.get("milestoneId"))) not in stated
        or stated[key] != now.get(key)
    ]


def became_cancelled(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> bool:
    return bool(after.get("cancelled")) and not bool((before or {}).get("cancelled"))
