"""A backlog's batches (``runner.fetch_batch``): they fill up to ``batch_max_records`` with
the records that were in the log when the batch started, however slowly the broker hands
them over, so a catch-up writes each document as few times as its batches allow; a batch
still ends soon after its records stop coming."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from projections import runner

TP = TopicPartition("orders", 0)


class TricklingBroker:
    """One partition whose log holds ``backlog`` records, handed over ``per_fetch`` at a
    time, each fetch answered ``delay`` seconds after it was asked for (a busy broker; a
    consumer fetches a partition again only once its last fetch was taken). From
    ``stall_at`` on, fetches bring nothing (a partition whose leader went away)."""

    def __init__(self, backlog: int, per_fetch: int, delay: float, stall_at: int | None = None):
        self.end = backlog
        self.per_fetch = per_fetch
        self.delay = delay
        self.stall_at = backlog if stall_at is None else stall_at
        self.position_at = 0

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def end_offsets(self, _partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {TP: self.end}

    async def position(self, _tp: TopicPartition) -> int:
        return self.position_at

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        waited = timeout_ms / 1000
        if self.position_at >= self.stall_at or waited < self.delay:
            await asyncio.sleep(waited)
            return {}
        await asyncio.sleep(self.delay)
        most = self.per_fetch if max_records is None else min(self.per_fetch, max_records)
        taken = min(most, self.stall_at - self.position_at)
        records = [
            SimpleNamespace(offset=n) for n in range(self.position_at, self.position_at + taken)
        ]
        self.position_at += taken
        return {TP: records}


def fetch(broker: TricklingBroker, *, batch_max: int, wait_ms: int = 50) -> list[int]:
    settings: Any = SimpleNamespace(batch_wait_ms=wait_ms, batch_max_records=batch_max)

    async def one_batch() -> list[int]:
        async with asyncio.timeout(30):
            batch = await runner.fetch_batch(broker, settings)
        return [record.offset for record in batch.get(TP, [])]

    return asyncio.run(one_batch())


def test_a_backlog_batch_takes_every_record_up_to_its_maximum_however_slowly_they_come() -> None:
    """Four fetches fit in the batch's wait; the batch still takes all thirty of them."""
    broker = TricklingBroker(backlog=300, per_fetch=10, delay=0.012)
    assert fetch(broker, batch_max=300) == list(range(300))


def test_a_backlog_batch_stops_at_its_maximum() -> None:
    broker = TricklingBroker(backlog=300, per_fetch=10, delay=0.012)
    assert fetch(broker, batch_max=95) == list(range(95))


def test_a_batch_whose_records_stop_coming_ends_with_what_it_has() -> None:
    """The log's end says 300, but the partition stalls after 40: the batch goes with those
    (and the next batch takes the rest once they come)."""
    broker = TricklingBroker(backlog=300, per_fetch=10, delay=0.012, stall_at=40)
    assert fetch(broker, batch_max=300) == list(range(40))


def test_a_caught_up_batch_stops_at_its_deadline() -> None:
    """Sixty records left in the log, under a tenth of a full batch: not a backlog, so the
    batch goes with what came by its deadline, as a steady flow's batches do (waiting on
    lengthens every batch of the flow, and every record's wait)."""
    broker = TricklingBroker(backlog=60, per_fetch=5, delay=0.012)
    taken = fetch(broker, batch_max=1000)
    assert 0 < len(taken) < 60
    assert taken == list(range(len(taken)))
