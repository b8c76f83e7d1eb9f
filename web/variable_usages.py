"""Variable usages of each definition, found by walking only the text that holds variables.

Three of graphql-core's rules (``NoUndefinedVariablesRule``, ``NoUnusedVariablesRule``,
``VariablesInAllowedPositionRule``) ask the validation context for the variable usages of
each operation and of every fragment it reaches. The context finds those of a definition by
visiting all of it again, with a type-tracking visitor of its own: a second walk of every
fragment, about a quarter of the validation worker's time for a document of 33 fragments
(``bench/abuse.py``, "fragments"), however few variables it uses.

Every variable in a GraphQL text starts with ``$``, and ``$`` starts nothing else outside
strings and comments. So a node whose text holds no ``$`` has no variable usage below it:
``KnownVariableUsages``, run as the first rule, fills the context's cache of usages before
the visit starts: the empty list for a definition without ``$``, and for the others what
graphql-core's own visitor collects, in one walk of the document with the same type
tracking that skips every node whose text holds no ``$`` (a definition without variables, a
fragment spread, a field without arguments). The rules then read the same usages, in the
same order, with the same types and defaults (``tests/unit/test_variable_usages.py`` holds
validation with and without this rule equal, and the usages equal to the context's).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    ValidationContext,
    visit,
)
from graphql.pyutils import RefMap
from graphql.validation.validation_context import VariableUsageVisitor

Definition = OperationDefinitionNode | FragmentDefinitionNode


class KnownVariableUsages(ASTValidationRule):
    """Not a rule of the spec: it reports nothing, and only fills the context's cache of
    variable usages (``get_variable_usages``) for every operation and fragment."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        cache = getattr(context, "_variable_usages", None)
        # a dict, or a map by identity (``web.validation_visit``); else another graphql-core,
        # whose context walks them itself
        if isinstance(cache, dict | RefMap):
            cache.update(variable_usages(context.schema, context.document).items())


def variable_usages(schema: GraphQLSchema, document: DocumentNode) -> RefMap[Node, list[Any]]:
    """What ``ValidationContext.get_variable_usages`` answers for each operation and
    fragment of ``document``, in one walk of the parts whose text holds a ``$``; nothing
    for a document parsed without locations (no text to read: the context walks it). Kept
    by identity: a node's hash is recomputed over its whole subtree at every look-up."""
    found: RefMap[Node, list[Any]] = RefMap()
    location = document.loc
    if location is None:
        return found
    body = location.source.body
    found.update(
        (definition, [])
        for definition in document.definitions
        if isinstance(definition, Definition)
    )
    if body.find("$", location.start, location.end) != -1:
        collector = _UsagesWhereTheTextHasVariables(TypeInfo(schema), body, found)
        visit(document, TypeInfoVisitor(collector.type_info, collector))
    return found


class _UsagesWhereTheTextHasVariables(VariableUsageVisitor):
    """graphql-core's usage collector over a whole document, its usages kept per definition,
    skipping the nodes whose text holds no ``$`` (and so no variable). Only the kinds it has
    no method of its own for reach ``enter``: every kind but variables and their
    definitions."""

    def __init__(self, type_info: TypeInfo, body: str, found: RefMap[Node, list[Any]]) -> None:
        super().__init__(type_info)
        self.type_info = type_info
        self._body = body
        self._found = found

    def enter(self, node: Node, *_args: Any) -> Any:
        location = node.loc
        if location is not None and self._body.find("$", location.start, location.end) == -1:
            return self.SKIP
        if isinstance(node, Definition):  # graphql-core collects each with a visitor of its own
            self.usages = self._found[node]
            self._append_usage = self.usages.append
            self._fragment_definition = node if isinstance(node, FragmentDefinitionNode) else None
        return None
