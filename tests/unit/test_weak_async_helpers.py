"""graphql-core's resolver helpers hold their executor weakly and still work without it."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Sequence
from typing import Any

from graphql.pyutils import gather_with_cancel

from graph.subscriptions import weak_async_helpers


class _Executor:
    def __init__(self) -> None:
        self.tracked: list[Any] = []

    def gather_async_work(self, values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return gather_with_cancel(*values)

    def track_async_work(self, values: Sequence[Any]) -> None:
        self.tracked.extend(values)


async def _value(value: int) -> int:
    return value


async def test_helpers_do_not_keep_their_executor_alive() -> None:
    executor = _Executor()
    helpers = weak_async_helpers(executor)
    assert await helpers.gather([_value(1), _value(2)]) == [1, 2]
    helpers.track([7])
    assert executor.tracked == [7]
    gone = weakref.ref(executor)
    del executor
    assert gone() is None


async def test_after_their_executor_helpers_still_gather_and_settle() -> None:
    helpers = weak_async_helpers(_Executor())
    assert await helpers.gather([_value(3), _value(4)]) == [3, 4]
    settled = asyncio.Event()

    async def left_running() -> None:
        settled.set()

    helpers.track([left_running(), 5])
    await asyncio.wait_for(settled.wait(), timeout=5)
