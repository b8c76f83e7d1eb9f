"""The live feed of one authenticated WebSocket connection (``graph.subscriptions.LiveFeed``).

Resuming with a cursor, in this order, so that nothing is missed or sent twice:

1. register with the hub first: from then on live notices (offsets ``>= live_from``) are
   buffered for the subscription while the rest happens;
2. replay the log from the cursor up to ``live_from``, each chunk with a short-lived consumer;
3. drain the buffer, then follow it live.

Step 2 reads a chunk of the log per turn (``web.live.replays``) and sends it between turns;
the first turn is taken before step 1. A cursor further behind ``live_from`` than
``SUBSCRIPTION_RESUME_MAX_NOTICES`` is refused as expired before anything is read: a
replay reads every customer's notices, so its cost must not be the client's choice.

``DeliveryGate`` passes only offsets past the last one delivered and drops repeated
``notice_id`` s, so the replay and the buffer may even overlap without harm. The replay also
skips the repeats the hub dropped (``LiveHub.dropped``): a client that had the first copy
before its cursor would otherwise receive the milestone twice.

Each subscription also keeps its ``Progress`` (``web.live.progress``): how far what it owes
has been sent, which the connection's pings report as checkpoints (``checkpoints``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Hashable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import NoReturn, Protocol

from entitlements.errors import ForbiddenError
from entitlements.scope import Scope
from graph.subscriptions import (
    CursorExpired,
    FeedUnavailable,
    Forbidden,
    LiveNotice,
    MilestoneSelection,
)
from readmodel.changes import ShipmentChange
from readmodel.documents import SHIPMENTS
from web.live.buffer import ConnectionBudget, QueueClosed, SubscriberQueue
from web.live.closes import CloseReason
from web.live.cursor import REFETCH_ADVICE, cursor_before, decode_cursor, encode_cursor
from web.live.hub import Delivery, LiveHub, Subscriber
from web.live.log import Chunk
from web.live.ordering import DeliveryGate
from web.live.progress import Progress, current_operation
from web.live.replays import ReplayPlaces
from web.live.settings import LiveSettings

#: How long a subscription waits for a hub that has not reached Kafka yet.
READY_TIMEOUT_SECONDS = 10.0
#: Notices of the log a replay reads per turn (``web.live.replays``): about 10 ms of reading
#: and decoding on the event loop (docs/limits.md).
REPLAY_CHUNK = 1_000
#: How long a terminated subscription waits for its connection to close and cancel it.
CLOSING_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class ResumeBounds:
    """What resumes may cost this process: how far back one may reach, and the places for
    replays shared by every connection (``web.live.replays``)."""

    max_notices: int
    replays: ReplayPlaces

    @classmethod
    def of(cls, settings: LiveSettings) -> ResumeBounds:
        places = ReplayPlaces(
            settings.max_replays, settings.max_replays_per_client, settings.replay_wait_seconds
        )
        return cls(settings.resume_max_notices, places)


class NoticeLog(Protocol):
    """The reads of the change log a feed needs (``web.live.log.ChangeLog`` in production)."""

    async def read(self, start: int, stop: int, limit: int) -> Chunk: ...

    async def check_cursor_issued(self, offset: int) -> None: ...


def visible(scope: Scope, change: ShipmentChange) -> bool:
    """Whether the caller may see a notice: the shipment rule of the entitlement policy.

    The notice carries the shipment's orders with their warehouses, so the rule for
    customers whose users are limited to some warehouses is the very one reads use
    (``Scope.allows``): every order must be known and from an allowed warehouse, and a
    notice made before an order's summary arrived fails closed. Notices are made for known
    shipments only (``projections.effects.notices``: a shipment's customer is established by
    its plan), hence ``known``.
    """
    if scope.customer_ids is not None and change.customer_id not in scope.customer_ids:
        return False
    return scope.allows(
        SHIPMENTS,
        {
            "_id": change.shipment_id,
            "customerId": change.customer_id,
            "known": True,
            "trackingNumber": change.tracking_number,
            "status": change.status,
            "orderIds": list(change.order_warehouses),
            "related": {
                "orders": {
                    order_id: {"orderId": order_id, "warehouseId": warehouse}
                    for order_id, warehouse in change.order_warehouses.items()
                }
            },
        },
    )


class ConnectionFeed:
    """Notices for the subscriptions of one connection, under one caller's scope."""

    def __init__(
        self,
        *,
        hub: LiveHub,
        log: NoticeLog,
        scope: Scope,
        buffer_size: int,
        dedupe_window: int,
        on_close: Callable[[CloseReason], None],
        resume: ResumeBounds,
        client: Hashable,
    ) -> None:
        """``client``: the caller's key (``web.admission.caller_key``), whose share of replay
        places a resume on this connection takes."""
        self.scope = scope
        self._hub = hub
        self._log = log
        self._resume = resume
        self._client = client
        self._budget = ConnectionBudget(buffer_size)
        self._dedupe_window = dedupe_window
        self._on_close = on_close
        self._queues: set[SubscriberQueue[Delivery]] = set()
        #: The progress of each graphql-transport-ws subscription, by the operation it runs
        #: in (``web.live.progress.current_operation``), for the pings' checkpoints.
        self._progress: dict[Hashable, Progress] = {}
        #: Why the connection is being closed; set once.
        self.closed_reason: CloseReason | None = None

    def terminate(self, reason: CloseReason) -> None:
        """Stop every subscription of the connection and have the connection closed."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        for queue in list(self._queues):
            queue.close()
        self._on_close(reason)

    async def stream(
        self, selection: MilestoneSelection, after: str | None
    ) -> AsyncGenerator[LiveNotice, None]:
        customers = self._customers(selection)
        after_offset = None if after is None else decode_cursor(after)
        if self.closed_reason is not None:
            await self._await_close()
        await self._hub.wait_ready(READY_TIMEOUT_SECONDS)

        def wants(change: ShipmentChange) -> bool:
            return selection.selects(change) and visible(self.scope, change)

        queue: SubscriberQueue[Delivery] = SubscriberQueue(self._budget)
        subscriber = Subscriber(customers, wants, queue, self.terminate)
        gate = DeliveryGate(after_offset, self._dedupe_window)
        progress = Progress(self._hub, queue, after_offset)
        operation = current_operation.get()
        if operation is not None:
            self._progress[operation] = progress
        try:
            if after_offset is None:
                self._follow(subscriber)
            else:
                # Closed at once if the client completes mid-replay: no read starts after.
                replay = self._replay(subscriber, after_offset, wants, gate, progress)
                async with aclosing(replay) as missed:
                    async for notice in missed:
                        yield notice
            progress.following()
            while True:
                try:
                    offset, change = await queue.get()
                except QueueClosed:
                    await self._await_close()
                if gate.admit(offset, change.notice_id, remember=False):
                    progress.sending(offset)
                    yield LiveNotice(encode_cursor(offset), change)
                    progress.sent()
        finally:
            if operation is not None and self._progress.get(operation) is progress:
                del self._progress[operation]
            self._hub.unregister(subscriber)
            queue.close()
            self._queues.discard(queue)

    def checkpoints(self, operations: Mapping[str, Hashable]) -> dict[str, str]:
        """The checkpoint (``web.live.progress``) of each subscription among ``operations``
        (operation id -> the operation its ``Progress`` is kept under) whose progress is
        known, by operation id: every notice it wants at or before that cursor has been sent.

        None at all once the connection is being closed: the hub may have moved past a
        notice a full queue refused.
        """
        if self.closed_reason is not None:
            return {}
        found: dict[str, str] = {}
        for operation_id, operation in operations.items():
            progress = self._progress.get(operation)
            floor = None if progress is None else progress.floor()
            if floor is not None:
                found[operation_id] = cursor_before(floor)
        return found

    def sent(self, operation: Hashable) -> None:
        """The ``next`` message of ``operation``'s notice in flight was written."""
        progress = self._progress.get(operation)
        if progress is not None:
            progress.sent()

    def _follow(self, subscriber: Subscriber) -> int:
        """Register with the hub; the first offset ``subscriber`` receives live."""
        live_from = self._hub.register(subscriber)
        self._queues.add(subscriber.queue)
        return live_from

    async def _replay(
        self,
        subscriber: Subscriber,
        after_offset: int,
        wants: Callable[[ShipmentChange], bool],
        gate: DeliveryGate,
        progress: Progress,
    ) -> AsyncGenerator[LiveNotice, None]:
        """The notices after the cursor that precede the first one ``subscriber`` receives
        live, read from the log a chunk per turn (``web.live.replays``): the place is held
        while the chunk is read and filtered, and given back before its notices are sent.

        The first turn is taken before registering with the hub: live notices are buffered
        only once the replay may start, not while it waits for its turn.
        """
        start, live_from = after_offset + 1, None
        while live_from is None or start < live_from:
            async with self._resume.replays.place(self._client, first=live_from is None):
                if live_from is None:
                    if self.closed_reason is not None:  # closed while waiting for the place
                        break  # and give it back before waiting to be cancelled
                    live_from = self._follow(subscriber)
                    if not await self._must_replay(after_offset, live_from):
                        return
                chunk = await self._log.read(start, live_from, REPLAY_CHUNK)
                wanted = [
                    (offset, change)
                    for offset, change in chunk.notices
                    if wants(change) and not self._hub.dropped(offset, change.notice_id)
                ]
            start = chunk.next_offset
            for offset, change in wanted:
                if gate.admit(offset, change.notice_id):
                    progress.sending(offset)
                    yield LiveNotice(encode_cursor(offset), change)
                    progress.sent()
            progress.replayed_before(start)
        if live_from is None:
            await self._await_close()

    async def _must_replay(self, after_offset: int, live_from: int) -> bool:
        """Whether notices lie between the cursor and ``live_from``.

        CURSOR_EXPIRED, before anything is read, for a cursor more than
        ``SUBSCRIPTION_RESUME_MAX_NOTICES`` behind: as for a cursor beyond retention, the
        client refetches the state and subscribes without ``after``.
        """
        if after_offset >= live_from:
            # Another replica may be ahead of this one, but never ahead of the log.
            await self._log.check_cursor_issued(after_offset)
            return False
        missed = live_from - (after_offset + 1)
        if missed > self._resume.max_notices:
            raise CursorExpired(
                f"the cursor is further behind than a resume may replay (more than "
                f"{self._resume.max_notices} notices of the change log): notices that "
                f"followed it are not replayed. {REFETCH_ADVICE}"
            )
        return missed > 0

    def _customers(self, selection: MilestoneSelection) -> frozenset[str] | None:
        """The customers whose notices can match, for the hub's index; FORBIDDEN for a
        customer the caller does not act for (``Scope.check_customer``, the reads' rule)."""
        wanted = selection.customer_id
        if wanted is None:
            return self.scope.customer_ids
        try:
            self.scope.check_customer(wanted)
        except ForbiddenError as exc:
            raise Forbidden(str(exc)) from exc
        return frozenset({wanted})

    async def _await_close(self) -> NoReturn:
        """Wait to be cancelled by the connection's shutdown.

        Sending anything on a connection that is closing would fail, so a terminated
        subscription stays silent; the close code tells the client why.
        """
        await asyncio.sleep(CLOSING_GRACE_SECONDS)
        reason = self.closed_reason
        raise FeedUnavailable(reason.reason if reason is not None else "connection closing")
