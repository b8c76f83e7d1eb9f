"""The linear field-merging pass (``web.field_merging``) never decides otherwise than
graphql-core's ``OverlappingFieldsCanBeMergedRule``: a document it calls mergeable, the rule
accepts; one it refuses, the rule refuses, with the same messages. Hypothesis writes the
documents over a schema with the cases the rule distinguishes (interfaces, unions, object
types whose same-named fields return different types, arguments, lists, fragments)."""

from __future__ import annotations

import pytest
from graphql import (
    GraphQLSyntaxError,
    build_schema,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import OverlappingFieldsCanBeMergedRule
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from web.document_cache import count_selections, validate_document
from web.field_merging import Merging, field_merging
from web.validation_worker import portal_graphql_schema

SCHEMA = build_schema(
    """
    interface Node { id: ID! name(x: Int, y: String): String }
    enum DogKind { A B }
    enum CatKind { A B }
    input In { a: Int, b: [Int] }
    type Dog implements Node {
      id: ID! name(x: Int, y: String): String size: Int kind: DogKind
      friend(x: Int): Dog friends: [Dog] owner: Human
    }
    type Cat implements Node {
      id: ID! name(x: Int, y: String): String size: String kind: CatKind
      friend(x: Int): Cat friends: [Cat!]
    }
    type Human implements Node { id: ID! name(x: Int, y: String): String pets: [Pet] }
    union Pet = Dog | Cat
    type Query {
      node(id: ID): Node dog(x: Int, o: In): Dog cat: Cat pet: Pet human: Human
      name(x: Int, y: String): String dogs(x: Int): [Dog]
    }
    """
)

FIELDS = ["id", "name", "size", "kind", "friend", "friends", "owner", "pets", "dog"]
ALIASES = ["a", "id", "name", "friend"]
TYPES = ["Dog", "Cat", "Human", "Node", "Pet", "Query"]
FRAGMENTS = ["F0", "F1", "F2"]
VALUES = ["1", "2", '"s"', "$v", "$w", "{a: 1, b: [1]}", "{b: [1], a: 1}", "{a: 2}", "null"]


@st.composite
def arguments(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.sampled_from(["x", "x", "y", "o"]), max_size=2))
    if not names:
        return ""
    pairs = [f"{name}: {draw(st.sampled_from(VALUES))}" for name in names]
    return "(" + ", ".join(pairs) + ")"


def selections(depth: int) -> st.SearchStrategy[str]:
    field = st.builds(
        lambda alias, name, args, directive, sub: f"{alias}{name}{args}{directive}{sub}",
        st.sampled_from(["", *[f"{a}: " for a in ALIASES]]),
        st.sampled_from(FIELDS),
        arguments(),
        st.sampled_from(["", "", "", "", "", "", " @include(if: true)", " @stream"]),
        st.just("") if depth == 0 else st.one_of(st.just(""), selection_set(depth - 1)),
    )
    inline = st.builds(
        lambda condition, body: f"... {condition}{body}",
        st.sampled_from(["", *[f"on {t} " for t in TYPES]]),
        selection_set(depth - 1) if depth > 0 else st.just("{ id }"),
    )
    spread = st.sampled_from([f"...{name}" for name in [*FRAGMENTS, *FRAGMENTS, "Unknown"]])
    return st.one_of(field, field, field, inline, spread)


def selection_set(depth: int) -> st.SearchStrategy[str]:
    return st.lists(selections(depth), min_size=1, max_size=4).map(
        lambda parts: "{ " + " ".join(parts) + " }"
    )


OPERATION = selection_set(2)
FRAGMENT_BODY = selection_set(1)


@st.composite
def documents(draw: st.DrawFn) -> str:
    operation = "query($v: Int, $w: Int) " + draw(OPERATION)
    fragments = [
        f"fragment {name} on {draw(st.sampled_from(TYPES))} {draw(FRAGMENT_BODY)}"
        for name in FRAGMENTS
    ]
    return " ".join([operation, *fragments])


def rule_messages(document_text: str) -> list[str]:
    errors = validate(SCHEMA, parse(document_text), [OverlappingFieldsCanBeMergedRule], 10_000)
    return [e.message for e in errors]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
# An alias naming another field of the set: once kept as a repeat of that field.
@example("{ id } fragment F2 on Dog { id name id: name }")
# Same-named fields of different object types: mergeable unless their types conflict.
@example("{ pet { ... on Dog { size friend { id } } ... on Cat { size friend { name } } } }")
@example("{ pet { ... on Dog { friends { id } } ... on Cat { friends { id } } } }")
@example("{ pet { ... on Dog { friend { s: size } } ... on Cat { friend { s: size } } } }")
def test_the_pass_decides_only_what_graphql_cores_rule_decides(text: str) -> None:
    try:
        document = parse(text)
    except GraphQLSyntaxError:
        assume(False)
        raise
    verdict = field_merging(SCHEMA, document, count_selections(document))
    expected = rule_messages(text)
    if verdict.merging is Merging.MERGEABLE:
        assert expected == []
    elif verdict.merging is Merging.CONFLICTING:
        assert expected, "refused a document the rule accepts"
        found = [e.message for e in verdict.errors(None)]
        assert set(found) <= set(expected)


def test_the_pass_decides_the_documents_that_matter() -> None:
    """Both verdicts are reached (the property above would hold for a pass that always
    says "unsure"), on documents like the ones clients and attackers send."""
    portal = portal_graphql_schema()
    conflicting = "{" + " ".join(f'order(id: "{i}") {{ id }}' for i in range(50)) + "}"
    chain = " ".join(f"fragment F{i} on Order {{ id ...F{i + 1} ...F{i + 1} }}" for i in range(32))
    fragments = f'{{ order(id: "1") {{ ...F0 }} }} {chain} fragment F32 on Order {{ id }}'
    client = (
        "query($t: String!) { shipmentByTrackingNumber(trackingNumber: $t) "
        "{ id status trackingNumber carrier { name } } }"
    )
    verdicts = {
        text: field_merging(portal, parse(text), count_selections(parse(text))).merging
        for text in (conflicting, fragments, client)
    }
    assert verdicts == {
        conflicting: Merging.CONFLICTING,
        fragments: Merging.MERGEABLE,
        client: Merging.MERGEABLE,
    }


def test_a_refused_document_reads_as_graphql_core_refuses_it() -> None:
    """Same messages and locations as the rule's first conflicts, capped the same way."""
    text = "{\n" + "\n".join(f'  order(id: "{i}") {{ id }}' for i in range(20)) + "\n}"
    portal = portal_graphql_schema()
    found = validate_document(portal, parse(text), specified_rules, 5)
    expected = validate(portal, parse(text), specified_rules, 5)
    assert [e.formatted for e in found] == [e.formatted for e in expected]
    assert len(found) == 6 and found[0].locations[1].line == 3  # type: ignore[index]


@pytest.mark.parametrize("max_errors", [1, 18])
def test_the_cap_reads_as_graphql_cores_at_its_edges(max_errors: int) -> None:
    """The first conflicts and then the "too many" error, as graphql-core's ``validate``
    caps, from one error up to one fewer than the pass's 19 conflicts (the pass builds
    only the errors it keeps)."""
    text = "{\n" + "\n".join(f'  order(id: "{i}") {{ id }}' for i in range(20)) + "\n}"
    portal = portal_graphql_schema()
    found = validate_document(portal, parse(text), specified_rules, max_errors)
    expected = validate(portal, parse(text), specified_rules, max_errors)
    assert [e.formatted for e in found] == [e.formatted for e in expected]
    assert len(found) == max_errors + 1


def test_a_document_of_conflicting_fields_is_refused_in_linear_work() -> None:
    """The reason the pass exists: 50 fields sharing a response name cost graphql-core's
    rule 1,225 comparisons; the pass compares each with the first (49) and stays within
    its budget, linear in the selections (``UNSURE`` would mean it gave up)."""
    portal = portal_graphql_schema()
    text = "{" + " ".join(f'order(id: "{i}") {{ id }}' for i in range(50)) + "}"
    document = parse(text)
    verdict = field_merging(portal, document, count_selections(document))
    assert verdict.merging is Merging.CONFLICTING
    assert len(verdict.conflicts) == 49
    assert [e.message for e in verdict.errors(10)][-1].startswith("Too many validation errors")
