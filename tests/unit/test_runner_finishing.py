"""Batches finishing side by side (``projections.runner``): a batch whose predecessor failed
to publish never commits, and the failure surfaces once, with nothing left unretrieved."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from projections import runner


class Store:
    async def complete(self, outcome: Any) -> None:
        await asyncio.sleep(outcome.delay)


class Broker:
    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        if value == b"refused":
            raise RuntimeError("broker refused the notice")
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sent.set_result(None)
        return sent


class Notice:
    shipment_id = "SH-1"

    def __init__(self, value: bytes) -> None:
        self.value = value

    def encode(self) -> bytes:
        return self.value


def outcome(notice: bytes, delay: float) -> Any:
    return SimpleNamespace(dead_letters=[], notices=[Notice(notice)], delay=delay)


def test_a_failed_publish_stops_every_later_commit_and_surfaces_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    committed: list[Any] = []

    async def commit(finishing: Any, batches: Any, done: Any, started: float) -> None:
        committed.append(done)

    monkeypatch.setattr(runner, "_commit_finished", commit)
    unretrieved: list[dict[str, Any]] = []

    async def finish_two() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, c: unretrieved.append(c))
        topics: Any = SimpleNamespace(dead_letter="dead", changes="changes")
        store: Any = Store()
        finishing = runner.Finishing(
            store, Broker(), MagicMock(), topics, asyncio.Event(), MagicMock()
        )
        first = runner.start_finishing(finishing, {}, outcome(b"refused", 0.01), 0.0, None)
        second = runner.start_finishing(finishing, {}, outcome(b"ok", 0.0), 0.0, first)
        try:
            with pytest.raises(RuntimeError, match="broker refused"):
                await first.committed
            await asyncio.sleep(0.05)  # the second has failed on the first's error by now
            assert second.committed.done()
        finally:
            await runner.settle(first, second)
        del first, second
        gc.collect()

    asyncio.run(finish_two())
    gc.collect()
    assert committed == []
    assert not unretrieved, unretrieved


class LeaderlessConsumer:
    """A consumer holding two partitions; the broker cannot say where one's log ends (no
    leader while a broker restarts), and a rebalance revoked the other mid-batch."""

    def __init__(self) -> None:
        self.taken = {TopicPartition("orders", 0): [SimpleNamespace(offset=4)]}

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("orders", 0), TopicPartition("orders", 1)}

    async def getmany(self, **_: int) -> Any:
        taken, self.taken = self.taken, {}
        return taken

    async def end_offsets(self, partitions: list[TopicPartition]) -> Any:
        await asyncio.sleep(3600)

    async def position(self, tp: TopicPartition) -> int:
        raise IllegalStateError("No current assignment for partition")


def test_a_partition_without_a_leader_does_not_hold_back_the_batch() -> None:
    settings = SimpleNamespace(batch_wait_ms=50, batch_max_records=100)

    async def fetch() -> Any:
        consumer: Any = LeaderlessConsumer()
        async with asyncio.timeout(5):  # aiokafka itself would retry for 40 s, then fail
            batch = await runner.fetch_batch(consumer, settings)  # type: ignore[arg-type]
        revoked = await runner._behind(consumer, {TopicPartition("orders", 1): 9}, 1.0)
        return batch, revoked

    batch, revoked = asyncio.run(fetch())
    assert [r.offset for r in batch[TopicPartition("orders", 0)]] == [4]
    assert revoked is False
