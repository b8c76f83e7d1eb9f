"""Parsed and spec-validated GraphQL documents, remembered by query text.

Portals and apps send the same few query texts again and again with different variables.
graphql-core parses each one and walks it with every validation rule, which was a third of
the API's CPU time per request (profiled on the tracking-number query). Both depend only on
the text, the schema and the rules, so each distinct text is parsed and validated once, in
a bounded LRU: unique texts (GraphiQL users, an attacker) evict old entries instead of
growing memory. Checks that depend on variables (``web.limits``) still run per request.

Persisted operations (``web.persisted``) are checked at start-up and *pinned*: they stay
outside the LRU, so unique texts never evict an operation an app depends on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    parse,
    specified_rules,
)
from strawberry.schema.schema import validate_document


@dataclass(frozen=True)
class CheckedDocument:
    document: DocumentNode
    #: Shared by every request of this text: hand out ``fresh_errors()``, never these.
    errors: tuple[GraphQLError, ...]

    def fresh_errors(self) -> list[GraphQLError]:
        """Copies, because the error-masking layer sets codes on the errors it returns."""
        return [
            GraphQLError(
                error.message,
                error.nodes,
                error.source,
                error.positions,
                error.path,
                error.original_error,
                dict(error.extensions) if error.extensions else None,
            )
            for error in self.errors
        ]


class DocumentCache:
    """One per app: parse + validation results by (schema, text, rules), bounded LRU."""

    def __init__(self, maxsize: int) -> None:
        self._checked = lru_cache(maxsize=maxsize)(_check)
        self._pinned: dict[
            tuple[GraphQLSchema, str, tuple[type[ASTValidationRule], ...]], CheckedDocument
        ] = {}

    def pin(
        self,
        schema: GraphQLSchema,
        query: str,
        rules: Sequence[type[ASTValidationRule]] = specified_rules,
    ) -> CheckedDocument:
        """Parse and validate ``query`` now and keep the result for good (a persisted
        operation). ``rules`` must be those requests run with: Strawberry's default is
        graphql-core's ``specified_rules``. Raises ``GraphQLError`` for a syntax error."""
        key = (schema, query, tuple(rules))
        if key not in self._pinned:
            self._pinned[key] = _check(*key)
        return self._pinned[key]

    def checked(
        self,
        schema: GraphQLSchema,
        query: str,
        rules: Sequence[type[ASTValidationRule]],
    ) -> CheckedDocument:
        """Raises ``GraphQLError`` for a syntax error (not remembered: it is cheap to find)."""
        key = (schema, query, tuple(rules))
        pinned = self._pinned.get(key)
        return pinned if pinned is not None else self._checked(*key)

    def size(self) -> int:
        return self._checked.cache_info().currsize


def _check(
    schema: GraphQLSchema, query: str, rules: tuple[type[ASTValidationRule], ...]
) -> CheckedDocument:
    document = parse(query)
    return CheckedDocument(document, tuple(validate_document(schema, document, rules)))
