"""graphql-core's validation, visiting no name node no rule reads and hashing no node.

graphql-core validates by one visit of the whole document with every rule at once. Two costs
of that visit do not depend on any rule, and for the worst fragments document the limits
allow (``bench/abuse.py``: 47 fragments, about 550 nodes) they were a fifth of validating it:

* *Name nodes*: 199 of its 552 nodes are the names of fields, fragments, spreads and types.
  The visit enters and leaves each with the type-tracking visitor and every rule, and no
  rule graphql-core or Strawberry ships has a method for a name (each reads
  ``node.name.value`` from the node it is about). The visit here does not descend into a
  name-holding attribute (``name``, ``alias``, ...) when no visitor has a method for names:
  every other node is visited in the same order, with the same path and ancestors.
* *Hashing nodes*: the validation context remembers fragment spreads and variable usages in
  dicts keyed by node, and a node is a frozen dataclass whose hash is recomputed, over its
  whole subtree, on every look-up (440 location hashes per document of that size). The
  context here keeps them by identity (graphql-core's own ``RefMap``): each node of one
  document is a distinct object, and two equal nodes (a document built without locations)
  would have the same answers anyway.

* *Visitors without a method*: for each node, graphql-core's ``ParallelVisitor`` runs through
  every rule (about 30), most of which have no method for that kind of node. The parallel
  visitor here keeps, per kind, only the rules with an ``enter`` (to enter) and those with
  an ``enter`` or a ``leave`` (to leave: a rule can only be skipping a node it entered), in
  graphql-core's order: 0.83-0.90 of the time of validating that fragments document.

Everything else is graphql-core 3.3's ``validate``: the fragment-nesting guard, the error cap
and its message, the recursion guard. The errors are graphql-core's, in its order, at its
locations (``tests/unit/test_validation_visit.py`` holds them equal by hypothesis).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Final

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    Node,
    ParallelVisitor,
    TypeInfo,
    TypeInfoVisitor,
    ValidationContext,
    Visitor,
    assert_valid_schema,
    visit,
)
from graphql.language.visitor import BREAK, SKIP, EnterLeaveVisitor
from graphql.pyutils import RefMap
from graphql.validation.validate import (
    FragmentNestingVisitor,
    ValidationAbortedError,
    query_document_keys_to_validate,
)

from web.rule_methods import Rule

#: graphql-core's message when the error cap is reached.
ABORTED: Final = "Too many validation errors, error limit reached. Validation aborted."


def _node_classes() -> list[type[Node]]:
    found, pending = [], [Node]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _name_attributes() -> dict[str, frozenset[str]]:
    """Per node kind, its attributes that hold name nodes only (a name, an optional name,
    a tuple of names), read from graphql-core's node classes."""
    names: dict[str, set[str]] = {}
    for cls in _node_classes():
        for field in dataclasses.fields(cls):
            written = str(field.type)
            if written in {"NameNode", "NameNode | None", "tuple[NameNode, ...]"}:
                names.setdefault(cls.kind, set()).add(field.name)
    return {kind: frozenset(attributes) for kind, attributes in names.items()}


def _keys_without_names() -> dict[str, tuple[str, ...]]:
    names = _name_attributes()
    return {
        kind: tuple(key for key in keys if key not in names.get(kind, ()))
        for kind, keys in query_document_keys_to_validate.items()
    }


#: What validation visits below each kind of node when no visitor reads names.
KEYS_WITHOUT_NAMES: Final = _keys_without_names()


class _ByIdentity(RefMap[Any, Any]):
    """graphql-core's identity-keyed map, with a ``get`` that asks its dict once (the
    context calls ``get`` first for every node, and most are not there yet)."""

    def get(self, key: Any, default: Any = None) -> Any:
        found = self._map.get(id(key))
        return default if found is None else found[1]


#: The context's caches keyed by node, if this graphql-core has them.
_NODE_KEYED_CACHES: Final = ("_fragment_spreads", "_variable_usages", "_recursive_variable_usages")


def _keyed_by_identity(context: ValidationContext) -> None:
    for attribute in _NODE_KEYED_CACHES:
        cache = getattr(context, attribute, None)
        if isinstance(cache, dict) and not cache:
            setattr(context, attribute, _ByIdentity())


#: A kind of node no visitor has a method for.
_NEITHER: Final = EnterLeaveVisitor(None, None)

#: A rule's visit method: graphql-core's rules may also answer True or False (BREAK, SKIP).
_Method = Callable[..., Any]


class _ParallelVisitor(ParallelVisitor):
    """graphql-core's ``ParallelVisitor``, calling per kind of node only the visitors with a
    method for it (the same calls, in the same order, with the same skipping)."""

    def get_enter_leave_for_kind(self, kind: str) -> EnterLeaveVisitor:
        found = self.enter_leave_map.get(kind)
        if found is None:
            enters: list[tuple[int, _Method]] = []
            leaves: list[tuple[int, _Method | None]] = []
            for i, visitor in enumerate(self.visitors):
                enter, leave = visitor.get_enter_leave_for_kind(kind)
                if enter:
                    enters.append((i, enter))
                if enter or leave:
                    leaves.append((i, leave))
            found = self._merged(tuple(enters), tuple(leaves)) if leaves else _NEITHER
            self.enter_leave_map[kind] = found
        return found

    def _merged(
        self,
        enter_pairs: tuple[tuple[int, _Method], ...],
        leave_pairs: tuple[tuple[int, _Method | None], ...],
    ) -> EnterLeaveVisitor:
        skipping = self.skipping

        def enter(node: Node, *args: Any) -> Any:
            args = (node, *args)
            for i, fn in enter_pairs:
                if not skipping[i]:
                    result = fn(*args)
                    if result is None:
                        continue
                    if result is SKIP or result is False:
                        skipping[i] = node
                    elif result is BREAK or result is True:
                        skipping[i] = BREAK
                    else:
                        return result
            return None

        def leave(node: Node, *args: Any) -> Any:
            args = (node, *args)
            for i, fn in leave_pairs:
                if not skipping[i]:
                    if fn:
                        result = fn(*args)
                        if result is None:
                            continue
                        if result is BREAK or result is True:
                            skipping[i] = BREAK
                        elif result is not SKIP and result is not False:
                            return result
                elif skipping[i] is node:
                    skipping[i] = None
            return None

        return EnterLeaveVisitor(enter, leave)


def _reads_names(type_info: TypeInfo, visitors: Sequence[Visitor]) -> bool:
    if getattr(type_info, "enter_name", None) or getattr(type_info, "leave_name", None):
        return True
    for visitor in visitors:
        methods = visitor.get_enter_leave_for_kind("name")
        if methods.enter or methods.leave:
            return True
    return False


def validate_visiting_less(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: Sequence[Rule],
    max_errors: int | None = None,
) -> list[GraphQLError]:
    """graphql-core's ``validate(schema, document, rules, max_errors)``, its visit skipping
    name nodes no visitor reads, the context's caches keyed by identity. ``rules`` are rule
    classes or callables making a rule of the context (``web.rule_methods``)."""
    assert_valid_schema(schema)
    most = 100 if max_errors is None else max_errors
    errors: list[GraphQLError] = []
    type_info = TypeInfo(schema)

    def on_error(error: GraphQLError) -> None:
        if len(errors) >= most:
            raise ValidationAbortedError(ABORTED)  # a new one each time, as graphql-core
        errors.append(error)

    context = ValidationContext(schema, document, type_info, on_error)
    _keyed_by_identity(context)
    visitors: list[Visitor] = [rule(context) for rule in rules]
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    if fragments:
        visitors.insert(0, FragmentNestingVisitor(fragments))
    keys = query_document_keys_to_validate
    if not _reads_names(type_info, visitors):
        keys = KEYS_WITHOUT_NAMES
    try:
        visit(document, TypeInfoVisitor(type_info, _ParallelVisitor(visitors)), keys)
    except ValidationAbortedError as error:
        error.__context__ = None
        errors.append(error.with_traceback(None))
    except RecursionError:
        errors.append(ValidationAbortedError("Validation aborted."))
    return errors
