"""Plain fields answered without graphql-core's per-field machinery (leaves, objects and lists
of objects) give exactly the response graphql-core gives: the same data, the same errors at
the same paths in the same order, the same null propagation, synchronous or not; and the
resolver is skipped only when its value is at hand."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from enum import Enum
from typing import Any, ClassVar

import pytest
import strawberry
from graphql import ExecutionResult, GraphQLResolveInfo, execute, parse
from strawberry.extensions import SchemaExtension

from graph import leaf_fields
from graph.leaf_fields import LeafExecutionContext
from graph.plain_readers import NOT_AT_HAND, at_hand, at_hand_in_request
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


def _assert_same_response(got: ExecutionResult, expected: ExecutionResult) -> None:
    """The same data, and the same errors (messages, paths, locations) in the same order."""
    assert got.data == expected.data
    assert [e.formatted for e in got.errors or []] == [e.formatted for e in expected.errors or []]


@pytest.mark.parametrize("name", list(CASES))
def test_the_response_is_graphql_cores(name: str) -> None:
    expected = _run(SubscriptionExecutionContext, CASES[name])
    _assert_same_response(_run(LeafExecutionContext, CASES[name]), expected)


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
    # Fields read with the request (today's date, the caller's roles) are plain as well.
    assert {"Invoice.status", "Invoice.total"} <= marked


# --- objects and lists of objects --------------------------------------------------------


@strawberry.interface(description="Something with a name (its types have an is_type_of).")
class Named:
    name: str = strawberry.field(description="The name, non-null.")


def _later(self: Child, info: strawberry.Info) -> Awaitable[str | None]:
    async def later() -> str | None:
        await asyncio.sleep(0)
        value = self.stored.get("later")
        if isinstance(value, Exception):
            raise value
        return value

    return later()


@strawberry.type(description="A child object, checked by is_type_of.")
class Child(Named):
    stored: strawberry.Private[dict[str, Any]]
    loaded: strawberry.Private[dict[str, Any]]
    label: str | None = strawberry.field(resolver=_resolver("label"), description="Read.")
    must: str = strawberry.field(resolver=_resolver("must"), description="Read, non-null.")
    later: str | None = strawberry.field(resolver=_later, description="Always awaited.")


@strawberry.type(description="An object without is_type_of.")
class Box:
    content: str = strawberry.field(description="Non-null.")
    maybe: str | None = strawberry.field(description="Nullable.")


def _boxes_at_hand(source: Parent) -> Any:
    return source.stored.get("boxes", NOT_AT_HAND)


@at_hand(_boxes_at_hand)
def _boxes(self: Parent, info: strawberry.Info) -> list[Box]:
    CALLS.append("boxes")
    boxes: list[Box] = self.stored.get("boxes", self.loaded.get("boxes", []))
    return boxes


@at_hand_in_request(lambda source, context: context.get(source.key, NOT_AT_HAND))
def _in_request(self: Parent, info: strawberry.Info) -> str | None:
    CALLS.append("in_request")
    return info.context.get(self.key, "resolved")  # type: ignore[no-any-return]


@strawberry.type(description="Something with object fields.")
class Parent:
    stored: strawberry.Private[dict[str, Any]]
    loaded: strawberry.Private[dict[str, Any]]
    key: strawberry.Private[str]
    child: Child | None = strawberry.field(description="Nullable object.")
    must_child: Child = strawberry.field(description="Non-null object.")
    children: list[Child] = strawberry.field(description="[Child!]!")
    maybe_children: list[Child | None] | None = strawberry.field(description="[Child]")
    box: Box | None = strawberry.field(description="Nullable object without is_type_of.")
    boxes: list[Box] = strawberry.field(resolver=_boxes, description="Read when at hand.")
    in_request: str | None = strawberry.field(resolver=_in_request, description="Context.")


@strawberry.type(description="The root.")
class _ObjectQuery:
    parents: list[Parent | None] = strawberry.field(description="The parents.")


OBJECT_QUERY = """{ parents {
  child { name label must } mustChild { name must } children { name must later }
  maybeChildren { name label } box { content maybe } boxes { content maybe } inRequest
} }"""


def _child(name: Any = "c", **stored: Any) -> Child:
    return Child(name=name, stored={"must": "m", "label": "l", **stored}, loaded={})


def _parent(**fields: Any) -> Parent:
    values: dict[str, Any] = {
        "child": _child(),
        "must_child": _child(),
        "children": [_child("a"), _child("b", later="l")],
        "maybe_children": [None, _child(label="x")],
        "box": Box(content="c", maybe=None),
        "stored": {"boxes": [Box(content="b", maybe="m")]},
        "loaded": {"boxes": [Box(content="loaded", maybe=None)]},
        "key": "k",
    }
    return Parent(**{**values, **fields})


class _Other:
    name = "not a Child"


OBJECT_CASES: dict[str, Any] = {
    "all at hand": lambda: _parent(),
    "nulls where allowed": lambda: _parent(child=None, box=None, maybe_children=None),
    "null for a non-null object": lambda: _parent(must_child=None),
    "a null item where items are non-null": lambda: _parent(children=[_child(), None]),
    "a non-null leaf null inside a nullable object": lambda: _parent(child=_child(name=None)),
    "a non-null leaf null inside a non-null object": lambda: _parent(must_child=_child(None)),
    "an error inside an item of a non-null list": lambda: _parent(
        children=[_child(), _child(must=ValueError("no"))]
    ),
    "an error inside a nullable item": lambda: _parent(
        maybe_children=[_child(must=None), _child(label=ValueError("bad label"))]
    ),
    "a leaf not at hand inside an item": lambda: _parent(
        children=[Child(name="n", stored={}, loaded={"must": "loaded"})]
    ),
    "an awaited field failing in an item": lambda: _parent(
        children=[_child(later=ValueError("late")), _child(later="ok")]
    ),
    "awaited fields failing in two items": lambda: _parent(
        children=[_child(later=ValueError("first")), _child(later=ValueError("second"))]
    ),
    "a value not a list": lambda: _parent(children="not a list"),
    "a tuple for a list": lambda: _parent(children=(_child(), _child())),
    "an object of another type": lambda: _parent(child=_Other()),
    "an item of another type": lambda: _parent(children=[_child(), _Other()]),
    "an exception as an item": lambda: _parent(maybe_children=[ValueError("item")]),
    "an exception as an object": lambda: _parent(box=ValueError("box")),
    "an object field not at hand": lambda: _parent(stored={}),
    "a list of objects not at hand, its item failing": lambda: _parent(
        stored={},
        loaded={"boxes": [Box(content=None, maybe=None)]},  # type: ignore[arg-type]
    ),
    "an object without is_type_of failing": lambda: _parent(box=Box(content=None, maybe="m")),  # type: ignore[arg-type]
    "a context value not at hand": lambda: _parent(key="absent"),
}


def _run_objects(context_class: type[Any], make: Any) -> ExecutionResult:
    """In an event loop, as the API runs it: graphql-core settles the awaitables a failed
    selection leaves behind in the background, which needs a running loop."""
    return asyncio.run(_executed_objects(context_class, make))


async def _executed_objects(context_class: type[Any], make: Any) -> ExecutionResult:
    schema = strawberry.Schema(query=_ObjectQuery, execution_context_class=context_class)
    leaf_fields.install(schema._schema, ["Parent", "Child", "Box"])
    root = _ObjectQuery(parents=[make(), None, make()])
    outcome = execute(
        schema._schema, parse(OBJECT_QUERY), root, {"k": "ctx"}, executor_class=context_class
    )
    if inspect.isawaitable(outcome):
        outcome = await outcome
    for _ in range(5):  # let what was settled in the background finish
        await asyncio.sleep(0)
    assert isinstance(outcome, ExecutionResult)
    return outcome


@pytest.mark.parametrize("name", list(OBJECT_CASES))
def test_objects_and_lists_of_objects_answer_as_graphql_core(name: str) -> None:
    expected = _run_objects(SubscriptionExecutionContext, OBJECT_CASES[name])
    _assert_same_response(_run_objects(LeafExecutionContext, OBJECT_CASES[name]), expected)


def test_objects_at_hand_are_completed_without_graphql_cores_execute_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    executed: list[str] = []
    execute_field = LeafExecutionContext.execute_field

    def counted(self: Any, parent_type: Any, source: Any, details: Any, *rest: Any) -> Any:
        executed.append(f"{parent_type.name}.{details[0].node.name.value}")
        return execute_field(self, parent_type, source, details, *rest)

    monkeypatch.setattr(LeafExecutionContext, "execute_field", counted)
    CALLS.clear()
    result = _run_objects(LeafExecutionContext, OBJECT_CASES["all at hand"])
    assert not result.errors
    # The root list (a field of the root type, not marked) and the awaited resolver only.
    assert sorted(set(executed)) == ["Child.later", "Objectquery.parents"]
    assert CALLS == []
    executed.clear()
    _run_objects(LeafExecutionContext, OBJECT_CASES["an object field not at hand"])
    assert "Parent.boxes" in executed and CALLS == ["boxes", "boxes"]


def test_the_pages_object_fields_are_answered_at_hand() -> None:
    schema = build_schema()
    marked = set(leaf_fields.install(schema._schema, resolved_type_names(schema._schema)))
    assert {
        "OrderConnection.edges",
        "OrderConnection.pageInfo",
        "OrderEdge.node",
        "Order.shipments",
        "Shipment.orders",
        "Shipment.carrier",
        "Shipment.milestones",
    } <= marked


# --- subfields collected once per document ----------------------------------------------


ONE_SCHEMA = strawberry.Schema(query=_ObjectQuery, execution_context_class=LeafExecutionContext)
leaf_fields.install(ONE_SCHEMA._schema, ["Parent", "Child", "Box"])


def _execute_document(document: Any, variables: dict[str, Any]) -> ExecutionResult:
    """``document`` executed by the one schema of this part, as the API's is."""

    async def run() -> ExecutionResult:
        schema = ONE_SCHEMA
        root = _ObjectQuery(parents=[_parent()])
        outcome = execute(
            schema._schema,
            document,
            root,
            {"k": "ctx"},
            variables,
            executor_class=LeafExecutionContext,
        )
        return await outcome if inspect.isawaitable(outcome) else outcome

    return asyncio.run(run())


DIRECTIVES = parse(
    """query($a: Boolean!) { parents {
      box { content maybe @include(if: $a) }
      mustChild { ...Named }
      children { ... on Child { label @skip(if: $a) } }
    } }
    fragment Named on Child { name must @include(if: $a) }"""
)


@pytest.mark.parametrize("first", [True, False])
def test_a_selection_with_directives_is_collected_again_for_each_request(first: bool) -> None:
    """The same parsed document, with variables that change what @skip and @include keep."""
    expected: dict[bool, dict[str, Any]] = {
        True: {"box": {"content": "c", "maybe": None}, "mustChild": {"name": "c", "must": "m"}},
        False: {"box": {"content": "c"}, "mustChild": {"name": "c"}},
    }
    labels = {True: [{}, {}], False: [{"label": "l"}, {"label": "l"}]}
    for a in (first, not first, first):
        result = _execute_document(DIRECTIVES, {"a": a})
        assert not result.errors
        assert result.data == {"parents": [{**expected[a], "children": labels[a]}]}


def test_a_plain_selection_of_a_known_document_is_collected_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import graphql.execution.executor as executor

    collected: list[str] = []
    collect = executor.collect_subfields  # type: ignore[attr-defined]

    def counted(schema: Any, fragments: Any, variables: Any, operation: Any, *rest: Any) -> Any:
        collected.append(rest[0].name)
        return collect(schema, fragments, variables, operation, *rest)

    monkeypatch.setattr(executor, "collect_subfields", counted)
    document = parse(OBJECT_QUERY)
    first = _execute_document(document, {})
    assert "Child" in collected and "Box" in collected
    collected.clear()
    again = _execute_document(document, {})
    assert again.data == first.data and not again.errors
    assert collected == [], "a known document's plain selections were collected again"
    _execute_document(parse(OBJECT_QUERY), {})  # the same text parsed again: new nodes
    assert "Child" in collected


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
