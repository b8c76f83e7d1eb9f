"""Search keys: what lets an index find a substring (pure logic, no I/O).

Support search matches a fragment anywhere inside an id, tracking number, reference, name or
city, case-insensitively, and no ordinary index serves "contains". So for each order and
shipment the projector keeps one *search document* in a side collection
(``documents.SEARCH_KEYS``): the entity's searchable values as they are (``text``), every
substring of them of ``GRAM_LENGTHS`` characters, case-folded (``keys``, one multikey index),
and the fields the entitlement filter reads (``customerId``, ``known`` and, for orders,
``warehouseId``), so a search runs under the caller's scope filter on this collection alone
(for shipments, its customer part: ``Scope.search_keys_filter``).

A search looks up keys by equality: the fragment's first and last substring of the longest
stored length that fits (``fragment_keys``). Every value containing the fragment holds both,
so the documents holding both are the candidates; the same escaped, case-insensitive
``$regex`` as before checks ``text`` on them, so the answer is exactly the substring match.

Why equality and not a prefix range of stored suffixes: on DocumentDB a range on an array
field matches when *some* element is above the lower bound and *some* below the upper, so
the index cannot bound it (session 5 measured seconds on 190,000 shipments, where a key's
equality takes milliseconds). Fragments shorter than ``MIN_FRAGMENT`` have no key: the
readers search them the slow way, as before.

Why a side collection and not keys inside the entity: PostgreSQL writes a new row version,
with all its index entries, for every update of a document; keys inside orders and shipments
(session 5) re-inserted 50-90 entries with every milestone and halved the projector's
throughput. A search document changes only when what it is derived from (``search_source``)
changes, which most events do not.

Case: keys fold each character on its own (``fold``) so that a fragment and a value that
match case-insensitively fold to the same keys; characters whose case folding is longer than
one character (``ß``) stay as they are, which keeps positions aligned.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypedDict

#: Lengths of the stored substrings; a fragment is looked up by the longest that fits.
GRAM_LENGTHS: Final = (3, 6)
MIN_FRAGMENT: Final = GRAM_LENGTHS[0]

#: The searchable values of each kind, as dotted paths (a list value: each element).
SEARCHABLE: Final[dict[str, tuple[str, ...]]] = {
    "orders": ("_id", "customerReference", "shipTo.name"),
    "shipments": ("_id", "trackingNumber", "orderIds", "destination.city"),
}
#: Fields of the entity copied as they are: what the entitlement filter (``known``,
#: ``customerId``, an order's ``warehouseId``) and the shipments-of-matching-orders lookup
#: (``orderIds``) read.
COPIED: Final[dict[str, tuple[str, ...]]] = {
    "orders": ("customerId", "known", "warehouseId"),
    "shipments": ("customerId", "known", "orderIds"),
}

#: ``_id`` of the document that says the collection covers every order and shipment of its
#: generation and has its indexes (``projections.search_writes``,
#: ``projections.deferred_indexes``); readers do not use the keys without it.
COMPLETE_MARKER: Final = "complete"
#: ``_id`` of the document that says the entities a generation held before its projector
#: first wrote search documents have theirs (``projections.search_writes.ensure_filled``):
#: from then on every batch writes its own, so a restart need not fill again.
FILLED_MARKER: Final = "filled"
#: ``_id`` of the document that says the generation's shipments and invoices hold the
#: ``documents.WAREHOUSE_IDS`` they derive, those written before the field existed included
#: (``projections.search_writes.ensure_filled``). A generation's markers all live here.
WAREHOUSES_MARKER: Final = "warehouses"
#: The collection's documents that are not search documents.
MARKERS: Final = (COMPLETE_MARKER, FILLED_MARKER, WAREHOUSES_MARKER)


class SearchDocument(TypedDict, total=False):
    """One order's or shipment's entry in ``documents.SEARCH_KEYS``."""

    _id: str
    kind: str
    entityId: str
    #: The entity's ``rev`` this was derived from: a write never replaces a newer one.
    rev: int
    customerId: str | None
    known: bool | None
    warehouseId: str | None
    orderIds: list[str]
    #: The searchable values as stored in the entity (the exact check runs on these).
    text: list[str]
    #: Sorted, distinct, folded substrings of ``text`` (the index lookup runs on these).
    keys: list[str]


def document_id(kind: str, entity_id: str) -> str:
    return f"{kind}/{entity_id}"


def fold(text: str) -> str:
    """The form keys and fragments are compared in: each character case-folded on its own."""
    if text.isascii():  # the usual text: each ASCII character folds to its lower case
        return text.lower()
    out: list[str] = []
    for char in text:
        folded = char.casefold()
        out.append(folded if len(folded) == 1 else char)
    return "".join(out)


def without_separators(text: str) -> str:
    """``text`` without the spaces and dashes (any Unicode space, any ``Pd`` dash) people
    put inside a number they copy from a label, an e-mail or a spreadsheet: carriers print
    tracking numbers in groups (``1Z 4F3A2B 03 0000 1234``, ``9600-0005-19``) that the TMS
    sends without them. Support search, the tracking-number lookup and the live feed's
    tracking-number filter all compare through it."""
    return "".join(char for char in text if not _is_separator(char))


def _is_separator(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Pd"


def _values(doc: Mapping[str, Any], path: str) -> tuple[str, ...]:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ()
        value = value.get(part)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def search_source(kind: str, doc: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Everything the search document of ``doc`` is derived from (its ``rev`` aside); None
    for kinds that are not searched. Equal sources: the stored search document still holds."""
    paths = SEARCHABLE.get(kind)
    if paths is None:
        return None
    text = tuple(value for path in paths for value in _values(doc, path))
    copied = tuple(_copied(doc, name) for name in COPIED[kind])
    return (text, copied)


def _copied(doc: Mapping[str, Any], name: str) -> Any:
    value = doc.get(name)
    return tuple(value) if isinstance(value, list) else value


def grams(values: Iterable[str]) -> list[str]:
    """The sorted, distinct keys of ``values``."""
    keys: set[str] = set()
    for value in values:
        text = fold(value)
        for length in GRAM_LENGTHS:
            keys.update(text[i : i + length] for i in range(len(text) - length + 1))
    return sorted(keys)


def search_document(kind: str, entity_id: str, doc: Mapping[str, Any]) -> SearchDocument | None:
    """The search document of ``doc`` (entity ``kind``/``entity_id``); None when not searched."""
    source = search_source(kind, doc)
    if source is None:
        return None
    text, copied = source
    out = SearchDocument(
        _id=document_id(kind, entity_id),
        kind=kind,
        entityId=entity_id,
        rev=int(doc.get("rev", 0)),
        text=list(dict.fromkeys(text)),
        keys=grams(text),
    )
    for name, value in zip(COPIED[kind], copied, strict=True):
        out[name] = list(value) if isinstance(value, tuple) else value  # type: ignore[literal-required]
    return out


def fragment_keys(fragment: str) -> list[str] | None:
    """Keys every value containing ``fragment`` holds: its first and its last substring of
    the longest stored length that fits (one key when they are the same). Both must be
    present, so the index intersects two short lists. None: too short to have a key."""
    text = fold(fragment)
    fitting = [n for n in GRAM_LENGTHS if n <= len(text)]
    if not fitting:
        return None
    length = max(fitting)
    return list(dict.fromkeys([text[:length], text[len(text) - length :]]))
