"""Text no field can use, refused up front as the client's mistake it is.

Two kinds of text pass JSON and GraphQL parsing but break further down:

* a lone surrogate (JSON allows the escape ``"\\ud800"``; it is not a Unicode scalar value):
  it cannot be encoded as UTF-8, so it would fail wherever the text is encoded next, in the
  database driver or in a response;
* the NUL character (``\\u0000``): PostgreSQL, under FerretDB, cannot store or compare it, and
  no identifier, reference or search text of this API contains it.

Both are reported before execution, naming where they are: the query text (a lone surrogate
makes it an invalid GraphQL source: GRAPHQL_VALIDATION_FAILED), a string literal in the
document, or a variable (BAD_USER_INPUT).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from graphql import DocumentNode, GraphQLError, StringValueNode
from graphql.language import Visitor, visit

from web.error_codes import ErrorCode

_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


def _surrogate_in(text: str) -> str | None:
    """The first lone surrogate of ``text`` as an escape (``\\ud800``), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        found = _SURROGATE.search(text)
        return f"\\u{ord(found.group()):04x}" if found else "a surrogate"
    return None


def query_text_error(query: str) -> GraphQLError | None:
    """The query text must be valid Unicode (a GraphQL source is Unicode scalar values)."""
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as exc:
        surrogate = f"\\u{ord(query[exc.start]):04x}"
        return GraphQLError(
            f"The query text is not valid Unicode: a lone surrogate ({surrogate}) at "
            f"character {exc.start}.",
            extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value},
        )
    return None


class _NulLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[GraphQLError] = []

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if "\x00" in node.value:
            self.errors.append(
                GraphQLError(
                    "A string in the query holds the NUL character (\\u0000), which no "
                    "argument accepts.",
                    node,
                    extensions={"code": ErrorCode.BAD_USER_INPUT.value},
                )
            )


def literal_errors(document: DocumentNode) -> list[GraphQLError]:
    """String literals holding NUL. Only a document with a ``\\u`` escape can have one (the
    lexer refuses a raw NUL), so the walk is skipped for every other document."""
    source = document.loc.source.body if document.loc is not None else None
    if source is not None and "\\u" not in source:
        return []
    finder = _NulLiterals()
    visit(document, finder)
    return finder.errors


def variable_errors(variables: Mapping[str, Any] | None) -> list[GraphQLError]:
    """One error per variable whose value (keys included) holds a lone surrogate or NUL.

    Each value is first checked by the C JSON encoder (one pass, fast on a large list); only a
    value that may hold NUL is walked to be sure (an escaped backslash looks alike).
    """
    errors = []
    for name, value in (variables or {}).items():
        problem = _problem_of(value)
        if problem is not None:
            errors.append(
                GraphQLError(
                    f"Variable '${name}' {problem}.",
                    extensions={"code": ErrorCode.BAD_USER_INPUT.value},
                )
            )
    return errors


def _problem_of(value: Any) -> str | None:
    try:
        encoded = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        return "is nested too deeply"
    except (TypeError, ValueError):
        return None  # not JSON data (a test passing Python objects): nothing to check
    surrogate = _surrogate_in(encoded)
    if surrogate is not None:
        return f"is not valid Unicode: it holds a lone surrogate ({surrogate})"
    if "\\u0000" in encoded and _holds_nul(value):
        return "holds the NUL character (\\u0000), which no argument accepts"
    return None


def _holds_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False
