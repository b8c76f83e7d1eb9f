"""Validation without the rules a document's text gives nothing to report
(``web.applicable_rules``) reports exactly what graphql-core reports with every rule: the same
errors, in the same order, at the same places, whatever the cap on errors. Hypothesis writes
documents with and without directives and variables (and a ``$`` inside a string)."""

from __future__ import annotations

from typing import Any

import graphql
from graphql import parse, specified_rules
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.unit.variable_documents import assume_parses, documents, reported
from web.applicable_rules import DIRECTIVE_RULES, VARIABLE_RULES, applicable_rules


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from([1, 3, 100]))
@example("query { dog { ...F0 } } fragment F0 on Dog { name(y: 1) nope }", 100)
@example('query A { name(y: "$v") } query A { dog { friend { id } } }', 100)
@example("query { dog { ...F0 ...F0 } } fragment F0 on Cat { id } fragment F0 on Dog { id }", 1)
def test_validation_without_idle_rules_reports_what_every_rule_reports(
    text: str, max_errors: int
) -> None:
    assume_parses(text)
    kept = applicable_rules(parse(text), specified_rules)
    assert reported(text, kept, max_errors) == reported(text, specified_rules, max_errors)


def test_only_a_text_without_directives_or_variables_loses_their_rules() -> None:
    def left_out(text: str) -> set[Any]:
        return set(specified_rules) - set(applicable_rules(parse(text), specified_rules))

    assert left_out("{ dog { id } }") == DIRECTIVE_RULES | VARIABLE_RULES
    assert left_out("query($v: Int) { dog(x: $v) { id } }") == DIRECTIVE_RULES
    assert left_out("{ dog { id @skip(if: true) } }") == VARIABLE_RULES
    assert left_out('{ name(y: "$@") }') == set()  # characters in a string keep them
    built = graphql.DocumentNode(definitions=parse("{ dog { id } }", no_location=True).definitions)
    assert applicable_rules(built, specified_rules) == tuple(specified_rules)
