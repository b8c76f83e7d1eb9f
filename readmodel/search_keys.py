"""Search keys: what lets an index find a substring (pure logic, no I/O).

Support search matches a fragment anywhere inside an id, tracking number, reference, name or
city, case-insensitively, and no ordinary index serves "contains". So for each order and
shipment the projector keeps one *search document* in a side collection
(``documents.SEARCH_KEYS``): the entity's searchable values as they are (``text``), every
substring of ``GRAM_LENGTHS`` characters of their ``search_form`` (``keys``, one multikey
index), and the fields the entitlement filter reads (``customerId``, ``known`` and, for
orders, ``warehouseId``), so a search runs under the caller's scope filter on this collection alone
(for shipments, its customer part: ``Scope.search_keys_filter``).

A search looks up keys by equality: the fragment's first and last substring of the longest
stored length that fits (``fragment_keys``). Every value containing the fragment holds both,
so the documents holding both are the candidates; the ``$regex`` of ``search_pattern``
checks ``text`` on them, as the slow way checks the entities, so the answer is exactly the
match of the forms.

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

Comparison (session 22): keys, fragments and the exact check all compare in one form,
``search_form``: Unicode case folding, compatibility decomposition with the accents dropped,
and no spaces or dashes. ``istanbul`` finds ``İstanbul``, ``zurich`` finds ``Zürich``,
``strasse`` finds ``STRASSE``, and ``PO10045`` finds ``PO-10045`` as ``PO-10045`` finds
``PO10045``. The exact check is ``search_pattern``: a ``$regex`` that reads stored values
through the same rule one character at a time, so the search documents and the slow way
(the pattern over the entities) find the same values. A character that folds to several
(``ß`` to ``ss``) is matched by keys but not by the pattern: ``strasse`` does not find
``Straße``. Search documents written before session 22 hold keys of another form: their
generation's ``complete`` marker lacks ``KEYS_FORMAT``, so readers search it the slow way
until a rebuild (docs/operations.md).

Tracking numbers: the lookup by number (an index equality) and the live feed's filter
match a typed number and a stored one when their ``tracking_key`` is the same: the number
without spaces and dashes, case-folded (``PRO555``, ``pro 555`` and ``PRO-555`` all name a
shipment stored as ``PRO-555``). The projector stores each shipment's key
(``documents.TRACKING_KEY``); a generation written before it did is filled once
(``TRACKING_KEYS_MARKER``), and until then looked up by ``tracking_number_forms``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache
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

#: The form of the keys (``search_form``), recorded in the ``complete`` marker
#: (``KEYS_FORMAT_FIELD``): readers search by key only a generation whose marker names it.
KEYS_FORMAT: Final = 2
KEYS_FORMAT_FIELD: Final = "keysFormat"
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
#: ``_id`` of the document that says every shipment of the generation holds its
#: ``documents.TRACKING_KEY`` (``tracking_key``), those written before the field existed
#: included (``projections.search_writes.ensure_filled``): readers look a number up by its
#: key only then (``tracking_number_forms`` before). A generation the projector creates
#: gets it at once, while a rebuild's indexes wait for its catch-up: readers read such a
#: generation only after the switch, when they exist (a read whose hinted index is missing
#: goes without the hint).
TRACKING_KEYS_MARKER: Final = "trackingKeys"
#: The collection's documents that are not search documents.
MARKERS: Final = (COMPLETE_MARKER, FILLED_MARKER, WAREHOUSES_MARKER, TRACKING_KEYS_MARKER)


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
    #: Sorted, distinct substrings of the ``search_form`` of ``text`` (the index lookup
    #: runs on these).
    keys: list[str]


def document_id(kind: str, entity_id: str) -> str:
    return f"{kind}/{entity_id}"


def search_form(text: str) -> str:
    """The form support search compares in, written keys and typed text alike: case-folded
    (``str.casefold``), decomposed (NFKD) without its combining marks (accents), and without
    separators (``without_separators``). ``İstanbul``, ``ISTANBUL`` -> ``istanbul``;
    ``Zürich`` -> ``zurich``; ``PO-10045`` -> ``po10045``; ``Straße`` -> ``strasse``."""
    if text.isascii():  # the usual text: NFKD changes no ASCII character
        return without_separators(text).lower()
    decomposed = unicodedata.normalize("NFKD", text)
    folded = unicodedata.normalize("NFKD", decomposed.casefold())
    return "".join(
        char for char in folded if unicodedata.category(char) != "Mn" and not _is_separator(char)
    )


#: What a stored value may hold between two characters of a typed text (PCRE): spaces, dashes
#: and combining marks, most of what ``search_form`` drops (not the rare spacing accents, as
#: ``¨``, nor the control characters ``\x1c``-``\x1f``: a shorter pattern is a faster one).
#: Not U+0345 (COMBINING GREEK YPOGEGRAMMENI), the one combining mark ``search_form`` keeps
#: (it folds to iota, U+03B9): so no character the filler takes can match a typed character's class,
#: and the filler is possessive (``*+``: it never gives back what it took), which is then the
#: same match. Matching is linear: a filler that could also be a letter let a run of U+0345
#: under a typed run of iotas be split between them in exponentially many ways (26 characters
#: took 1.7 s in Python's ``re``; the store's PCRE2 gave up, a failed search; session 22).
PATTERN_BETWEEN: Final = r"(?:(?!\x{345})[\s\p{Z}\p{Pd}\p{Mn}])*+"
#: Characters ``search_pattern`` knows the forms of: Latin, Greek, Cyrillic and their
#: accented letters (everything below U+2000; a typed character beyond matches itself).
_PATTERN_RANGE: Final = range(0x20, 0x2000)


@cache
def _forms() -> dict[str, str]:
    """For each ``search_form`` of one character of ``_PATTERN_RANGE``, the characters that
    have it (``i``: ``iIÌÍÎÏìíîïĨĩ…İ…``, ``ss``: ``ßẞ``), built once (10 ms)."""
    table: dict[str, list[str]] = {}
    for code in _PATTERN_RANGE:
        char = chr(code)
        form = search_form(char)
        if form:
            table.setdefault(form, []).append(char)
    return {form: "".join(chars) for form, chars in table.items()}


def _class_member(char: str) -> str:
    return "\\" + char if char in "\\]^-[" else char


def _one_of(chars: str) -> str:
    chars = "".join(dict.fromkeys(chars))
    return re.escape(chars) if len(chars) == 1 else "[" + "".join(map(_class_member, chars)) + "]"


def search_pattern(text: str) -> str:
    """The ``$regex`` (PCRE, with the ``i`` option) that matches a stored value whose
    ``search_form`` contains ``text``'s: for each character of ``text``, any character of
    the same form (a form of two, as ``ß``'s ``ss``: that character, or the two one by one),
    with spaces, dashes and combining marks between them (``PATTERN_BETWEEN``). Escaped: the
    client's text is never a regex. The exact check of a search, on the search documents'
    ``text`` and on the entities alike."""
    table, between = _forms(), PATTERN_BETWEEN
    parts = []
    for char in text:
        form = search_form(char)
        if not form:
            continue
        whole = _one_of(char + table.get(form, ""))
        if len(form) == 1:
            parts.append(whole)
        else:
            one_by_one = between.join(_one_of(f + table.get(f, "")) for f in form)
            parts.append(f"(?:{one_by_one}|{whole})")
    return between.join(parts)


def without_separators(text: str) -> str:
    """``text`` without the spaces and dashes (any Unicode space, any ``Pd`` dash) people
    put inside a number they copy from a label, an e-mail or a spreadsheet: carriers print
    tracking numbers in groups (``1Z 4F3A2B 03 0000 1234``, ``9600-0005-19``) that the TMS
    sends without them. Support search, the tracking-number lookup and the live feed's
    tracking-number filter all compare through it."""
    return "".join(char for char in text if not _is_separator(char))


def tracking_key(number: str) -> str:
    """What a tracking number is compared by, stored and typed alike: without its spaces and
    dashes (``without_separators``), case-folded (``str.casefold``). ``PRO-555``,
    ``pro 555`` -> ``pro555``; ``1Zab``, ``1ZAB`` -> ``1zab``. The one rule of the lookup by
    number (an equality through the key's index, ``documents.TRACKING_KEY``) and of the
    live feed's filter. People type a number off a label that prints it in groups, in lower
    case on a phone; TMSs send it whole or in groups, in any case."""
    return without_separators(number).casefold()


def tracking_number_forms(typed: str) -> tuple[str, ...]:
    """The stored tracking numbers a typed one names in a generation whose shipments do not
    all hold their ``tracking_key`` yet (no ``TRACKING_KEYS_MARKER``): as typed (surrounding
    spaces aside) and without its spaces and dashes (``without_separators``), each as typed,
    in upper case and in lower case; distinct and sorted (an equality through the number's
    index, ``$in``). A number stored with separators or in mixed case is found there only
    as stored."""
    trimmed = typed.strip()
    texts = (trimmed, without_separators(trimmed))
    return tuple(sorted({form for t in texts for form in (t, t.upper(), t.lower())}))


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
    """The sorted, distinct keys of ``values``: substrings of their ``search_form``."""
    keys: set[str] = set()
    for value in values:
        text = search_form(value)
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
    text = search_form(fragment)
    fitting = [n for n in GRAM_LENGTHS if n <= len(text)]
    if not fitting:
        return None
    length = max(fitting)
    return list(dict.fromkeys([text[:length], text[len(text) - length :]]))
