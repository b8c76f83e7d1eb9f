"""Plain leaf fields answered without graphql-core's per-field machinery give exactly the
response graphql-core gives: the same data, the same errors at the same paths, the same null
propagation; and the resolver is skipped only when its value is at hand."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any, ClassVar

import pytest
import strawberry
from graphql import ExecutionResult, GraphQLResolveInfo, execute, parse
from strawberry.extensions import SchemaExtension

from graph import leaf_fields
from graph.leaf_fields import NOT_AT_HAND, LeafExecutionContext, at_hand
from graph.schema import build_schema, resolved_type_names
from graph.subscriptions import SubscriptionExecutionContext

CALLS: list[str] = []


@strawberry.enum(description="A colour.")
class Colour(Enum):
    RED = "RED"


def _stored(source: LeafItem, key: str) -> Any:
    value = source.stored.get(key, NOT_AT_HAND)
    if isinstance(value, Exception):
        raise value
    return value


def _resolver(key: str) -> Any:
    @at_hand(lambda source: _stored(source, key))
    def resolve(self: LeafItem, info: strawberry.Info) -> Any:
        CALLS.append(key)
        value = self.stored.get(key, self.loaded.get(key))
        if isinstance(value, Exception):
            raise value
        return value

    return resolve


@strawberry.type(description="Something with plain leaves.")
class LeafItem:
    stored: strawberry.Private[dict[str, Any]]
    loaded: strawberry.Private[dict[str, Any]]
    plain: str | None = strawberry.field(description="An attribute.")
    required: str = strawberry.field(description="A non-null attribute.")
    text: str | None = strawberry.field(resolver=_resolver("text"), description="Read.")
    must: str = strawberry.field(resolver=_resolver("must"), description="Read, non-null.")
    colour: Colour | None = strawberry.field(resolver=_resolver("colour"), description="Enum.")
    number: int | None = strawberry.field(resolver=_resolver("number"), description="Int.")


@strawberry.type(description="The root.")
class _Query:
    items: list[LeafItem | None] = strawberry.field(description="The items.")


QUERY = "{ items { plain required text must colour number } }"

CASES: dict[str, dict[str, Any]] = {
    "all at hand": {
        "plain": "p",
        "required": "r",
        "stored": {"text": "t", "must": "m", "colour": None, "number": 3},
    },
    "loaded": {"plain": None, "required": "r", "stored": {}, "loaded": {"text": "l", "must": "m"}},
    "null for a non-null attribute": {"plain": "p", "required": None, "stored": {"must": "m"}},
    "null for a non-null field": {"plain": "p", "required": "r", "stored": {"must": None}},
    "a reader that raises": {
        "plain": "p",
        "required": "r",
        "stored": {"text": ValueError("broken"), "must": "m"},
    },
    "a value the type cannot coerce": {
        "plain": "p",
        "required": "r",
        "stored": {"must": "m", "colour": "BLUE", "number": "twelve"},
    },
    "an enum member": {
        "plain": "p",
        "required": "r",
        "stored": {"must": "m", "colour": Colour.RED},
    },
}


def _item(case: dict[str, Any]) -> LeafItem:
    return LeafItem(
        stored=case["stored"],
        loaded=case.get("loaded", {}),
        plain=case["plain"],
        required=case["required"],
    )


def _run(context_class: type[Any], case: dict[str, Any]) -> ExecutionResult:
    schema = strawberry.Schema(query=_Query, execution_context_class=context_class)
    leaf_fields.install(schema._schema, ["LeafItem"])
    item = _item(case)
    root = _Query(items=[item, item])
    result = execute(schema._schema, parse(QUERY), root, executor_class=context_class)
    assert isinstance(result, ExecutionResult)
    return result


@pytest.mark.parametrize("name", list(CASES))
def test_the_response_is_graphql_cores(name: str) -> None:
    expected = _run(SubscriptionExecutionContext, CASES[name])
    got = _run(LeafExecutionContext, CASES[name])
    assert got.data == expected.data
    assert [e.formatted for e in got.errors or []] == [e.formatted for e in expected.errors or []]


def test_a_value_at_hand_skips_the_resolver_and_one_not_at_hand_calls_it() -> None:
    CALLS.clear()
    _run(LeafExecutionContext, CASES["all at hand"])
    assert CALLS == []
    _run(LeafExecutionContext, CASES["loaded"])
    assert sorted(set(CALLS)) == ["colour", "must", "number", "text"]


def test_the_entities_plain_fields_are_answered_at_hand() -> None:
    schema = build_schema()
    marked = set(leaf_fields.install(schema._schema, resolved_type_names(schema._schema)))
    assert {"Order.orderId", "Order.status", "Order.shipToName", "Shipment.eta"} <= marked
    # Fields that need the request (today's date, the caller's roles) keep their resolver.
    assert not {"Invoice.status", "Invoice.total"} & marked


class _Resolving(SchemaExtension):
    """An extension with a ``resolve`` hook: it must see every field, leaves included."""

    seen: ClassVar[list[str]] = []

    def resolve(
        self, _next: Any, root: Any, info: GraphQLResolveInfo[Any], *args: Any, **kwargs: Any
    ) -> Any:
        self.seen.append(info.field_name)
        return _next(root, info, *args, **kwargs)


def _through_strawberry(
    extensions: list[Any],
    case: dict[str, Any],
    context_class: type[Any] = LeafExecutionContext,
) -> ExecutionResult:
    """The case executed as the API executes it: ``strawberry.Schema.execute`` (which hands
    graphql-core a middleware manager on every request, empty without ``resolve`` hooks)."""
    schema = strawberry.Schema(
        query=_Query, execution_context_class=context_class, extensions=extensions
    )
    leaf_fields.install(schema._schema, ["LeafItem"])
    result = asyncio.run(schema.execute(QUERY, root_value=_Query(items=[_item(case)])))
    return ExecutionResult(result.data, result.errors)


@pytest.mark.parametrize("name", list(CASES))
def test_through_strawberry_the_response_is_graphql_cores(name: str) -> None:
    expected = _through_strawberry([], CASES[name], SubscriptionExecutionContext)
    got = _through_strawberry([], CASES[name])
    assert got.data == expected.data
    assert [e.formatted for e in got.errors or []] == [e.formatted for e in expected.errors or []]


def test_through_strawberry_a_value_at_hand_skips_the_resolver() -> None:
    CALLS.clear()
    result = _through_strawberry([], CASES["all at hand"])
    assert result.data == {
        "items": [
            {"plain": "p", "required": "r", "text": "t", "must": "m", "colour": None, "number": 3}
        ]
    }
    assert CALLS == []


def test_an_extension_resolving_fields_sees_every_leaf() -> None:
    CALLS.clear()
    _Resolving.seen.clear()
    result = _through_strawberry([_Resolving], CASES["all at hand"])
    assert result.errors is None
    assert {"plain", "required", "text", "must", "colour", "number"} <= set(_Resolving.seen)
    assert sorted(set(CALLS)) == ["colour", "must", "number", "text"]
