"""The GraphQL schema: a Federation 2 subgraph (Order, Shipment, Invoice keyed by id)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import strawberry
from graphql import (
    GraphQLAbstractType,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
)
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.federation.schema import FederationAny
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext

from graph import direct_resolvers, leaf_fields
from graph.context import Info
from graph.entities import Invoice, Order, Shipment
from graph.global_ids import number_for
from graph.item_refusals import refused_or
from graph.query import Query
from graph.stream_refusals import refusals_as_results
from graph.subscriptions import Subscription
from readmodel.quoting import ECHOED_CHARACTERS, quoted
from resolvers.errors import BadUserInput, ResolverError

ExtensionSpec = type[SchemaExtension] | Callable[[], SchemaExtension]

#: The entity types a gateway may resolve, and the one key each is resolved by.
ENTITY_CLASSES: Final[Mapping[str, type[Invoice | Order | Shipment]]] = {
    "Invoice": Invoice,
    "Order": Order,
    "Shipment": Shipment,
}
ENTITY_TYPES: Final = tuple(ENTITY_CLASSES)
#: The Federation version ``_service { sdl }`` links (``@link(url: ".../federation/v2.0")``):
#: the lowest that defines every directive the schema applies (``@key``, ``@shareable``), so
#: the supergraph asks of the router only what the other subgraphs do. Strawberry's default
#: follows its releases (2.11 today), which composes into a supergraph on join v0.5; 2.0 to 2.6
#: compose on join v0.3, which every Federation 2 router reads. A directive of a later
#: version fails ``build_schema`` naming the version it needs: raise this with it.
FEDERATION_VERSION: Final = "2.0"


def representation_number(representation: object) -> str | None:
    """The number of the entity ``representation`` names (None: a global id of another type,
    which resolves to null like an unknown number); raises ``BadUserInput`` saying why
    it cannot be resolved. Each entity declares two keys (``@key(fields: "id")`` and one on
    its number, ``orderId`` ...): a representation carries ``__typename`` and exactly one of
    them, a non-empty string (``id``: the global id, or the plain number as before global
    ids existed)."""
    if not isinstance(representation, Mapping):
        raise BadUserInput("must be an object with __typename and id")
    type_name = representation.get("__typename")
    if not isinstance(type_name, str) or type_name not in ENTITY_TYPES:
        raise BadUserInput(
            f"has __typename {_echoed(type_name)}; expected one of {', '.join(ENTITY_TYPES)}"
        )
    entity = ENTITY_CLASSES[type_name]
    keys = ("id", entity.NUMBER_KEY)
    extra = sorted(str(k) for k in representation.keys() - {"__typename", *keys})
    # One key of a client's thousands, cut short, is enough to say what is wrong.
    if extra:
        raise BadUserInput(
            f"has keys this subgraph does not resolve by: {_listed(extra)} "
            f"(only id or {entity.NUMBER_KEY})"
        )
    given = [key for key in keys if key in representation]
    if len(given) != 1:
        raise BadUserInput(f"must carry exactly one of id and {entity.NUMBER_KEY}")
    value = representation[given[0]]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise BadUserInput(f"must carry the entity's {given[0]} as a non-empty string")
    return value if given[0] == entity.NUMBER_KEY else number_for(entity.KIND, value)


def _echoed(value: object) -> str:
    """A representation's value as its refusal quotes it: a string or number cut short, any
    a list or object by its kind (a client's 100 KB object is not worth echoing)."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return quoted(value, ECHOED_CHARACTERS)
    if isinstance(value, Mapping):
        return "an object"
    return "a list" if isinstance(value, list) else json.dumps(value)  # null, true, 1.5


def _listed(keys: list[str]) -> str:
    """The first few of a representation's unexpected keys, each cut short, and how many
    there are when that is more."""
    shown = ", ".join(quoted(key, ECHOED_CHARACTERS) for key in keys[:_KEYS_SHOWN])
    return shown if len(keys) <= _KEYS_SHOWN else f"{shown} and {len(keys) - _KEYS_SHOWN:,} more"


_KEYS_SHOWN: Final = 3

#: Strawberry's words for a request it cannot run: an ``operationName`` naming no operation,
#: no query, an operation type the transport does not carry. The client's mistakes, so
#: neither a bug to log (``PortalSchema.process_errors``) nor one to mask: over WebSocket
#: ``web.masking`` says each with BAD_REQUEST. One name for both, so a type Strawberry adds
#: here is kept out of the log and said to the client alike, never one without the other.
UNRUNNABLE: Final = (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError)


class PortalSchema(strawberry.federation.Schema):
    """The federation schema, refusing unusable ``_entities`` representations one by one.

    Strawberry's resolver fails the whole field with an internal error on a representation
    without ``__typename``, with an unknown one or with keys ``resolve_reference`` does not
    take; here each such representation is a BAD_USER_INPUT error at its own index
    (``_entities[3]``) and the others still resolve.
    """

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only errors nobody raised on purpose (bugs, driver failures).

        Strawberry logs every error of every response, with an excerpt of the document for
        each location: a client's invalid document of 100 conflicting fields meant 101 such
        excerpts formatted on the event loop and written to the log, per request. Refusals of
        the client's input (syntax, validation, limits, bad arguments) are the client's to
        read in the response, not the operator's; so are the requests Strawberry cannot run
        (``UNRUNNABLE``: over WebSocket they are the operation's error, ``web.masking``).
        """
        unexpected = [
            error
            for error in errors
            if error.original_error is not None
            and not isinstance(error.original_error, (GraphQLError, *UNRUNNABLE))
            and not isinstance(getattr(error.original_error, "code", None), str)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)

    async def stream(self, *args: Any, **kwargs: Any) -> StreamResult:
        """Strawberry's, except that a refusal an extension raises while the document is
        checked is the operation's first result, as ``Schema.execute`` makes it HTTP's
        response (``graph.stream_refusals``): both WebSocket protocols run every operation
        through here."""
        return refusals_as_results(await super().stream(*args, **kwargs), self.process_errors)

    async def entities_resolver(  # type: ignore[override]  # a resolver may be async
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Every usable representation resolved at once: one store read per entity type and
        a list of finished entities, not one awaitable per representation (Strawberry's),
        which graphql-core completes one by one: 100 representations cost 24 ms of the event
        loop that way (``bench/abuse.py``). The representations of a type the caller may not
        read are refused each at its own index (``graph.item_refusals``)."""
        given: list[Any] = list(representations)
        results: list[Any] = [None] * len(given)
        by_type: dict[str, list[tuple[int, str | None]]] = {}
        for index, representation in enumerate(given):
            try:
                number = representation_number(representation)
            except BadUserInput as problem:
                results[index] = BadUserInput(f"representations[{index}] {problem}")
                continue
            by_type.setdefault(representation["__typename"], []).append((index, number))
        resolved: list[Any] = await asyncio.gather(
            *(
                refused_or(ENTITY_CLASSES[type_name].resolve_ids(info, [n for _, n in wanted]))
                for type_name, wanted in by_type.items()
            )
        )
        for wanted, entities in zip(by_type.values(), resolved, strict=True):
            if isinstance(entities, ResolverError):  # a type the caller may not read
                entities = [entities] * len(wanted)
            for (index, _), entity in zip(wanted, entities, strict=True):
                results[index] = entity
        return results


def build_schema(*, extensions: Sequence[ExtensionSpec] = ()) -> strawberry.federation.Schema:
    """Build the schema; the web layer adds its own extensions (limits, error masking).

    Federation 2 (``FEDERATION_VERSION``; ``graph.subgraph`` for the SDL a gateway reads): a
    gateway can resolve ``Order``/``Shipment``/``Invoice`` references through ``_entities``,
    under the same entitlements as every other field.
    """
    schema = PortalSchema(
        query=Query,
        subscription=Subscription,
        types=[Order, Shipment, Invoice],
        extensions=list(extensions),
        federation_version=FEDERATION_VERSION,
        # Plain leaves answered at once; see graph.subscriptions for the memory growth of
        # graphql-core 3.3's per-event executors this class (a subclass) also avoids.
        execution_context_class=leaf_fields.LeafExecutionContext,
    )
    direct_resolvers.install(schema, resolved_type_names(schema._schema))
    leaf_fields.install(schema._schema, resolved_type_names(schema._schema))
    _resolve_entities_by_class(schema._schema)
    return schema


def _resolve_entities_by_class(schema: GraphQLSchema) -> None:
    """Name an ``_entities`` item's type from its class, in one lookup.

    Strawberry's union resolver tries ``strawberry.cast``, then matches the object against
    every object type's definition in turn: about a third of the event loop's time for an
    ``_entities`` request of 100 orders. Every item ``entities_resolver`` returns is an
    ``Order``, ``Shipment`` or ``Invoice`` (the GraphQL types of the same names); anything
    else still goes to Strawberry's resolver.
    """
    union = schema.type_map.get("_Entity")
    if not isinstance(union, GraphQLUnionType) or union.resolve_type is None:
        return
    strawberrys = union.resolve_type
    names = {entity: name for name, entity in ENTITY_CLASSES.items()}

    def resolve(root: Any, info: GraphQLResolveInfo[Any], abstract: GraphQLAbstractType) -> Any:
        name = names.get(type(root))
        return name if name is not None else strawberrys(root, info, abstract)

    union.resolve_type = resolve


def resolved_type_names(schema: GraphQLSchema) -> list[str]:
    """Object types whose fields are resolved per request: all but the subscription root
    (its fields are event streams) and introspection's own."""
    return [
        name
        for name, graphql_type in schema.type_map.items()
        if isinstance(graphql_type, GraphQLObjectType)
        and graphql_type is not schema.subscription_type
        and not name.startswith("__")
    ]
