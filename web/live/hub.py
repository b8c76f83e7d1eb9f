"""The per-process fan-out: one Kafka consumer feeding every subscription of this API process.

Every replica runs its own hub reading the whole changes topic (no consumer group), starting
from the end when the process starts, so a client on any replica sees every notice. The hub
never waits for a subscriber: it offers each notice to the bounded queue of every matching
subscription and moves on (see ``web.live.buffer`` for what happens to a full queue).

``position`` is the offset of the next notice the hub will dispatch. Dispatching a fetched
batch never awaits, so a subscription registered between two dispatches receives exactly the
notices at offsets ``>= position`` at registration: the hand-over point of a resumed
subscription (see ``web.live.feed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from graph.subscriptions import FeedUnavailable
from observability.json_logs import log_traced_hop
from readmodel.changes import ShipmentChange
from web.live.buffer import SubscriberQueue
from web.live.closes import FEED_INTERRUPTED, SHUTTING_DOWN, CloseReason
from web.live.log import ChangeLog, decode_record
from web.live.ordering import RecentIds

logger = logging.getLogger(__name__)

Delivery = tuple[int, ShipmentChange]


@dataclass(eq=False)
class Subscriber:
    """One subscription as the hub sees it."""

    #: Customers whose notices may match; None = any customer (cross-customer scopes).
    customers: frozenset[str] | None
    #: The subscription's full rule (entitlements and filters), checked after the index.
    wants: Callable[[ShipmentChange], bool]
    queue: SubscriberQueue[Delivery]
    #: Called when the queue refuses a notice or the hub can no longer feed the subscription.
    terminate: Callable[[CloseReason], None]
    delivered: int = field(default=0)


class LiveHub:
    """Reads the changes topic and offers each notice to the subscriptions it matches."""

    def __init__(
        self,
        log: ChangeLog,
        *,
        dedupe_window: int,
        overflow_reason: CloseReason,
        retry_seconds: float = 1.0,
    ) -> None:
        self._log = log
        self._recent = RecentIds(dedupe_window)
        #: (offset, notice id) of the notices dispatch dropped as repeats, the last
        #: ``dedupe_window``; with the id, an offset of a log created again since (its offsets
        #: start over) is not taken for the dropped one.
        self._dropped = RecentIds(dedupe_window)
        self._overflow_reason = overflow_reason
        self._retry_seconds = retry_seconds
        self._by_customer: dict[str, set[Subscriber]] = {}
        self._any_customer: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        #: Offset of the next notice to dispatch; None until the consumer found the end.
        self.position: int | None = None
        self.dispatched = 0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start reading in the background; the API serves queries whether Kafka is up or not."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        """Stop reading and ask every connection to close (clients resume elsewhere)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._terminate_all(SHUTTING_DOWN)

    def begin_at(self, position: int) -> None:
        """Declare the offset of the next notice to dispatch and accept subscriptions.

        The consumer loop calls it once it knows the end of the log; a hub fed by hand
        (``dispatch`` without Kafka, as in tests) calls it first.
        """
        self.position = position
        self._ready.set()

    async def wait_ready(self, within_seconds: float) -> None:
        """Wait until the hub knows its position; FeedUnavailable if Kafka stays unreachable."""
        try:
            async with asyncio.timeout(within_seconds):
                await self._ready.wait()
        except TimeoutError:
            raise FeedUnavailable(
                "live updates are temporarily unavailable (change log unreachable); retry"
            ) from None

    # --- subscriptions --------------------------------------------------------------------

    def register(self, subscriber: Subscriber) -> int:
        """Start feeding ``subscriber``; returns the first offset it will receive live."""
        if self.position is None:
            raise FeedUnavailable("live updates are not ready yet; retry")
        if subscriber.customers is None:
            self._any_customer.add(subscriber)
        else:
            for customer in subscriber.customers:
                self._by_customer.setdefault(customer, set()).add(subscriber)
        return self.position

    def unregister(self, subscriber: Subscriber) -> None:
        if subscriber.customers is None:
            self._any_customer.discard(subscriber)
            return
        for customer in subscriber.customers:
            bucket = self._by_customer.get(customer)
            if bucket is not None:
                bucket.discard(subscriber)
                if not bucket:
                    del self._by_customer[customer]

    def dropped(self, offset: int, notice_id: str) -> bool:
        """Whether notice ``notice_id`` at ``offset`` was dropped as a repeat: no live
        subscriber got it.

        A replay skips it too, so that resuming gives what staying connected would have:
        the client may have received the first copy live, before its cursor, and cannot
        tell the two apart (notice ids are not shown). Unknown (False) for offsets this hub
        did not dispatch (before it started) or dropped longer ago than its window.
        """
        return (offset, notice_id) in self._dropped

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers())

    def dispatch(self, offset: int, change: ShipmentChange | None) -> None:
        """Offer the notice at ``offset`` to every matching subscriber, never waiting.

        ``change`` is None for a record that is not a notice: it still moves the position.
        """
        self.position = offset + 1
        if change is None:
            return
        if self._recent.seen_before(change.notice_id):
            self._dropped.seen_before((offset, change.notice_id))
            return
        self.dispatched += 1
        candidates = self._by_customer.get(change.customer_id, set()) | self._any_customer
        delivered = 0
        for subscriber in candidates:
            if not subscriber.wants(change):
                continue
            if subscriber.queue.offer((offset, change)):
                subscriber.delivered += 1
                delivered += 1
            else:
                subscriber.terminate(self._overflow_reason)
        # the last hop of a traced milestone: same trace id as the source event's
        log_traced_hop(
            logger,
            "notice dispatched",
            change.traceparent,
            notice_id=change.notice_id,
            shipment_id=change.shipment_id,
            customer_ids=[change.customer_id],
            offset=offset,
            subscriptions=delivered,
        )

    # --- the consumer loop ----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except OffsetOutOfRangeError:
                # Our position fell out of the log: notices were lost to every subscriber.
                logger.error("live hub lost its position in the change log; restarting at end")
                self.position = None
                self._ready.clear()
                self._terminate_all(FEED_INTERRUPTED)
            except KafkaError as exc:
                logger.warning("live hub: change log unavailable (%s); retrying", exc)
            except Exception:
                # No caller to hand this to: the loop is the process's only live feed, so
                # it logs and carries on from its position rather than die silently.
                logger.exception("live hub: unexpected error; retrying")
            await asyncio.sleep(self._retry_seconds)

    async def _consume(self) -> None:
        if self.position is None:
            await self._log.ensure_topic()
        consumer = self._log.consumer()
        try:
            await consumer.start()  # in the try: a start that fails is stopped too (see log.read)
            tp = self._log.partition
            consumer.assign([tp])
            if self.position is None:
                await consumer.seek_to_end(tp)
                self.begin_at(await consumer.position(tp))
                logger.info("live hub reading %s from offset %s", tp.topic, self.position)
            else:
                consumer.seek(tp, self.position)
            while True:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    self.dispatch(record.offset, decode_record(record))
        finally:
            await consumer.stop()

    def _subscribers(self) -> set[Subscriber]:
        everyone = set(self._any_customer)
        for bucket in self._by_customer.values():
            everyone |= bucket
        return everyone

    def _terminate_all(self, reason: CloseReason) -> None:
        for subscriber in list(self._subscribers()):
            subscriber.terminate(reason)
