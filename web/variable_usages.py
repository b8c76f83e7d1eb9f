"""Variable usages of definitions that hold no variable, known without walking them.

Three of graphql-core's rules (``NoUndefinedVariablesRule``, ``NoUnusedVariablesRule``,
``VariablesInAllowedPositionRule``) ask the validation context for the variable usages of
each operation and of every fragment it reaches. The context finds those of a definition by
visiting it again, with a type-tracking visitor of its own: a second walk of every fragment,
about a quarter of the validation worker's time for a document of 33 fragments
(``bench/abuse.py``, "fragments"), whether or not the document uses a variable at all.

Every variable in a GraphQL text starts with ``$``, and ``$`` starts nothing else outside
strings and comments. A definition whose text holds no ``$`` therefore has no variable
usage, and its answer is known without a walk: the empty list the walk would return.
``KnownVariableFreeDefinitions``, run as the first rule, puts that answer in the context's
cache before the visit starts; a definition whose text holds a ``$`` (a variable, or one in
a string) is left to the context, which walks it as before. So the rules' work and answers
are unchanged where a variable may be, and nothing is walked twice where none can be
(``tests/unit/test_variable_usages.py`` holds validation with and without it equal).
"""

from __future__ import annotations

from graphql import (
    ASTValidationRule,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    ValidationContext,
)


class KnownVariableFreeDefinitions(ASTValidationRule):
    """Not a rule of the spec: it reports nothing, and only fills the context's cache of
    variable usages (``get_variable_usages``) for the definitions that hold no ``$``."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        usages = getattr(context, "_variable_usages", None)
        if not isinstance(usages, dict):  # another graphql-core: its context walks them
            return
        for definition in context.document.definitions:
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                if _holds_no_variable(definition):
                    usages[definition] = []


def _holds_no_variable(definition: OperationDefinitionNode | FragmentDefinitionNode) -> bool:
    location = definition.loc
    if location is None:  # parsed without locations: no text to read
        return False
    return "$" not in location.source.body[location.start : location.end]
