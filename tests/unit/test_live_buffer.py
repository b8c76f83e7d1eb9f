"""Slow clients: a connection's pending notices are bounded, and a full buffer ends it."""

from __future__ import annotations

import asyncio

import pytest

from readmodel.topics import TopicNames
from tests.helpers import shipment_change
from web.live.buffer import ConnectionBudget, QueueClosed, SubscriberQueue
from web.live.closes import CloseReason, too_slow
from web.live.hub import LiveHub, Subscriber
from web.live.log import ChangeLog


async def test_queues_of_one_connection_share_its_budget() -> None:
    budget = ConnectionBudget(3)
    first: SubscriberQueue[int] = SubscriberQueue(budget)
    second: SubscriberQueue[int] = SubscriberQueue(budget)
    assert first.offer(1) and second.offer(2) and first.offer(3)
    assert not second.offer(4)
    assert budget.exhausted


async def test_reading_frees_room_until_the_budget_is_exhausted() -> None:
    budget = ConnectionBudget(2)
    queue: SubscriberQueue[int] = SubscriberQueue(budget)
    assert queue.offer(1) and queue.offer(2)
    assert await queue.get() == 1
    assert queue.offer(3)
    assert [await queue.get(), await queue.get()] == [2, 3]
    assert budget.pending == 0


async def test_an_exhausted_connection_never_recovers() -> None:
    budget = ConnectionBudget(1)
    queue: SubscriberQueue[int] = SubscriberQueue(budget)
    assert queue.offer(1)
    assert not queue.offer(2)
    await queue.get()
    assert not queue.offer(3), "a client that fell behind once has lost notices: reconnect"


async def test_closing_wakes_the_reader() -> None:
    queue: SubscriberQueue[int] = SubscriberQueue(ConnectionBudget(4))
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.close()
    with pytest.raises(QueueClosed):
        await reader


def _hub(buffer: int) -> LiveHub:
    log = ChangeLog("127.0.0.1:1", TopicNames(), retention_hours=72)
    hub = LiveHub(log, dedupe_window=100, overflow_reason=too_slow(buffer))
    hub.begin_at(0)
    return hub


def _subscriber(
    hub: LiveHub, budget: ConnectionBudget, closed: list[CloseReason], customers: frozenset[str]
) -> Subscriber:
    subscriber = Subscriber(
        customers=customers,
        wants=lambda change: True,
        queue=SubscriberQueue(budget),
        terminate=closed.append,
    )
    hub.register(subscriber)
    return subscriber


async def test_a_client_that_stops_reading_is_cut_off_with_4413_and_others_keep_up() -> None:
    hub = _hub(buffer=5)
    slow_closed: list[CloseReason] = []
    fast_closed: list[CloseReason] = []
    slow = _subscriber(hub, ConnectionBudget(5), slow_closed, frozenset({"ACME"}))
    fast = _subscriber(hub, ConnectionBudget(5), fast_closed, frozenset({"ACME"}))

    received = []
    for offset in range(8):
        hub.dispatch(offset, shipment_change(offset))
        received.append((await fast.queue.get())[0])

    assert received == list(range(8))
    assert not fast_closed
    assert len(slow.queue) == 5
    assert slow_closed and slow_closed[0].code == 4413
    assert "too slow" in slow_closed[0].reason and "5 notices" in slow_closed[0].reason


async def test_the_hub_only_offers_a_customer_s_notices_to_its_subscribers() -> None:
    hub = _hub(buffer=10)
    acme = _subscriber(hub, ConnectionBudget(10), [], frozenset({"ACME"}))
    globex = _subscriber(hub, ConnectionBudget(10), [], frozenset({"GLOBEX"}))
    hub.dispatch(0, shipment_change(0, "ACME"))
    hub.dispatch(1, shipment_change(1, "GLOBEX"))
    hub.dispatch(2, shipment_change(2, "INITECH"))
    assert [(await acme.queue.get())[1].customer_id] == ["ACME"]
    assert [(await globex.queue.get())[1].customer_id] == ["GLOBEX"]
    assert len(acme.queue) == len(globex.queue) == 0
    assert hub.position == 3


async def test_the_hub_drops_a_repeated_notice() -> None:
    hub = _hub(buffer=10)
    subscriber = _subscriber(hub, ConnectionBudget(10), [], frozenset({"ACME"}))
    hub.dispatch(0, shipment_change(7))
    hub.dispatch(1, shipment_change(7))  # the projector crashed and published it again
    hub.dispatch(2, None)  # not a notice: skipped, but the position moves
    assert len(subscriber.queue) == 1
    assert hub.position == 3


async def test_stopping_the_hub_asks_every_connection_to_close_with_1012() -> None:
    hub = _hub(buffer=10)
    closed: list[CloseReason] = []
    _subscriber(hub, ConnectionBudget(10), closed, frozenset({"ACME"}))
    await hub.stop()
    assert [reason.code for reason in closed] == [1012]
