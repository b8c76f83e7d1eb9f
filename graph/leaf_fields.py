"""Complete plain leaf fields without graphql-core's per-field machinery.

For every field it executes, graphql-core builds a ``GraphQLResolveInfo`` (fourteen values),
a list of the field's nodes, calls the resolver (ours build a Strawberry ``Info`` around that
resolve info), checks twice whether the result is awaitable and completes it through
``complete_value``'s non-null, list, leaf, abstract and object tests. A page of 20 orders
with their shipments has about 300 such leaf fields (ids, numbers, statuses, times), and most
of that work is the same for every one of them: it was about a quarter of the API's CPU per
page (README "Benchmarks").

A field is *plain* when its value can be read from its parent object alone, without the
request's context or arguments: a Strawberry field without a resolver (an attribute), or a
resolver registered here with ``at_hand`` together with a function that reads the same value
from the parent object synchronously, or says it cannot (``NOT_AT_HAND``: the document must
be loaded first). ``install`` marks the schema's plain fields whose type is a scalar or an
enum (nullable or not); ``LeafExecutionContext.execute_fields`` answers those by calling the
reader and coercing the value as ``complete_leaf_value`` does, and hands every other case
to graphql-core unchanged: a value not at hand, null for a non-null field, a reader or a
coercion that raises, or a request with middleware (a Strawberry extension with a
``resolve`` hook; Strawberry hands every request a middleware manager, an empty one when no
extension has such a hook, and an empty one wraps nothing). graphql-core then calls the
field's real resolver, so errors, their paths and messages, null propagation and masking
are exactly what they were; the readers are pure, so calling one twice only costs time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final, TypeVar

from graphql import (
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import Path
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from graph.subscriptions import SubscriptionExecutionContext

F = TypeVar("F", bound=Callable[..., Any])
Read = Callable[[Any], Any]

#: What a reader returns when the value is not at hand (the resolver must run, and await).
NOT_AT_HAND: Final = object()
#: Where ``install`` keeps an object type's plain leaves: ``type.extensions[_KEY][field]``.
_KEY: Final = "portal.plain_leaves"
#: Resolver functions whose value can be read without the context, and how.
_READERS: dict[Callable[..., Any], Read] = {}


def at_hand(read: Read) -> Callable[[F], F]:
    """Declare that the decorated resolver's value is ``read(parent)`` whenever that is not
    ``NOT_AT_HAND``: the resolver may then be skipped (it must compute the same value)."""

    def register(resolver: F) -> F:
        _READERS[resolver] = read
        return resolver

    return register


@dataclass(frozen=True, slots=True)
class PlainLeaf:
    """How to answer one plain leaf field: read the value, coerce it to the field's type."""

    read: Read
    type: GraphQLLeafType
    non_null: bool


def install(schema: GraphQLSchema, type_names: list[str]) -> list[str]:
    """Mark the plain leaf fields of the named object types; returns ``Type.field`` names."""
    marked = []
    for type_name in type_names:
        graphql_type = schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            raise ValueError(f"{type_name} is not an object type of the schema")
        leaves = {}
        for name, graphql_field in graphql_type.fields.items():
            if graphql_field.args:
                continue
            field_type = graphql_field.type
            non_null = isinstance(field_type, GraphQLNonNull)
            leaf_type = field_type.of_type if non_null else field_type
            definition = (graphql_field.extensions or {}).get(
                GraphQLCoreConverter.DEFINITION_BACKREF
            )
            read = _reader(definition) if isinstance(definition, StrawberryField) else None
            if read is not None and is_leaf_type(leaf_type):
                leaves[name] = PlainLeaf(read, leaf_type, non_null)
                marked.append(f"{type_name}.{name}")
        graphql_type.extensions = {**(graphql_type.extensions or {}), _KEY: leaves}
    return marked


def _reader(field: StrawberryField) -> Read | None:
    """The field's reader: its attribute, or the one registered for its resolver."""
    if field.extensions or field.permission_classes:
        return None
    resolver = field.base_resolver
    if resolver is None:
        return attrgetter(field.python_name) if field.default_resolver is getattr else None
    return _READERS.get(resolver.wrapped_func)  # type: ignore[arg-type]


class LeafExecutionContext(SubscriptionExecutionContext):
    """The schema's execution context: plain leaf fields answered by their readers."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's, for every field but the plain leaves whose values are at hand,
        which are answered first and put back in the selection's order. They raise nothing
        and record nothing, so the other fields' errors, and the order of those errors,
        are graphql-core's."""
        leaves = parent_type.extensions.get(_KEY)
        if not leaves or _has_middleware(self):
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        answered: dict[str, Any] = {}
        rest: GroupedFieldSet = {}
        for response_name, field_details_list in grouped_field_set.items():
            leaf = leaves.get(field_details_list[0].node.name.value)
            value = NOT_AT_HAND if leaf is None else _plain_value(leaf, source_value)
            if value is NOT_AT_HAND:
                rest[response_name] = field_details_list
            else:
                answered[response_name] = value
        if not rest:
            return answered
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if not answered:
            return others
        if isinstance(others, dict):
            return _merged(grouped_field_set, answered, others)
        return _merged_later(grouped_field_set, answered, others)


def _has_middleware(context: LeafExecutionContext) -> bool:
    """Whether any resolver is wrapped. Strawberry hands graphql-core a ``MiddlewareManager``
    for every request, empty unless an extension implements ``resolve``; an empty one wraps
    nothing (graphql-core returns the resolver itself), so it leaves the leaves plain."""
    manager = context.middleware_manager
    return manager is not None and bool(manager.middlewares)


def _merged(
    order: GroupedFieldSet, answered: dict[str, Any], others: dict[str, Any]
) -> dict[str, Any]:
    """Both answers in the selection's order (a field graphql-core left out stays out)."""
    return {
        name: answered[name] if name in answered else others[name]
        for name in order
        if name in answered or name in others
    }


async def _merged_later(
    order: GroupedFieldSet, answered: dict[str, Any], others: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    return _merged(order, answered, await others)


def _plain_value(leaf: PlainLeaf, source: Any) -> Any:
    """The completed value, or ``NOT_AT_HAND`` for anything graphql-core must handle."""
    try:
        value = leaf.read(source)
        if value is None:
            return NOT_AT_HAND if leaf.non_null else None
        if value is NOT_AT_HAND:
            return value
        coerced = leaf.type.coerce_output_value(value)
    except Exception:  # graphql-core calls the resolver again and reports the error
        return NOT_AT_HAND
    if coerced is None or coerced is Undefined:
        return NOT_AT_HAND
    return coerced
