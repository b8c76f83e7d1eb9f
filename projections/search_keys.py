"""Search keys: what lets an index find a substring (pure logic, no I/O).

Support search matches a fragment anywhere inside an id, tracking number, reference, name or
city, case-insensitively. No ordinary index serves "contains". So each order and shipment
stores, lower-cased, every substring of its searchable values of ``GRAM_LENGTHS`` characters
(``documents.SEARCH_KEYS``, private like every ``_`` field; one multikey index), and a search
looks up keys by equality: the fragment's first and last 6 characters (3 when it is shorter).
Every document containing the fragment holds both, so the documents holding both are the
candidates, on which the readers check the whole fragment (``resolvers.filters.ShipmentSearch``).

Why equality and not a prefix range of stored suffixes: on DocumentDB a range on an array
field matches when *some* element is above the lower bound and *some* below the upper, so
the index cannot bound it (measured: seconds on 190,000 shipments, where one key's equality
takes milliseconds). Two lengths keep a key selective for longer fragments without storing
every length. Fragments shorter than ``MIN_FRAGMENT`` would match most documents: the API
refuses them.

A shipment also stores its order ids whole, so the shipments of the orders a search matched
are found through the same index (``order_keys``).

The projector writes the keys with every write of an order or shipment (``batch.plan_entity``),
so a document changed since carries them; a store written before they existed gets them by a
rebuild (``python -m projections rebuild``); until then readers that find such documents in
a collection search them too (``{_search: null}``, see ``resolvers.readers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from projections.documents import SEARCH_KEYS

GRAM_LENGTHS: Final = (3, 6)
MIN_FRAGMENT: Final = GRAM_LENGTHS[0]

#: The searchable values of each kind, as dotted paths (a list value: each element).
SEARCHABLE: Final[dict[str, tuple[str, ...]]] = {
    "orders": ("_id", "customerReference", "shipTo.name"),
    "shipments": ("_id", "trackingNumber", "orderIds", "destination.city"),
}
#: Values also stored whole, to be found by exact id.
WHOLE: Final[dict[str, tuple[str, ...]]] = {"shipments": ("orderIds",)}


def normalized(text: str) -> str:
    """The form keys and fragments are compared in: lower case (``str.lower``)."""
    return text.lower()


def _values(doc: Mapping[str, Any], path: str) -> Iterable[str]:
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


def search_keys(kind: str, doc: Mapping[str, Any]) -> list[str] | None:
    """The sorted, distinct keys of ``doc``; None for kinds that are not searched."""
    paths = SEARCHABLE.get(kind)
    if paths is None:
        return None
    keys: set[str] = set()
    for path in paths:
        for value in _values(doc, path):
            text = normalized(value)
            for length in GRAM_LENGTHS:
                keys.update(text[i : i + length] for i in range(len(text) - length + 1))
    for path in WHOLE.get(kind, ()):
        keys.update(normalized(value) for value in _values(doc, path))
    return sorted(keys)


def with_search_keys(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with its search keys set (the same dict when the kind is not searched)."""
    keys = search_keys(kind, doc)
    if keys is None:
        return doc
    return {**doc, SEARCH_KEYS: keys}


def fragment_keys(fragment: str) -> list[str]:
    """Keys every document containing ``fragment`` (at least ``MIN_FRAGMENT`` long) holds:
    its first and its last substring of the longest stored length that fits (one key when
    they are the same). Both must be present, so the index intersects two short lists."""
    text = normalized(fragment)
    length = max(n for n in GRAM_LENGTHS if n <= len(text))
    return list(dict.fromkeys([text[:length], text[len(text) - length :]]))


def order_keys(order_ids: Iterable[str]) -> list[str]:
    """The keys of the shipments of these orders (``WHOLE``)."""
    return sorted({normalized(order_id) for order_id in order_ids})
