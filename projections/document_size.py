"""How large an event may make its document (pure, no I/O): the rule behind the
``document-too-large`` dead letters.

The store holds documents of up to 16 MiB (``documents.STORE_DOCUMENT_BYTES``); a write
over that is refused on every retry, so one entity that grows without bound upstream would
stop its whole partition. The planner refuses instead the event that would take the
document over ``documents.MAX_DOCUMENT_BYTES`` (``batch.plan_entity``), and what judges the
projector's work (``holdings``, the fault tests' expected documents) applies the same rule
(``refusal``).

The facts set aside for other customers (``documents.FOREIGN_FACTS``) are measured apart,
against their own cap (``documents.MAX_FOREIGN_FACTS_BYTES``): what one customer reported
must not get another's events refused, or what the document shows would depend on which
came first.

An order's or a shipment's search document (``search_keys``) grows with its searchable
values, a key of up to 38 bytes per character, so it is measured too, but only when a cheap
bound from those values' lengths says it might be near the limit: an exact one costs its
keys (a second for a value of 700,000 characters) and its encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import bson
import orjson

from projections.events import Event
from projections.reducers import customer_conflict
from readmodel import documents
from readmodel.documents import FOREIGN_FACTS
from readmodel.quoting import quoted
from readmodel.search_keys import search_document, search_source

#: How a dead letter's reason starts when its event would make its document too large
#: (``too_large``); the metric's reason class (``metrics.reason_class``) goes by it.
DOCUMENT_TOO_LARGE: Final = "document-too-large"

#: A bound of a search document's bytes per character of the values it is derived from:
#: two keys (3 and 6 characters of up to 4 UTF-8 bytes each: at most 38 bytes as an array
#: element with an index of up to 7 digits) and the value itself three times at most (in
#: ``text``, and in ``orderIds``, or as the entity id in ``_id`` and ``entityId``).
_SEARCH_BYTES_PER_CHARACTER: Final = 2 * 38 + 3 * 4
#: Per value, the framing of its elements (type, index, length, terminator: 14 bytes each).
_SEARCH_BYTES_PER_VALUE: Final = 3 * 14
#: The rest of a search document: its kind, ``rev``, the copied fields' names and framing.
_SEARCH_BYTES_FIXED: Final = 1024


def encoded_size(doc: Mapping[str, Any] | None) -> int:
    """``doc``'s size in BSON (0 for none): what the store would hold, but for the few bytes
    that wrap each bookkeeping blob (``store.encode_state``). The codec options of the
    store's client do not change sizes (they say how dates decode)."""
    return len(bson.encode(doc)) if doc is not None else 0


#: A bound of the bytes a BSON element of an object takes beyond its JSON text, per ``:``
#: and ``,`` of that text (``summary_bytes``; an object of n elements has 2n - 1 of them): a
#: string's type byte, name terminator, length and terminator against its name's quotes, the
#: colon and its own quotes take at most 2 more; a double's 8 bytes against at least 3
#: characters (or ``null``) at most 4; an integer no more than a string (a 64-bit one has
#: 10 digits at least); ``null``, booleans and dates are longer in JSON.
_BSON_OVER_JSON_PER_SEPARATOR: Final = 2
#: A document's own framing (length and terminator) against its braces: 3 more.
_BSON_OVER_JSON: Final = 8


def summary_bytes(key: str, entry: Mapping[str, Any]) -> int:
    """The BSON bytes of the summary ``entry`` embedded under ``key`` (its ``rev`` in it),
    or a bound of them no larger than ``documents.MAX_SUMMARY_BYTES``: it is measured
    exactly only when a bound from its JSON text may exceed that. Every summary a batch
    pushes is measured (``effects.summaries_of``): a shipment's summary took 13-16 µs to
    encode and 7-8 µs to bound, side by side on the shared machine (a scratch timing).

    A ``:`` or ``,`` inside a string makes the bound larger, never smaller. Summaries hold
    no arrays, whose elements BSON names by their index: a text with a ``[`` is measured
    exactly."""
    text = orjson.dumps({key: entry}, default=str)
    separators = text.count(b":") + text.count(b",")
    bound = len(text) + _BSON_OVER_JSON_PER_SEPARATOR * separators + _BSON_OVER_JSON
    if bound > documents.MAX_SUMMARY_BYTES or b"[" in text:
        return encoded_size({key: entry})
    return bound


class Size(NamedTuple):
    """What the limit is checked against for one document: its BSON size, or its search
    document's when that is larger and may be over the limit; ``of`` names which."""

    bytes: int
    of: str


def document_size(kind: str, entity_id: str, doc: Mapping[str, Any] | None, limit: int) -> Size:
    """The ``Size`` of entity ``kind``/``entity_id``'s document ``doc``. The search document
    is built and measured only when ``_search_bound`` exceeds ``limit``, so the answer is
    exact wherever it decides anything: a search document over the limit is always
    measured."""
    own = Size(encoded_size(doc), f"{kind} {quoted(entity_id)}")
    if doc is None or _search_bound(kind, doc) <= limit:
        return own
    search = search_document(kind, entity_id, doc)
    searched = encoded_size(search)
    if searched <= own.bytes:
        return own
    return Size(searched, f"the search document of {own.of}")


def _search_bound(kind: str, doc: Mapping[str, Any]) -> int:
    """At least the BSON size of ``doc``'s search document, from its values' lengths alone
    (0 for kinds without one)."""
    source = search_source(kind, doc)
    if source is None:
        return 0
    text, copied = source
    strings = [*text, *(value for value in copied if isinstance(value, str))]
    characters = sum(len(value) for value in strings)
    return (
        _SEARCH_BYTES_FIXED
        + _SEARCH_BYTES_PER_VALUE * len(strings)
        + _SEARCH_BYTES_PER_CHARACTER * characters
    )


def too_large(before: Size, after: Size, limit: int) -> str | None:
    """Why an event that takes a document from ``before`` to ``after`` is refused: it makes
    the document (or its search document) larger than ``limit``; None when it may be
    applied. An event that does not grow it (a repeat, a shorter restatement) is never
    refused for its size, even by a document above the limit (one grown by summaries, or
    stored under a larger limit): refusing it would not make the document fit."""
    if after.bytes <= limit or after.bytes <= before.bytes:
        return None
    return (
        f"{DOCUMENT_TOO_LARGE}: applying it would make {after.of} "
        f"{after.bytes:,} bytes, over the limit of {limit:,}"
    )


class Sizes(NamedTuple):
    """A document as ``refusal`` measures it: ``shown``, the ``Size`` of all but its facts
    set aside for other customers, and ``aside``, the BSON bytes of those (0 for none)."""

    shown: Size
    aside: int


def sizes(kind: str, entity_id: str, doc: Mapping[str, Any] | None, limit: int) -> Sizes:
    """The ``Sizes`` of entity ``kind``/``entity_id``'s document ``doc``."""
    aside = doc.get(FOREIGN_FACTS) if doc is not None else None
    if doc is None or aside is None:
        return Sizes(document_size(kind, entity_id, doc, limit), 0)
    shown = {name: value for name, value in doc.items() if name != FOREIGN_FACTS}
    return Sizes(document_size(kind, entity_id, shown, limit), encoded_size({FOREIGN_FACTS: aside}))


def over(size: Sizes, limit: int, aside_limit: int) -> bool:
    """Whether ``size`` is over a limit, so some event that made it may be refused."""
    return size.shown.bytes > limit or size.aside > aside_limit


def refusal(
    before: Sizes,
    after: Sizes,
    event: Event,
    customer: object,
    limits: tuple[int, int],
) -> str | None:
    """Why ``event``, taking a document of ``customer`` from ``before`` to ``after``, is
    refused for its size; None when it may be applied. ``limits``: the shown part's and the
    set-aside facts' (``documents.MAX_DOCUMENT_BYTES``, ``MAX_FOREIGN_FACTS_BYTES``).

    The shown part by ``too_large``; a fact set aside that would take the set-aside facts
    over their cap is refused as another customer's fact is once the snapshot is there
    (``customer conflict``); a snapshot swapping customers may move the facts shown so far
    beyond that cap, and is refused only if the whole document would then be over both
    limits together (what the store's margin is sized for). Nothing that does not grow what
    it is measured against is refused."""
    limit, aside_limit = limits
    if reason := too_large(before.shown, after.shown, limit):
        return reason
    if not event.is_snapshot and after.aside > max(aside_limit, before.aside):
        return (
            f"{customer_conflict(event, customer)}, and setting it aside would make the facts "
            f"of other customers {after.aside:,} bytes, over the limit of {aside_limit:,}"
        )
    total = after.shown.bytes + after.aside
    if total > max(limit + aside_limit, before.shown.bytes + before.aside):
        return (
            f"{DOCUMENT_TOO_LARGE}: applying it would make {after.shown.of} {total:,} bytes "
            f"with the facts of other customers, over the limit of {limit + aside_limit:,}"
        )
    return None


def step_refusal(
    kind: str,
    entity_id: str,
    doc: Mapping[str, Any] | None,
    size: Sizes,
    after: Mapping[str, Any],
    event: Event,
    limits: tuple[int, int],
) -> tuple[str | None, Sizes]:
    """One event's step of entity ``kind``/``entity_id`` from ``doc`` (of ``size``) to
    ``after``, as the planner, verify and the fault tests' oracle all judge it: why it is
    refused for its size (``refusal``; None: applied), and ``after``'s ``Sizes``."""
    grown = sizes(kind, entity_id, after, limits[0])
    customer = doc.get("customerId") if doc is not None else None
    return refusal(size, grown, event, customer, limits), grown
