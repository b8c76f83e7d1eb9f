"""Where a consumer stands against the end of its partitions' logs, asked of a broker that
may not answer (a partition without a leader while a broker restarts), and holding still
while the process does something long that must not cost it its place in the group."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

_T = TypeVar("_T")

#: How long a consumer holding still waits in each poll (``poll_while``).
HOLDING_POLL_MS = 200


async def log_ends(consumer: AIOKafkaConsumer, within: float) -> dict[TopicPartition, int]:
    """The held partitions' log end offsets; none when the broker cannot say within
    ``within`` seconds (a partition without a leader while a broker restarts: aiokafka would
    retry for its request timeout and then fail the process). The batch is then what was
    already taken, and every other partition keeps flowing."""
    ends: dict[TopicPartition, int] = await known_within(
        within, consumer.end_offsets(list(consumer.assignment())), {}
    )
    return ends


def records_left_below(
    ends: Mapping[TopicPartition, int], positions: Mapping[TopicPartition, int]
) -> int:
    """How many records below ``ends`` are not taken yet, summed over the partitions in
    ``positions`` (each the offset of the next record a consumer takes): the one count of
    "records left in the log" every caller uses (``records_left``, ``reached_log_ends``,
    the rebuild's progress; ``behind`` partition by partition). A position past its end
    (the end read before the position moved on) counts none."""
    return sum(_left(end, positions[tp]) for tp, end in ends.items() if tp in positions)


def _left(end: int, position: int) -> int:
    """One partition's records below ``end`` not taken at ``position`` (none past it)."""
    return max(end - position, 0)


async def _positions(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """The consumer's position in each of ``partitions`` it still holds (a rebalance may
    have revoked some since they were named)."""
    held = consumer.assignment()
    return {tp: await consumer.position(tp) for tp in partitions if tp in held}


async def behind(
    consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int], within: float
) -> bool:
    """Whether a partition still held has records below ``ends`` not yet taken. Not when
    that cannot be known within ``within`` seconds: a partition assigned by a rebalance has
    no position until its committed offset is read, and one revoked meanwhile has none.

    Asks the partitions one by one and stops at the first behind: one is enough, and a
    partition later in ``ends`` still waiting for its position no longer makes the answer
    "not behind" when an earlier one is (aiokafka answers a known position at once)."""

    async def any_behind() -> bool:
        held = consumer.assignment()
        for tp, end in ends.items():
            if tp in held and _left(end, await consumer.position(tp)) > 0:
                return True
        return False

    return await known_within(within, any_behind(), False)


async def records_left(
    consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int], within: float
) -> int:
    """How many records of the held partitions below ``ends`` are not taken yet; 0 when
    that cannot be known within ``within`` seconds (``behind``)."""

    async def left() -> int:
        return records_left_below(ends, await _positions(consumer, ends))

    return await known_within(within, left(), 0)


async def reached_log_ends(consumer: AIOKafkaConsumer, within: float, slack: int) -> bool:
    """Whether the records taken so far are within ``slack`` records of the end of the
    partitions held (summed): not while none is held yet (a member still joining its
    group), nor when the broker cannot say within ``within`` seconds. Under steady traffic
    a log's end moves on between a fetch and the question, so "exactly at the end" would
    hold only at lulls."""
    if not consumer.assignment():
        return False
    ends = await log_ends(consumer, within)

    async def lag() -> int | None:
        held = consumer.assignment()
        if not held or not held <= ends.keys():
            return None  # a partition held since the ends were read: its end is unknown
        return records_left_below(ends, await _positions(consumer, held))

    remaining = await known_within(within, lag(), None) if ends else None
    return remaining is not None and remaining <= slack


async def poll_while(consumer: AIOKafkaConsumer, work: Awaitable[_T]) -> _T:
    """Run ``work`` with every partition held paused while the consumer keeps polling.

    A group member that does not poll for ``max_poll_interval_ms`` (five minutes) leaves its
    group, and its partitions go to another member in the middle of what it was doing. Paused,
    its polls return nothing. A rebalance meanwhile gives it a new assignment, all unpaused,
    so every poll pauses what is held first; what a poll still returns (taken between a
    rebalance and the pause) is put back (the consumer seeks to its first record) for the
    batches after ``work``. Nothing else pauses partitions, so all are resumed after.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.sleep(0)  # work that needs no store round trip ends without a poll
        while not task.done():
            consumer.pause(*consumer.assignment())
            put_back(consumer, await consumer.getmany(timeout_ms=HOLDING_POLL_MS))
    finally:
        task.cancel()
        consumer.resume(*consumer.assignment())
    return task.result()


def put_back(
    consumer: AIOKafkaConsumer, taken: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
) -> None:
    """Make the consumer return ``taken`` again: seek each partition to its first record."""
    for tp, records in taken.items():
        if records:
            consumer.seek(tp, records[0].offset)


async def known_within(within: float, answer: Awaitable[_T], otherwise: _T) -> _T:
    """``answer``, or ``otherwise`` when the broker cannot give it within ``within`` seconds."""
    try:
        async with asyncio.timeout(max(within, 0.001)):
            return await answer
    except (TimeoutError, KafkaError):
        return otherwise
