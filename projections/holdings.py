"""Which events a stored document holds (pure, no I/O): the test behind ``projections verify``.

The reducers are merges (see ``reducers``): applying an event a document already holds gives
the same document back, and so does a superseded snapshot. So an event is *missing* from a
document exactly when applying it would change the document's own fields. That needs no list
of applied event ids in the document and no trust in the projector's bookkeeping: the log and
the reducers are the only judges. An event the reducer refuses (another tenant's, say) is
never applied, so it cannot be missing; the projector dead-letters it. So is one that would
be refused for its size (``document_size.refusal``, measured as the projector measures it:
the stored document, its facts set aside for other customers apart).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from projections.batch import IO_FIELDS, EntityKey
from projections.document_size import Sizes, sizes, step_refusal
from projections.events import Event, InvalidEvent
from projections.reducers import apply, rederived
from projections.status_mapping import StatusMapping
from readmodel.documents import (
    FOREIGN_FACTS,
    MAX_DOCUMENT_BYTES,
    MAX_FOREIGN_FACTS_BYTES,
    WRITER,
    WRITES,
)

#: Fields only the I/O layer writes (reducers never do), and the search keys derived from the
#: others (``search_keys``): not part of what an event changes.
_NOT_OWN = IO_FIELDS | {WRITES, WRITER, "lastAppliedAt", "lastEventAt", "lastEventId"}


@dataclass(frozen=True)
class Behind:
    """One entity whose stored document lacks events the log holds for it."""

    key: EntityKey
    #: ``source/id`` of every missing event, in log order.
    missing: tuple[str, ...]
    #: The entity has no document at all.
    absent: bool


def own_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields reducers own: what an event can change."""
    return {name: value for name, value in doc.items() if name not in _NOT_OWN}


def missing_events(
    key: EntityKey,
    doc: Mapping[str, Any] | None,
    events: Sequence[Event],
    mapping: StatusMapping,
    *,
    limit: int = MAX_DOCUMENT_BYTES,
    aside_limit: int = MAX_FOREIGN_FACTS_BYTES,
) -> list[Event]:
    """The events (of entity ``key``) that ``doc`` does not hold, in the order given.

    Each event is applied on its own to the stored document as ``mapping`` derives it
    (``reducers.rederived``): a document that holds it comes back unchanged. Not to the
    stored document itself: a milestone recomputes the shipment's statuses under the mapping
    in force, so after a change of ``status_map.toml`` every held milestone would change a
    document stored under the old one. One that it would change but that the projector
    refuses for its size (``refusal`` with ``limit`` and ``aside_limit``) is not missing.
    ``doc`` must have its bookkeeping decoded (as ``ProjectionStore.load`` returns it).
    """
    base = rederived(key.kind, doc, mapping) if doc is not None else None
    held = own_fields(base) if base is not None else None
    size: Sizes | None = None  # measured once, and only for an event that would be missing
    missing: list[Event] = []
    for event in events:
        try:
            after = apply(base, event, mapping)
        except InvalidEvent:
            continue
        if held is not None and own_fields(after) == held:
            continue
        if size is None:
            size = sizes(key.kind, key.id, doc, limit)
        reason, _ = step_refusal(key.kind, key.id, doc, size, after, event, (limit, aside_limit))
        if reason is None:
            missing.append(event)
    return missing


def entities_behind(
    docs: Mapping[EntityKey, Mapping[str, Any]],
    events: Iterable[Event],
    mapping: StatusMapping,
) -> list[Behind]:
    """Every entity of ``events`` whose document (``docs``; absent if missing) lacks some."""
    by_entity: dict[EntityKey, list[Event]] = defaultdict(list)
    for event in events:
        by_entity[EntityKey(event.entity_kind, event.entity_id)].append(event)
    found: list[Behind] = []
    for key in sorted(by_entity):
        doc = docs.get(key)
        missing = missing_events(key, doc, by_entity[key], mapping)
        if missing:
            found.append(
                Behind(key, tuple(f"{e.source}/{e.id}" for e in missing), absent=doc is None)
            )
    return found


@dataclass(frozen=True)
class SetAside:
    """One document holding facts other customers reported for it before its snapshot named
    its customer (``reducers``, "Tenancy"): kept, never shown. The same events arriving after
    the snapshot are dead letters (reason class ``customer conflict``)."""

    key: EntityKey
    customers: tuple[str, ...]


def set_aside(docs: Mapping[EntityKey, Mapping[str, Any]]) -> list[SetAside]:
    """The documents of ``docs`` that hold facts of another customer, in key order."""
    found: list[SetAside] = []
    for key in sorted(docs):
        entries = docs[key].get(FOREIGN_FACTS) or ()
        customers = tuple(str(entry.get("customerId")) for entry in entries)
        if customers:
            found.append(SetAside(key, customers))
    return found
