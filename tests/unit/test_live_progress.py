"""A following subscription's checkpoint floor (``web.live.progress``), step by step: the pings'
checkpoints are taken at moments the connection tests cannot choose, so the phase where a
notice waits in the queue, none in flight, is pinned here."""

from __future__ import annotations

from tests.helpers import shipment_change
from tests.unit.live_doubles import live_service
from web.live.buffer import ConnectionBudget, SubscriberQueue
from web.live.hub import Delivery
from web.live.progress import Progress


async def test_the_floor_stops_at_the_first_notice_not_yet_sent() -> None:
    """The hub has moved past two notices still buffered for a slow client: a checkpoint
    past either would have a client resuming with it miss them."""
    hub = live_service().hub
    hub.begin_at(10)
    queue: SubscriberQueue[Delivery] = SubscriberQueue(ConnectionBudget(4))
    progress = Progress(hub, queue, None)
    progress.following()
    assert progress.floor() == 10  # nothing owed: the hub's position
    for offset in (7, 8):
        assert queue.offer((offset, shipment_change(offset)))
    assert progress.floor() == 7
    floors = []
    for _ in range(2):
        offset, _change = await queue.get()
        progress.sending(offset)
        floors.append(progress.floor())  # being written
        progress.sent()
        floors.append(progress.floor())
    assert floors == [7, 8, 8, 10]
