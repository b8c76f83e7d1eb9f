"""How large an event may make its document (pure, no I/O): the rule behind the
``document-too-large`` dead letters.

The store holds documents of up to 16 MiB (``documents.STORE_DOCUMENT_BYTES``); a write
over that is refused on every retry, so one entity that grows without bound upstream would
stop its whole partition. The planner refuses instead the event that would take the
document over ``documents.MAX_DOCUMENT_BYTES`` (``batch.plan_entity``), and what judges the
projector's work (``holdings``, the fault tests' expected documents) applies the same rule.

An order's or a shipment's search document (``search_keys``) grows with its searchable
values, a key of up to 38 bytes per character, so it is measured too, but only when a cheap
bound from those values' lengths says it might be near the limit: an exact one costs its
keys (a second for a value of 700,000 characters) and its encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import bson

from projections.event_fields import quoted
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
