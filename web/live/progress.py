"""How far each subscription's notices have been sent: the checkpoints of the server's pings.

A subscriber receives a cursor only with a notice its filter matches. One that matches rarely
(one shipment, a small customer) would keep an old cursor while other customers' notices pass,
and after ``SUBSCRIPTION_RESUME_MAX_NOTICES`` of them a resume after even a short drop would be
answered CURSOR_EXPIRED though nothing it wanted was missed. So every graphql-transport-ws
``ping`` carries, for each subscription of the connection, a *checkpoint*: a cursor such that
every notice at or before it that the subscription wants has been sent before the ping
(``web.live.handlers``). A client that resumes with it misses nothing and replays only what
came after.

One checkpoint per subscription, keyed by its operation id, rather than one per connection
(every subscription reads the same log): a connection-wide one would have to be the lowest of
them, so a subscription still replaying would hold it behind the others' own cursors, and a
client could not tell which of its subscriptions it covers, as a ``subscribe`` and a ``ping``
may cross on the wire (a subscription resumed with an old cursor taking a checkpoint past
notices still to be replayed would miss them).

``Progress.floor`` is the offset of the first notice a subscription may still owe: every
notice it wants below it has been written to the socket. It must never be too high, so it
takes the lowest offset that may still be owed, whatever the phase:

* not yet reading (waiting for the hub or a replay place): the cursor it resumes after, or
  without one the hub's position, which its registration can only be at or after;
* replaying: the start of what the replay has not sent yet; the notices buffered meanwhile
  all follow it;
* following: the notice being sent, else the first one buffered, else the hub's position
  (the hub offers a notice to the queue before moving past it, and never waits between);
* never below the cursor it resumed after, which another replica may have been ahead of
  this one to issue: nothing up to it is owed.

A notice counts as sent once its ``next`` message was written (``sent``, called by the
handler under its send lock), not when the subscription hands it over: a ping written after
it then never names a cursor before it, so a client replacing its cursor with each
checkpoint never moves back.
"""

from __future__ import annotations

from collections.abc import Hashable
from contextvars import ContextVar

from web.live.buffer import SubscriberQueue
from web.live.hub import Delivery, LiveHub

#: The graphql-transport-ws operation whose task is running, set by the protocol handler: the
#: key under which its subscription's ``Progress`` is kept (``ConnectionFeed.checkpoints``).
#: Unset for the legacy protocol, whose keepalive carries no payload.
current_operation: ContextVar[Hashable | None] = ContextVar("current_operation", default=None)


class Progress:
    """What one subscription has sent so far (see the module's docstring)."""

    def __init__(
        self, hub: LiveHub, queue: SubscriberQueue[Delivery], after_offset: int | None
    ) -> None:
        self._hub = hub
        self._queue = queue
        #: Every wanted notice below this offset was sent (or precedes the resume cursor);
        #: None until the subscription reads, when it has no cursor.
        self._sent_before: int | None = None if after_offset is None else after_offset + 1
        #: Nothing up to the resume cursor is owed, even where this replica's hub is behind
        #: it (another replica was ahead): a checkpoint never goes back past the cursor.
        self._owed_from = 0 if after_offset is None else after_offset + 1
        self._in_flight: int | None = None
        self._following = False

    def sending(self, offset: int) -> None:
        """The notice at ``offset`` is handed over to be sent."""
        self._in_flight = offset

    def sent(self) -> None:
        """The notice handed over was written (or dropped with its operation); idempotent."""
        if self._in_flight is not None:
            self._sent_before = self._in_flight + 1
            self._in_flight = None

    def replayed_before(self, offset: int) -> None:
        """The replay sent every wanted notice below ``offset`` (a chunk read to its end)."""
        if self._in_flight is None:
            self._sent_before = offset

    def following(self) -> None:
        """The replay (if any) is over: what is owed now waits in the queue or is to come."""
        self._following = True

    def floor(self) -> int | None:
        """The offset of the first notice the subscription may still owe; None while the hub
        does not know its position."""
        owed = self._owed()
        return None if owed is None else max(owed, self._owed_from)

    def _owed(self) -> int | None:
        """The phases of the module's docstring. Before following, a notice in flight is a
        replayed one, so the subscription has a cursor and ``_sent_before`` is set."""
        if not self._following:
            return self._hub.position if self._sent_before is None else self._sent_before
        if self._in_flight is not None:
            return self._in_flight
        buffered = self._queue.first()
        return self._hub.position if buffered is None else buffered[0]
