"""Global ids (the Relay server specification's ``Node.id``): what they are made of, and back.

A global id is the standard base64 encoding (with ``=`` padding) of ``<Type>:<number>``, the
encoding graphql-relay and Strawberry's ``relay.GlobalID`` use: the order ``SO-100234`` is
``base64("Order:SO-100234")`` = ``T3JkZXI6U08tMTAwMjM0``. Order, shipment and invoice numbers
come from three systems and may collide; the type name makes the id unique across them,
which Relay's store and Apollo's cache need.

The decoding is strict (Strawberry's ``from_base64`` skips characters outside the alphabet),
so that an order number is never mistaken for a global id by accident: a value decodes only
if it is canonical base64 of ``<one of our types>:<non-empty number>``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final

from readmodel.documents import EntityKind
from readmodel.quoting import ECHOED_CHARACTERS, quoted
from resolvers.errors import BadUserInput

#: The GraphQL type of each entity kind, and back.
TYPE_OF_KIND: Final[dict[EntityKind, str]] = {
    "orders": "Order",
    "shipments": "Shipment",
    "invoices": "Invoice",
}
KIND_OF_TYPE: Final[dict[str, EntityKind]] = {name: kind for kind, name in TYPE_OF_KIND.items()}


@dataclass(frozen=True)
class GlobalId:
    """A decoded global id: the entity's kind and its own id (the order, shipment or invoice
    number as the upstream system names it)."""

    kind: EntityKind
    number: str

    @property
    def type_name(self) -> str:
        return TYPE_OF_KIND[self.kind]

    def encode(self) -> str:
        return encode(self.kind, self.number)


def encode(kind: EntityKind, number: str) -> str:
    return base64.b64encode(f"{TYPE_OF_KIND[kind]}:{number}".encode()).decode("ascii")


def decode(value: str) -> GlobalId | None:
    """The global id ``value`` spells, or None if it is not one of ours."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
        text = raw.decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != value:
        return None  # not canonical (e.g. missing padding): not something we issued
    type_name, sep, number = text.partition(":")
    kind = KIND_OF_TYPE.get(type_name)
    if not sep or kind is None or not number:
        return None
    return GlobalId(kind, number)


def number_for(kind: EntityKind, value: str) -> str | None:
    """The id to look ``kind`` up by, from what a client sent: a global id of that kind, or
    the plain number (what lookups took before global ids). None for a global id of another
    kind, which names no entity of this one."""
    decoded = decode(value)
    if decoded is None:
        return value
    return decoded.number if decoded.kind == kind else None


def lookup_number(kind: EntityKind, value: str) -> str:
    """The number of the ``kind`` entity a client named in a lookup argument (``order(id:)``,
    ``shipmentUpdates(shipmentId:)``): a global id of that kind, or the plain number.

    A global id of another kind raises ``BadUserInput`` naming its type and where it goes: it
    names no entity of this kind, and the null (or the subscription that never fires) it
    used to get read as "no such order" to a caller who had pasted a shipment's id into the
    wrong field. (Federation's representations keep ``number_for``'s null: a router only
    sends what a subgraph's keys say.)"""
    decoded = decode(value)
    if decoded is None:
        return value
    if decoded.kind != kind:
        raise BadUserInput(
            f"{quoted(value, ECHOED_CHARACTERS)} is the id of {_a(decoded.type_name)}, not of "
            f"{_a(TYPE_OF_KIND[kind])}: pass it to {decoded.type_name.lower()}(id:) or node(id:)."
        )
    return decoded.number


def _a(type_name: str) -> str:
    """``type_name`` with its indefinite article: an Order, a Shipment, an Invoice."""
    return f"{'an' if type_name[0] in 'AEIOU' else 'a'} {type_name}"
