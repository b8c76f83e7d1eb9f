"""Call field resolvers straight from graphql-core, without Strawberry's wrapper.

Strawberry wraps every field that has a resolver in a chain built per call: it converts the
field's arguments (``get_arguments``), builds its ``Info``, folds the field extensions over
the call with ``functools.reduce``/``partial``, and for an ``async`` resolver adds a
coroutine. For a page of 20 orders with their shipments that is about 230 calls per request
and was the largest single item of the API's CPU after graphql-core's own execution (see
docs/benchmarks.md, "Benchmarks").

A field whose resolver takes no GraphQL arguments, or only arguments of built-in scalar
types (which Strawberry passes on unconverted: a tracking number, an id), and has no field
extensions and no permission classes gains nothing from that chain: the resolver is called
with the parent object, its arguments under their Python names and an ``Info``, exactly as
Strawberry would call it. ``install`` replaces such
fields' graphql-core resolvers with that direct call once, when the schema is built. What a
resolver returns is untouched (a value, or an awaitable graphql-core awaits), so types,
enums, errors and their paths are what Strawberry's chain would have given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import strawberry
from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.field import StrawberryField

Resolve = Callable[..., Any]
InfoClass = type[strawberry.Info[Any, Any]]
#: Argument types Strawberry passes to a resolver as graphql-core coerced them.
_PLAIN_SCALARS: Final = frozenset({str, int, float, bool, strawberry.ID})


def direct_resolver(
    field: StrawberryField, info_class: InfoClass, names: NameConverter
) -> Resolve | None:
    """The direct call of ``field``'s resolver, or None when Strawberry's chain must stay."""
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.permission_classes:
        return None
    if resolver.root_parameter or resolver.parent_parameter:
        return None
    if resolver.self_parameter is None:
        return None  # a static or class-level resolver: leave it to Strawberry
    function: Callable[..., Any] = resolver.wrapped_func  # type: ignore[assignment]
    if resolver.arguments:
        return _with_arguments(field, function, info_class, names)
    info_parameter = resolver.info_parameter
    if info_parameter is None:

        def resolve_plain(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
            return function(source)

        return resolve_plain
    info_name = info_parameter.name

    def resolve_with_info(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return function(source, **{info_name: info_class(_raw_info=info, _field=field)})

    return resolve_with_info


def _with_arguments(
    field: StrawberryField,
    function: Callable[..., Any],
    info_class: InfoClass,
    names: NameConverter,
) -> Resolve | None:
    """The direct call of a resolver whose arguments are all built-in scalars (nullable or
    not), which Strawberry passes on as graphql-core coerced them: only their names change
    (``trackingNumber`` -> ``tracking_number``). None for any other argument (an enum, an
    input object, a list, a custom scalar): Strawberry converts those."""
    resolver = field.base_resolver
    assert resolver is not None
    python_names = {}
    for argument in resolver.arguments:
        argument_type = argument.type
        if isinstance(argument_type, StrawberryOptional) and not isinstance(
            argument_type, StrawberryMaybe
        ):
            argument_type = argument_type.of_type
        if argument_type not in _PLAIN_SCALARS or argument.python_name is None:
            return None
        python_names[names.from_argument(argument)] = argument.python_name
    info_parameter = resolver.info_parameter
    info_name = info_parameter.name if info_parameter is not None else None

    def resolve_with_arguments(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        kwargs = {python_names[name]: value for name, value in args.items()}
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=field)
        return function(source, **kwargs)

    return resolve_with_arguments


def install(schema: strawberry.Schema, type_names: Iterable[str]) -> list[str]:
    """Give each eligible field of the named object types its direct resolver; returns the
    ``Type.field`` names changed.

    Nothing changes when the schema declares exception handlers (Strawberry then routes
    resolver errors through them, which the direct call would skip).
    """
    if getattr(schema.schema_converter, "_exception_handler_specs", None):
        return []
    info_class: InfoClass = schema.config.info_class
    names = schema.config.name_converter
    changed = []
    for type_name in type_names:
        graphql_type = schema._schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            raise ValueError(f"{type_name} is not an object type of the schema")
        for name, graphql_field in graphql_type.fields.items():
            definition = _strawberry_field(graphql_field)
            if definition is None:
                continue
            resolve = direct_resolver(definition, info_class, names)
            if resolve is not None:
                graphql_field.resolve = resolve
                changed.append(f"{graphql_type.name}.{name}")
    return changed


def _strawberry_field(graphql_field: GraphQLField) -> StrawberryField | None:
    definition = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return definition if isinstance(definition, StrawberryField) else None
