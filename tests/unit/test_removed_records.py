"""Records removed from an inbound log before the projector group read them
(``projections.removed_records``): which offsets a newly assigned partition lost."""

from __future__ import annotations

from aiokafka import TopicPartition

from projections.removed_records import Removed, removed_unread

A, B, C = (TopicPartition("erp.orders.v1", n) for n in range(3))


def test_a_log_that_starts_past_the_committed_offset_lost_the_records_between() -> None:
    [gap] = removed_unread({A: 12, B: 40}, {A: 20, B: 40})
    assert gap == Removed(A, 12, 20)
    assert gap.records == 8


def test_a_group_with_no_committed_offset_reads_from_0_so_a_moved_start_lost_records() -> None:
    """A new group (a first deployment, a new group id) over a log retention already cut:
    the first generation lacks those events as a rebuild's would."""
    assert removed_unread({A: None, B: None}, {A: 5, B: 0}) == [Removed(A, 0, 5)]


def test_nothing_is_lost_where_the_committed_offset_is_at_or_past_the_log_start() -> None:
    """Past the end too (a topic created again): the consumer reads that log from its
    start, losing nothing."""
    assert removed_unread({A: 20, B: 900, C: 3}, {A: 20, B: 0, C: 0}) == []


def test_a_partition_whose_log_start_is_unknown_is_not_reported() -> None:
    assert removed_unread({A: 0, B: 3}, {B: 9}) == [Removed(B, 3, 9)]
