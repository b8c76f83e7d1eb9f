"""The schema this API offers a federation gateway: ``_service { sdl }``.

It is the schema the API serves, less ``Query.node`` and ``Query.nodes``. Those two stay for
clients that call the API directly (Relay refetches through ``node``), but a subgraph that
declares them claims a supergraph's ``node(id:)``: every Relay subgraph declares them too,
so composition refuses the pair unless both are ``@shareable``, and ``@shareable`` would
tell the router that either subgraph resolves any id, while this one resolves only
``Order``, ``Shipment`` and ``Invoice`` ids (another subgraph's ``Customer`` id would be null
here). Federation has no routing of ``node`` by type (apollographql/federation#1067): a
supergraph gives ``node`` to one subgraph, which reads the type from the id and returns a
reference, ``{__typename: "Order", id}``, that the router resolves here through
``_entities`` by the ``@key(fields: "id")`` every entity declares (docs/api.md, "Federation").
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Final

import strawberry
from graphql import DocumentNode, ObjectTypeDefinitionNode, parse, print_ast
from strawberry.printer import print_schema
from strawberry.schema.base import BaseSchema

from graph.context import Info

#: Root fields the API serves but does not offer a gateway (see the module docstring).
NOT_OFFERED: Final = frozenset({"node", "nodes"})
#: Each schema's ``subgraph_sdl``, computed on the first ``_service { sdl }`` it serves.
_SDL_OF: Final[weakref.WeakKeyDictionary[BaseSchema, str]] = weakref.WeakKeyDictionary()


def subgraph_sdl(schema: BaseSchema) -> str:
    """``schema``'s SDL with its Federation directives, less the fields ``NOT_OFFERED``."""
    document = parse(print_schema(schema))
    definitions = [
        _without_not_offered(definition)
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.name.value == "Query"
        else definition
        for definition in document.definitions
    ]
    return print_ast(DocumentNode(definitions=tuple(definitions)))


def _without_not_offered(query: ObjectTypeDefinitionNode) -> ObjectTypeDefinitionNode:
    fields = tuple(field for field in query.fields or () if field.name.value not in NOT_OFFERED)
    return dataclasses.replace(query, fields=fields)


@strawberry.type(name="_Service")
class Service:
    """Federation's ``_Service``, as Strawberry declares it, with this subgraph's SDL."""

    @strawberry.field
    def sdl(self, info: Info) -> str:
        return served_sdl(info.schema)


def served_sdl(schema: BaseSchema) -> str:
    """``subgraph_sdl(schema)``, computed once per schema.

    Printing, parsing and printing the whole schema again takes about 28 ms of the event
    loop, and anyone may ask for it (anonymous callers too), as often as a document has
    aliases: ``{ _service { a0: sdl ... a29: sdl } }`` held the loop for 0.9 s a request when
    each resolution computed it. The schema does not change once built, so neither does this.
    """
    sdl = _SDL_OF.get(schema)
    if sdl is None:
        sdl = _SDL_OF[schema] = subgraph_sdl(schema)
    return sdl


def service() -> Service:
    """What a gateway (or Rover) asks a subgraph for its schema."""
    return Service()
