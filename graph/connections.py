"""Relay connections: one generic page type, named per node type (``OrderConnection`` ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import strawberry

from graph.common import PageInfo, field_resolver
from resolvers.paging import Page

Node = TypeVar("Node")


@strawberry.type(description="One item of a connection, with its cursor.")
class Edge(Generic[Node]):
    cursor: str = strawberry.field(
        description=(
            "Opaque position of this item: pass it as `after` to continue after it, or as "
            "`before` (with `last`) for the items before it."
        )
    )
    node: Node = strawberry.field(description="The item.")


@strawberry.type(
    description=(
        "A page of items in a stable order (ties broken by id), Relay style: ask for `first` "
        "items (at most 100), then pass `pageInfo.endCursor` as `after` for the next page; "
        "or page backwards with `last` and `before: pageInfo.startCursor`. `first: 0` (or "
        "`last: 0`) asks for `totalCount` and `pageInfo` alone."
    )
)
class Connection(Generic[Node]):
    edges: list[Edge[Node]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page sits.")
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @field_resolver("The items of this page, without cursors.")
    def nodes(self) -> list[Node]:
        return [edge.node for edge in self.edges]

    @field_resolver(
        "How many items match the filter in all pages (one more query, however often it is "
        "asked of this connection)."
    )
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def of(cls, page: Page, node: Callable[[Mapping[str, Any]], Node]) -> Connection[Node]:
        info = page.page_info
        return cls(
            edges=[Edge(cursor=edge.cursor, node=node(edge.node)) for edge in page.edges],
            page_info=PageInfo(
                has_next_page=info.has_next_page,
                has_previous_page=info.has_previous_page,
                start_cursor=info.start_cursor,
                end_cursor=info.end_cursor,
            ),
            count=page.total,
        )
