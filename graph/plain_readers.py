"""Declaring a plain field: a resolver whose value can be read from its parent object alone.

Split from ``graph.leaf_fields`` (which executes such fields) so that any module declaring
types can register its resolvers' readers without importing the execution context: the value
types (``graph.common``) are imported by modules that ``graph.leaf_fields`` itself imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
#: What a plain field's reader is given: the parent object and the request's context.
Read = Callable[[Any, Any], Any]

#: What a reader returns when the value is not at hand (the resolver must run, and await).
NOT_AT_HAND: Final = object()
#: Resolver functions whose value can be read without calling them, and how.
READERS: Final[dict[Callable[..., Any], Read]] = {}


def at_hand(read: Callable[[Any], Any]) -> Callable[[F], F]:
    """Declare that the decorated resolver's value is ``read(parent)`` whenever that is not
    ``NOT_AT_HAND``: the resolver may then be skipped (it must compute the same value)."""
    return at_hand_in_request(lambda source, context: read(source))


def at_hand_in_request(read: Read) -> Callable[[F], F]:
    """``at_hand`` for a resolver that needs the request: its value is
    ``read(parent, context)`` (``info.context``) whenever that is not ``NOT_AT_HAND``."""

    def register(resolver: F) -> F:
        READERS[resolver] = read
        return resolver

    return register
