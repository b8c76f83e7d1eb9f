"""How stored documents point at each other: the ids they name and the summaries they embed.

A document links to another entity in one of two ways (see ``documents``):

* it *names* the entity in its own fields: a shipment's ``orderIds``, an invoice's
  ``orderIds`` and ``shipmentIds`` (taken from its lines), an order's
  ``fulfillment.shipmentIds`` (from the WMS);
* it *embeds a summary* of the entity under ``related.<kind>.<key>``, pushed there by the
  projector of the entity, which names this document (the reverse direction).

The projector keeps the summaries in step with the names; readers combine both (an entity
is linked as soon as either side says so), and the entitlement rules for
warehouse-restricted customers read the ship-from warehouses of a document's orders from
the order summaries. These are the only functions that parse either kind of link, so
writer and readers cannot disagree on what a document links to.

A document with more links of a kind than it embeds summaries of is marked overflowing for
that kind (``documents.RELATED_OVERFLOW``, ``overflowing``): its summaries of that kind are
then only some of its links, and readers also query the documents that name it
(``naming_query``); the warehouse rule fails closed on it.

Every accessor tolerates a malformed document (wrong types, missing maps): what cannot be
read is not a link, except that a summary whose own id is missing is still counted under
its map key, so a rule that must check every linked order fails closed rather than
overlooking one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import bson

from readmodel import documents
from readmodel.documents import (
    INVOICES,
    RELATED_OVERFLOW,
    RELATED_OVERFLOW_CUSTOMERS,
    WAREHOUSE_DERIVED_KINDS,
    EntityKind,
    id_of_key,
)

#: The field of a summary that holds its entity's id.
SUMMARY_ID_FIELD: Final[Mapping[EntityKind, str]] = {
    "orders": "orderId",
    "shipments": "shipmentId",
    "invoices": "invoiceId",
}

#: For each kind of stored document, the kinds of entity it names in its own fields.
NAMES_KINDS: Final[Mapping[str, tuple[EntityKind, ...]]] = {
    "orders": ("shipments",),
    "shipments": ("orders",),
    "invoices": ("orders", "shipments"),
    "sources": (),
}


#: For each kind of entity, the (dotted) fields of a stored document that name entities of
#: that kind, on whatever kind of document has them: a shipment's or an invoice's
#: ``orderIds``, an invoice's ``shipmentIds`` (both listing its lines' ids), an order's
#: ``fulfillment.shipmentIds``. No stored document names invoices.
NAMING_FIELDS: Final[Mapping[EntityKind, tuple[str, ...]]] = {
    "orders": ("orderIds",),
    "shipments": ("shipmentIds", "fulfillment.shipmentIds"),
    "invoices": (),
}


#: (kind of a document, kind of entity it names) -> the one field of such a document that
#: names them: what finds the documents naming an overflowing holder (``naming_query``).
NAMED_IN: Final[Mapping[tuple[EntityKind, str], str]] = {
    ("shipments", "orders"): "orderIds",
    ("invoices", "orders"): "orderIds",
    ("invoices", "shipments"): "shipmentIds",
    ("orders", "shipments"): "fulfillment.shipmentIds",
}


def named_ids(doc: Mapping[str, Any], kind: EntityKind) -> list[str]:
    """Sorted distinct ids of the ``kind`` entities ``doc`` names in its own fields
    (``NAMING_FIELDS``; only those that exist on it contribute)."""
    return _ids([value for path in NAMING_FIELDS[kind] for value in _listed(_at(doc, path))])


def naming_fields(doc_kind: str, kind: str) -> tuple[str, ...]:
    """The fields in which a ``doc_kind`` document names ``kind`` entities (none: it never
    names them). What a removal of a ``kind`` entity's summary from such a document checks
    in the same update (``projections.store``), so it never takes one named again."""
    return NAMING_FIELDS[kind] if kind in NAMES_KINDS.get(doc_kind, ()) else ()


def declared_links(doc_kind: str, doc: Mapping[str, Any]) -> dict[EntityKind, list[str]]:
    """Entity kind -> ``named_ids`` for every kind a ``doc_kind`` document can name.

    Kinds the document names nothing of yet give empty lists, never missing keys, so a
    removed link shows up as a difference between two versions of a document.
    """
    try:
        kinds = NAMES_KINDS[doc_kind]
    except KeyError:
        raise ValueError(f"no links for entity kind {doc_kind!r}") from None
    return {kind: named_ids(doc, kind) for kind in kinds}


def summaries(doc: Mapping[str, Any], kind: EntityKind) -> dict[str, Mapping[str, Any]]:
    """Entity id -> the summary of that ``kind`` entity embedded in ``doc.related``."""
    related = doc.get("related")
    entries = related.get(kind) if isinstance(related, Mapping) else None
    if not isinstance(entries, Mapping):
        return {}
    found: dict[str, Mapping[str, Any]] = {}
    for key, summary in entries.items():
        if not isinstance(summary, Mapping):
            continue
        entity_id = summary.get(SUMMARY_ID_FIELD[kind])
        if not isinstance(entity_id, str) or not entity_id:
            entity_id = id_of_key(str(key))
        found[entity_id] = summary
    return found


def overflowing(doc: Mapping[str, Any], kind: str) -> bool:
    """Whether ``doc`` has ``kind`` links it embeds no summary of (``RELATED_OVERFLOW``):
    its ``kind`` summaries are then some of its links, not all."""
    flags = doc.get(RELATED_OVERFLOW)
    return isinstance(flags, Mapping) and flags.get(kind) is True


def has_room(
    doc: Mapping[str, Any],
    kind: str,
    key: str,
    entry: Mapping[str, Any],
    size: int,
    measure: KindBytes | None = None,
) -> bool:
    """Whether ``doc`` may embed the summary ``entry`` (with its ``rev``), of ``size`` bytes
    with its key (``SummaryPush.size``: exact or a bound above), under
    ``related.<kind>.<key>``: the summary is no larger than ``MAX_SUMMARY_BYTES``; ``doc``
    holds one under that key already (a newer summary replaces it in place) or fewer than
    ``MAX_RELATED_SUMMARIES`` of the kind; and the kind's summaries, this one in place, take
    no more than ``RELATED_KIND_BYTES`` (``_within_budget``, measured by ``measure``: the
    one a run of placements keeps, or a new one). The rule every pusher applies: in memory
    here, in the store as an expression of its guarded write (``projections.store``).

    Summaries no larger than ``SUMMARY_SHARE_BYTES`` never find the budget spent below the
    count cap, so a holder overflows for bytes only if it also takes some larger summary,
    which before the budget (when that was the cap on one summary) overflowed it anyway."""
    if size > documents.MAX_SUMMARY_BYTES:
        return False
    related = doc.get("related")
    entries = related.get(kind) if isinstance(related, Mapping) else None
    if not isinstance(entries, Mapping):
        return True  # the one summary: no larger than its kind's budget
    if key not in entries and len(entries) >= documents.MAX_RELATED_SUMMARIES:
        return False
    return _within_budget(entries, key, entry, KindBytes() if measure is None else measure)


def _within_budget(
    entries: Mapping[str, Any], key: str, entry: Mapping[str, Any], measure: KindBytes
) -> bool:
    """Whether the summaries ``entries`` of a kind with ``entry`` under ``key`` take no more
    than ``RELATED_KIND_BYTES`` in BSON (the store measures the same, ``$bsonSize``).

    Measured only when their count says they might: every summary held was embedded by
    ``has_room``, so none is larger than ``MAX_SUMMARY_BYTES`` (the map's own framing is
    less than one summary's), and 85 of them and one more fit. (A document stored before
    session 16's caps may hold larger ones: what lands on it is still at most 86 summaries
    of ``MAX_SUMMARY_BYTES`` a kind, within the margin the budget is sized for, and the
    store's push, which always measures, marks it.)"""
    if (len(entries) + 1) * documents.MAX_SUMMARY_BYTES <= documents.RELATED_KIND_BYTES:
        return True
    return measure.with_entry(entries, key, entry) <= documents.RELATED_KIND_BYTES


#: A BSON document's bytes beyond its elements: its length (4) and its terminator (1).
_DOCUMENT_FRAMING: Final = 5


def _element_bytes(key: str, value: Any) -> int:
    """The bytes ``value`` takes under ``key`` as an element of a BSON document: its type,
    ``key`` as a C string (its UTF-8 and a terminator), and the value itself. A document
    takes ``_DOCUMENT_FRAMING`` bytes and its elements' (``KindBytes`` counts on it)."""
    return len(bson.encode({key: value})) - _DOCUMENT_FRAMING


class KindBytes:
    """The BSON size of each map of summaries (``related.<kind>``) one run of placements
    fills, kept as a running figure (``effects.place``: a fold's views, new documents).

    Encoding a kind whole for each summary placed into it took 1.5-1.9 ms at 250
    summaries, and a fold may place hundreds into one holder: quadratic. Here a map is
    encoded whole once, when ``_within_budget`` first needs its size; from then on each
    summary placed in it or taken out moves the figure by its element's bytes
    (``_element_bytes``). A document's size is its framing and its elements' sizes, so the
    figure stays what ``bson.encode`` of the map gives, and the rule the store's
    ``$bsonSize`` (``projections.store._within_budget``), byte for byte.

    The figure is right only while the map changes through ``put`` and ``take``: one
    ``KindBytes`` serves one run of placements, over documents nothing else changes during
    it, and is dropped with them.
    """

    def __init__(self) -> None:
        #: id of a map -> the map (kept, so that no other object takes its id) and its size.
        self._sizes: dict[int, tuple[Mapping[str, Any], int]] = {}

    def with_entry(self, entries: Mapping[str, Any], key: str, entry: Any) -> int:
        """The BSON size of ``entries`` with ``entry`` under ``key`` (in place of any held
        there)."""
        known = self._sizes.get(id(entries))
        if known is None:
            known = self._sizes[id(entries)] = (entries, len(bson.encode(entries)))
        size = known[1] + _element_bytes(key, entry)
        if key in entries:
            size -= _element_bytes(key, entries[key])
        return size

    def put(self, entries: dict[str, Any], key: str, entry: Any) -> None:
        """``entries[key] = entry``, its size moved if it is kept."""
        if id(entries) in self._sizes:
            self._sizes[id(entries)] = (entries, self.with_entry(entries, key, entry))
        entries[key] = entry

    def take(self, entries: dict[str, Any], key: str) -> None:
        """Take ``key`` out of ``entries`` (if there), its size moved if it is kept."""
        if key not in entries:
            return
        known = self._sizes.get(id(entries))
        if known is not None:
            self._sizes[id(entries)] = (entries, known[1] - _element_bytes(key, entries[key]))
        del entries[key]


def naming_field(holder_kind: str, kind: EntityKind) -> str | None:
    """The field of a ``kind`` document that names ``holder_kind`` documents (``NAMED_IN``;
    None: no ``kind`` document names such a document)."""
    return NAMED_IN.get((kind, holder_kind))


def namers(holder_kind: str) -> list[tuple[EntityKind, str]]:
    """The kinds of document that name ``holder_kind`` documents, each with the field that
    names them (``NAMED_IN``)."""
    return [(kind, field) for (kind, holder), field in NAMED_IN.items() if holder == holder_kind]


def naming_scans(holder_kind: str, kind: EntityKind) -> bool:
    """Whether the read of the ``kind`` documents naming ``holder_kind`` documents
    (``naming_query``) has no index of its own (``documents.field_index``): the store then
    serves it through the customer's indexes, reading every ``kind`` document of the
    caller's customers (the invoices naming an order or a shipment: ``documents.INDEXES``
    says why their fields have none)."""
    field = naming_field(holder_kind, kind)
    return field is not None and documents.field_index(kind, field) is None


def overflow_customers(doc: Mapping[str, Any], kind: str) -> list[str]:
    """The customers of the ``kind`` documents naming ``doc`` whose summaries found no room
    in it (``documents.RELATED_OVERFLOW_CUSTOMERS``; recorded where ``naming_scans``)."""
    recorded = doc.get(RELATED_OVERFLOW_CUSTOMERS)
    listed = recorded.get(kind) if isinstance(recorded, Mapping) else None
    return _ids(listed)


def with_overflow_customer(
    holder_kind: str, doc: Mapping[str, Any], kind: EntityKind, customer: object
) -> list[str] | None:
    """``overflow_customers`` of the ``holder_kind`` document ``doc`` with ``customer``
    added, when a summary of a ``kind`` document of that customer finds no room in it: the
    list to store, or None when it stays as it is (already there, no customer, or a kind
    whose namers are read through an index of their own: ``naming_scans``)."""
    if not isinstance(customer, str) or not customer or not naming_scans(holder_kind, kind):
        return None
    held = overflow_customers(doc, kind)
    return None if customer in held else sorted([*held, customer])


def naming_query(field: str, holder_ids: Iterable[str]) -> dict[str, Any]:
    """The query of the documents whose ``field`` (a ``naming_field``) names any of
    ``holder_ids``: with the ids a holder names, every link of an overflowing holder, the
    holders of one request in one read."""
    return {field: {"$in": list(holder_ids)}}


def summarised_ids(doc: Mapping[str, Any]) -> dict[EntityKind, set[str]]:
    """Kind -> ids of the entities that embedded a summary in ``doc`` (they name it)."""
    return {kind: set(summaries(doc, kind)) for kind in SUMMARY_ID_FIELD}


def order_warehouses(doc: Mapping[str, Any]) -> dict[str, str | None]:
    """orderId -> ship-from warehouse of every order ``doc`` names or summarises.

    None while the order's summary has not arrived or states no warehouse: the value the
    warehouse entitlement rule treats as "not allowed". Empty for a document overflowing
    with orders (``overflowing``): it cannot tell them all, and no order at all is what the
    rule and the live feed treat as "cannot tell" (fail closed).
    """
    if overflowing(doc, "orders"):
        return {}
    found: dict[str, str | None] = dict.fromkeys(named_ids(doc, "orders"))
    for order_id, summary in summaries(doc, "orders").items():
        warehouse = summary.get("warehouseId")
        found[order_id] = warehouse if isinstance(warehouse, str) else None
    return found


def visible_warehouses(kind: str, doc: Mapping[str, Any]) -> list[str] | None:
    """The ship-from warehouses a warehouse-limited caller must all be allowed to see the
    shipment or invoice ``doc``: sorted, distinct, never empty (``documents.WAREHOUSE_IDS``).

    Those of every order the document names or summarises (an invoice: and every order its
    lines name). None, which no allowed set covers, when they cannot all be told: no order
    at all, more orders than the document embeds summaries of (``overflowing``: fail
    closed), an order whose summary has not arrived or states no warehouse, or an invoice
    line that names no order (storage, account-level charges would disclose other
    warehouses' business). The projector stores this as the filter's field and the scope
    checks it on every fetched document, so the two cannot disagree on the rule.
    """
    if kind not in WAREHOUSE_DERIVED_KINDS:
        raise ValueError(f"no warehouse rule for entity kind {kind!r}")
    warehouses = order_warehouses(doc)
    if kind == INVOICES:
        lines = doc.get("lines")
        if not isinstance(lines, list) or not lines:
            return None
        for line in lines:
            order_id = line.get("orderId") if isinstance(line, Mapping) else None
            if not isinstance(order_id, str) or not order_id:
                return None
            warehouses.setdefault(order_id, None)
    known = [warehouse for warehouse in warehouses.values() if warehouse is not None]
    if not known or len(known) < len(warehouses):
        return None
    return sorted(set(known))


def _at(doc: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` of ``doc`` (None where a step is missing or no map)."""
    value: Any = doc
    for name in path.split("."):
        value = value.get(name) if isinstance(value, Mapping) else None
    return value


def _listed(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list | tuple) else ()


def _ids(values: Any) -> list[str]:
    return sorted({value for value in _listed(values) if isinstance(value, str) and value})
