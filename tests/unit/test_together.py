"""Steps run ``together`` succeed or fail as one: the first failure stops the others."""

from __future__ import annotations

import asyncio

import pytest

from projections.store import StoreError
from projections.together import together


def test_the_first_failure_cancels_the_other_steps_and_is_raised_as_it_was() -> None:
    finished: list[str] = []

    async def slow(name: str) -> str:
        await asyncio.sleep(0.05)
        finished.append(name)
        return name

    async def failing() -> str:
        await asyncio.sleep(0.001)
        raise StoreError("store unavailable")

    async def run() -> None:
        with pytest.raises(StoreError, match="store unavailable"):
            await together(slow("search documents"), failing(), slow("sources"))
        await asyncio.sleep(0.1)  # long after the slow steps would have finished

    asyncio.run(run())
    assert finished == []


def test_steps_that_all_succeed_give_their_results_in_order() -> None:
    async def after(delay: float, value: int) -> int:
        await asyncio.sleep(delay)
        return value

    assert asyncio.run(together(after(0.02, 1), after(0.0, 2), after(0.01, 3))) == [1, 2, 3]


def test_no_steps_is_nothing_to_do() -> None:
    assert asyncio.run(together()) == []
