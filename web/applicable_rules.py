"""The validation rules that could report something about a document; the others are not run.

graphql-core visits every node of a document with every rule, whether or not the document
holds what the rule is about. For a document without directives or variables (most ad-hoc
queries typed in GraphiQL; a fragments document of ``bench/abuse.py`` without them), the six
directive rules took 1.5 ms of its 6.4 ms of validation (``UniqueDirectivesPerLocationRule``
looks at every node) and the five variable rules 0.7 ms, each finding nothing. An attacker
turns them back on with one ``@`` and one ``$``; the worst fragments document the bench sends
carries both, so its figures include every rule.

A rule is left out only when the document's *text* proves it has nothing to find:

* the directive rules each report on a directive only, and every directive starts with an
  ``@`` token: none of them runs on a text without the character ``@``;
* the variable rules each report on a variable definition or a variable usage, and both
  start with a ``$`` token: none of them runs on a text without ``$``.

The test is of characters, not tokens, so an ``@`` or a ``$`` inside a string or a comment
keeps the rules: it errs towards running one. A document without its source text (built in
code) keeps every rule. The errors are graphql-core's, in its order
(``tests/unit/test_applicable_rules.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from graphql import ASTValidationRule, DocumentNode
from graphql.validation import (
    DeferStreamDirectiveLabel,
    DeferStreamDirectiveOnRootField,
    DeferStreamDirectiveOnValidOperationsRule,
    KnownDirectivesRule,
    NoUndefinedVariablesRule,
    NoUnusedVariablesRule,
    StreamDirectiveOnListField,
    UniqueDirectivesPerLocationRule,
    UniqueVariableNamesRule,
    VariablesAreInputTypesRule,
    VariablesInAllowedPositionRule,
)

#: Rules that report on directives only.
DIRECTIVE_RULES: Final[frozenset[type[ASTValidationRule]]] = frozenset(
    {
        KnownDirectivesRule,
        UniqueDirectivesPerLocationRule,
        DeferStreamDirectiveLabel,
        DeferStreamDirectiveOnRootField,
        DeferStreamDirectiveOnValidOperationsRule,
        StreamDirectiveOnListField,
    }
)

#: Rules that report on variable definitions or usages only.
VARIABLE_RULES: Final[frozenset[type[ASTValidationRule]]] = frozenset(
    {
        UniqueVariableNamesRule,
        VariablesAreInputTypesRule,
        NoUndefinedVariablesRule,
        NoUnusedVariablesRule,
        VariablesInAllowedPositionRule,
    }
)


def applicable_rules(
    document: DocumentNode, rules: Sequence[type[ASTValidationRule]]
) -> tuple[type[ASTValidationRule], ...]:
    """``rules`` without those the text of ``document`` gives nothing to report, in order."""
    if document.loc is None:
        return tuple(rules)
    text = document.loc.source.body
    idle: frozenset[type[ASTValidationRule]] = frozenset()
    if "@" not in text:
        idle |= DIRECTIVE_RULES
    if "$" not in text:
        idle |= VARIABLE_RULES
    return tuple(rule for rule in rules if rule not in idle)
