"""Where a consumer stands against its log ends, and holding still while polling
(``projections.log_ends``), against a consumer double that keeps aiokafka's contract."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from projections.log_ends import (
    HOLDING_POLL_MS,
    behind,
    poll_while,
    reached_log_ends,
    records_left,
    records_left_below,
)

A, B = TopicPartition("orders", 0), TopicPartition("orders", 1)


@dataclass
class Record:
    offset: int


@dataclass
class Consumer:
    """Held partitions, their positions and log ends, as aiokafka keeps them: a rebalance
    gives a new assignment whose partitions are all unpaused, and a poll returns at once
    what is buffered of an unpaused partition (``arriving``, taken once), else waits."""

    held: set[TopicPartition] = field(default_factory=lambda: {A, B})
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    ends: dict[TopicPartition, int] | None = field(default_factory=dict)
    arriving: dict[TopicPartition, list[Record]] = field(default_factory=dict)
    paused: set[TopicPartition] = field(default_factory=set)
    sought: dict[TopicPartition, int] = field(default_factory=dict)
    polls: int = 0
    #: The partitions whose position was asked, in order.
    asked: list[TopicPartition] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def rebalance(self, held: set[TopicPartition]) -> None:
        self.held = set(held)
        self.paused = set()

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self.ends is None:
            await asyncio.sleep(3600)  # a partition without a leader: no answer
        assert self.ends is not None
        return {tp: self.ends[tp] for tp in partitions}

    async def position(self, tp: TopicPartition) -> int:
        self.asked.append(tp)
        if tp not in self.positions:
            await asyncio.sleep(3600)  # held, no position yet: its committed offset unread
        return self.positions[tp]

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    async def getmany(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        self.polls += 1
        taken = {tp: r for tp, r in self.arriving.items() if tp not in self.paused}
        if taken:
            self.arriving = {tp: r for tp, r in self.arriving.items() if tp not in taken}
            return taken
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought[tp] = offset


def _reached(consumer: Consumer, slack: int = 0) -> bool:
    return asyncio.run(reached_log_ends(consumer, 0.2, slack))


def test_a_consumer_that_read_every_partition_to_its_end_has_reached_them() -> None:
    assert _reached(Consumer(positions={A: 7, B: 3}, ends={A: 7, B: 3}))


def test_one_partition_short_of_its_end_is_not_the_end() -> None:
    assert not _reached(Consumer(positions={A: 7, B: 2}, ends={A: 7, B: 3}))


def test_steady_traffic_within_the_slack_counts_as_the_end() -> None:
    """Under steady traffic the ends move on between a fetch and the question."""
    consumer = Consumer(positions={A: 700, B: 300}, ends={A: 760, B: 330})
    assert _reached(consumer, slack=90)
    assert not _reached(consumer, slack=89)


def test_a_member_holding_no_partition_yet_has_not_reached_anything() -> None:
    assert not _reached(Consumer(held=set()))


def test_a_broker_that_cannot_say_where_the_ends_are_is_not_the_end() -> None:
    assert not _reached(Consumer(positions={A: 7, B: 3}, ends=None))


def test_records_left_are_summed_over_the_positions_given_none_below_a_position_past_its_end() -> (
    None
):
    """The one count of records left: a position past its end (the end read before the
    position moved on) counts none, not minus one, and a partition with no position (not
    held) counts nothing."""
    C = TopicPartition("orders", 2)
    assert records_left_below({A: 10, B: 5, C: 4}, {A: 7, B: 6}) == 3
    assert records_left_below({A: 10}, {}) == 0


def test_the_records_left_and_behind_count_only_partitions_still_held() -> None:
    """A rebalance revoked B after its end was read: what is left of it is another
    member's, so this one is neither behind nor has records left there."""
    consumer = Consumer(held={A}, positions={A: 7, B: 0})
    ends = {A: 9, B: 100}
    assert asyncio.run(records_left(consumer, ends, 0.2)) == 2
    assert asyncio.run(behind(consumer, ends, 0.2))
    consumer.positions[A] = 9
    assert asyncio.run(records_left(consumer, ends, 0.2)) == 0
    assert not asyncio.run(behind(consumer, ends, 0.2))


def test_behind_stops_at_the_first_partition_behind() -> None:
    """One partition behind is the answer: the others' positions are not asked, and one
    just assigned, still without a position, no longer turns it into "not behind" once the
    wait for it runs out (the batch then stopped topping up from a backlog)."""
    consumer = Consumer(positions={A: 7})  # B held, its position not known yet
    ends = {A: 9, B: 100}
    assert asyncio.run(behind(consumer, ends, 0.2))
    assert consumer.asked == [A]
    consumer.positions[A] = 9
    assert not asyncio.run(behind(consumer, ends, 0.2))  # B cannot be known in time


def test_a_partition_held_since_the_ends_were_read_is_not_the_end() -> None:
    """Its end is unknown: the consumer cannot say it reached it."""
    consumer = Consumer(positions={A: 7, B: 7})
    assert _reached(dataclasses.replace(consumer, ends={A: 7, B: 7}))
    consumer.end_offsets = _ends_then_rebalance(consumer)  # type: ignore[method-assign]
    assert not _reached(consumer)


def _ends_then_rebalance(consumer: Consumer) -> Any:
    async def end_offsets(partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        ends = {tp: 7 for tp in partitions}
        consumer.rebalance({A, B, TopicPartition("orders", 2)})
        return ends

    return end_offsets


def test_work_runs_with_the_partitions_paused_while_the_consumer_keeps_polling() -> None:
    """A rebalance meanwhile unpauses everything held: the next poll pauses it again, and
    what was buffered before is put back, not spun on; all resumed after the work."""
    consumer = Consumer(held={A})
    seen: list[set[TopicPartition]] = []

    async def work() -> str:
        await asyncio.sleep(0.05)
        seen.append(set(consumer.paused))
        consumer.rebalance({A, B})
        consumer.arriving = {A: [Record(5)], B: [Record(12), Record(13)]}
        await asyncio.sleep(1.0)
        seen.append(set(consumer.paused))
        return "built"

    assert asyncio.run(poll_while(consumer, work())) == "built"
    assert seen == [{A}, {A, B}]
    assert consumer.sought == {}  # paused before the poll: nothing taken to put back
    assert consumer.polls <= 1.0 / (HOLDING_POLL_MS / 1000) + 3  # about one per interval
    assert consumer.paused == set()


def test_records_a_poll_took_before_its_pause_are_put_back() -> None:
    consumer = Consumer(held={A})
    consumer.pause = lambda *partitions: None  # type: ignore[method-assign]
    consumer.arriving = {A: [Record(7), Record(8)]}

    async def work() -> None:
        await asyncio.sleep(0.3)

    asyncio.run(poll_while(consumer, work()))
    assert consumer.sought == {A: 7}


def test_work_that_needs_no_round_trip_ends_without_a_poll() -> None:
    consumer = Consumer(held={A})

    async def work() -> bool:
        return True

    assert asyncio.run(poll_while(consumer, work())) is True
    assert consumer.polls == 0


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
