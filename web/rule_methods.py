"""Validation rules that find their visit methods once per rule, not once per document.

graphql-core visits a document with every rule at once (``ParallelVisitor``), and asks each
rule, for each kind of node it meets, for its ``enter``/``leave`` methods: four ``getattr``
calls, most of them for methods the rule does not have, and a tuple, per rule and kind. The
answers are remembered per rule *instance*, and validation makes new instances for every
document, so each new document paid for all of them again: about 560 look-ups for the
``_entities`` document of ``bench/abuse.py``, a third of the event loop's time validating
it (which every new small text costs the loop).

Which methods a rule has depends on its class alone (graphql-core's rules and Strawberry's
define them on the class, none on an instance). ``with_known_methods`` wraps a rule so that
each new instance answers from a table kept per class: the method names found once per
(class, kind), bound to the instance when first asked for. The methods, and so every
error, are those graphql-core would have found (``tests/unit/test_rule_methods.py``).

One rule is given fewer calls than graphql-core gives it: ``UniqueDirectivesPerLocationRule``
listens for entering *any* node and returns at once from a node without directives, which
in a document of fragments is two nodes in three (names, types, selection sets): 1.1 ms of
the 6.4 ms of validation of the worst fragments document the limits allow
(``bench/abuse.py``). Its ``enter`` is found only for the kinds of node that have directives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from graphql import ASTValidationRule, ValidationContext
from graphql.language.ast import QUERY_DOCUMENT_KEYS
from graphql.language.visitor import EnterLeaveVisitor
from graphql.validation import UniqueDirectivesPerLocationRule

#: (rule class, node kind) -> names of its enter and leave methods for that kind, or None.
_NAMES: dict[tuple[type[Any], str], tuple[str | None, str | None]] = {}
_NEITHER: Final = EnterLeaveVisitor(None, None)

#: Rules whose generic ``enter`` reads nothing but the node's ``directives``.
_DIRECTIVES_ONLY: Final[frozenset[type[Any]]] = frozenset({UniqueDirectivesPerLocationRule})
#: The kinds of node that have ``directives``.
_WITH_DIRECTIVES: Final = frozenset(
    kind for kind, keys in QUERY_DOCUMENT_KEYS.items() if "directives" in keys
)

Rule = Callable[[ValidationContext], ASTValidationRule]


def _method_name(cls: type[Any], action: str, kind: str) -> str | None:
    """graphql-core's look-up (``Visitor.get_enter_leave_for_kind``): the kind's own method,
    else the generic one, else none; none for a rule that reads only directives, on a kind
    of node without any."""
    for name in (f"{action}_{kind}", action):
        if getattr(cls, name, None):
            if name == action and cls in _DIRECTIVES_ONLY and kind not in _WITH_DIRECTIVES:
                return None
            return name
    return None


class _KnownMethods(dict[str, EnterLeaveVisitor]):
    """A rule instance's ``enter_leave_map``, filled from the per-class table as
    graphql-core asks (it reads ``map[kind]`` and fills the map itself on ``KeyError``)."""

    __slots__ = ("_visitor",)

    def __init__(self, visitor: ASTValidationRule) -> None:
        super().__init__()
        self._visitor = visitor

    def __missing__(self, kind: str) -> EnterLeaveVisitor:
        visitor = self._visitor
        cls = type(visitor)
        names = _NAMES.get((cls, kind))
        if names is None:
            names = _NAMES[cls, kind] = (
                _method_name(cls, "enter", kind),
                _method_name(cls, "leave", kind),
            )
        enter, leave = names
        if enter is None and leave is None:
            found = _NEITHER
        else:
            found = EnterLeaveVisitor(
                getattr(visitor, enter) if enter else None,
                getattr(visitor, leave) if leave else None,
            )
        self[kind] = found
        return found


_WRAPPED: dict[type[ASTValidationRule], Rule] = {}


def with_known_methods(rule: type[ASTValidationRule]) -> Rule:
    """``rule``, whose instances find their methods through the per-class table (one
    wrapper per rule class, so that wrapping costs nothing per document)."""
    wrapped = _WRAPPED.get(rule)
    if wrapped is None:

        def wrapped(context: ValidationContext) -> ASTValidationRule:
            visitor = rule(context)
            visitor.enter_leave_map = _KnownMethods(visitor)
            return visitor

        _WRAPPED[rule] = wrapped
    return wrapped
