"""Consumer lag arithmetic, and the poller's tolerance of an unreachable broker."""

from __future__ import annotations

import socket

from aiokafka import TopicPartition

from web.consumer_lag import ConsumerLagPoller, compute_lags
from web.metrics import Metrics

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def test_lag_is_end_minus_committed() -> None:
    lags = compute_lags({A0: 7, A1: 10}, {A0: 0, A1: 0}, {A0: 10, A1: 10})
    assert [(p.topic, p.partition, p.lag) for p in lags] == [("a", 0, 3), ("a", 1, 0)]


def test_uncommitted_partition_counts_everything_retained() -> None:
    (lag,) = compute_lags({B0: -1}, {B0: 40}, {B0: 100})
    assert (lag.committed, lag.lag) == (None, 60)
    (lag,) = compute_lags({}, {B0: 0}, {B0: 5})
    assert lag.lag == 5


def test_commit_racing_the_end_offset_read_is_zero_not_negative() -> None:
    (lag,) = compute_lags({A0: 12}, {A0: 0}, {A0: 10})
    assert lag.lag == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_broker_marks_kafka_down_and_keeps_going() -> None:
    metrics = Metrics()
    poller = ConsumerLagPoller(
        bootstrap_servers=f"127.0.0.1:{_closed_port()}",
        group_id="g",
        topics=["a"],
        metrics=metrics,
        interval_seconds=60,
        timeout_seconds=3,
    )
    assert await poller.poll_once() is None
    assert metrics.registry.get_sample_value("portal_kafka_up") == 0
    assert poller.latest is None
    await poller.close()
