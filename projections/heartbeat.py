"""The heartbeat of a record that says a rebuild is alive, refreshed while the rebuild runs.

A rebuild keeps two such records: its generation's marker (``projections.build_marker``)
and the one rebuild lease (``projections.rebuild_lease``). Each is written when the rebuild
starts, its ``heartbeatAt`` refreshed every ``HEARTBEAT_SECONDS`` while it runs, and marked
ended when it ends. A rebuild killed outright (SIGKILL, a lost host) neither refreshes nor
ends its records: once a ``heartbeatAt`` is older than ``STALE_AFTER_SECONDS`` the record
counts as a dead rebuild's. What a refresh writes, and what losing the record means, is the
record's own: this module only runs the beats and the end, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final

from projections.store import DRIVER_ERRORS

log = logging.getLogger(__name__)

#: How often a running rebuild refreshes its records' ``heartbeatAt``.
HEARTBEAT_SECONDS: Final = 10.0
#: How old a record's ``heartbeatAt`` may be before its rebuild counts as gone: many missed
#: heartbeats, so that a store slow for a minute does not make a live rebuild look dead.
STALE_AFTER_SECONDS: Final = 120.0


def stale_before(now: datetime) -> datetime:
    """The cutoff at ``now`` (the store's time, ``projections.store_clock``): a record whose
    ``heartbeatAt`` is earlier counts as a dead rebuild's. One rule for the marker's
    claim, the lease's and the listing's status."""
    return now - timedelta(seconds=STALE_AFTER_SECONDS)


#: Refreshes a record's heartbeat: False if the record is no longer this rebuild's (another
#: took or deleted it), which ends the beats. Store errors are raised, not handled.
Beat = Callable[[], Awaitable[bool]]


async def _beat_while_held(beat: Beat, what: str) -> None:
    """Call ``beat`` every ``HEARTBEAT_SECONDS`` until cancelled or the record is lost. A
    store error is logged and tried again at the next beat: the rebuild itself notices a
    store that stays down, and one beat missed is far from ``STALE_AFTER_SECONDS``."""
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        try:
            held = await beat()
        except DRIVER_ERRORS as exc:
            log.warning("cannot refresh %s: %s", what, exc)
            continue
        if not held:
            return


@contextlib.asynccontextmanager
async def beating(beat: Beat, end: Callable[[], Awaitable[None]], what: str) -> AsyncIterator[None]:
    """Keep a record alive with ``beat`` while the block runs, then ``end`` it (however the
    block ends). The beats have stopped before ``end`` runs, so none lands after the end.
    ``what`` names the record in the log (``cannot refresh <what>``)."""
    beats = asyncio.create_task(_beat_while_held(beat, what))
    try:
        yield
    finally:
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
        await end()
