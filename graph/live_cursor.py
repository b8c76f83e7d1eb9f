"""``Query.liveCursor``: where a client's live updates start, taken before it fetches its data.

A subscriber receives a cursor only with an event it matches. An app that subscribed without
``after``, received nothing yet and lost its connection (a network drop, a deploy's 1012)
would subscribe again without ``after`` and miss every change in between. With a cursor
taken *before* the fetch it subscribes, and resubscribes until an event brings a newer
cursor, with ``after`` set to it, and misses nothing:

* the cursor names the process's position in the change log (``LivePosition``): every notice
  at or before it had been read by the process, and the projector stores a change before it
  publishes the change's notice, so those changes are in the store when the fetch reads it;
* every notice after the position, whenever it was stored, follows the cursor, and a resume
  replays it on any replica.

A change the fetch already shows may be delivered as well (its notice came after the
position, its write before the fetch): harmless, as the client keeps the higher
``revision``. The process's own position, not the log's end read from Kafka: it costs no
round trip, and being at most the end, it can only deliver more, never less.
"""

from __future__ import annotations

from graph.context import Info, readers_of
from graph.subscriptions import FeedUnavailable

DESCRIPTION = (
    "A cursor for live updates from now on, so that a subscription misses no change made "
    "after you fetched what you show. Take it before that fetch, in a query of its own or "
    "listed first in the same one; then subscribe (`milestoneFeed`, `shipmentUpdates`) with "
    "`after` set to it, and resubscribe with it after a dropped connection until an event "
    "brings a newer `cursor`. An event for a change your fetch already shows may come too: "
    "keep the higher `revision`. Like any cursor it expires (CURSOR_EXPIRED) once the change "
    "log has moved too far past it (docs/api.md, Subscriptions). The same authentication as "
    "subscribing; SERVICE_UNAVAILABLE while live updates are unavailable (retry)."
)


def resume_cursor(info: Info) -> str:
    """The cursor of the process's position in the change log, for a caller who may
    subscribe: the readers' scope is refused (UNAUTHENTICATED) exactly when a WebSocket's
    ``connection_init`` would be, without a valid, unexpired token."""
    _ = readers_of(info).scope
    live = info.context.live
    if live is None:
        raise FeedUnavailable("live updates are not served by this process; retry elsewhere")
    return live.resume_cursor()
