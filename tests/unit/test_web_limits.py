"""Query limits and error codes, run through a real Strawberry schema with our extensions."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import orjson
import pytest
import strawberry
from graphql import GraphQLError, Source, get_introspection_query, parse
from graphql.language import Lexer, TokenKind
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import QueryDepthLimiter
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from entitlements.errors import ForbiddenError
from graph.schema import UNRUNNABLE, build_schema
from web.admission import LaneFull
from web.document_cache import DocumentCache, count_selections, estimated_tokens
from web.error_codes import retry_later
from web.inputs import screen_variables
from web.limits import (
    INTROSPECTION_COST,
    MAX_REPORTED,
    STORE_SCAN_COST,
    MeasureCache,
    QueryLimitsExtension,
    limit_errors,
    measure_document,
    screen_for,
)
from web.masking import MASKED_MESSAGE, CodedErrors, coded
from web.request_id import _current as request_id_var
from web.settings import QueryLimits
from web.validation_verdict import ValidationUnavailable
from web.validation_worker import portal_graphql_schema


@strawberry.type
class Item:
    name: str

    @strawberry.field
    def children(self) -> list[Item]:
        return [Item(name=f"{self.name}.{i}") for i in range(2)]


@strawberry.type
class ItemEdge:
    node: Item


@strawberry.type
class ItemConnection:
    edges: list[ItemEdge]


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int = 20) -> ItemConnection:
        return ItemConnection(edges=[ItemEdge(node=Item(name=str(i))) for i in range(first)])

    @strawberry.field
    def item(self) -> Item:
        return Item(name="root")

    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError("connection to mongodb://admin:hunter2@db-7 refused")

    @strawberry.field
    def forbidden(self) -> str:
        raise ForbiddenError("invoices are not part of your entitlements")

    @strawberry.field
    def echo(self, n: int) -> int:
        return n

    @strawberry.field
    def total(self, ns: list[int]) -> int:
        return sum(ns)


@strawberry.type
class Paged:
    @strawberry.field
    def items(self, first: int | None = None, last: int | None = None) -> list[Item]:
        return []


#: A cost of 100 besides the one store read of the root list (``items``) a query may make.
LIMITS = QueryLimits(
    max_depth=5, max_aliases=3, max_query_bytes=400, max_cost=100 + STORE_SCAN_COST
)


def make_schema(limits: QueryLimits = LIMITS) -> strawberry.Schema:
    documents = DocumentCache(16)
    return strawberry.Schema(
        Query, extensions=[CodedErrors, lambda: QueryLimitsExtension(limits, documents)]
    )


SCHEMA = make_schema()
GQL = SCHEMA._schema


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    return measure_document(GQL, parse(query), variables, default_page_size=20).cost


async def run(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await SCHEMA.execute(query, variable_values=variables)
    return {
        "data": result.data,
        "errors": [e.formatted for e in result.errors or []],
    }


# --- cost ---------------------------------------------------------------------------------


def test_cost_multiplies_by_first_and_counts_edges_once() -> None:
    assert cost("{ items(first: 10) { edges { node { name } } } }") == STORE_SCAN_COST + 10 * 3


def test_cost_uses_variables_and_declared_defaults() -> None:
    query = "query($n: Int!) { items(first: $n) { edges { node { name } } } }"
    assert cost(query, {"n": 4}) == STORE_SCAN_COST + 4 * 3
    assert cost("{ items { edges { node { name } } } }") == STORE_SCAN_COST + 20 * 3


def test_a_page_of_0_items_costs_what_a_page_of_1_costs() -> None:
    """``first: 0`` still reads (its ``pageInfo``; its ``totalCount`` is a count): 30 aliased
    pages of 0 items must not cost nothing."""
    one = cost("{ items(first: 1) { edges { node { name } } } }")
    assert cost("{ items(first: 0) { edges { node { name } } } }") == one == STORE_SCAN_COST + 3
    query = "query($n: Int!) { items(first: $n) { edges { node { name } } } }"
    assert cost(query, {"n": 0}) == one
    aliased = " ".join(
        f"a{n}: items(first: 0) {{ edges {{ node {{ name }} }} }}" for n in range(30)
    )
    assert cost(f"{{ {aliased} }}") == 30 * one


def test_lists_without_first_multiply_by_default_page_size() -> None:
    assert cost("{ item { children { children { name } } } }") == 1 + 20 * (1 + 20)


def test_fragments_cost_the_same_as_inline_selections() -> None:
    inline = "{ item { children { name children { name } } } }"
    spread = "{ item { ...F } } fragment F on Item { children { name children { name } } }"
    assert cost(inline) == cost(spread)


def test_explicit_last_sets_the_page_when_first_is_absent() -> None:
    schema = strawberry.Schema(Paged)
    query = "{ items(last: 3) { name } }"
    assert measure_document(schema._schema, parse(query), None, default_page_size=20).cost == 3
    query = "{ items { name } }"
    assert measure_document(schema._schema, parse(query), None, default_page_size=20).cost == 20


def test_scalars_and_introspection_are_free_but_for_the_whole_schema() -> None:
    assert cost("{ echo(n: 1) }") == 0
    assert cost('{ __type(name: "Item") { fields { name } } }') == 0
    assert cost("{ __schema { types { fields { name } } } }") == INTROSPECTION_COST


def test_nested_fragment_spreads_are_walked_in_linear_time() -> None:
    levels = 40  # 2**40 walks without memoisation
    fragments = " ".join(
        f"fragment F{i} on Item {{ name ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    query = f"{{ item {{ ...F0 }} }} {fragments} fragment F{levels} on Item {{ name }}"
    assert cost(query) == 1


#: A selection of the random documents below: ("name",), ("children", selections),
#: ("inline", selections) or ("spread", index of a fragment).
Selection = tuple[Any, ...]


@st.composite
def selections(draw: st.DrawFn, spreadable: range, depth: int = 2) -> list[Selection]:
    kinds = ["name", "spread"] if len(spreadable) else ["name"]
    if depth > 0:
        kinds += ["children", "inline"]
    chosen: list[Selection] = []
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3)):
        if kind == "spread":
            chosen.append(("spread", draw(st.sampled_from(spreadable))))
        elif kind in ("children", "inline"):
            chosen.append((kind, draw(selections(spreadable, depth - 1))))
        else:
            chosen.append(("name",))
    return chosen


@st.composite
def fragment_graphs(draw: st.DrawFn) -> tuple[list[list[Selection]], list[list[Selection]]]:
    """Fragments F0..Fn (each spreading only later ones: no cycles) and 1-2 operations."""
    count = draw(st.integers(0, 4))
    fragments = [draw(selections(range(i + 1, count))) for i in range(count)]
    operations = draw(st.lists(selections(range(count)), min_size=1, max_size=2))
    return fragments, operations


def written(chosen: list[Selection], fragments: list[list[Selection]] | None) -> str:
    """``chosen`` as GraphQL text; with ``fragments``, every spread replaced by an inline
    fragment holding the fragment's selections, expanded the same way (no memo: naive)."""
    parts = []
    for selection in chosen:
        kind = selection[0]
        if kind == "name":
            parts.append("name")
        elif kind == "children":
            parts.append(f"children {{ {written(selection[1], fragments)} }}")
        elif kind == "inline":
            parts.append(f"... on Item {{ {written(selection[1], fragments)} }}")
        elif fragments is None:
            parts.append(f"...F{selection[1]}")
        else:
            parts.append(f"... on Item {{ {written(fragments[selection[1]], fragments)} }}")
    return " ".join(parts)


@settings(max_examples=150, deadline=None)
@given(fragment_graphs())
def test_expanded_selections_equal_a_naive_expansion(
    graph: tuple[list[list[Selection]], list[list[Selection]]],
) -> None:
    fragments, operations = graph
    document = " ".join(
        [f"query O{i} {{ item {{ {written(o, None)} }} }}" for i, o in enumerate(operations)]
        + [f"fragment F{i} on Item {{ {written(f, None)} }}" for i, f in enumerate(fragments)]
    )
    inlined = [parse(f"{{ item {{ {written(o, fragments)} }} }}") for o in operations]
    assert measure(document).selections == max(count_selections(d) for d in inlined)


def test_a_fragment_counts_as_often_as_it_is_spread() -> None:
    query = "{ item { ...F ...F } } fragment F on Item { name children { name } }"
    # item, 2 spreads, each bringing name, children and its name
    assert measure(query).selections == 1 + 2 * (1 + 3)


def measure(query: str) -> Any:
    return measure_document(GQL, parse(query), None, default_page_size=20)


def test_aliases_count_every_spread_of_a_fragment() -> None:
    query = "{ a: echo(n: 1) ...F ...F } fragment F on Query { b: echo(n: 2) }"
    assert measure(query).aliases == 3


@pytest.mark.parametrize(
    "query",
    [
        "{ echo(n: 1) }",
        "{ item { name } }",
        "{ item { children { name } } }",
        "{ item { children { children { children { name } } } } }",
        "{ item { ...F } } fragment F on Item { children { children { name } } }",
        "{ item { ... on Item { children { name } } } __schema { types { fields { name } } } }",
    ],
)
async def test_depth_counts_like_strawberrys_limiter(query: str) -> None:
    depth = measure(query).depth
    for max_depth in (depth - 1, depth):
        schema = strawberry.Schema(Query, extensions=[partial(QueryDepthLimiter, max_depth)])
        refused = bool((await schema.execute(query)).errors)
        assert refused is (depth > max_depth), (query, depth, max_depth)


# --- limits through execution -------------------------------------------------------------


def only_error(response: dict[str, Any]) -> dict[str, Any]:
    assert response["data"] is None
    assert len(response["errors"]) == 1, response["errors"]
    error: dict[str, Any] = response["errors"][0]
    return error


async def test_query_within_limits_runs() -> None:
    response = await run("{ items(first: 2) { edges { node { name } } } }")
    assert response == {
        "data": {"items": {"edges": [{"node": {"name": "0"}}, {"node": {"name": "1"}}]}},
        "errors": [],
    }


async def test_cost_over_limit_is_refused_naming_the_setting() -> None:
    error = only_error(await run("{ items(first: 50) { edges { node { name } } } }"))
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "MAX_QUERY_COST"
    actual = str(STORE_SCAN_COST + 150)
    assert actual in error["message"] and "MAX_QUERY_COST" in error["message"]


async def test_cost_from_a_variable_is_refused() -> None:
    query = "query($n: Int!) { items(first: $n) { edges { node { name } } } }"
    error = only_error(await run(query, {"n": 1000}))
    assert error["extensions"]["limit"] == "MAX_QUERY_COST"
    assert (await run(query, {"n": 3}))["errors"] == []


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=40,
)


def _all_values(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(_all_values(member) for member in value.values())
    if isinstance(value, list):
        return 1 + sum(_all_values(item) for item in value)
    return 1


@given(st.dictionaries(st.text(max_size=3), _JSON_VALUES, max_size=5), st.integers(1, 30))
@settings(max_examples=300)
def test_values_are_counted_exactly_up_to_one_past_the_limit(
    variables: dict[str, Any], limit: int
) -> None:
    """The count that ``MAX_VARIABLE_VALUES`` refuses on: exact while within the limit, and
    one past it for anything larger, however the values nest."""
    total = sum(_all_values(value) for value in variables.values())
    assert screen_variables(variables, limit).values == min(total, limit + 1)


async def test_variables_holding_more_values_than_the_limit_are_refused() -> None:
    """Every variable was coerced (and checked for NUL, and measured) before any limit
    applied: a body of 1 MB holding one list of 240,000 ids took 0.4-0.8 s of the event loop,
    a variable the operation did not even use included, without a token. The values a
    request's variables hold (each variable, list item and object member) are counted first,
    at most one past ``MAX_VARIABLE_VALUES``, and a request holding more is refused unread."""
    schema = make_schema(QueryLimits(max_variable_values=10, max_entity_representations=3))
    query = "query($ns: [Int!]!) { total(ns: $ns) }"
    fits = await schema.execute(query, variable_values={"ns": list(range(9))})
    assert (fits.errors, fits.data) == (None, {"total": 36})
    for variables in (
        {"ns": list(range(10))},
        {"ns": list(range(240_000))},
        {"ns": [1], "unused": {"a": [1, 2], "b": {"c": [3, 4, 5]}}},
    ):
        refused = await schema.execute(query, variable_values=variables)
        assert refused.data is None and refused.errors is not None
        assert [e.formatted["extensions"] for e in refused.errors] == [
            {"code": "QUERY_TOO_COMPLEX", "limit": "MAX_VARIABLE_VALUES", "allowed": 10}
        ]
        assert refused.errors[0].message == (
            "The variables hold more than 10 values (each variable, list item and object "
            "member counts one), the limit (MAX_VARIABLE_VALUES): send smaller lists."
        )


async def test_depth_over_limit_is_refused_once() -> None:
    deep = "{ item { children { children { children { children { children { name } } } } } } }"
    response = await run(deep)
    depth_errors = [
        e for e in response["errors"] if e["extensions"].get("limit") == "MAX_QUERY_DEPTH"
    ]
    assert len(depth_errors) == 1
    assert depth_errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "6 levels deep, more than the limit of 5 (MAX_QUERY_DEPTH)" in depth_errors[0]["message"]
    assert response["data"] is None


async def test_too_many_aliases_is_refused() -> None:
    query = "{ a: echo(n: 1) b: echo(n: 2) c: echo(n: 3) d: echo(n: 4) }"
    error = only_error(await run(query))
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_ALIASES",
        "allowed": 3,
        "actual": 4,
    }


async def test_oversized_query_is_refused_before_parsing() -> None:
    query = "{ echo(n: 1) " + "#" * 500 + "\n}"
    error = only_error(await run(query))
    assert error["extensions"]["limit"] == "MAX_QUERY_BYTES"
    assert "400 bytes" in error["message"]


# --- lookups by key: _entities and nodes ---------------------------------------------------

NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Shipment { id orders { id } } } }"
ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) "
    "{ ... on Shipment { id orders { id } } } }"
)


@pytest.fixture(scope="module")
def portal() -> strawberry.Schema:
    """The real schema (``nodes`` and ``_entities``), limited by the default limits."""
    documents = DocumentCache(16)
    limits = QueryLimits()
    return build_schema(
        extensions=[CodedErrors, lambda: QueryLimitsExtension(limits, documents, MeasureCache(16))]
    )


def lookup_cost(schema: strawberry.Schema, query: str, variables: dict[str, Any]) -> int:
    return measure_document(schema._schema, parse(query), variables, default_page_size=20).cost


def test_nodes_costs_per_id_as_entities_costs_per_representation(
    portal: strawberry.Schema,
) -> None:
    """Each id is an entity read and its selection, whatever ``DEFAULT_PAGE_SIZE`` says."""
    ids = [f"id-{n}" for n in range(100)]
    per_item = 1 + 20  # the shipment, and its orders: a list without `first`
    assert lookup_cost(portal, NODES, {"ids": ids}) == 100 * per_item
    assert lookup_cost(portal, NODES, {"ids": ids}) == lookup_cost(portal, ENTITIES, {"r": ids})
    assert lookup_cost(portal, NODES, {"ids": ids[:3]}) == 3 * per_item
    literal = '{ nodes(ids: ["a", "b"]) { ... on Shipment { id orders { id } } } }'
    assert lookup_cost(portal, literal, {}) == 2 * per_item


async def test_aliased_nodes_count_toward_the_entity_representations_limit(
    portal: strawberry.Schema,
) -> None:
    """``nodes`` takes 100 ids per call; 15 aliased calls must not read 1,500 entities (30
    would hold more values than ``MAX_VARIABLE_VALUES``, refused before they are counted)."""
    calls = 15
    definitions = ", ".join(f"$i{n}: [ID!]!" for n in range(calls))
    lookups = " ".join(f"a{n}: nodes(ids: $i{n}) {{ id }}" for n in range(calls))
    variables = {f"i{n}": [f"id-{n}-{m}" for m in range(100)] for n in range(calls)}
    result = await portal.execute(
        f"query({definitions}) {{ {lookups} }}", variable_values=variables
    )
    assert result.data is None
    refusals = {(e.extensions or {})["limit"]: e.extensions for e in result.errors or []}
    assert refusals["MAX_ENTITY_REPRESENTATIONS"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_ENTITY_REPRESENTATIONS",
        "allowed": 100,
        "actual": 1_500,
    }


async def test_nodes_ids_and_entities_representations_share_one_limit(
    portal: strawberry.Schema,
) -> None:
    """Both read entities by key; a request may name ``MAX_ENTITY_REPRESENTATIONS`` in all."""
    query = (
        "query($ids: [ID!]!, $r: [_Any!]!) { nodes(ids: $ids) { id } "
        "_entities(representations: $r) { ... on Shipment { id } } }"
    )
    ids = [f"id-{n}" for n in range(60)]
    result = await portal.execute(query, variable_values={"ids": ids, "r": ids})
    assert result.data is None
    assert [(e.extensions or {}).get("limit") for e in result.errors or []] == [
        "MAX_ENTITY_REPRESENTATIONS"
    ]
    assert (result.errors or [])[0].extensions == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_ENTITY_REPRESENTATIONS",
        "allowed": 100,
        "actual": 120,  # 60 ids and 60 representations
    }
    document = parse("query($ids: [ID!]!) { nodes(ids: $ids) { id } }")
    assert limit_errors(portal._schema, document, {"ids": ids + ids[:40]}, QueryLimits()) == []


# --- codes and masking --------------------------------------------------------------------


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = request_id_var.set("req-1234567890")
    try:
        with caplog.at_level(logging.ERROR, logger="web.errors"):
            response = await run("{ boom }")
    finally:
        request_id_var.reset(token)
    error = response["errors"][0]
    assert error["message"] == MASKED_MESSAGE
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1234567890"}
    assert "hunter2" not in repr(response)
    assert any(
        "req-1234567890" in r.getMessage() and r.exc_info and "hunter2" in str(r.exc_info[1])
        for r in caplog.records
    )


async def test_deliberate_errors_keep_message_and_code() -> None:
    response = await run("{ forbidden }")
    assert response["errors"][0]["message"] == "invoices are not part of your entitlements"
    assert response["errors"][0]["extensions"] == {"code": "FORBIDDEN"}


@pytest.mark.parametrize(
    ("query", "variables", "code", "errors"),
    [
        ("{ nope }", None, "GRAPHQL_VALIDATION_FAILED", 1),
        ("{ echo(n: 1) ", None, "GRAPHQL_VALIDATION_FAILED", 1),
        ("query($n: Int!) { echo(n: $n) }", {"n": "seven"}, "BAD_USER_INPUT", 1),
        ("query($n: Int!) { echo(n: $n) }", None, "BAD_USER_INPUT", 1),
        # graphql-core's variable rules word their refusals "Variable '$n' ...", as its
        # coercion of the values does: they are the document's mistakes, not the input's
        # (they were all BAD_USER_INPUT until session 19).
        ("query($n: Int) { echo(n: 1) }", None, "GRAPHQL_VALIDATION_FAILED", 1),
        ("{ echo(n: $n) }", None, "GRAPHQL_VALIDATION_FAILED", 1),
        ("query($n: String) { echo(n: $n) }", None, "GRAPHQL_VALIDATION_FAILED", 1),
        # two refusals: a type that is not an input type, and one that is not Int!
        ("query($n: Item) { echo(n: $n) }", None, "GRAPHQL_VALIDATION_FAILED", 2),
    ],
)
async def test_request_errors_get_codes(
    query: str, variables: dict[str, Any] | None, code: str, errors: int
) -> None:
    response = await run(query, variables)
    assert response["data"] is None
    assert [error["extensions"]["code"] for error in response["errors"]] == [code] * errors


#: One of each exception Strawberry raises for a request it cannot run.
UNRUNNABLE_CASES = [
    CannotGetOperationTypeError("Z"),
    InvalidOperationTypeError(OperationType.QUERY),
    MissingQueryError(),
]


def test_the_cases_below_are_every_request_strawberry_cannot_run() -> None:
    """The schema's log and the masking read one tuple (``UNRUNNABLE``): a type added there
    must be added here, where both are checked."""
    assert [type(case) for case in UNRUNNABLE_CASES] == list(UNRUNNABLE)


@pytest.mark.parametrize("unrunnable", UNRUNNABLE_CASES, ids=lambda case: type(case).__name__)
def test_a_request_strawberry_cannot_run_is_a_bad_request_and_no_logged_bug(
    unrunnable: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    error = GraphQLError(str(unrunnable), original_error=unrunnable)
    with caplog.at_level(logging.ERROR):
        [said] = coded([error])
        build_schema().process_errors([error])
    assert said.extensions == {"code": "BAD_REQUEST"}
    assert said.message != MASKED_MESSAGE
    assert [record.getMessage() for record in caplog.records] == []


# --- remembered documents -----------------------------------------------------------------


@pytest.mark.parametrize("remember_measures", [False, True])
async def test_a_remembered_query_text_is_still_limited_by_each_requests_variables(
    remember_measures: bool,
) -> None:
    documents = DocumentCache(4)
    measures = MeasureCache(4) if remember_measures else None
    schema = strawberry.Schema(
        Query,
        extensions=[CodedErrors, lambda: QueryLimitsExtension(LIMITS, documents, measures)],
    )
    query = "query($n: Int!) { items(first: $n) { edges { node { name } } } }"
    assert not (await schema.execute(query, variable_values={"n": 3})).errors
    for _ in range(2):  # refused each time, with an error of its own each time
        refused = await schema.execute(query, variable_values={"n": 1000})
        assert [(e.extensions or {})["limit"] for e in refused.errors or []] == ["MAX_QUERY_COST"]
        assert (refused.errors or [])[0].extensions == {
            "code": "QUERY_TOO_COMPLEX",
            "limit": "MAX_QUERY_COST",
            "allowed": LIMITS.max_cost,
            "actual": STORE_SCAN_COST + 3000,  # the read, and items, edges, node 1,000 times
        }
    assert not (await schema.execute(query, variable_values={"n": 2})).errors
    assert documents.size() == 1


async def test_the_screens_measure_serves_requests_whose_variables_it_does_not_read() -> None:
    """The screen's measure (taken with no variables) spares the per-request walk, but a
    page size or a list length given in a variable is still measured per request."""
    documents = DocumentCache(4, screen=screen_for(LIMITS))
    schema = strawberry.Schema(
        Query,
        extensions=[CodedErrors, lambda: QueryLimitsExtension(LIMITS, documents, MeasureCache(4))],
    )
    by_variable = "query($n: Int!) { items(first: $n) { edges { node { name } } } }"
    refused = await schema.execute(by_variable, variable_values={"n": 1000})
    assert [(e.extensions or {}).get("actual") for e in refused.errors or []] == [
        STORE_SCAN_COST + 3000
    ]
    by_default = "query($b: Boolean!) { item @include(if: $b) { children { children { name } } } }"
    refused = await schema.execute(by_default, variable_values={"b": True})
    assert [(e.extensions or {}).get("actual") for e in refused.errors or []] == [421]
    checked = documents.known(schema._schema, by_default)
    assert checked is not None and checked.measured == measure_document(
        schema._schema, parse(by_default), {"b": True}, LIMITS.default_page_size
    )


async def test_a_remembered_invalid_query_reports_its_errors_every_time() -> None:
    documents = DocumentCache(4)
    schema = strawberry.Schema(
        Query, extensions=[CodedErrors, lambda: QueryLimitsExtension(LIMITS, documents)]
    )
    answers = [
        [e.formatted for e in (await schema.execute("{ item { nope } }")).errors or []]
        for _ in range(3)
    ]
    assert answers[0] == answers[1] == answers[2]
    assert len(answers[0]) == 1 and "nope" in answers[0][0]["message"]
    assert answers[0][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert documents.size() == 1


async def test_syntax_errors_are_reported_and_not_remembered() -> None:
    documents = DocumentCache(4)
    schema = strawberry.Schema(
        Query, extensions=[CodedErrors, lambda: QueryLimitsExtension(LIMITS, documents)]
    )
    errors = (await schema.execute("{ item { name }")).errors or []
    assert len(errors) == 1 and "Syntax Error" in errors[0].message
    assert documents.size() == 0


async def test_the_cache_holds_at_most_its_size_of_distinct_texts() -> None:
    documents = DocumentCache(2)
    schema = strawberry.Schema(
        Query, extensions=[CodedErrors, lambda: QueryLimitsExtension(LIMITS, documents)]
    )
    for n in range(5):
        assert not (await schema.execute(f"{{ echo(n: {n}) }}")).errors
    assert documents.size() == 2


async def test_validation_stops_after_max_validation_errors() -> None:
    limits = QueryLimits(max_query_bytes=4_000, max_validation_errors=3)
    documents = DocumentCache(4, max_errors=limits.max_validation_errors)
    schema = strawberry.Schema(
        Query, extensions=[CodedErrors, lambda: QueryLimitsExtension(limits, documents)]
    )
    query = "{ item { " + " ".join(f"zz{i}" for i in range(12)) + " } }"
    errors = [e.formatted for e in (await schema.execute(query)).errors or []]
    assert [e["message"] for e in errors[:3]] == [
        f"Cannot query field 'zz{i}' on type 'Item'." for i in range(3)
    ]
    assert errors[3]["message"] == (
        "Too many validation errors, error limit reached. Validation aborted."
    )
    assert len(errors) == 4
    assert {e["extensions"]["code"] for e in errors} == {"GRAPHQL_VALIDATION_FAILED"}


async def refuse_all(*_: object) -> list[GraphQLError]:
    raise LaneFull(per_client=True, allowed=2)


async def worker_died(*_: object) -> list[GraphQLError]:
    raise ValidationUnavailable("the validation worker stopped")


@pytest.mark.parametrize(
    ("offload", "code", "status"),
    [(refuse_all, "RATE_LIMITED", 429), (worker_died, "SERVICE_UNAVAILABLE", 503)],
)
async def test_a_document_refused_for_now_says_when_to_retry(
    offload: Any, code: str, status: int
) -> None:
    documents = DocumentCache(4, offload=offload)
    schema = strawberry.Schema(
        Query, extensions=[CodedErrors, lambda: QueryLimitsExtension(LIMITS, documents)]
    )
    few = "{ " + " ".join(f"a{i}: echo(n: {i})" for i in range(3)) + " }"
    small = await schema.execute(few)  # 3 selections: validated here, never offloaded
    assert not small.errors
    many = "{ " + " ".join(f"echo(n: {i})" for i in range(20)) + " }"
    errors = (await schema.execute(many)).errors or []
    assert [e.extensions["code"] for e in errors if e.extensions] == [code]
    assert errors[0].extensions is not None and errors[0].extensions["retryAfter"] == 1
    assert retry_later(errors) == (status, 1)
    assert documents.size() == 1  # a refusal for now is not remembered


def lexer_tokens(query: str) -> int | None:
    """The tokens graphql-core's lexer reads in ``query`` (None: it does not lex)."""
    lexer = Lexer(Source(query))
    count = 0
    try:
        while lexer.advance().kind != TokenKind.EOF:
            count += 1
    except GraphQLError:
        return None
    return count


_PIECES = st.sampled_from(
    [
        "{", "}", "(", ")", "[", "]", ":", "$", "!", "=", "@", "|", "&", "...", ",", " ", "\n",
        "\t", "\ufeff", "# a comment } {\n", "order", "_x1", "on", "-12", "3.5e-2", "0",
        '"a b, c"', '"\\" }"', '"""block "quoted" { }"""', '"\\u00e9"', "é", "\\",
    ]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=60).map("".join) | st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_the_token_estimate_never_counts_fewer_tokens_than_the_parser_reads(
    query: str,
) -> None:
    """What decides whether the event loop parses a new text must not let a large one
    through: the estimate is an upper bound of the lexer's count, whatever the text."""
    counted = lexer_tokens(query)
    if counted is not None:
        assert estimated_tokens(query) >= counted


# --- store reads in the portal's schema ---------------------------------------------------

PORTAL = portal_graphql_schema()


def _portal_refusals(query: str) -> list[GraphQLError]:
    return limit_errors(PORTAL, parse(query), None, QueryLimits())


def _aliased(field: str, times: int = 29) -> str:
    """``times`` aliases of ``field`` (``{n}`` numbered), within the default ``MAX_ALIASES``."""
    return "{ " + " ".join(f"a{n}: {field.format(n=n)}" for n in range(times)) + " }"


@pytest.mark.parametrize(
    "field",
    [
        'orders(first: 1, filter: {{warehouseId: "NOPE{n}"}}) {{ nodes {{ id }} }}',
        "orders(first: 0) {{ totalCount }}",
        'searchShipments(text: "x{n}", first: 1) {{ nodes {{ id }} }}',
    ],
)
def test_many_aliased_root_lists_are_refused_for_their_store_reads(field: str) -> None:
    """29 aliased root lists each read the store (a filter that matches nothing reads on
    through the list: 2 s for a customer of 100,000 orders, in a 2.5 KB document), and their
    counts each count it: each costs ``STORE_SCAN_COST``, so the document is over
    ``MAX_QUERY_COST``, refused as any costly document is."""
    assert [e.extensions for e in _portal_refusals(_aliased(field))] == [
        {
            "code": "QUERY_TOO_COMPLEX",
            "limit": "MAX_QUERY_COST",
            "allowed": QueryLimits().max_cost,
            "actual": measure_document(PORTAL, parse(_aliased(field)), None, 20).cost,
        }
    ]


def test_a_count_costs_one_store_read_whatever_the_page_size_and_aliases() -> None:
    """A connection's ``totalCount`` is one count however often it is asked (aliases share
    it), and it is not multiplied by the connection's page size."""
    counts = " ".join(f"c{n}: totalCount" for n in range(29))
    many = measure_document(PORTAL, parse(f"{{ orders(first: 0) {{ {counts} }} }}"), None, 20)
    assert many.cost == 2 * STORE_SCAN_COST + 1
    paged = "{ orders(first: 100) { totalCount nodes { id } } }"
    unpaged = "{ orders(first: 100) { nodes { id } } }"
    assert cost_in_portal(paged) == cost_in_portal(unpaged) + STORE_SCAN_COST
    assert _portal_refusals(paged) == []


def cost_in_portal(query: str) -> int:
    return measure_document(PORTAL, parse(query), None, 20).cost


def test_an_orders_or_shipments_invoices_cost_a_store_read_once_per_place_asked() -> None:
    """The invoices naming an order or a shipment overflowing with them have no index of
    their own: the store reads every invoice of the caller's customers to find them. Each
    place a document asks for them costs ``STORE_SCAN_COST`` once, not once per item of the
    lists around it (the overflowing holders of a page are one read); an order's shipments
    and an invoice's orders have their index or are loaded by id, and cost only their items.
    So 20 lookups of an order with its invoices are over ``MAX_QUERY_COST``."""
    page = "{{ {root}(first: 100) {{ nodes {{ {field} {{ id }} }} }} }}"
    for root, indexed in (("orders", "shipments"), ("shipments", "orders")):
        with_invoices = cost_in_portal(page.format(root=root, field="invoices"))
        assert with_invoices == cost_in_portal(page.format(root=root, field=indexed)) + (
            STORE_SCAN_COST
        )
    linked = "{ invoices(first: 100) { nodes { orders { id } shipments { id } } } }"
    # the page's read, and per invoice: its item, ``nodes``, 20 orders and 20 shipments
    assert cost_in_portal(linked) == STORE_SCAN_COST + 100 * (1 + 1 + 20 + 20)
    lookups = _aliased('order(id: "SO-{n}") {{ invoices {{ id }} }}', times=20)
    assert [e.extensions for e in _portal_refusals(lookups)] == [
        {
            "code": "QUERY_TOO_COMPLEX",
            "limit": "MAX_QUERY_COST",
            "allowed": QueryLimits().max_cost,
            "actual": 20 * (1 + 20 + STORE_SCAN_COST),
        }
    ]
    assert _portal_refusals(lookups.replace("invoices", "shipments")) == []


#: The largest selection of a type an introspecting client could ask (38 selections).
_WHOLE_TYPE = (
    "fragment T on __Type { name kind description fields(includeDeprecated: true) { name"
    " description isDeprecated deprecationReason args { name description defaultValue type {"
    " kind name ofType { kind name ofType { kind name } } } } type { kind name ofType { kind"
    " name ofType { kind name } } } } interfaces { name } enumValues { name description }"
    " possibleTypes { name } }"
)


def test_aliases_of_the_whole_schema_are_refused_for_their_cost() -> None:
    """Introspection was free: 24 aliases of ``__schema`` each spreading every type's fields
    and arguments fitted every limit (960 selections expanded, 243 tokens) and took 315 ms of
    the event loop and 2 MB of response per request, from anyone, a token or not. Each
    ``__schema`` now costs ``INTROSPECTION_COST``, so such a document is refused before it
    runs, while GraphiQL's full introspection (one ``__schema``) and ``__type`` lookups are
    served as before."""
    aliased = _aliased("__schema {{ types {{ ...T }} }}", times=24) + " " + _WHOLE_TYPE
    assert [e.extensions for e in _portal_refusals(aliased)] == [
        {
            "code": "QUERY_TOO_COMPLEX",
            "limit": "MAX_QUERY_COST",
            "allowed": QueryLimits().max_cost,
            "actual": 24 * INTROSPECTION_COST,
        }
    ]
    assert _portal_refusals(get_introspection_query(descriptions=True)) == []
    types = _aliased('__type(name: "Query") {{ ...T }}', times=24) + " " + _WHOLE_TYPE
    assert _portal_refusals(types) == []


# --- arguments read as execution reads them (review of session 18) ------------------------


@pytest.mark.parametrize("remember_measures", [False, True])
async def test_a_page_size_from_a_variable_s_default_is_costed_as_it_runs(
    remember_measures: bool,
) -> None:
    """Execution pages by the variable's default in the operation when the request omits the
    variable, and by 1000 when it sends ``1000.0`` (GraphQL's Int accepts a whole float):
    the cost reads the same page, and refuses what would read 1,000 items. Remembered
    measures too: the screen's measure (variables absent) must not serve a request whose
    variable is absent but defaulted."""
    documents = DocumentCache(4, screen=screen_for(LIMITS))
    measures = MeasureCache(4) if remember_measures else None
    schema = strawberry.Schema(
        Query,
        extensions=[CodedErrors, lambda: QueryLimitsExtension(LIMITS, documents, measures)],
    )
    defaulted = "query($n: Int = 1000) { items(first: $n) { edges { node { name } } } }"
    for variables in (None, {}, {"n": 1000.0}):
        refused = await schema.execute(defaulted, variable_values=variables)
        assert [e.extensions for e in refused.errors or []] == [
            {
                "code": "QUERY_TOO_COMPLEX",
                "limit": "MAX_QUERY_COST",
                "allowed": LIMITS.max_cost,
                "actual": STORE_SCAN_COST + 3000,
            }
        ]
    runs = await schema.execute(defaulted, variable_values={"n": 2})
    assert not runs.errors and runs.data == {
        "items": {"edges": [{"node": {"name": "0"}}, {"node": {"name": "1"}}]}
    }


def test_a_fragment_is_costed_with_each_operation_s_defaults() -> None:
    """A fragment measured once per document must still read each operation's variables:
    the costly operation is not hidden behind a cheap one spreading the same fragment."""
    query = (
        "query Cheap($n: Int = 1) { ...Page } query Costly($n: Int = 1000) { ...Page } "
        "fragment Page on Query { items(first: $n) { edges { node { name } } } }"
    )
    assert cost(query) == STORE_SCAN_COST + 3000


NESTED_PAGES = (
    "query($n: Int) { orders(first: $n) { edges { node { shipments { orders { shipments { "
    "orders { shipments { orders { shipments { orders { orderId } } } } } } } } } } } }"
)


def test_a_cost_beyond_what_json_numbers_hold_is_reported_bounded() -> None:
    """Nested lists under a page of 2^31 - 1 orders cost about 2^65, which JSON encoders
    refuse (orjson: 64 bits, the API answered 500 and a WebSocket nothing): the refusal says
    the cost is over ``MAX_REPORTED`` and reports that."""
    document = parse(NESTED_PAGES)
    assert measure_document(PORTAL, document, {"n": 2**31 - 1}, 20).cost > 2**64
    [error] = limit_errors(PORTAL, document, {"n": 2**31 - 1}, QueryLimits())
    assert error.extensions == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_QUERY_COST",
        "allowed": QueryLimits().max_cost,
        "actual": MAX_REPORTED,
    }
    assert f"estimated cost is over {MAX_REPORTED}, more than the limit" in error.message
    assert orjson.loads(orjson.dumps(error.formatted))["extensions"]["actual"] == 2**53 - 1


@pytest.mark.parametrize(
    ("query", "variables", "absent"),
    [
        (
            "{ orders(first: 18446744073709551616) { totalCount } }",
            None,
            "{ orders { totalCount } }",
        ),
        ("query($n: Int) { orders(first: $n) { totalCount } }", {"n": 2**64}, None),
        (NESTED_PAGES, {"n": 2**64}, None),
    ],
    ids=["literal", "variable", "variable under nested lists"],
)
def test_a_page_size_execution_refuses_is_measured_as_absent(
    query: str, variables: dict[str, Any] | None, absent: str | None
) -> None:
    """An Int beyond 32 bits is refused (validation, variable coercion) before anything
    runs; the cost reads the page as if it were not given (it read 2^64, and its refusal
    echoed 2^64 and more: a 500)."""
    measured = measure_document(PORTAL, parse(query), variables, 20)
    assert measured == measure_document(PORTAL, parse(absent or query), None, 20)
    assert measured.cost < 2**53
