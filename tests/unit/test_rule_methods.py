"""Rules wrapped by ``web.rule_methods`` (visit methods found once per class) report what
graphql-core's rules report: the same errors, in the same order, at the same places, for
every rule the API validates with, on hypothesis' documents and on the documents that use
every kind of node (introspection's, with variables, directives and fragments)."""

from __future__ import annotations

from typing import Any, cast

from graphql import (
    ASTValidationRule,
    get_introspection_query,
    parse,
    specified_rules,
    validate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from tests.unit.variable_documents import SCHEMA, assume_parses, documents
from web.rule_methods import with_known_methods
from web.validation_worker import portal_graphql_schema

RULES = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)


def _reported(schema: Any, text: str, rules: Any, max_errors: int = 100) -> list[Any]:
    return [(e.message, e.locations) for e in validate(schema, parse(text), rules, max_errors)]


def _wrapped() -> list[type[ASTValidationRule]]:
    return cast(list[type[ASTValidationRule]], [with_known_methods(r) for r in RULES])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from([1, 3, 100]))
def test_wrapped_rules_report_what_the_rules_report(text: str, max_errors: int) -> None:
    assume_parses(text)
    expected = _reported(SCHEMA, text, RULES, max_errors)
    assert _reported(SCHEMA, text, _wrapped(), max_errors) == expected


def test_every_kind_of_node_meets_the_same_methods() -> None:
    schema = portal_graphql_schema()
    texts = [
        get_introspection_query(descriptions=True),
        'query Q($n: Int = 3, $s: String) @skip(if: false) { order(id: "1") @include(if: true)'
        " { id ...F ... on Order { status } } orders(first: $n, after: $s) { nodes { id } } }"
        " fragment F on Order { customerId unknown(x: [1, {a: null}]) }",
        "query { order { id } order { id } } query { nope }",
        # a directive repeated where it may not be: on an operation, a field, a spread, an
        # inline fragment, a fragment
        'query Q($d: Boolean! @x @x) @skip(if: $d) @skip(if: $d) { order(id: "1") '
        "@skip(if: $d) @skip(if: $d) { ...F @include(if: $d) @include(if: $d) "
        "... on Order @skip(if: $d) @skip(if: $d) { id } } } "
        "fragment F on Order @x @x { id }",
    ]
    for text in texts:
        assert _reported(schema, text, _wrapped()) == _reported(schema, text, RULES)
    assert _reported(schema, texts[1], RULES), "the second document must hold errors"
