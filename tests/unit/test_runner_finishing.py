"""Batches finishing side by side (``projections.runner``): a batch whose predecessor failed
to publish never commits, and the failure surfaces once, with nothing left unretrieved; a
batch's search writes and publication fail as one."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from projections import log_ends, runner
from projections.metrics import ProjectorMetrics
from projections.projector import BatchOutcome


class Store:
    def __init__(self) -> None:
        self.finished: list[Any] = []

    async def complete(self, outcome: Any) -> None:
        await asyncio.sleep(outcome.delay)
        if outcome.write_fails:
            raise RuntimeError("search writes refused")
        self.finished.append(outcome)


class Broker:
    """A producer: a notice ``refused`` fails its send, a ``slow`` one takes 50 ms; notices
    go in record batches (``create_batch``, ``send_batch``) as ``runner.send_notices``
    sends them, dead letters one by one (``send``)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        return await self._deliver([value])

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, partition: int) -> Any:
        return await self._deliver(batch.values)

    async def _deliver(self, values: list[bytes]) -> Any:
        for value in values:
            if value == b"refused":
                raise RuntimeError("broker refused the notice")
            if value == b"slow":
                await asyncio.sleep(0.05)
            self.sent.append(value)
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sent.set_result(None)
        return sent


class Batch:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object:
        self.values.append(value)
        return object()  # room for it

    def close(self) -> None:
        pass


class Notice:
    shipment_id = "SH-1"
    abridged = False

    def __init__(self, value: bytes) -> None:
        self.value = value

    def sendable(self) -> tuple[Notice, bytes]:
        return self, self.value


def outcome(notice: bytes, delay: float, *, write_fails: bool = False) -> Any:
    return SimpleNamespace(
        dead_letters=[], notices=[Notice(notice)], delay=delay, write_fails=write_fails
    )


def _finishing(store: Any, broker: Any) -> runner.Finishing:
    topics: Any = SimpleNamespace(dead_letter="dead", changes="changes")
    producers = runner.Producers(broker, broker)
    return runner.Finishing(store, producers, MagicMock(), topics, asyncio.Event(), MagicMock())


def _no_commits(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    committed: list[Any] = []

    async def commit(finishing: Any, batches: Any, done: Any, started: float) -> None:
        committed.append(done)

    monkeypatch.setattr(runner, "_commit_finished", commit)
    return committed


def _finish_two(
    finishing: runner.Finishing,
    outcomes: tuple[Any, Any],
    check: Callable[[runner.FinishingBatch, runner.FinishingBatch], Awaitable[None]],
) -> list[dict[str, Any]]:
    """Finish two batches, the second after the first, and ``check`` them; then settle
    them, and what the event loop reported unretrieved once they are gone."""
    unretrieved: list[dict[str, Any]] = []

    async def finish() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, c: unretrieved.append(c))
        first = runner.start_finishing(finishing, {}, outcomes[0], 0.0, None)
        second = runner.start_finishing(finishing, {}, outcomes[1], 0.0, first)
        try:
            await check(first, second)
        finally:
            await runner.settle(first, second)
        del first, second
        gc.collect()

    asyncio.run(finish())
    gc.collect()
    return unretrieved


def test_a_failed_publish_stops_every_later_commit_and_surfaces_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    committed = _no_commits(monkeypatch)

    async def check(first: runner.FinishingBatch, second: runner.FinishingBatch) -> None:
        with pytest.raises(RuntimeError, match="broker refused"):
            await first.committed
        await asyncio.sleep(0.05)  # the second has failed on the first's error by now
        assert second.committed.done()

    outcomes = (outcome(b"refused", 0.01), outcome(b"ok", 0.0))
    unretrieved = _finish_two(_finishing(Store(), Broker()), outcomes, check)
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
        revoked = await log_ends.behind(consumer, {TopicPartition("orders", 1): 9}, 1.0)
        return batch, revoked

    batch, revoked = asyncio.run(fetch())
    assert [r.offset for r in batch[TopicPartition("orders", 0)]] == [4]
    assert revoked is False


class RevokingConsumer:
    """A consumer given two partitions by a rebalance; another rebalance revokes the second
    while the first's committed offset is read (``position`` waits for it), so the second
    has no position any more."""

    def __init__(self) -> None:
        self.held = {TopicPartition("orders", 0), TopicPartition("orders", 1)}
        self.committed: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    async def position(self, tp: TopicPartition) -> int:
        if tp not in self.held:
            raise IllegalStateError(f"Partition {tp} is not assigned")
        self.held.discard(TopicPartition("orders", 1))
        return 7

    def highwater(self, tp: TopicPartition) -> int:
        assert tp in self.held, "Partition is not assigned"  # as aiokafka does
        return 9

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)
        self.held.discard(TopicPartition("orders", 0))  # committed, then revoked


def test_a_partition_revoked_while_its_offset_is_read_does_not_stop_the_projector() -> None:
    """``track_partitions`` runs before every batch; a rebalance in the middle of it used
    to raise out of ``consume`` and end the process."""
    metrics = ProjectorMetrics()
    consumer: Any = RevokingConsumer()

    asyncio.run(runner.track_partitions(consumer, metrics))
    asyncio.run(runner.track_partitions(consumer, metrics))  # the next batch's round

    assert metrics.assigned_count == 1
    labels = {"topic": "orders", "partition": "0"}
    assert metrics.registry.get_sample_value("portal_projector_committed_offset", labels) == 7


def test_a_partition_revoked_while_its_offset_is_committed_does_not_stop_the_projector() -> None:
    """The commit lands, then a rebalance revokes the partition before its log end is read:
    the commit counts (its offset is what the metric shows), and nothing is raised."""
    metrics = ProjectorMetrics()
    consumer: Any = RevokingConsumer()
    consumer.held = {TopicPartition("orders", 0)}
    asyncio.run(runner.track_partitions(consumer, metrics))  # held from offset 7

    asyncio.run(runner.commit_owned(consumer, {TopicPartition("orders", 0): 8}, metrics))

    assert consumer.committed == {TopicPartition("orders", 0): 8}
    labels = {"topic": "orders", "partition": "0"}
    assert metrics.registry.get_sample_value("portal_projector_committed_offset", labels) == 8


def test_a_batch_whose_notices_were_refused_stops_writing_its_search_documents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch failed and will be re-run whole: its search writes and sources do not go on
    landing behind the failure, with no one to see how they end."""
    committed = _no_commits(monkeypatch)
    store = Store()

    async def finish() -> None:
        batch = runner.start_finishing(
            _finishing(store, Broker()), {}, outcome(b"refused", 0.05), 0.0, None
        )
        with pytest.raises(RuntimeError, match="broker refused"):
            await batch.committed
        await asyncio.sleep(0.1)  # long after the search writes would have landed

    asyncio.run(finish())
    assert store.finished == [] and committed == []


def test_a_batch_whose_search_writes_failed_stops_publishing_and_so_does_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The failure, not a cancellation, reaches the batch after (``consume`` raises it):
    neither batch's notices go out behind it, and neither commits."""
    committed = _no_commits(monkeypatch)
    broker = Broker()

    async def check(first: runner.FinishingBatch, second: runner.FinishingBatch) -> None:
        for batch in (first, second):
            with pytest.raises(RuntimeError, match="search writes refused"):
                await batch.committed
        await asyncio.sleep(0.1)  # long after the slow notice would have gone out

    outcomes = (outcome(b"slow", 0.01, write_fails=True), outcome(b"ok", 0.0))
    unretrieved = _finish_two(_finishing(Store(), broker), outcomes, check)
    assert broker.sent == [] and committed == []
    assert not unretrieved, unretrieved


class QuietAfterOneBatch:
    """A consumer holding one partition that brings one batch (one record) and then
    nothing more: the last batch of a burst."""

    def __init__(self) -> None:
        self.tp = TopicPartition("orders", 0)
        self.batches = [{self.tp: [SimpleNamespace(offset=0)]}]
        self.polls = 0
        self.commits: list[Any] = []

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    async def position(self, tp: TopicPartition) -> int:
        return 1

    def highwater(self, tp: TopicPartition) -> int:
        return 1

    async def end_offsets(self, partitions: list[TopicPartition]) -> Any:
        return {self.tp: 1}

    async def getmany(self, **_: int) -> Any:
        self.polls += 1
        await asyncio.sleep(0.001)
        return self.batches.pop() if self.batches else {}

    async def commit(self, offsets: Any) -> None:
        self.commits.append(offsets)


def test_a_last_batch_that_failed_to_publish_stops_the_projector_without_waiting_for_more() -> None:
    """The failure of a batch's finish surfaced only when the next batch was read: after the
    last batch of a burst the projector went on polling, the batch uncommitted and nothing
    said, until another record arrived."""
    consumer = QuietAfterOneBatch()
    empty = BatchOutcome()
    empty.notices = [Notice(b"refused")]  # type: ignore[list-item]
    processor = MagicMock(
        apply=AsyncMock(return_value=empty), complete=AsyncMock(), indexes_due=False
    )
    settings: Any = SimpleNamespace(
        batch_wait_ms=1, batch_max_records=10, topics=SimpleNamespace(dead_letter="d", changes="c")
    )

    async def consume() -> None:
        await runner.consume(
            processor,
            runner.Producers(Broker(), Broker()),
            consumer,
            settings,
            asyncio.Event(),
            ProjectorMetrics(),
        )

    with pytest.raises(RuntimeError, match="broker refused"):
        asyncio.run(asyncio.wait_for(consume(), timeout=10))
    assert consumer.commits == []
