"""Call argument-free field resolvers straight from graphql-core, without Strawberry's wrapper.

Strawberry wraps every field that has a resolver in a chain built per call: it converts the
field's arguments (``get_arguments``), builds its ``Info``, folds the field extensions over
the call with ``functools.reduce``/``partial``, and for an ``async`` resolver adds a
coroutine. For a page of 20 orders with their shipments that is about 230 calls per request
and was the largest single item of the API's CPU after graphql-core's own execution (see
README "Benchmarks").

A field whose resolver takes no GraphQL arguments and has no field extensions and no
permission classes gains nothing from that chain: the resolver is called with the parent
object and an ``Info``, exactly as Strawberry would call it. ``install`` replaces such
fields' graphql-core resolvers with that direct call once, when the schema is built. What a
resolver returns is untouched (a value, or an awaitable graphql-core awaits), so types,
enums, errors and their paths are what Strawberry's chain would have given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

Resolve = Callable[[Any, GraphQLResolveInfo[Any]], Any]
InfoClass = type[strawberry.Info[Any, Any]]


def direct_resolver(field: StrawberryField, info_class: InfoClass) -> Resolve | None:
    """The direct call of ``field``'s resolver, or None when Strawberry's chain must stay."""
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.permission_classes:
        return None
    if resolver.arguments or resolver.root_parameter or resolver.parent_parameter:
        return None
    if resolver.self_parameter is None:
        return None  # a static or class-level resolver: leave it to Strawberry
    function: Callable[..., Any] = resolver.wrapped_func  # type: ignore[assignment]
    info_parameter = resolver.info_parameter
    if info_parameter is None:

        def resolve_plain(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
            return function(source)

        return resolve_plain
    info_name = info_parameter.name

    def resolve_with_info(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return function(source, **{info_name: info_class(_raw_info=info, _field=field)})

    return resolve_with_info


def install(schema: strawberry.Schema, type_names: Iterable[str]) -> list[str]:
    """Give each eligible field of the named object types its direct resolver; returns the
    ``Type.field`` names changed.

    Nothing changes when the schema declares exception handlers (Strawberry then routes
    resolver errors through them, which the direct call would skip).
    """
    if getattr(schema.schema_converter, "_exception_handler_specs", None):
        return []
    info_class: InfoClass = schema.config.info_class
    changed = []
    for type_name in type_names:
        graphql_type = schema._schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            raise ValueError(f"{type_name} is not an object type of the schema")
        for name, graphql_field in graphql_type.fields.items():
            definition = _strawberry_field(graphql_field)
            if definition is None:
                continue
            resolve = direct_resolver(definition, info_class)
            if resolve is not None:
                graphql_field.resolve = resolve
                changed.append(f"{graphql_type.name}.{name}")
    return changed


def _strawberry_field(graphql_field: GraphQLField) -> StrawberryField | None:
    definition = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return definition if isinstance(definition, StrawberryField) else None
