"""The Relay ``Node`` interface (Global Object Identification), implemented by the entities.

Relay refetches any object by its ``id`` through ``Query.node``; Apollo Client normalises its
cache on ``__typename`` + ``id``. Both need the id to be unique across types, which the
upstream numbers are not: see ``graph.global_ids`` for the encoding.
"""

from __future__ import annotations

import strawberry

GLOBAL_ID_DESCRIPTION = (
    "Globally unique id (Relay): base64 of `<Type>:<number>`, e.g. the order SO-100234 is "
    "base64('Order:SO-100234') = `T3JkZXI6U08tMTAwMjM0`. Pass it to `node(id:)`, or to "
    "`order(id:)`, `shipment(id:)`, `invoice(id:)`, which also take the plain number."
)


@strawberry.interface(
    description=(
        "An object with a globally unique id that `node(id:)` refetches (Relay's Global "
        "Object Identification): Order, Shipment and Invoice."
    )
)
class Node:
    id: strawberry.ID = strawberry.field(description=GLOBAL_ID_DESCRIPTION)
