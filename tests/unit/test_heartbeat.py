"""``projections.heartbeat.beating``, which keeps a rebuild's marker and its lease alive:
a store error costs one beat, not the heartbeat; a record lost stops the beats; and the
end is written after the last beat, however the rebuild ends (a beat landing after the end
would make an ended rebuild look alive again)."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import AutoReconnect

from projections import heartbeat


async def _let_the_loop_run() -> None:
    """Give a beating task that did not stop the turns it would take to beat again."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_store_error_skips_a_beat_and_a_lost_record_stops_the_beats(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.0)
    answers: list[BaseException | bool] = [AutoReconnect("store away"), True, False]
    calls: list[str] = []
    lost = asyncio.Event()

    async def beat() -> bool:
        calls.append("beat")
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if not answer:
            lost.set()
        return answer

    async def end() -> None:
        calls.append("end")

    async with heartbeat.beating(beat, end, "the test record"):
        async with asyncio.timeout(10):  # a guard: beats that died never lose the record
            await lost.wait()
        await _let_the_loop_run()

    assert calls == ["beat", "beat", "beat", "end"]
    assert "cannot refresh the test record: store away" in caplog.text


async def test_a_block_that_fails_ends_the_record_after_its_last_beat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.0)
    calls: list[str] = []
    beating = asyncio.Event()

    async def beat() -> bool:
        calls.append("beat")
        if calls.count("beat") == 3:
            beating.set()
        return True

    async def end() -> None:
        calls.append("end")
        await _let_the_loop_run()  # a store write takes turns of the loop

    with pytest.raises(RuntimeError, match="rebuild failed"):
        async with heartbeat.beating(beat, end, "the test record"):
            async with asyncio.timeout(10):  # a guard: the beats never came
                await beating.wait()
            raise RuntimeError("rebuild failed")
    await _let_the_loop_run()

    assert calls[-1] == "end" and calls.count("end") == 1
