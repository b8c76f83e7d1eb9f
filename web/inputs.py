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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final

from graphql import DocumentNode, GraphQLError, StringValueNode
from graphql.language import Visitor, visit

from readmodel.quoting import ECHOED_CHARACTERS, quoted
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


#: How deep a variable's value may nest before its text check encodes it to be sure: a
#: value decoded from JSON but deeper than ``json.dumps`` can encode is "nested too deeply";
#: no argument of the schema nests more than a few levels.
_SURE_DEPTH: Final = 64


@dataclass(frozen=True)
class ScreenedVariables:
    """What one walk of a request's raw variables found: ``values``, each variable, list item
    and object member (keys are not values), counted exactly up to ``limit + 1``; and
    ``errors``, one per variable holding text no field can use, found only when every value
    was read (``values <= limit``: the request is refused for its size otherwise)."""

    values: int
    errors: list[GraphQLError]


def screen_variables(variables: Mapping[str, Any] | None, limit: int) -> ScreenedVariables:
    """The one walk of the variables before graphql-core reads them (``web.limits``: their
    size, ``MAX_VARIABLE_VALUES``, refuses before anything else reads them, so the walk stops
    at ``limit + 1`` values, never copying a list). Depth first and in order, a stack of
    iterators: a million-item list costs what ``limit`` of its items do.

    A string (or key) that holds NUL or is not valid Unicode, or a value nested deeper than
    ``_SURE_DEPTH``, marks its variable; only a marked variable is then encoded to word its
    error (``_problem_of``). Until session 20 the count and the text check were two walks:
    every variable was encoded by ``json.dumps`` after being counted (docs/api.md).
    """
    count = 0
    marked: list[tuple[str, Any]] = []
    for name, value in islice((variables or {}).items(), limit + 1):
        count, suspect = _walk(value, count, limit)
        if count > limit:
            return ScreenedVariables(count, [])
        if suspect:
            marked.append((name, value))
    errors = [
        GraphQLError(
            f"Variable {quoted('$' + name, ECHOED_CHARACTERS)} {problem}.",
            extensions={"code": ErrorCode.BAD_USER_INPUT.value},
        )
        for name, value in marked
        if (problem := _problem_of(value)) is not None
    ]
    return ScreenedVariables(count, errors)


def _walk(value: Any, count: int, limit: int) -> tuple[int, bool]:
    """``count`` plus the values ``value`` holds (stopping past ``limit``), and whether it
    holds text to look at closely (``screen_variables``)."""
    suspect = False
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        for item in stack[-1]:
            count += 1
            if count > limit:
                return count, suspect
            kind = type(item)
            if kind is str:
                suspect = suspect or _unusable(item)
            elif kind is dict or (kind is not list and isinstance(item, Mapping)):
                suspect = suspect or len(stack) > _SURE_DEPTH or any(map(_unusable_key, item))
                stack.append(iter(item.values()))
                break
            elif kind is list or isinstance(item, list):
                suspect = suspect or len(stack) > _SURE_DEPTH
                stack.append(iter(item))
                break
        else:
            stack.pop()
    return count, suspect


def _unusable(text: str) -> bool:
    """Whether ``text`` holds NUL or a lone surrogate (ASCII text is checked in C)."""
    return "\x00" in text or (not text.isascii() and _surrogate_in(text) is not None)


def _unusable_key(key: object) -> bool:
    return type(key) is str and _unusable(key)


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
