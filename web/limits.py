"""Bounds on what one GraphQL document may ask for, checked before any resolver runs.

The read model answers from denormalised documents, so the work a query causes grows with the
lists it walks, not with its text; but graphql-core's own parsing and validation grow with the
text, and run on the event loop. The checks, cheapest first:

* size (``MAX_QUERY_BYTES``): checked before parsing, so a huge document costs nothing;
* tokens (``MAX_QUERY_TOKENS``): the parser stops there (graphql-core's ``max_tokens``);
* then, in one linear walk of the AST and before validation (``screen_document``):
  selections (``MAX_QUERY_FIELDS``: fields, fragment spreads and inline fragments written in
  the document, which is what validation walks), the same with every fragment spread
  expanded (``MAX_QUERY_EXPANDED_FIELDS``: what the document asks for; 33 fragments each
  spreading the next twice are 99 selections written and 2^34 - 1 asked for), depth
  (``MAX_QUERY_DEPTH``, counted as Strawberry's ``QueryDepthLimiter`` counts it; see
  ``measure_document`` for why we do not run that limiter itself) and aliases
  (``MAX_ALIASES``: aliases let one document repeat an expensive field many times). A
  document refused here is never validated (``web.document_cache``);
* validation, of a text not seen before (graphql-core's overlapping-fields rule settled first by a
  linear pass where it can be: ``web.field_merging``). A new text of more than ``INLINE_TOKENS``
  tokens is parsed, screened and validated entirely in a worker process (``web.validation_pool``),
  so the event loop never parses it, admitted through a lane bounded per process and per client
  (``DOCUMENT_CHECK_QUEUE``, ``DOCUMENT_CHECK_PER_CLIENT``): a request finding no place is refused
  at once with ``RATE_LIMITED`` (HTTP 429);
* per request, since they depend on variables: first how many values the variables hold
  (``MAX_VARIABLE_VALUES``, counted before anything reads them: graphql-core coerces each
  one, the unused ones included), then cost (``MAX_QUERY_COST``): every field that
  returns an object costs 1, times the size of every list it sits in. A field with a ``first``
  (or ``last``) argument multiplies what it selects by that argument, at least 1 (by the
  argument's default, else ``default_page_size``, when absent); ``_entities`` and ``nodes`` by
  the number of representations or ids they are given. Arguments are read as execution reads
  them (graphql-core's coercion): the variable's value, else its default in the operation,
  else the argument's default in the schema; any other list of objects by
  ``default_page_size``, except a connection's ``edges``/``nodes``, which its connection field
  already counted. Scalars and introspection are free, but for ``__schema``
  (``INTROSPECTION_COST``: it reads the whole schema) and a connection's ``totalCount``:
  a store read that may scan a customer's whole list costs ``STORE_SCAN_COST`` more, once per
  root list or search field (its page) and once per connection asking ``totalCount`` (however
  often: aliases share one count), neither multiplied by the connection's own page size, and
  once per place the document asks a relation whose complete read has no index of its own
  (``graph.entities.SCANNING_RELATIONS``: an order's or a shipment's ``invoices``), not
  multiplied by any list (the overflowing holders of a page are one read). And
  the entities looked up by key, the ``_entities`` representations and ``nodes`` ids together
  (``MAX_ENTITY_REPRESENTATIONS``).

Every refusal is a ``GraphQLError`` with ``extensions.code == "QUERY_TOO_COMPLEX"``, the
setting as ``extensions.limit``, ``allowed`` and ``actual``, and a message naming the limit
and its setting, so a client developer knows what to change. ``actual`` is at most
``MAX_REPORTED`` (2^53 - 1, the largest integer every JSON client reads exactly): a cost of
nested pages of 2^31 items is far beyond what JSON encoders write (orjson: 64 bits).

The same extension refuses, as the client's mistakes they are (``web.inputs``): query text
or variables that are not valid Unicode or hold the NUL character (BAD_USER_INPUT or
GRAPHQL_VALIDATION_FAILED), and a document with several operations but no ``operationName``
(BAD_REQUEST; GraphQL spec, "GetOperation").
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from caching.bounded_lru import BoundedLRU
from graph.entities import SCANNING_RELATIONS
from web.admission import (
    RETRY_AFTER_SECONDS,
    LaneFull,
    LaneRefusal,
    caller_key,
    refused_for_now,
)
from web.document_cache import (
    CheckedDocument,
    DocumentCache,
    Screen,
    Screening,
    TooManyTokens,
    count_selections,
    validate_document,
)
from web.error_codes import ErrorCode
from web.inputs import literal_errors, query_text_error, screen_variables
from web.settings import QueryLimits
from web.validation_verdict import ValidationUnavailable

#: Fields of a connection type whose list length is the connection's page size.
_PAGE_FIELDS = frozenset({"edges", "nodes"})
_PAGE_ARGUMENTS = ("first", "last")
#: The query fields whose list is as long as one of their arguments, each item one entity read
#: by its key: federation's ``_entities`` (its representations) and Relay's ``nodes`` (ids).
_LOOKUPS: Final = {"_entities": "representations", "nodes": "ids"}
#: What one store read that may scan a customer's whole list adds to the cost, in the model's
#: unit (an object resolved, tens of microseconds): a root list or search field's page (a few
#: milliseconds in windows, but a filter that matches little reads on through the list: 70 ms
#: for 100,000 orders), a connection's ``totalCount`` (a count reads every index entry of
#: the list: 0.1 s there) and the invoices naming an order or a shipment that overflows with
#: them (no index: every invoice of the caller's customers is read). At 250,
#: ``MAX_QUERY_COST`` allows a document about 19 of them (29 aliased root lists took 2 s),
#: and our clients' documents at most 3 (docs/api.md, "API limits").
STORE_SCAN_COST: Final = 250
#: What a ``__schema`` field adds to the cost: it reads every type of the schema, about a
#: thousand objects in the model's unit (one full introspection takes 13-16 ms of the event
#: loop). Before, introspection was free, and 24 aliases of ``__schema`` spreading one
#: fragment of 38 selections fitted every limit: 315 ms of the event loop per request and
#: 2 MB of response, for anyone, a token or not. At 1,000, ``MAX_QUERY_COST`` allows five.
#: ``__type`` stays free: it reads one type (24 aliases of the largest, 41 ms).
INTROSPECTION_COST: Final = 1000
_SCHEMA_FIELD: Final = "__schema"
#: The field of a connection that counts its whole list.
_COUNT_FIELD: Final = "totalCount"
#: The largest ``actual`` a refusal reports (2^53 - 1: JSON numbers are doubles to most
#: clients); a larger measure is reported as "more than" this.
MAX_REPORTED: Final = 2**53 - 1
#: The variables of an operation that could not be coerced: execution refuses the request,
#: and the measure reads every argument as if its variable were absent.
_NO_VARIABLES: Final = VariableValues({}, {})


def too_complex(message: str, **details: object) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value, **details})


# --- measuring a document (pure) ---------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """Depth, aliases, cost, lookups (``_entities`` representations and ``nodes`` ids) and
    selections (fragment spreads expanded) of a selection (or a document); ``per_connection``:
    the cost the selection asks of its connection once, however often it asks it (its
    ``totalCount``), which the connection field adds unmultiplied by its page size;
    ``scans``: the relations it asks for whose complete read may scan a customer's list
    (``SCANNING_RELATIONS``), which the operation adds unmultiplied by any list."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0
    lookups: int = 0
    selections: int = 0
    per_connection: int = 0
    scans: int = 0


def _is_connection(named: Any) -> bool:
    """Whether ``named`` (a named type, or None) is one of the schema's connection types."""
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")


#: Each operation of a document, with its variables as execution coerces them.
OperationVariables = list[tuple[OperationDefinitionNode, VariableValues]]


def coerce_variables(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any] | None
) -> OperationVariables:
    """The variables of each operation of ``document`` as execution will see them: the value
    given, else the operation's default for it (graphql-core's ``get_variable_values``,
    which execution calls). A value that execution would refuse (``$n: Int`` given 2^64, a
    string) is read as absent (``_NO_VARIABLES``): the request fails before any resolver, and
    such a value must not reach the measure (nor a refusal's ``actual``)."""
    inputs = dict(variables or {})
    found: OperationVariables = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            coerced = get_variable_values(schema, definition.variable_definitions or (), inputs)
            usable = coerced if isinstance(coerced, VariableValues) else _NO_VARIABLES
            found.append((definition, usable))
    return found


def measure_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    default_page_size: int,
) -> Measure:
    """``measure_operations`` of ``document`` with ``variables`` coerced for each operation."""
    operations = coerce_variables(schema, document, variables)
    return measure_operations(schema, document, operations, default_page_size)


def measure_operations(
    schema: GraphQLSchema,
    document: DocumentNode,
    operations: OperationVariables,
    default_page_size: int,
) -> Measure:
    """The deepest operation, the aliases of all operations, the costliest operation, the
    operation with the most selections once its fragments are expanded.

    Depth counts like Strawberry's ``QueryDepthLimiter`` (a field with a selection set adds a
    level; introspection fields are ignored). Unlike it, a fragment is measured once however
    often it is spread: a document that spreads fragments within fragments would otherwise
    take exponential time to walk (18 levels of ``...F`` spread twice took Strawberry's limiter
    3 s, and each level doubles it), which makes the check itself a denial-of-service vector.
    Its selections are counted once and added wherever it is spread, so the expanded count
    is exact (a Python int, however large) at the cost of one walk of the text. Once per
    distinct reading of the variables, in fact (``_what_measures_read``): operations whose
    variables give different page sizes measure a fragment each with theirs; at most one
    walk per operation, and a document has at most ``MAX_QUERY_FIELDS`` selections.
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _Walker(schema, fragments, default_page_size)
    total = Measure()
    for definition, variables in operations:
        walker.use(variables)
        root = schema.get_root_type(definition.operation)
        op = walker.selections(definition.selection_set, root, frozenset())
        total = Measure(
            max(total.depth, op.depth),
            total.aliases + op.aliases,
            max(total.cost, op.cost + op.scans * STORE_SCAN_COST),
            max(total.lookups, op.lookups),
            max(total.selections, op.selections),
        )
    return total


def _is_int(value: object) -> TypeGuard[int]:
    """An integer, but not a boolean (an ``int`` to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        default_page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.default_page_size = default_page_size
        self.variables = _NO_VARIABLES
        #: Measures of fragments, per reading of the variables they were measured with.
        self.measures_by_reading: dict[tuple[Any, ...], dict[str, Measure]] = {}
        self.fragment_measures: dict[str, Measure] = {}

    def use(self, variables: VariableValues) -> None:
        """Read arguments with ``variables`` (an operation's, coerced) from now on."""
        self.variables = variables
        reading = _what_measures_read(variables.coerced)
        self.fragment_measures = self.measures_by_reading.setdefault(reading, {})

    def selections(
        self, selection_set: SelectionSetNode | None, parent: Any, visited: frozenset[str]
    ) -> Measure:
        """Selections side by side: the deepest one counts, the rest adds up, and each is
        one selection more (summed in locals: this runs once per selection set)."""
        if selection_set is None:
            return Measure()
        depth = aliases = cost = lookups = count = once = scans = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = self.field(selection, parent, visited)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                inner = self.selections(selection.selection_set, target, visited)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value, visited)
            else:
                continue
            depth = max(depth, inner.depth)
            aliases += inner.aliases
            cost += inner.cost
            lookups += inner.lookups
            count += 1 + inner.selections
            once = max(once, inner.per_connection)  # aliases of ``totalCount`` share one count
            scans += inner.scans
        return Measure(depth, aliases, cost, lookups, count, once, scans)

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
            cost = INTROSPECTION_COST if name == _SCHEMA_FIELD else 0
            return Measure(depth=0, aliases=aliases, cost=cost, selections=inner.selections)
        depth = 0 if node.selection_set is None else 1 + inner.depth
        cost = 0
        lookups = inner.lookups
        scanning = (getattr(parent, "name", None), name) in SCANNING_RELATIONS
        scans = inner.scans + (1 if scanning else 0)
        lookup = definition is not None and parent is self.schema.query_type
        keys = _LOOKUPS.get(name) if lookup else None
        if keys is not None and definition is not None:
            count = self.list_length(node, definition, keys)
            lookups += count
            cost = count * (1 + inner.cost)
        elif definition is not None and is_composite_type(returned):
            cost = self.multiplier(node, definition, parent) * (1 + inner.cost)
            if _is_connection(returned):
                cost += inner.per_connection
                cost += STORE_SCAN_COST if parent is self.schema.query_type else 0
        elif name == _COUNT_FIELD and _is_connection(parent):
            return Measure(depth, aliases, 0, lookups, inner.selections, STORE_SCAN_COST, scans)
        return Measure(depth, aliases, cost, lookups, inner.selections, 0, scans)

    def arguments(self, node: FieldNode, definition: GraphQLField) -> dict[str, Any]:
        """The field's arguments as execution coerces them (graphql-core's
        ``get_argument_values``: a literal, else the variable's value, else the argument's
        default); none when they cannot be coerced (a literal out of range, a document
        not validated yet: validation refuses it, and execution never runs)."""
        try:
            return get_argument_values(definition, node, self.variables)
        except GraphQLError:
            return {}

    def list_length(self, node: FieldNode, definition: GraphQLField, name: str) -> int:
        """How many items the field's list argument ``name`` holds (a single value is a list
        of one)."""
        if name not in definition.args:
            return 0
        value = self.arguments(node, definition).get(_out_name(definition.args[name], name))
        if isinstance(value, list):
            return len(value)
        return 0 if value is None else 1

    def multiplier(self, node: FieldNode, definition: GraphQLField, parent: Any) -> int:
        page_arguments = [a for a in _PAGE_ARGUMENTS if a in definition.args]
        if page_arguments:
            return self.page_size(node, definition, page_arguments)
        if is_list_type(get_nullable_type(definition.type)):
            if node.name.value in _PAGE_FIELDS and _is_connection(parent):
                return 1
            return self.default_page_size
        return 1

    def page_size(self, node: FieldNode, definition: GraphQLField, arguments: list[str]) -> int:
        """The page a field asks for: the largest ``first``/``last`` execution will pass,
        else the declared default of one of them, else our default; at least 1.
        A page of 0 items still reads: its ``totalCount`` is a count and its ``pageInfo`` a
        read, so 30 aliased ``first: 0`` connections cost 30, not nothing. (An explicit null
        reads as the default, as an absent argument does: the resolver pages by default.)"""
        values = self.arguments(node, definition)
        given = [
            value
            for name in arguments
            if _is_int(value := values.get(_out_name(definition.args[name], name)))
        ]
        if given:
            return max(max(given), 1)
        for name in arguments:
            declared: object = definition.args[name].default_value
            if _is_int(declared):
                return max(declared, 1)
        return self.default_page_size


def _out_name(argument: GraphQLArgument, name: str) -> str:
    """The key ``get_argument_values`` gives the argument ``name`` (its Python name, when
    the schema declares one)."""
    return argument.out_name or name


class MeasureCache:
    """Measures of recently seen documents, so a repeated query is not walked again.

    A measure depends on the document and, of each operation's coerced variables
    (``coerce_variables``: defaults applied, values execution refuses dropped), only on what
    ``_Walker`` reads: integer values (page sizes) and list lengths (``_entities``
    representations, ``nodes`` ids). The key holds exactly that, so lookups with different
    tracking numbers share one entry while a different ``first`` gets its own. Errors are
    built fresh from the measure per request (``refusals``): the masking layer modifies the
    errors it returns.
    """

    def __init__(self, size: int) -> None:
        self._measures: BoundedLRU[tuple[str, tuple[Any, ...]], Measure] = BoundedLRU(size)

    def measure(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        default_page_size: int,
        screened: object = None,
    ) -> Measure:
        """``screened``: the screen's measure of ``document`` (variables absent), taken as
        this request's when its coerced variables hold nothing the measure reads."""
        operations = coerce_variables(schema, document, variables)
        reading = tuple(_what_measures_read(values.coerced) for _, values in operations)
        key = (query, reading)
        found = self._measures.get(key)
        if found is not None:
            return found
        if isinstance(screened, Measure) and not any(reading):
            measured = screened
        else:
            measured = measure_operations(schema, document, operations, default_page_size)
        self._measures.put(key, measured)
        return measured


def _what_measures_read(variables: Mapping[str, Any]) -> tuple[Any, ...]:
    """Per coerced variable, what ``_Walker`` can read of it: an int's value, a list's
    length. Any other value reads as the variable's absence does (an argument's default)."""
    read: list[tuple[str, Any]] = []
    for name, value in sorted(variables.items()):
        if _is_int(value):
            read.append((name, value))
        elif isinstance(value, list):
            read.append((name, ("list", len(value))))
    return tuple(read)


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
    """One error per limit ``measure`` exceeds, each naming its setting."""
    checks = (
        (
            "MAX_QUERY_DEPTH",
            limits.max_depth,
            measure.depth,
            "The query is nested {actual} levels deep, more than the limit of {allowed}",
            "",
        ),
        (
            "MAX_ALIASES",
            limits.max_aliases,
            measure.aliases,
            "The query uses {actual} aliases, more than the limit of {allowed}",
            "",
        ),
        (
            "MAX_QUERY_EXPANDED_FIELDS",
            limits.max_expanded_fields,
            measure.selections,
            "The query has {actual} selections (fields, fragment spreads and inline fragments) "
            "once its fragment spreads are expanded, more than the limit of {allowed}",
            ": a fragment counts as many times as it is spread",
        ),
        (
            "MAX_ENTITY_REPRESENTATIONS",
            limits.max_entity_representations,
            measure.lookups,
            "_entities and nodes are asked to resolve {actual} representations and ids, "
            "more than the limit of {allowed}",
            ": send them in smaller batches",
        ),
        (
            "MAX_QUERY_COST",
            limits.max_cost,
            measure.cost,
            "The query's estimated cost is {actual}, more than the limit of {allowed}",
            ". Every list multiplies the cost of what it selects by its `first` argument "
            f"(default {limits.default_page_size}): ask for smaller pages or fewer nested lists",
        ),
    )
    return [
        too_complex(
            f"{says.format(actual=_said(actual), allowed=allowed)} ({setting}){advice}.",
            limit=setting,
            allowed=allowed,
            actual=min(actual, MAX_REPORTED),
        )
        for setting, allowed, actual, says, advice in checks
        if actual > allowed
    ]


def _said(actual: int) -> str:
    """``actual`` in a message: beyond ``MAX_REPORTED``, only that it is (a cost of nested
    pages of 2^31 items has dozens of digits; Python refuses to write more than 4,300)."""
    return str(actual) if actual <= MAX_REPORTED else f"over {MAX_REPORTED}"


def screen_document(
    schema: GraphQLSchema, document: DocumentNode, limits: QueryLimits
) -> Screening:
    """What can be refused from the document's text alone, before validation (which costs
    far more): selections as written and as expanded, depth, aliases, and string literals
    holding NUL; with the measure taken for it (every variable absent, defaults too: the
    document is not validated yet), which ``MeasureCache`` reuses for requests whose coerced
    variables hold nothing it reads."""
    errors = []
    selections = count_selections(document)
    if selections > limits.max_fields:
        errors.append(
            too_complex(
                f"The query has {selections} selections (fields, fragment spreads and inline "
                f"fragments), more than the limit of {limits.max_fields} (MAX_QUERY_FIELDS).",
                limit="MAX_QUERY_FIELDS",
                allowed=limits.max_fields,
                actual=selections,
            )
        )
        return Screening(errors)  # the walk below is linear, but there is no need to take it
    absent = [
        (d, _NO_VARIABLES) for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    measure = measure_operations(schema, document, absent, limits.default_page_size)
    textual = Measure(depth=measure.depth, aliases=measure.aliases, selections=measure.selections)
    errors.extend(refusals(textual, limits))
    return Screening(errors or literal_errors(document), measure)


def screen_for(limits: QueryLimits) -> Screen:
    """``screen_document`` with ``limits``, picklable: validation workers run it too."""
    return functools.partial(screen_document, limits=limits)


class QueryLimitsExtension(SchemaExtension):
    """Applies ``QueryLimits`` to every operation, over HTTP and WebSocket alike.

    It also owns parsing and validation, through the app's ``DocumentCache``: Strawberry
    validates only when no extension did, and checks the errors before any extension's
    validation hook resumes, so the limits (per request: a page size may come from a
    variable, which validation does not see) must be reported together with the spec
    validation's errors, in the same hook.

    Errors raised from ``on_parse`` bypass the masking extension (Strawberry ends the
    operation's hooks on an exception), so each carries its code already. ``Schema.execute``
    makes such an error HTTP's response; over WebSocket ``graph.stream_refusals`` makes it
    the operation's ``error`` message.
    """

    def __init__(
        self, limits: QueryLimits, documents: DocumentCache, measures: MeasureCache | None = None
    ) -> None:
        """``measures`` is the app's (one per app, like ``documents``); None measures every
        request's document afresh."""
        self.limits = limits
        self.documents = documents
        self.measures = measures
        self._checked: CheckedDocument | None = None

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None:
            problem = text_refusal(query, self.limits)
            if problem is not None:
                raise problem
            if context.graphql_document is None:
                try:
                    self._checked = await self.documents.checked(
                        context.schema._schema,
                        query,
                        context.validation_rules,
                        client_of(context.context),
                    )
                except LaneFull as exc:
                    raise DOCUMENT_CHECKS_FULL.of(exc) from None
                except ValidationUnavailable:
                    raise refused_for_now(
                        "The document could not be checked now (the validation worker "
                        f"stopped; a new one starts); retry after {RETRY_AFTER_SECONDS} s.",
                        ErrorCode.SERVICE_UNAVAILABLE,
                    ) from None
                except TooManyTokens as exc:
                    raise too_complex(
                        f"The query has more than {exc.max_tokens} tokens, the limit "
                        "(MAX_QUERY_TOKENS).",
                        limit="MAX_QUERY_TOKENS",
                        allowed=exc.max_tokens,
                    ) from None
                except GraphQLSyntaxError as error:
                    # Reported as is, not parsed again by Strawberry: the text may be large.
                    error.extensions = {"code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value}
                    raise
                else:
                    context.graphql_document = self._checked.document
        if context.graphql_document is not None:
            _require_operation_name(context.graphql_document, _provided_operation_name(context))
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            schema = context.schema._schema
            checked = self._checked if self._checked is not None else None
            if checked is not None and checked.document is document and checked.screened:
                context.pre_execution_errors = checked.fresh_errors()
            else:
                screened = None
                if checked is not None and checked.document is document:
                    errors, screened = checked.fresh_errors(), checked.measured
                else:
                    errors = validate_document(
                        schema,
                        document,
                        context.validation_rules,
                        self.limits.max_validation_errors,
                    )
                context.pre_execution_errors = [
                    *request_refusals(
                        schema,
                        document,
                        context.query,
                        context.variables,
                        self.limits,
                        self.measures,
                        screened,
                    ),
                    *errors,
                ]
        yield


def text_refusal(query: str, limits: QueryLimits) -> GraphQLError | None:
    """What is wrong with a query text before it is parsed: not valid Unicode, or longer
    than ``MAX_QUERY_BYTES``. The schema extension raises it; the lean path
    (``web.prepared``) leaves such a request to the extension."""
    try:
        size = len(query.encode())
    except UnicodeEncodeError:
        return query_text_error(query)
    if size > limits.max_query_bytes:
        return too_complex(
            f"The query text is {size} bytes, more than the limit of "
            f"{limits.max_query_bytes} bytes (MAX_QUERY_BYTES).",
            limit="MAX_QUERY_BYTES",
            allowed=limits.max_query_bytes,
            actual=size,
        )
    return None


def variables_refusal(values: int, limit: int) -> GraphQLError | None:
    """``MAX_VARIABLE_VALUES``, given the ``values`` the variables hold (``screen_variables``
    counts them up to ``limit + 1``): checked before any other reading of the variables (the
    measure's and execution's coercion by graphql-core take about 2 µs a value); None when
    they hold at most ``limit`` values."""
    if values <= limit:
        return None
    return too_complex(
        f"The variables hold more than {limit} values (each variable, list item and object "
        "member counts one), the limit (MAX_VARIABLE_VALUES): send smaller lists.",
        limit="MAX_VARIABLE_VALUES",
        allowed=limit,
    )


def request_refusals(
    schema: GraphQLSchema,
    document: DocumentNode,
    query: str | None,
    variables: Mapping[str, Any] | None,
    limits: QueryLimits,
    measures: MeasureCache | None,
    screened: object = None,
) -> list[GraphQLError]:
    """The refusals of one request of a valid document, which depend on its variables: a
    variable holding a lone surrogate or NUL, and each limit its measure exceeds
    (``measures``: the app's cache; None measures the document afresh). One implementation
    for both paths: the schema extension reports them, the lean path (``web.prepared``)
    leaves a request that has any to the extension. ``screened``: the screen's measure of
    the document (``CheckedDocument.measured``), if known."""
    raw = screen_variables(variables, limits.max_variable_values)
    too_many = variables_refusal(raw.values, limits.max_variable_values)
    if too_many is not None:
        return [too_many]  # nothing below may read them: coercing them is what costs
    errors = raw.errors
    if measures is None or query is None:
        return [*errors, *limit_errors(schema, document, variables, limits)]
    measured = measures.measure(
        schema, query, document, variables, limits.default_page_size, screened
    )
    return [*errors, *refusals(measured, limits)]


def client_of(context: object) -> Hashable:
    """Whose request this is, for per-client admission: the caller's token subject, else
    the client's address (uvicorn puts the forwarded address there behind a trusted proxy:
    ``FORWARDED_ALLOW_IPS``), else nobody in particular."""
    caller = getattr(context, "caller", None)
    if caller is not None:
        return caller_key(caller)
    request = getattr(context, "request", None)
    address = getattr(getattr(request, "client", None), "host", None)
    return ("address", address)


#: The refusal of a new document that found no place in the checking lane.
DOCUMENT_CHECKS_FULL: Final = LaneRefusal(
    one="new query document",
    many="new query documents",
    whose="from this client",
    doing="already being checked",
    per_client_setting="DOCUMENT_CHECK_PER_CLIENT",
    total_setting="DOCUMENT_CHECK_QUEUE",
    advice=f"retry after {RETRY_AFTER_SECONDS} s, or reuse a query text the server has seen "
    "(known texts are never limited this way).",
)


def _provided_operation_name(context: Any) -> str | None:
    """The ``operationName`` the client sent. Strawberry's ``operation_name`` falls back to
    the first operation's name, which is what must not happen with several operations."""
    name = getattr(context, "_provided_operation_name", None)
    return name if isinstance(name, str) else None


def _require_operation_name(document: DocumentNode, operation_name: str | None) -> None:
    if operation_name is not None:
        return
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) > 1:
        names = ", ".join(o.name.value if o.name else "(anonymous)" for o in operations)
        raise GraphQLError(
            f"The document has {len(operations)} operations ({names}): say which one to run "
            "in `operationName`.",
            extensions={"code": ErrorCode.BAD_REQUEST.value},
        )
