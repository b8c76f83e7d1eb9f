"""Parsed and spec-validated GraphQL documents, remembered by query text.

Portals and apps send the same few query texts again and again with different variables.
graphql-core parses each one and walks it with every validation rule, which was a third of
the API's CPU time per request (profiled on the tracking-number query). Both depend only on
the text, the schema and the rules, so each distinct text is parsed and validated once, in
a bounded LRU: unique texts (GraphiQL users, an attacker) evict old entries instead of
growing memory. Checks that depend on variables (``web.limits``) still run per request.

A text seen for the first time is the expensive case, and the one an attacker controls
(vary one character and the cache never hits). Its work is bounded before validation:

* the parser stops after ``max_tokens`` tokens (``MAX_QUERY_TOKENS``);
* a *screen* (``web.limits.screen_document``: selections, depth, aliases, all read from the
  AST in one linear walk) may refuse the document, and then it is not validated at all:
  validation is the costly step (graphql-core's overlapping-fields rule is quadratic in
  fields that share a response name: 850 of them took 2.6 s);
* what remains is validated, that rule settled first by a linear pass where it can be
  (``web.field_merging``: certain conflicts refused unvalidated, certainly mergeable fields
  validated without the rule).

All three run on the event loop for a text of at most ``INLINE_TOKENS`` tokens (counted by
``estimated_tokens`` before any parsing); a larger new text is checked entirely in a worker
*process* (``web.validation_worker``: a thread would hold the GIL, and the event loop with it),
through a lane bounded in total and per client, so that the event loop never parses or
validates a large text, and a stream of novel documents is refused (429) rather than queued
ahead of other clients' requests.

Persisted operations (``web.persisted``) are checked at start-up and *pinned*: they stay
outside the LRU, so unique texts never evict an operation an app depends on.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    SourceLocation,
    parse,
    specified_rules,
)
from graphql.validation import (
    NoUndefinedVariablesRule,
    NoUnusedVariablesRule,
    OverlappingFieldsCanBeMergedRule,
    ValuesOfCorrectTypeRule,
    VariablesInAllowedPositionRule,
)
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from caching.bounded_lru import BoundedLRU
from web.applicable_rules import applicable_rules
from web.field_merging import Merging, field_merging
from web.located_values import LocatedValuesOfCorrectTypeRule
from web.rule_methods import with_known_methods
from web.validation_visit import validate_visiting_less
from web.variable_usages import KnownVariableUsages

#: New texts of at most this many tokens (as ``estimated_tokens`` counts them) are parsed and
#: validated on the event loop: our clients' documents have at most 50, and handing one to a
#: worker process costs more than checking it here. A larger new text is checked entirely
#: in a worker (parse, screen and validation), so the event loop never parses it.
INLINE_TOKENS: Final = 64

#: graphql-core rules run in a version that says where each error is (``web.located_values``).
_LOCATED: Final[dict[type[ASTValidationRule], type[ASTValidationRule]]] = {
    ValuesOfCorrectTypeRule: LocatedValuesOfCorrectTypeRule
}

#: The rules that ask the validation context for variable usages (``web.variable_usages``).
_VARIABLE_RULES: Final = frozenset(
    {NoUndefinedVariablesRule, NoUnusedVariablesRule, VariablesInAllowedPositionRule}
)

#: Anything that can start a GraphQL token. Every token holds at least one match and a
#: match never spans two tokens, so the count is never below the parser's (a string or a
#: comment counts each word: more, which only sends a text to the worker sooner).
_TOKEN_START: Final = re.compile(r"\.\.\.|-?[0-9]+|[_A-Za-z][_0-9A-Za-z]*|[^\s,_A-Za-z0-9]")


@dataclass(frozen=True)
class Screening:
    """What a screen (``web.limits.screen_document``) found in a document before validation:
    its refusals (none: validate it), and what it measured of the document with no
    variables (a ``web.limits.Measure``; None if it did not measure). A request whose
    variables that measure does not read reuses it rather than walking the document again:
    for a document checked in a validation worker, that walk was the event loop's."""

    refusals: list[GraphQLError]
    measured: object = None


#: Screens a parsed document before validation (``web.limits``).
Screen = Callable[[GraphQLSchema, DocumentNode], Screening]

#: Checks a larger new text away from the event loop, on behalf of a client (the key the
#: admission lane counts by): ``web.validation_pool.ValidationPool.check``. Raises what
#: ``DocumentCache.check_now`` raises.
Offload = Callable[
    [Hashable, str, Sequence[type[ASTValidationRule]]],
    Awaitable["CheckedDocument"],
]


def estimated_tokens(query: str) -> int:
    """An upper bound of the tokens graphql-core's lexer would read in ``query``, counted by
    one regular expression (C speed: 0.1 ms for the largest text within the limits, where
    parsing it takes 5-10 ms of the event loop)."""
    return len(_TOKEN_START.findall(query))


def validate_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: Sequence[type[ASTValidationRule]],
    max_errors: int | None = None,
) -> list[GraphQLError]:
    """Strawberry's validation (the given rules plus its own two), stopping after
    ``max_errors`` errors (``MAX_VALIDATION_ERRORS``; graphql-core's default is 100, which
    let one invalid document of 100 conflicting fields cost 101 located, formatted and
    serialised errors, 26 KB, per request).

    graphql-core's overlapping-fields rule, quadratic in fields sharing a response name, is
    settled first by a linear pass where it can be (``web.field_merging``): a document with
    certain conflicts is refused with them, unvalidated (it is invalid whatever else it
    holds); one whose fields certainly merge is validated without the rule. The rules that
    ask for variable usages get them from a walk of only the text that holds variables
    (``web.variable_usages``), not from a second walk of every fragment; rules about directives
    or variables do not run on a text without any (``web.applicable_rules``); every rule
    finds its visit methods once per class, not once per document (``web.rule_methods``);
    and the visit skips the name nodes no rule reads, its caches keyed by identity rather
    than by hashing nodes (``web.validation_visit``). A scalar's refusal of a literal is
    located at that literal (``web.located_values``)."""
    rules = tuple(_LOCATED.get(rule, rule) for rule in rules)
    rules = applicable_rules(document, (*rules, MaybeNullValidationRule, OneOfInputValidationRule))
    if _VARIABLE_RULES & set(rules):
        rules = (KnownVariableUsages, *rules)
    if OverlappingFieldsCanBeMergedRule in rules:
        verdict = field_merging(schema, document, count_selections(document))
        if verdict.merging is Merging.CONFLICTING:
            return verdict.errors(max_errors)
        if verdict.merging is Merging.MERGEABLE:
            rules = tuple(r for r in rules if r is not OverlappingFieldsCanBeMergedRule)
    wrapped = [with_known_methods(r) for r in rules]
    return validate_visiting_less(schema, document, wrapped, max_errors)


class TooManyTokens(Exception):
    """graphql-core gave up parsing at ``max_tokens`` (a limit, not a typo in the document)."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__(f"the document has more than {max_tokens} tokens")
        self.max_tokens = max_tokens


@dataclass(frozen=True)
class CheckedDocument:
    document: DocumentNode
    #: Shared by every request of this text: hand out ``fresh_errors()``, never these.
    errors: tuple[GraphQLError, ...]
    #: True when ``errors`` are final: the screen's refusals (the document was never
    #: validated), or a worker's verdict on a document the event loop never parsed (then
    #: ``document`` holds only its operations' names and types).
    screened: bool = False
    #: The screen's measure of the document (``Screening.measured``), None if unscreened.
    measured: object = None

    def fresh_errors(self) -> list[GraphQLError]:
        """Copies, because the error-masking layer sets codes on the errors it returns."""
        return [located_error(e, e.locations, e.extensions) for e in self.errors]


def located_error(
    error: GraphQLError,
    locations: list[SourceLocation] | None,
    extensions: dict[str, Any] | None,
) -> GraphQLError:
    """A copy of ``error`` with the ``locations`` already known and its own ``extensions``.

    graphql-core finds each error's line and column by scanning its source's text for line
    breaks up to the error, once per error and again for every copy: for a refused text of
    20 KB, 0.4 ms of the event loop per request (py-spy, ``bench/abuse.py --profile``)."""
    copy = GraphQLError(
        error.message,
        path=error.path,
        original_error=error.original_error,
        extensions=dict(extensions) if extensions else None,
    )
    copy.nodes, copy.source, copy.positions = error.nodes, error.source, error.positions
    copy.locations = list(locations) if locations is not None else None
    return copy


class DocumentCache:
    """One per app: parse + screen + validation results by (schema, text, rules), bounded LRU."""

    def __init__(
        self,
        maxsize: int,
        *,
        max_tokens: int | None = None,
        screen: Screen | None = None,
        offload: Offload | None = None,
        max_errors: int | None = None,
    ) -> None:
        self._max_tokens = max_tokens
        self._max_errors = max_errors
        self._screen = screen
        self._offload = offload
        self._checked: BoundedLRU[
            tuple[GraphQLSchema, str, tuple[type[ASTValidationRule], ...]], CheckedDocument
        ] = BoundedLRU(maxsize)
        self._pinned: dict[
            tuple[GraphQLSchema, str, tuple[type[ASTValidationRule], ...]], CheckedDocument
        ] = {}

    def pin(
        self,
        schema: GraphQLSchema,
        query: str,
        rules: Sequence[type[ASTValidationRule]] = specified_rules,
    ) -> CheckedDocument:
        """Parse, screen and validate ``query`` now and keep the result for good (a persisted
        operation, checked once at start-up). ``rules`` must be those requests run with:
        Strawberry's default is graphql-core's ``specified_rules``. Raises
        ``GraphQLSyntaxError`` for a document that does not parse."""
        key = (schema, query, tuple(rules))
        if key not in self._pinned:
            self._pinned[key] = self.check_now(schema, query, key[2])
        return self._pinned[key]

    def check_now(
        self, schema: GraphQLSchema, query: str, rules: Sequence[type[ASTValidationRule]]
    ) -> CheckedDocument:
        """Parse, screen and validate ``query`` here, remembering nothing: what the event
        loop does for a small new text, and a validation worker for a large one. Raises
        ``GraphQLSyntaxError`` and ``TooManyTokens``."""
        document = self.parse(query)
        screening = self._screen(schema, document) if self._screen is not None else Screening([])
        if screening.refusals:
            return CheckedDocument(document, tuple(screening.refusals), screened=True)
        errors = validate_document(schema, document, rules, self._max_errors)
        return CheckedDocument(document, tuple(errors), measured=screening.measured)

    async def checked(
        self,
        schema: GraphQLSchema,
        query: str,
        rules: Sequence[type[ASTValidationRule]],
        client: Hashable = None,
    ) -> CheckedDocument:
        """Raises ``GraphQLSyntaxError`` for a document that does not parse (not remembered:
        the parser stops at the first error), ``TooManyTokens`` past ``max_tokens``, and
        whatever the offload raises (``web.admission.LaneFull``) for a larger new document
        of ``client``."""
        known = self.known(schema, query, rules)
        if known is not None:
            return known
        key = (schema, query, tuple(rules))
        if self._offload is not None and estimated_tokens(query) > INLINE_TOKENS:
            checked = await self._offload(client, query, key[2])
        else:
            checked = self.check_now(schema, query, key[2])
        self._checked.put(key, checked)
        return checked

    def known(
        self,
        schema: GraphQLSchema,
        query: str,
        rules: Sequence[type[ASTValidationRule]] = specified_rules,
    ) -> CheckedDocument | None:
        """The remembered result for ``query`` (pinned or recently used), or None: no work
        beyond the lookup, so a request can ask before it decides how to run."""
        key = (schema, query, tuple(rules))
        pinned = self._pinned.get(key)
        if pinned is not None:
            return pinned
        return self._checked.get(key)

    def parse(self, query: str) -> DocumentNode:
        try:
            return parse(query, max_tokens=self._max_tokens)
        except GraphQLSyntaxError as error:
            if self._max_tokens is not None and "tokens. Parsing aborted" in error.message:
                raise TooManyTokens(self._max_tokens) from error
            raise

    def size(self) -> int:
        return len(self._checked)


def count_selections(document: DocumentNode) -> int:
    """Fields, fragment spreads and inline fragments written in the document, in every
    definition (a fragment counted once however often it is spread, an unused one too:
    validation walks it all the same)."""
    count = 0
    pending = [d.selection_set for d in document.definitions if hasattr(d, "selection_set")]
    while pending:
        selection_set = pending.pop()
        if selection_set is None:
            continue
        for selection in selection_set.selections:
            count += 1
            if isinstance(selection, FieldNode | InlineFragmentNode):
                pending.append(selection.selection_set)
    return count
