"""Steps of one batch run side by side, which succeed or fail as one.

``asyncio.gather`` raises the first failure and leaves the other steps running: a batch
whose notices the broker refused went on writing its search documents and sources, and one
whose search writes failed went on publishing, with no one to retrieve what those steps
raised. A failed batch is re-run whole (nothing commits its offsets or any later batch's),
so nothing of it should go on behind its failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

_T = TypeVar("_T")


async def together(*steps: Awaitable[_T]) -> list[_T]:
    """The results of ``steps``, run concurrently, in order. The first to fail cancels the
    others, waits until they ended and raises its own error, as raised (not an
    ``ExceptionGroup``: a ``StoreError`` still reaches the retry that expects it)."""
    if not steps:
        return []  # a batch with nothing to write (every record refused) has no steps
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        await stop_all(tasks)
    for task in tasks:
        failure = task.exception() if task in done and not task.cancelled() else None
        if failure is not None:
            raise failure
    return [task.result() for task in tasks]


async def stop_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has ended, its outcome retrieved (cancelling a
    task already done has no effect)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
