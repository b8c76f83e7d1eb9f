"""Validation that visits no name node no rule reads and hashes no node
(``web.validation_visit``) reports what graphql-core's ``validate`` reports: the same errors,
in the same order, at the same places, whatever the cap on errors, with graphql-core's rules
and with the API's (wrapped by ``web.rule_methods``, plus the variable-usage walk)."""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    GraphQLError,
    NameNode,
    OperationDefinitionNode,
    TypeInfo,
    ValidationContext,
    get_introspection_query,
    parse,
    specified_rules,
    validate,
)
from graphql.language.visitor import BREAK, SKIP
from graphql.validation.validate import query_document_keys_to_validate
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from tests.unit.variable_documents import SCHEMA, assume_parses, documents
from web.rule_methods import with_known_methods
from web.validation_visit import (
    _NODE_KEYED_CACHES,
    KEYS_WITHOUT_NAMES,
    _ByIdentity,
    _keyed_by_identity,
    validate_visiting_less,
)
from web.validation_worker import portal_graphql_schema
from web.variable_usages import KnownVariableUsages

RULES = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)


def _both(schema: Any, text: str, max_errors: int = 100) -> tuple[list[Any], list[Any]]:
    """(graphql-core's errors, this validation's errors, with the API's wrapped rules and
    usage walk), as (message, locations) in order."""
    expected = validate(schema, parse(text), RULES, max_errors)
    api_rules = [with_known_methods(r) for r in (KnownVariableUsages, *RULES)]
    found = validate_visiting_less(schema, parse(text), api_rules, max_errors)
    return [(e.message, e.locations) for e in expected], [(e.message, e.locations) for e in found]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from([1, 3, 100]))
@example("query { dog { ...F0 } } fragment F0 on Dog { name(y: 1) nope }", 100)
@example("query { dog { ...F0 ...F0 } } fragment F0 on Cat { id } fragment F0 on Dog { id }", 1)
@example("query A($v: Int) { dog(x: $u) { ...F0 } } query A { name }", 3)
def test_validation_reports_what_graphql_core_reports(text: str, max_errors: int) -> None:
    assume_parses(text)
    expected, found = _both(SCHEMA, text, max_errors)
    assert found == expected


def test_every_kind_of_node_is_validated_alike() -> None:
    texts = [
        get_introspection_query(descriptions=True),
        'query Q($n: Int = 3, $s: String) @skip(if: false) { order(id: "1") @include(if: true)'
        " { id ...F ... on Order { status } } orders(first: $n, after: $s) { nodes { id } } }"
        " fragment F on Order { customerId unknown(x: [1, {a: null}]) }",
        "query { order { id } order { id } } query { nope } fragment F on Nope { id } "
        "fragment F on Order { ...F } type T { x: Int } directive @d on FIELD",
        'query Q($d: Boolean! @x @x) @skip(if: $d) @skip(if: $d) { order(id: "1") '
        "@skip(if: $d) @skip(if: $d) { ...F @include(if: $d) @include(if: $d) "
        "... on Order @skip(if: $d) @skip(if: $d) { id } } } "
        "fragment F on Order @x @x { id }",
    ]
    schema = portal_graphql_schema()
    for text in texts:
        expected, found = _both(schema, text)
        assert found == expected
    assert len(_both(schema, texts[2])[0]) >= 5, "the third document must hold many errors"


def test_a_rule_that_reads_names_still_meets_every_name() -> None:
    met: list[str] = []

    class Names(ASTValidationRule):
        def enter_name(self, node: NameNode, *_args: Any) -> None:
            met.append(node.value)
            self.report_error(GraphQLError(f"name {node.value}", node))

    text = "query Q { dog(x: 1) { a: name ...F } } fragment F on Dog { id }"
    expected = [(e.message, e.locations) for e in validate(SCHEMA, parse(text), [Names])]
    met_by_graphql_core = met[:]
    met.clear()
    found = validate_visiting_less(SCHEMA, parse(text), [Names])
    assert [(e.message, e.locations) for e in found] == expected
    assert met == met_by_graphql_core == ["Q", "dog", "x", "a", "name", "F", "F", "Dog", "id"]


def test_only_names_are_left_out_of_the_visit() -> None:
    document = parse(get_introspection_query(descriptions=True) + " { a: b(c: $d) @e }")
    left_out = []
    pending: list[Any] = [document]
    while pending:
        node = pending.pop()
        for key in query_document_keys_to_validate.get(node.kind, ()):
            value = getattr(node, key)
            children = [c for c in (value if isinstance(value, tuple) else (value,)) if c]
            if key in KEYS_WITHOUT_NAMES.get(node.kind, ()):
                pending.extend(children)
            else:
                left_out.extend(children)
    assert left_out, "names are left out"
    assert all(isinstance(node, NameNode) for node in left_out)


def test_the_private_caches_it_keys_by_identity_are_still_graphql_cores() -> None:
    """``web.validation_visit`` swaps the validation context's node-keyed caches, private to
    graphql-core (constraints.txt pins it), for identity-keyed ones, and reads ``RefMap``'s
    private ``_map``. A release that renamed or dropped one would leave validation right but
    hashing every node again, silently (the swap skips what it does not find): this fails
    instead, naming what moved."""
    schema = portal_graphql_schema()
    document = parse(
        "query Q($n: Int) { orders(first: $n) { ...F } }"
        " fragment F on OrderConnection { totalCount }"
    )
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    context = ValidationContext(schema, document, TypeInfo(schema), lambda error: None)
    for name in _NODE_KEYED_CACHES:
        assert getattr(context, name, None) == {}, f"ValidationContext.{name} is gone or not a dict"
    _keyed_by_identity(context)
    context.get_fragment_spreads(operation.selection_set)
    context.get_recursive_variable_usages(operation)
    for name in _NODE_KEYED_CACHES:
        cache = getattr(context, name)
        assert isinstance(cache, _ByIdentity) and len(cache) > 0, f"{name} is not what it fills"
    assert operation.selection_set in context._fragment_spreads
    assert operation in context._variable_usages
    assert operation in context._recursive_variable_usages
    keyed = _ByIdentity()
    keyed[operation] = "found"
    assert keyed._map == {id(operation): (operation, "found")}, "RefMap._map changed shape"
    assert keyed.get(operation) == "found" and keyed.get(document) is None


def test_rules_that_skip_or_stop_are_called_as_graphql_core_calls_them() -> None:
    """The parallel visit calls only the rules with a method for a kind of node; a rule that
    skips a subtree, one that stops, and one that only leaves still meet exactly the nodes
    they meet in graphql-core's visit, in its order."""
    met: list[str] = []

    class SkipsFields(ASTValidationRule):
        def enter_field(self, node: Any, *_args: Any) -> object:
            met.append(f"skip-enter {node.name.value}")
            return SKIP if node.name.value == "dog" else None

        def enter_argument(self, node: Any, *_args: Any) -> None:
            met.append(f"skip-argument {node.name.value}")

    class StopsAtFragments(ASTValidationRule):
        def enter_fragment_definition(self, node: Any, *_args: Any) -> object:
            met.append(f"stop {node.name.value}")
            return BREAK

        def enter_field(self, node: Any, *_args: Any) -> None:
            met.append(f"stop-field {node.name.value}")

    class OnlyLeaves(ASTValidationRule):
        def leave_field(self, node: Any, *_args: Any) -> None:
            met.append(f"leave {node.name.value}")
            self.report_error(GraphQLError(f"left {node.name.value}", node))

    rules = [SkipsFields, StopsAtFragments, OnlyLeaves]
    text = "{ dog(x: 1) { name friend { id } } cat { id } } fragment F on Dog { size }"
    expected = [(e.message, e.locations) for e in validate(SCHEMA, parse(text), rules)]
    met_by_graphql_core = met[:]
    met.clear()
    found = validate_visiting_less(SCHEMA, parse(text), rules)
    assert [(e.message, e.locations) for e in found] == expected
    assert met == met_by_graphql_core
    assert "skip-argument x" not in met and "stop-field size" not in met and "leave size" in met
