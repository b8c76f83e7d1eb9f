"""``caching.reused``: callers at any rate cause at most one call per interval."""

from __future__ import annotations

import asyncio

import pytest

from caching.reused import Reused


class Calls:
    """An awaited call that counts itself and answers what it is told, after a pause that
    lets concurrent callers pile up."""

    def __init__(self, answer: str = "ok") -> None:
        self.count = 0
        self.answer = answer
        self.error: Exception | None = None

    async def __call__(self) -> str:
        self.count += 1
        await asyncio.sleep(0.01)
        if self.error is not None:
            raise self.error
        return self.answer


async def test_concurrent_and_repeated_callers_share_one_call_per_interval() -> None:
    now = [100.0]
    reused: Reused[str] = Reused(5.0, clock=lambda: now[0])
    calls = Calls()
    answers = await asyncio.gather(*(reused.get(calls) for _ in range(50)))
    assert answers == ["ok"] * 50 and calls.count == 1
    now[0] += 4.9
    calls.answer = "new"
    assert [await reused.get(calls) for _ in range(50)] == ["ok"] * 50
    assert calls.count == 1
    now[0] += 0.1  # the interval has passed: the next caller calls again
    assert await reused.get(calls) == "new" and calls.count == 2


async def test_a_failure_answered_as_a_value_is_kept_an_exception_is_not() -> None:
    now = [0.0]
    reused: Reused[str] = Reused(1.0, clock=lambda: now[0])
    calls = Calls("unreachable")
    assert [await reused.get(calls) for _ in range(10)] == ["unreachable"] * 10
    assert calls.count == 1
    now[0] += 1.0
    calls.error = RuntimeError("store gone")
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await reused.get(calls)
    assert calls.count == 4


async def test_a_renewal_serves_later_callers_and_an_older_answer_never_replaces_it() -> None:
    now = [0.0]
    reused: Reused[str] = Reused(5.0, clock=lambda: now[0])
    slow, fast = asyncio.Event(), Calls("newer")

    async def older() -> str:
        await slow.wait()
        return "older"

    first = asyncio.create_task(reused.renew(older))
    await asyncio.sleep(0)
    now[0] += 1.0
    assert await reused.renew(fast) == "newer"
    slow.set()
    assert await first == "older"
    assert await reused.get(Calls("unused")) == "newer"


async def test_no_interval_calls_every_time() -> None:
    reused: Reused[str] = Reused(0)
    calls = Calls()
    await asyncio.gather(*(reused.get(calls) for _ in range(5)))
    assert calls.count == 5


async def test_callers_queued_behind_a_call_longer_than_the_interval_take_its_answer() -> None:
    """A ready check's ping times out after 2 s and its verdict is reused for 1 s: probes
    that queued behind it must not each ping again, one after the other (the last of them
    waiting for every ping before it)."""
    now = [0.0]
    reused: Reused[str] = Reused(1.0, clock=lambda: now[0])
    calls = Calls("unreachable (timed out)")
    release = asyncio.Event()

    async def slow_ping() -> str:
        await release.wait()
        now[0] += 2.0  # the ping's timeout
        return await calls()

    waiting = [asyncio.create_task(reused.get(slow_ping)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == ["unreachable (timed out)"] * 5
    assert calls.count == 1
    now[0] += 0.5  # half an interval after the call ended: the next probe pings again
    assert await reused.get(calls) == "unreachable (timed out)" and calls.count == 2
