"""Bounds on what one GraphQL document may ask for: size, depth, aliases and cost.

The read model answers from denormalised documents, so the work a query causes grows with the
lists it walks, not with its text. Four cheap checks run before any resolver:

* size (``MAX_QUERY_BYTES``): checked before parsing, so a huge document costs nothing;
* depth (``MAX_QUERY_DEPTH``): counted as Strawberry's ``QueryDepthLimiter`` counts it (see
  ``measure_document`` for why we do not run that limiter itself);
* aliases (``MAX_ALIASES``): aliases let one document repeat an expensive field many times;
* cost (``MAX_QUERY_COST``): every field that returns an object costs 1, times the size of every
  list it sits in. A field with a ``first`` (or ``last``) argument multiplies what it selects by
  that argument (by the argument's default, else ``default_page_size``, when absent); any
  other list of objects by ``default_page_size``, except a connection's ``edges``/``nodes``,
  which its connection field already counted. Scalars and introspection are free.

Every refusal is a ``GraphQLError`` with ``extensions.code == "QUERY_TOO_COMPLEX"`` and a
message naming the limit and its setting, so a client developer knows what to change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from web.document_cache import CheckedDocument, DocumentCache
from web.error_codes import ErrorCode
from web.settings import QueryLimits

#: Fields of a connection type whose list length is the connection's page size.
_PAGE_FIELDS = frozenset({"edges", "nodes"})
_PAGE_ARGUMENTS = ("first", "last")


def too_complex(message: str, **details: object) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value, **details})


# --- measuring a document (pure) ---------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """Depth, aliases and cost of a selection (or of a whole document)."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0

    def beside(self, other: Measure) -> Measure:
        """Two selections side by side: the deeper one counts, aliases and costs add up."""
        return Measure(
            max(self.depth, other.depth), self.aliases + other.aliases, self.cost + other.cost
        )


def measure_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    default_page_size: int,
) -> Measure:
    """The deepest operation, the aliases of all operations, the costliest operation.

    Depth counts like Strawberry's ``QueryDepthLimiter`` (a field with a selection set adds a
    level; introspection fields are ignored). Unlike it, a fragment is measured once however
    often it is spread: a document that spreads fragments within fragments would otherwise
    take exponential time to walk (18 levels of ``...F`` spread twice took Strawberry's limiter
    3 s, and each level doubles it), which makes the check itself a denial-of-service vector.
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _Walker(schema, fragments, variables or {}, default_page_size)
    total = Measure()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            op = walker.selections(definition.selection_set, root, frozenset())
            total = Measure(
                max(total.depth, op.depth), total.aliases + op.aliases, max(total.cost, op.cost)
            )
    return total


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    default_page_size: int,
) -> int:
    """The cost of the costliest operation in the document (only one of them will run)."""
    return measure_document(schema, document, variables, default_page_size).cost


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        default_page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_page_size = default_page_size
        self.fragment_measures: dict[str, Measure] = {}

    def selections(
        self, selection_set: SelectionSetNode | None, parent: Any, visited: frozenset[str]
    ) -> Measure:
        total = Measure()
        if selection_set is None:
            return total
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total = total.beside(self.field(selection, parent, visited))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total = total.beside(self.selections(selection.selection_set, target, visited))
            elif isinstance(selection, FragmentSpreadNode):
                total = total.beside(self.fragment(selection.name.value, visited))
        return total

    def fragment(self, name: str, visited: frozenset[str]) -> Measure:
        if name in self.fragment_measures:
            return self.fragment_measures[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in visited:
            return Measure()  # unknown or cyclic spreads are reported by the standard rules
        target = self.schema.get_type(fragment.type_condition.name.value)
        measure = self.selections(fragment.selection_set, target, visited | {name})
        self.fragment_measures[name] = measure
        return measure

    def field(self, node: FieldNode, parent: Any, visited: frozenset[str]) -> Measure:
        name = node.name.value
        definition = None
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            definition = parent.fields.get(name)
        returned = get_named_type(definition.type) if definition is not None else None
        inner = self.selections(node.selection_set, returned, visited)
        aliases = inner.aliases + (1 if node.alias else 0)
        if name.startswith("__"):
            return Measure(depth=0, aliases=aliases, cost=0)
        depth = 0 if node.selection_set is None else 1 + inner.depth
        cost = 0
        if definition is not None and is_composite_type(returned):
            cost = self.multiplier(node, definition, parent) * (1 + inner.cost)
        return Measure(depth=depth, aliases=aliases, cost=cost)

    def multiplier(self, node: FieldNode, definition: GraphQLField, parent: Any) -> int:
        page_arguments = [a for a in _PAGE_ARGUMENTS if a in definition.args]
        if page_arguments:
            return self.page_size(node, definition, page_arguments)
        if is_list_type(get_nullable_type(definition.type)):
            if node.name.value in _PAGE_FIELDS and parent.name.endswith("Connection"):
                return 1
            return self.default_page_size
        return 1

    def page_size(self, node: FieldNode, definition: GraphQLField, arguments: list[str]) -> int:
        """The page a field asks for: the largest ``first``/``last`` given (literal or
        variable), else the declared default of one of them, else our default."""
        given = []
        for argument in node.arguments or ():
            if argument.name.value not in arguments:
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                given.append(max(value, 0))
        if given:
            return max(given)
        for name in arguments:
            declared: Any = definition.args[name].default_value
            if isinstance(declared, int) and not isinstance(declared, bool):
                return max(declared, 0)
        return self.default_page_size


# --- validation rule ----------------------------------------------------------------------


def limit_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    limits: QueryLimits,
) -> list[GraphQLError]:
    """Depth, aliases and cost in one walk of the document, against the configured limits."""
    return refusals(measure_document(schema, document, variables, limits.default_page_size), limits)


def refusals(measure: Measure, limits: QueryLimits) -> list[GraphQLError]:
    errors = []
    if measure.depth > limits.max_depth:
        errors.append(
            too_complex(
                f"The query is nested {measure.depth} levels deep, more than the limit of "
                f"{limits.max_depth} (MAX_QUERY_DEPTH).",
                limit="MAX_QUERY_DEPTH",
                allowed=limits.max_depth,
                actual=measure.depth,
            )
        )
    if measure.aliases > limits.max_aliases:
        errors.append(
            too_complex(
                f"The query uses {measure.aliases} aliases, more than the limit of "
                f"{limits.max_aliases} (MAX_ALIASES).",
                limit="MAX_ALIASES",
                allowed=limits.max_aliases,
                actual=measure.aliases,
            )
        )
    if measure.cost > limits.max_cost:
        errors.append(
            too_complex(
                f"The query's estimated cost is {measure.cost}, more than the limit of "
                f"{limits.max_cost} (MAX_QUERY_COST). Every list multiplies the cost of what "
                f"it selects by its `first` argument (default {limits.default_page_size}): "
                "ask for smaller pages or fewer nested lists.",
                limit="MAX_QUERY_COST",
                allowed=limits.max_cost,
                actual=measure.cost,
            )
        )
    return errors


class QueryLimitsExtension(SchemaExtension):
    """Applies ``QueryLimits`` to every operation, over HTTP and WebSocket alike.

    It also owns parsing and validation, through the app's ``DocumentCache``: Strawberry
    validates only when no extension did, and checks the errors before any extension's
    validation hook resumes, so the limits (per request: a page size may come from a
    variable, which validation does not see) must be reported together with the spec
    validation's errors, in the same hook.
    """

    def __init__(self, limits: QueryLimits, documents: DocumentCache) -> None:
        self.limits = limits
        self.documents = documents
        self._checked: CheckedDocument | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None:
            size = len(query.encode())
            if size > self.limits.max_query_bytes:
                raise too_complex(
                    f"The query text is {size} bytes, more than the limit of "
                    f"{self.limits.max_query_bytes} bytes (MAX_QUERY_BYTES).",
                    limit="MAX_QUERY_BYTES",
                    allowed=self.limits.max_query_bytes,
                    actual=size,
                )
            if context.graphql_document is None:
                try:
                    self._checked = self.documents.checked(
                        context.schema._schema, query, context.validation_rules
                    )
                except GraphQLError:
                    pass  # a syntax error: Strawberry parses again and reports it
                else:
                    context.graphql_document = self._checked.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            schema = context.schema._schema
            if self._checked is not None and self._checked.document is document:
                errors = self._checked.fresh_errors()
            else:
                errors = validate_document(schema, document, tuple(context.validation_rules))
            context.pre_execution_errors = [
                *limit_errors(schema, document, context.variables, self.limits),
                *errors,
            ]
        yield
