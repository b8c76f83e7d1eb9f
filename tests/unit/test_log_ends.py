"""Where a consumer stands against its log ends, and holding still while polling
(``projections.log_ends``), against a consumer double that keeps aiokafka's contract."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from projections.log_ends import poll_while, reached_log_ends

A, B = TopicPartition("orders", 0), TopicPartition("orders", 1)


@dataclass
class Record:
    offset: int


@dataclass
class Consumer:
    """Held partitions, their positions and log ends; polls return ``arriving`` once."""

    held: set[TopicPartition] = field(default_factory=lambda: {A, B})
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    ends: dict[TopicPartition, int] | None = field(default_factory=dict)
    arriving: dict[TopicPartition, list[Record]] = field(default_factory=dict)
    paused: set[TopicPartition] = field(default_factory=set)
    sought: dict[TopicPartition, int] = field(default_factory=dict)
    polls: int = 0

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self.ends is None:
            await asyncio.sleep(3600)  # a partition without a leader: no answer
        assert self.ends is not None
        return {tp: self.ends[tp] for tp in partitions}

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    async def getmany(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        self.polls += 1
        await asyncio.sleep(timeout_ms / 1000)
        taken = {tp: r for tp, r in self.arriving.items() if tp not in self.paused}
        self.arriving = {}
        return taken

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought[tp] = offset


def _reached(consumer: Consumer) -> bool:
    return asyncio.run(reached_log_ends(consumer, 0.2))


def test_a_consumer_that_read_every_partition_to_its_end_has_reached_them() -> None:
    assert _reached(Consumer(positions={A: 7, B: 3}, ends={A: 7, B: 3}))


def test_one_partition_short_of_its_end_is_not_the_end() -> None:
    assert not _reached(Consumer(positions={A: 7, B: 2}, ends={A: 7, B: 3}))


def test_a_member_holding_no_partition_yet_has_not_reached_anything() -> None:
    assert not _reached(Consumer(held=set()))


def test_a_broker_that_cannot_say_where_the_ends_are_is_not_the_end() -> None:
    assert not _reached(Consumer(positions={A: 7, B: 3}, ends=None))


def test_work_runs_with_the_partitions_paused_while_the_consumer_keeps_polling() -> None:
    """A rebalance gave partition B meanwhile (not paused): what a poll took of it is put
    back for the batches after the work; A stays paused during the work only."""
    consumer = Consumer(held={A})
    seen: list[set[TopicPartition]] = []

    async def work() -> str:
        seen.append(set(consumer.paused))
        consumer.held.add(B)
        consumer.arriving = {B: [Record(12), Record(13)]}
        await asyncio.sleep(0.5)
        return "built"

    assert asyncio.run(poll_while(consumer, work())) == "built"
    assert seen == [{A}]
    assert consumer.polls >= 2
    assert consumer.sought == {B: 12}
    assert consumer.paused == set()


def test_work_that_fails_still_resumes_the_partitions() -> None:
    consumer = Consumer(held={A})

    async def work() -> Any:
        await asyncio.sleep(0.01)
        raise RuntimeError("refused")

    try:
        asyncio.run(poll_while(consumer, work()))
    except RuntimeError as exc:
        assert str(exc) == "refused"
    else:
        raise AssertionError("the work's error was swallowed")
    assert consumer.paused == set()
