"""Refusals of one item of a list of objects asked for by id (``nodes``, ``_entities``).

Both lists are non-null: an error raised by their resolver nulls every sibling field, and a
gateway's whole query with it. So what refuses one item (an id that is not ours to parse, a
kind the caller's roles do not cover) becomes that item's error, at its own index
(``nodes[1]``), and the other items and fields are still answered. A store failure still
fails the field: it would fail every item alike.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from resolvers.errors import BadUserInput, Forbidden, ResolverError, Unauthenticated

_T = TypeVar("_T")

#: What refuses an item for the caller or its input, not for the service.
ITEM_REFUSALS: tuple[type[ResolverError], ...] = (BadUserInput, Forbidden, Unauthenticated)


async def refused_or(read: Awaitable[_T]) -> _T | ResolverError:
    """What ``read`` returns, or the refusal it raised, to stand in the list at its index
    (graphql-core reports an exception there as that item's error)."""
    try:
        return await read
    except ITEM_REFUSALS as refusal:
        return refusal
