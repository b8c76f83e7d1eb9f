"""Validation with ``KnownVariableUsages`` first (``web.variable_usages``) reports exactly
what graphql-core's rules report without it: the same errors, in the same order, at the same
places, whatever the cap on errors; and each definition's usages are the validation
context's own. Hypothesis writes documents whose operations and fragments use defined,
undefined and unused variables, in arguments, lists, input objects and directives, or none,
or a ``$`` inside a string; and the hostile documents the rule exists for are not walked
again by the context."""

from __future__ import annotations

from typing import Any

import graphql
import pytest
from graphql import ValidationContext, parse, specified_rules
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.unit.variable_documents import SCHEMA, assume_parses, documents, reported
from web.document_cache import validate_document
from web.validation_worker import portal_graphql_schema
from web.variable_usages import KnownVariableUsages, variable_usages


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from([1, 3, 100]))
@example("query($v: Int) { dog { ...F0 } } fragment F0 on Dog { name(x: $v) }", 100)
@example('query { dog { ...F0 } } fragment F0 on Dog { name(y: "$v") }', 100)
@example("query($v: Int) { dog { ...F0 } } fragment F0 on Dog { friend(x: $v) }", 100)
@example("query { ...F0 } fragment F0 on Query { name(y: $u) }", 1)
def test_validation_reports_what_graphql_core_reports(text: str, max_errors: int) -> None:
    assume_parses(text)
    with_rule = reported(text, [KnownVariableUsages, *specified_rules], max_errors)
    assert with_rule == reported(text, specified_rules, max_errors)
    document = parse(text)
    context = ValidationContext(SCHEMA, document, graphql.TypeInfo(SCHEMA), lambda _: None)
    ours = variable_usages(SCHEMA, document)
    assert list(ours) == list(document.definitions)
    for definition, usages in ours.items():
        assert usages == context.get_variable_usages(definition)  # type: ignore[arg-type]


def test_the_context_walks_no_definition_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's "fragments" document (33 fragments, no variable), and 24 fragments with a
    variable each (as many as ``MAX_QUERY_TOKENS`` allows): the context finds every
    definition's usages known, and validation accepts both."""
    walked: list[str] = []
    original = ValidationContext.get_variable_usages

    def counting(context: ValidationContext, node: Any) -> Any:
        if node not in getattr(context, "_variable_usages", {}):
            walked.append(node.name.value if node.name else "(operation)")
        return original(context, node)

    monkeypatch.setattr(ValidationContext, "get_variable_usages", counting)
    schema = portal_graphql_schema()
    plain = " ".join(f"fragment F{i} on Order {{ id ...F{i + 1} ...F{i + 1} }}" for i in range(32))
    plain = f'query Q {{ order(id: "SO-1") {{ ...F0 }} }} {plain} fragment F32 on Order {{ id }}'
    used = " ".join(
        f"fragment F{i} on Order {{ id @include(if: $d) ...F{i + 1} ...F{i + 1} }}"
        for i in range(23)
    )
    used = (
        f'query Q($d: Boolean!) {{ order(id: "SO-1") {{ ...F0 }} }} {used} '
        "fragment F23 on Order { id @include(if: $d) }"
    )
    for text in (plain, used):
        assert validate_document(schema, parse(text), specified_rules) == []
    assert walked == []
