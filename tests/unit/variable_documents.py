"""Documents for the validation tests of ``web.variable_usages`` and ``web.rule_methods``: a
small schema and a hypothesis strategy writing operations and fragments that use defined,
undefined and unused variables, in arguments, lists, input objects and directives, or none,
or a ``$`` inside a string. A helper module, not a test module: test modules import from here,
never from each other."""

from __future__ import annotations

from typing import Any

import graphql
from graphql import build_schema, parse
from hypothesis import assume
from hypothesis import strategies as st

SCHEMA = build_schema(
    """
    interface Node { id: ID! name(x: Int, y: String): String }
    input In { a: Int, b: [Int!] }
    type Dog implements Node {
      id: ID! name(x: Int, y: String): String friend(x: Int!): Dog friends(o: In): [Dog]
    }
    type Cat implements Node { id: ID! name(x: Int, y: String): String }
    union Pet = Dog | Cat
    type Query { node(id: ID): Node dog(x: Int, o: In): Dog pet: Pet name(y: String): String }
    """
)
FRAGMENTS = ["F0", "F1", "F2"]
#: Type conditions of fragments and inline fragments (``Human`` is unknown to the schema).
CONDITIONS = ["Dog", "Cat", "Human"]
#: Variables the operation may define, and values an argument may take: defined, undefined
#: and misplaced variables, literals, and a ``$`` inside a string (no variable).
DEFINITIONS = ["$v: Int", "$w: Int!", "$s: String", "$l: [Int!]", "$o: In"]
VALUES = ["1", '"s"', '"$v"', "$v", "$w", "$s", "$l", "$u", "{a: $v, b: $l}", "[1, $w]", "null"]
FIELDS = ["id", "name", "friend", "friends", "dog", "node", "pet"]
ARGUMENTS = ["x", "y", "o", "id"]


@st.composite
def arguments(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.sampled_from(ARGUMENTS), max_size=2, unique=True))
    if not names:
        return ""
    return "(" + ", ".join(f"{n}: {draw(st.sampled_from(VALUES))}" for n in names) + ")"


def selection_set(depth: int) -> st.SearchStrategy[str]:
    field = st.builds(
        lambda name, args, directive, sub: f"{name}{args}{directive}{sub}",
        st.sampled_from(FIELDS),
        arguments(),
        st.sampled_from(["", "", "", " @include(if: $v)", " @skip(if: true)"]),
        st.just("") if depth == 0 else st.one_of(st.just(""), selection_set(depth - 1)),
    )
    inline = st.builds(
        lambda condition, body: f"... on {condition} {body}",
        st.sampled_from(CONDITIONS),
        selection_set(depth - 1) if depth > 0 else st.just("{ id }"),
    )
    spread = st.sampled_from([f"...{name}" for name in [*FRAGMENTS, "Unknown"]])
    parts = st.lists(st.one_of(field, field, inline, spread), min_size=1, max_size=4)
    return parts.map(lambda selections: "{ " + " ".join(selections) + " }")


@st.composite
def documents(draw: st.DrawFn) -> str:
    operations = []
    for name in draw(st.lists(st.sampled_from(["A", "B", ""]), min_size=1, max_size=2)):
        defined = draw(st.lists(st.sampled_from(DEFINITIONS), max_size=3, unique=True))
        signature = f"({', '.join(defined)})" if defined else ""
        operations.append(f"query {name}{signature} {draw(selection_set(2))}")
    fragments = [
        f"fragment {name} on {draw(st.sampled_from(CONDITIONS))} {draw(selection_set(1))}"
        for name in draw(st.lists(st.sampled_from(FRAGMENTS), unique=True))
    ]
    return " ".join([*operations, *fragments])


def reported(text: str, rules: Any, max_errors: int) -> list[tuple[str, Any]]:
    """graphql-core's errors for ``text`` over ``SCHEMA`` with ``rules``: what validations
    that must agree are compared by (message and locations, in order)."""
    errors = graphql.validate(SCHEMA, parse(text), rules, max_errors)
    return [(e.message, e.locations) for e in errors]


def assume_parses(text: str) -> None:
    """Hypothesis writes some texts that do not parse: those are not examples."""
    try:
        parse(text)
    except graphql.GraphQLSyntaxError:
        assume(False)
