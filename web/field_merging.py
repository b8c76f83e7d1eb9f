"""A linear first pass of the spec's "Field Selection Merging" rule, before graphql-core's.

graphql-core's ``OverlappingFieldsCanBeMergedRule`` compares fields that share a response
name pairwise, and a fragment with every fragment it reaches: a document of 50
``order(id: "…")`` fields costs it 1,225 comparisons, a chain of 33 fragments 528, and
either took the validation worker 20-35 ms per new document (``bench/abuse.py``). Most
documents settle the question far more cheaply, in one pass that groups the fields of each
selection set (fragments and inline fragments expanded) by response name and compares each
field with the first of its group:

* every group holds one field, or identical fields (same definition, name and arguments,
  no ``@stream``), and so do the merged sub-selections of each group: the rule cannot find
  a conflict, and validation runs without it (``MERGEABLE``);
* two fields of a group certainly conflict (same parent type, so never mutually exclusive,
  and different arguments, or, both written in the selection set itself, different field
  names): the document is invalid whatever else it holds, and is refused with these
  conflicts, worded as the rule words them, without running validation (``CONFLICTING``);
* anything else (fields on different parent types, unknown or cyclic fragments, fragment
  arguments, a group whose sub-selections differ in shape, a pass that exceeds its work
  budget) is left to graphql-core's rule (``UNSURE``).

So the pass only ever decides what graphql-core's rule would decide (tested with
hypothesis against it, ``tests/unit/test_field_merging.py``); where it cannot be sure, the
rule runs as before.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from graphql.error import GraphQLError
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.type import (
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    get_named_type,
    is_composite_type,
    is_interface_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    is_output_type,
)
from graphql.utilities import type_from_ast
from graphql.validation.rules.overlapping_fields_can_be_merged import (
    get_value_structure,
    maybe_abbreviate,
)

#: Fields the pass may look at, per selection written in the document, before it gives up
#: and leaves the document to graphql-core's rule: a merge of sub-selections re-reads the
#: fields below it, which a contrived document could multiply.
WORK_PER_SELECTION: Final = 20

#: What graphql-core's ``validate`` adds when it stops at ``max_errors``.
TOO_MANY_ERRORS: Final = "Too many validation errors, error limit reached. Validation aborted."


class Merging(enum.Enum):
    MERGEABLE = "mergeable"
    CONFLICTING = "conflicting"
    UNSURE = "unsure"


@dataclass(frozen=True)
class Verdict:
    merging: Merging
    #: For ``CONFLICTING``: (response name, reason, first field, second field).
    conflicts: tuple[tuple[str, str, FieldNode, FieldNode], ...] = ()

    def errors(self, max_errors: int | None) -> list[GraphQLError]:
        """The conflicts as graphql-core's rule reports them, capped as ``validate`` caps.

        Only the errors kept are built: each one locates its two fields in the text, and
        the 50 distinct ``order(id:)`` fields of ``bench/abuse.py`` hold 49 conflicts, whose
        errors were a third of the validation worker's check of that document when all 49
        were built to keep 10."""
        kept = self.conflicts if max_errors is None else self.conflicts[:max_errors]
        errors = [
            GraphQLError(
                f"Fields '{maybe_abbreviate(response)}' conflict because {reason}."
                " Use different aliases on the fields to fetch both if this was intentional.",
                [first, second],
            )
            for response, reason, first, second in kept
        ]
        if len(kept) < len(self.conflicts):
            errors.append(GraphQLError(TOO_MANY_ERRORS))
        return errors


@dataclass(frozen=True)
class _Field:
    node: FieldNode
    parent: GraphQLNamedType | None
    definition: GraphQLField | None
    #: (name, arguments) as graphql-core compares them; None when the pass cannot compare
    #: them (repeated argument names, ``@stream``).
    key: tuple[str, tuple[tuple[str, str], ...]] | None
    #: Written in the selection set itself or its inline fragments, not through a spread:
    #: graphql-core then compares the pair in the order written.
    direct: bool


class _Unsure(Exception):
    """The pass cannot decide; graphql-core's rule will."""


@dataclass
class _Pass:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    budget: int
    conflicts: list[tuple[str, str, FieldNode, FieldNode]] = field(default_factory=list)
    unsure: bool = False
    #: Each fragment's fields, and the fragments being expanded (a cycle is left to the rule).
    expanded: dict[str, list[_Field]] = field(default_factory=dict)
    expanding: set[str] = field(default_factory=set)

    def spend(self, amount: int) -> None:
        self.budget -= amount
        if self.budget < 0:
            raise _Unsure

    # --- collecting a selection set's fields, as graphql-core's ``collect_fields`` ---

    def expand(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        out: list[_Field],
        direct: bool,
    ) -> list[_Field]:
        """The fields of ``selection_set`` with its inline fragments and spreads, in the
        order written, fields that cannot differ kept once (``_once``)."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                out.append(_field(selection, parent, direct))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = type_from_ast(self.schema, condition) if condition else parent
                self.expand(selection.selection_set, inner, out, direct)
            elif isinstance(selection, FragmentSpreadNode):
                out.extend(self.fragment_fields(selection))
        self.spend(len(selection_set.selections))
        return _once(out)

    def fragment_fields(self, node: FragmentSpreadNode) -> list[_Field]:
        """A fragment's fields (its own spreads expanded), collected once per document: a
        chain of fragments each spreading the next is then linear, not quadratic."""
        name = node.name.value
        fragment = self.fragments.get(name)
        if fragment is None or getattr(node, "arguments", None) or name in self.expanding:
            raise _Unsure  # unknown, cyclic, or with arguments (experimental syntax)
        found = self.expanded.get(name)
        if found is None:
            self.expanding.add(name)
            parent = type_from_ast(self.schema, fragment.type_condition)
            found = self.expand(fragment.selection_set, parent, [], direct=False)
            self.expanding.discard(name)
            self.expanded[name] = found
        return found

    # --- comparing --------------------------------------------------------------------

    def check_root(self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None) -> None:
        """One selection set as the rule visits it: conflicts found here are certain."""
        fields = self.expand(selection_set, parent, [], direct=True)
        for group in _groups(fields):
            first = group[0]
            certain = False
            for other in group[1:]:
                reason = _certain_conflict(first, other)
                if reason is not None:
                    self.conflicts.append((_response(first.node), reason, first.node, other.node))
                    certain = True
            if not certain and not _mergeable(group):
                self.unsure = True
            if not self.conflicts and not self.unsure:
                self.check_merged(group)

    def check_merged(self, group: Sequence[_Field]) -> None:
        """The sub-selections of mergeable fields, merged: the rule compares them across
        fields. One selection set alone is checked as a root of its own."""
        distinct = {
            (id(f.node.selection_set), id(f.definition)): f for f in group if f.node.selection_set
        }
        if len(distinct) < 2:
            return
        fields: list[_Field] = []
        for each in distinct.values():
            assert each.node.selection_set is not None
            self.expand(each.node.selection_set, _named(each.definition), fields, direct=False)
        for merged in _groups(fields):
            if not _mergeable(merged):
                raise _Unsure
            self.check_merged(merged)


def field_merging(schema: GraphQLSchema, document: DocumentNode, selections: int) -> Verdict:
    """What graphql-core's overlapping-fields rule would say of ``document``, if this pass
    can tell in about ``selections`` times ``WORK_PER_SELECTION`` steps."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    if any(f.variable_definitions for f in fragments.values()):
        return Verdict(Merging.UNSURE)  # fragment arguments (experimental syntax)
    work = _Pass(schema, fragments, budget=WORK_PER_SELECTION * max(selections, 1) + 100)
    try:
        for selection_set, parent in _roots(schema, document):
            work.check_root(selection_set, parent)
    except (_Unsure, RecursionError):
        if not work.conflicts:
            return Verdict(Merging.UNSURE)
    if work.conflicts:
        return Verdict(Merging.CONFLICTING, tuple(work.conflicts))
    return Verdict(Merging.UNSURE if work.unsure else Merging.MERGEABLE)


def _roots(
    schema: GraphQLSchema, document: DocumentNode
) -> Iterator[tuple[SelectionSetNode, GraphQLNamedType | None]]:
    """Every selection set the rule visits (all but inline fragments', which their enclosing
    set collects), with the parent type graphql-core's ``TypeInfo`` gives it there."""
    pending: list[tuple[SelectionSetNode, GraphQLNamedType | None]] = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            pending.append((definition.selection_set, root if is_object_type(root) else None))
        elif isinstance(definition, FragmentDefinitionNode):
            condition = type_from_ast(schema, definition.type_condition)
            typed = condition if is_output_type(condition) else None
            pending.append((definition.selection_set, _composite(typed)))
    while pending:
        selection_set, parent = pending.pop()
        yield selection_set, parent
        _nested_roots(schema, selection_set, parent, pending)


def _nested_roots(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode,
    parent: GraphQLNamedType | None,
    pending: list[tuple[SelectionSetNode, GraphQLNamedType | None]],
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.selection_set is not None:
                definition = (
                    schema.get_field(parent, selection.name.value)  # type: ignore[arg-type]
                    if parent is not None
                    else None
                )
                returned = definition.type if definition is not None else None
                typed = returned if is_output_type(returned) else None
                pending.append((selection.selection_set, _composite(_named_of(typed))))
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            inner = type_from_ast(schema, condition) if condition else parent
            typed = inner if is_output_type(inner) else None
            # TypeInfo: the inline fragment's own selection set has this parent type.
            _nested_roots(schema, selection.selection_set, _composite(typed), pending)


def _named_of(type_: Any) -> GraphQLNamedType | None:
    return get_named_type(type_) if type_ is not None else None


def _composite(type_: Any) -> GraphQLNamedType | None:
    named = _named_of(type_)
    return named if is_composite_type(named) else None


def _named(definition: GraphQLField | None) -> GraphQLNamedType | None:
    return get_named_type(definition.type) if definition is not None else None


def _field(node: FieldNode, parent: GraphQLNamedType | None, direct: bool) -> _Field:
    name = node.name.value
    definition = (
        parent.fields.get(name) if is_object_type(parent) or is_interface_type(parent) else None
    )
    return _Field(node, parent, definition, _key(node), direct)


def _key(node: FieldNode) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    if any(d.name.value == "stream" for d in node.directives or ()):
        return None
    arguments = node.arguments or ()
    names = {a.name.value for a in arguments}
    if len(names) != len(arguments):
        return None  # graphql-core compares repeated names in its own way
    compared = sorted(
        (
            a.name.value,
            json.dumps(get_value_structure(a.value, []), separators=(",", ":"), ensure_ascii=False),
        )
        for a in arguments
    )
    return node.name.value, tuple(compared)


def _once(fields: list[_Field]) -> list[_Field]:
    """``fields`` without repeats of a field that cannot differ from an earlier one (same
    response name, parent type, definition, name, arguments and sub-selection node):
    comparing those is comparing a field with itself."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for each in fields:
        same = (
            (
                _response(each.node),
                each.key,
                id(each.parent),
                id(each.definition),
                id(each.node.selection_set),
            )
            if each.key is not None
            else (id(each.node),)
        )
        if same not in seen:
            seen.add(same)
            kept.append(each)
    return kept


def _response(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _groups(fields: list[_Field]) -> Iterator[list[_Field]]:
    grouped: dict[str, list[_Field]] = {}
    for each in fields:
        grouped.setdefault(_response(each.node), []).append(each)
    return (group for group in grouped.values() if len(group) > 1)


def _mergeable(group: Sequence[_Field]) -> bool:
    """Whether the rule's own checks of the group's pairs (names, arguments, ``@stream``,
    return types; not their sub-selections) certainly pass: one name with the same arguments
    everywhere, and return types that do not conflict. Whether the parents are mutually
    exclusive then does not matter, so neither does the parent type."""
    key = group[0].key
    if key is None or any(each.key != key for each in group):
        return False
    returned = [each.definition.type for each in group if each.definition is not None]
    return not any(_types_conflict(returned[0], other) for other in returned[1:])


def _types_conflict(first: Any, other: Any) -> bool:
    """graphql-core's ``do_types_conflict``: lists and non-nulls must match, leaf types
    must be the same type; composite types are compared through their fields. (Not
    conflicting is an equivalence, so comparing each with the first is enough.)"""
    if first is other:
        return False
    if is_list_type(first) or is_list_type(other):
        return not (is_list_type(first) and is_list_type(other)) or _types_conflict(
            first.of_type, other.of_type
        )
    if is_non_null_type(first) or is_non_null_type(other):
        return not (is_non_null_type(first) and is_non_null_type(other)) or _types_conflict(
            first.of_type, other.of_type
        )
    if is_leaf_type(first) or is_leaf_type(other):
        return first is not other
    return False


def _certain_conflict(first: _Field, other: _Field) -> str | None:
    """The rule's reason for a pair it must refuse, or None when this pass cannot be sure:
    with one parent type the two fields are never mutually exclusive, so they must name the
    same field with the same arguments (the rule's first two checks, in its order)."""
    if first.parent is not other.parent or first.key is None or other.key is None:
        return None
    first_name, other_name = first.key[0], other.key[0]
    if first_name != other_name:
        if first.direct and other.direct:  # the rule names them in the order written
            return (
                f"'{maybe_abbreviate(first_name)}' and '{maybe_abbreviate(other_name)}'"
                " are different fields"
            )
        return None
    if first.key[1] != other.key[1]:
        return "they have differing arguments"
    return None
