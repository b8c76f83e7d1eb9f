"""Complete plain fields without graphql-core's per-field machinery.

For every field it executes, graphql-core builds a ``GraphQLResolveInfo`` (fourteen values),
a list of the field's nodes, calls the resolver (ours build a Strawberry ``Info`` around that
resolve info), checks twice whether the result is awaitable and completes it through
``complete_value``'s non-null, list, leaf, abstract and object tests; a list of objects adds
``complete_list_value``, ``complete_iterable_value`` and ``complete_list_item_value`` per item,
an object ``complete_object_value`` and ``is_type_of``. A page of 20 orders with their
shipments has about 300 leaf fields (ids, numbers, statuses, times) and about 90 object
fields (edges, nodes, each order's shipments, carriers), and most of that work is the same
for every one of them: it was about a quarter of the API's CPU per page (docs/benchmarks.md,
"Benchmarks").

A field is *plain* when its value can be read from its parent object (and the request's
context) without arguments: a Strawberry field without a resolver (an attribute), or a
resolver registered with ``graph.plain_readers.at_hand`` (``at_hand_in_request``: the
reader also takes the request's context) together with a function that reads the same
value synchronously, or says it cannot (``NOT_AT_HAND``: the document must be loaded
first). ``install`` marks the schema's plain fields whose type is a scalar or an enum, an
object type, or a list of an object type (nullable or not at each level).
``LeafExecutionContext.execute_fields`` runs the selection in its order, as graphql-core
does, and answers a plain field itself:

* a leaf: the value read and coerced as ``complete_leaf_value`` does;
* an object, or a list of objects: the value read and each object's own selection executed
  (by this same method, recursively), with graphql-core's paths, and the errors of that
  selection handled by graphql-core's own ``handle_field_error`` at the field, or the list
  item, where graphql-core would handle them (so null propagation is the same).

Every other case goes to graphql-core's ``execute_field`` unchanged, before anything of the
field is answered: a value not at hand, null for a non-null field (or a non-null item), a
value that is not a list where a list is due, an item graphql-core would treat specially
(an exception, an awaitable) or whose ``is_type_of`` check is not certain to pass, a reader
or a coercion that raises, incremental delivery, or a request with middleware (a Strawberry
extension with a ``resolve`` hook; Strawberry hands every request a middleware manager, an
empty one when no extension has such a hook, and an empty one wraps nothing). graphql-core
then calls the field's real resolver, so errors, their paths and messages, null
propagation and masking are exactly what they were; the readers are pure, so calling one
twice only costs time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetailsList,
    FragmentDetails,
    GroupedFieldSet,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import get_strawberry_type_cast
from strawberry.types.field import StrawberryField

from caching.bounded_lru import BoundedLRU
from graph.plain_readers import NOT_AT_HAND, READERS, Read
from graph.subscriptions import SubscriptionExecutionContext

#: Where ``install`` keeps an object type's plain fields: ``type.extensions[_KEY][field]``.
_KEY: Final = "portal.plain_fields"
#: Subfields collected for one field node of a document and one object type, across requests
#: (``LeafExecutionContext.collect_subfields``), by ``(id(type), id(node))``; each entry
#: keeps its node and type, so neither id can be reused while it is here.
_SUBFIELDS: BoundedLRU[tuple[int, int], tuple[FieldNode, GraphQLObjectType, CollectedFields]]
_SUBFIELDS = BoundedLRU(4096)


@dataclass(frozen=True, slots=True)
class PlainLeaf:
    """How to answer one plain leaf field: read the value, coerce it to the field's type."""

    read: Read
    type: GraphQLLeafType
    non_null: bool


@dataclass(frozen=True, slots=True)
class PlainObject:
    """How to answer one plain field of an object type, or of a list of one: read the value,
    check it as graphql-core would, then execute each object's selection."""

    read: Read
    #: The field's type as declared (what ``handle_field_error`` is given for the field).
    field_type: GraphQLOutputType
    object_type: GraphQLObjectType
    non_null: bool
    #: For a list: the type of its items as declared; None for a single object.
    item_type: GraphQLOutputType | None
    #: The class an object must be an instance of (uncast) for ``is_type_of`` to pass
    #: certainly; None when the type has no ``is_type_of``.
    origin: type | None

    def accepts(self, value: Any, is_awaitable: Callable[[Any], bool]) -> bool:
        """Whether graphql-core would complete ``value`` as a plain object of this type."""
        if self.origin is not None:
            return isinstance(value, self.origin) and get_strawberry_type_cast(value) is None
        return not isinstance(value, Exception) and not is_awaitable(value)


Plain = PlainLeaf | PlainObject


def install(schema: GraphQLSchema, type_names: list[str]) -> list[str]:
    """Mark the plain fields of the named object types; returns ``Type.field`` names."""
    marked = []
    for type_name in type_names:
        graphql_type = schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            raise ValueError(f"{type_name} is not an object type of the schema")
        plain: dict[str, Plain] = {}
        for name, graphql_field in graphql_type.fields.items():
            definition = _definition(graphql_field.extensions)
            if graphql_field.args or not isinstance(definition, StrawberryField):
                continue
            read = _reader(definition)
            answer = _plain(read, graphql_field.type) if read is not None else None
            if answer is not None:
                plain[name] = answer
                marked.append(f"{type_name}.{name}")
        graphql_type.extensions = {**(graphql_type.extensions or {}), _KEY: plain}
    return marked


def _definition(extensions: dict[str, Any] | None) -> Any:
    return (extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)


def _plain(read: Read, field_type: GraphQLOutputType) -> Plain | None:
    """How to answer a field of ``field_type`` read by ``read``; None for a type this module
    does not complete (an interface, a union, a list of lists or of leaves)."""
    non_null = isinstance(field_type, GraphQLNonNull)
    inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if is_leaf_type(inner):
        return PlainLeaf(read, inner, non_null)
    item_type = inner.of_type if isinstance(inner, GraphQLList) else None
    object_type = item_type if item_type is not None else inner
    if isinstance(object_type, GraphQLNonNull):
        object_type = object_type.of_type
    if not isinstance(object_type, GraphQLObjectType):
        return None
    origin = None
    if object_type.is_type_of is not None:
        definition = _definition(object_type.extensions)
        if not isinstance(definition, StrawberryObjectDefinition) or definition.is_type_of:
            return None  # a check of the type's own: only graphql-core may call it
        origin = definition.origin  # Strawberry's check: an instance of it, not cast
    return PlainObject(read, field_type, object_type, non_null, item_type, origin)


def _reader(field: StrawberryField) -> Read | None:
    """The field's reader: its attribute, or the one registered for its resolver."""
    if field.extensions or field.permission_classes:
        return None
    resolver = field.base_resolver
    if resolver is None:
        if field.default_resolver is not getattr:
            return None
        get = attrgetter(field.python_name)
        return lambda source, context: get(source)
    return READERS.get(resolver.wrapped_func)  # type: ignore[arg-type]


class LeafExecutionContext(SubscriptionExecutionContext):
    """The schema's execution context: plain fields answered by their readers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Decided once: the middleware manager is the request's, copied into every
        #: subscription event's executor with the rest.
        self._wraps_resolvers = _has_middleware(self)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's, field by field in the selection's order, except that a plain
        field is answered here (see the module's docstring) unless its value is not one
        this module completes, in which case graphql-core's ``execute_field`` runs it."""
        plain: dict[str, Plain] | None = parent_type.extensions.get(_KEY)
        if not plain or self._wraps_resolvers or position_context is not None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        context = self.context_value
        try:
            for response_name, field_details_list in grouped_field_set.items():
                answer = plain.get(field_details_list[0].node.name.value)
                if type(answer) is PlainLeaf:
                    value = _plain_value(answer, source_value, context)
                    if value is not NOT_AT_HAND:
                        results[response_name] = value  # never awaitable: a coerced leaf
                        continue
                field_path = Path(path, response_name, parent_type.name)
                value = NOT_AT_HAND
                if type(answer) is PlainObject:
                    value = self._object_field(answer, source_value, field_details_list, field_path)
                if value is NOT_AT_HAND:
                    value = self.execute_field(
                        parent_type, source_value, field_details_list, field_path, None
                    )
                    if value is Undefined:
                        continue
                results[response_name] = value
                if is_awaitable(value):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # settle what other fields started, as graphql-core does
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _gathered(results, awaitable_fields)

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CollectedFields:
        """graphql-core's, remembered across requests for a field whose selection holds no
        directive and no fragment argument: the collection then depends on nothing but the
        node (the API keeps parsed documents, ``web.document_cache``, so a known text's
        nodes are the same objects each time) and the type. graphql-core collects them
        again for every request: 3 % of a tracking lookup's CPU. What is shared is only
        read by execution."""
        # This execution's own memo first (graphql-core's, by the list's identity: every item
        # of a list, every edge, asks again), then the one across requests.
        memo = self._relevant_sub_fields
        memo_key = (return_type, id(field_details_list))
        known = memo.get(memo_key)
        if known is not None:
            return known[1]
        collected = self._remembered_subfields(return_type, field_details_list)
        memo[memo_key] = (field_details_list, collected)  # the list kept: its id stays its own
        return collected

    def _remembered_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CollectedFields:
        if len(field_details_list) != 1:
            return super().collect_subfields(return_type, field_details_list)
        details = field_details_list[0]
        node = details.node
        key = (id(return_type), id(node))
        found = _SUBFIELDS.get(key)
        if found is not None and found[0] is node and found[1] is return_type:
            return found[2]
        collected = super().collect_subfields(return_type, field_details_list)
        if (
            details.defer_usage is None
            and details.fragment_variable_values is None
            and node.selection_set is not None
            and _plain_selection(node.selection_set, self.fragments, set())
        ):
            _SUBFIELDS.put(key, (node, return_type, collected))
        return collected

    def _object_field(
        self, answer: PlainObject, source: Any, field_details_list: FieldDetailsList, path: Path
    ) -> Any:
        """The completed value of a plain object field, as graphql-core's ``execute_field``
        would give it (an awaitable if part of it is), or ``NOT_AT_HAND`` when graphql-core
        must run the field (decided before anything of it is executed)."""
        value = _read(answer.read, source, self.context_value)
        if value is None:
            return NOT_AT_HAND if answer.non_null else None
        if value is NOT_AT_HAND or not self._completes(answer, value):
            return NOT_AT_HAND
        try:
            if answer.item_type is None:
                completed = self.collect_and_execute_subfields(
                    answer.object_type, field_details_list, path, value, None
                )
            else:
                completed = self._object_list(
                    answer, answer.item_type, value, field_details_list, path
                )
        except Exception as raw_error:
            self.handle_field_error(raw_error, answer.field_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._handled(completed, answer.field_type, field_details_list, path)
        return completed

    def _completes(self, answer: PlainObject, value: Any) -> bool:
        """Whether ``value`` (not None) is one graphql-core would complete as plain objects."""
        is_awaitable = self.is_awaitable
        if answer.item_type is None:
            return answer.accepts(value, is_awaitable)
        if not isinstance(value, list | tuple):
            return False  # an iterator would be consumed here; graphql-core reads it once
        items_non_null = isinstance(answer.item_type, GraphQLNonNull)
        return all(
            answer.accepts(item, is_awaitable) if item is not None else not items_non_null
            for item in value
        )

    def _object_list(
        self,
        answer: PlainObject,
        item_type: GraphQLOutputType,
        items: Iterable[Any],
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        """graphql-core's ``complete_iterable_value`` for items already checked: each item's
        selection executed, its errors handled at the item."""
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(items):
                if item is None:
                    completed.append(None)
                    continue
                item_path = path.add_key(index, None)
                try:
                    value = self.collect_and_execute_subfields(
                        answer.object_type, field_details_list, item_path, item, None
                    )
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    value = None
                if value is not None and self.is_awaitable(value):
                    value = self._handled(value, item_type, field_details_list, item_path)
                    awaitable_indices.append(index)
                completed.append(value)
        except Exception:
            if awaitable_indices:
                self.settle_in_background([completed[index] for index in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed
        return _gathered(completed, awaitable_indices)

    async def _handled(
        self,
        completing: Awaitable[Any],
        field_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        """What graphql-core's ``execute_field`` does with a completion that awaits."""
        try:
            return await completing
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_type, field_details_list, path)
            return None


def _plain_selection(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDetails], seen: set[str]
) -> bool:
    """Whether collecting ``selection_set`` depends on nothing but its nodes: no directive
    (``@skip``/``@include`` read variables, ``@defer`` the operation) and no fragment
    argument, on the selections themselves or in the fragments collected with them."""
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, InlineFragmentNode):
            if not _plain_selection(selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if selection.arguments or fragment is None or fragment.variable_signatures:
                return False
            if name in seen:
                continue
            seen.add(name)
            definition = fragment.definition
            if definition.directives or not _plain_selection(
                definition.selection_set, fragments, seen
            ):
                return False
    return True


def _has_middleware(context: LeafExecutionContext) -> bool:
    """Whether any resolver is wrapped. Strawberry hands graphql-core a ``MiddlewareManager``
    for every request, empty unless an extension implements ``resolve``; an empty one wraps
    nothing (graphql-core returns the resolver itself), so it leaves the leaves plain."""
    manager = context.middleware_manager
    return manager is not None and bool(manager.middlewares)


async def _gathered(results: Any, awaitable: list[Any]) -> Any:
    """``results`` (a dict by response name, or a list) with its awaitable entries awaited,
    together, as graphql-core's ``execute_fields`` and ``complete_iterable_value`` do."""
    if len(awaitable) == 1:
        results[awaitable[0]] = await results[awaitable[0]]
        return results
    awaited = await gather_with_cancel(*(results[key] for key in awaitable))
    for key, value in zip(awaitable, awaited, strict=True):
        results[key] = value
    return results


def _read(read: Read, source: Any, context: Any) -> Any:
    """The value read, or ``NOT_AT_HAND`` when the reader raises (graphql-core then calls
    the resolver, which reports the error)."""
    try:
        return read(source, context)
    except Exception:
        return NOT_AT_HAND


def _plain_value(leaf: PlainLeaf, source: Any, context: Any) -> Any:
    """The completed value, or ``NOT_AT_HAND`` for anything graphql-core must handle."""
    value = _read(leaf.read, source, context)
    if value is None:
        return NOT_AT_HAND if leaf.non_null else None
    if value is NOT_AT_HAND:
        return value
    try:
        coerced = leaf.type.coerce_output_value(value)
    except Exception:  # graphql-core calls the resolver again and reports the error
        return NOT_AT_HAND
    if coerced is None or coerced is Undefined:
        return NOT_AT_HAND
    return coerced
