"""One rebuild at a time: the lease a rebuild claims before it writes anything.

Two rebuilds running at once (an operator starting a second one, a CronJob overlapping)
each switched the read pointer when done, in either order: readers could go back to the
generation that was built first (with an older status map, say), and notice revisions could
go down (each computed its revision offset from the pointer it had read). So a rebuild
first claims the one document of ``documents.REBUILD_LEASE`` (``_id`` ``"rebuild"``): its
generation's suffix, ``startedAt``, ``heartbeatAt`` (refreshed every
``heartbeat.HEARTBEAT_SECONDS``, like its marker's) and ``endedAt`` once it ends.

The claim succeeds only if that document is absent or free: ended, or its heartbeat older
than ``heartbeat.STALE_AFTER_SECONDS`` (a rebuild killed outright blocks the next for no
longer than that). It is one conditional write of one document, atomic on FerretDB 2 and
MongoDB 6 alike, with no transaction: an insert when there is none (of two at once, the
second fails on the ``_id``), else an update whose filter matches only a free lease (of two
at once, the first makes it held, so the second's filter no longer matches). Of any number
of rebuilds starting together exactly one goes on; the others raise ``RebuildRunning``,
naming the holder, before they write anything.

Its times are the store's (``projections.store_clock``): the heartbeat is written with
``$currentDate`` and judged stale against the store's time, so two hosts whose clocks are
minutes apart neither take a live rebuild's lease nor see a dead one's as live for longer.

The store does not enforce a lease: a rebuild alive but cut off from the store for longer
than the stale time looks dead, and the next one takes the lease. That is why the switch is
also a compare-and-set on the pointer the rebuild read after its claim
(``ProjectionStore.set_active_suffix``): of two such rebuilds, the second to switch refuses.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from projections import heartbeat
from projections.store import DRIVER_ERRORS, StoreError
from projections.store_clock import TIME_FORMAT, store_now
from readmodel import documents
from readmodel.documents import stored_time

log = logging.getLogger(__name__)

Db = AsyncDatabase[dict[str, Any]]
#: The ``_id`` of the lease document.
LEASE_ID: Final = "rebuild"


class RebuildRunning(RuntimeError):
    """Another rebuild holds the lease: this one did not start (nothing was written)."""


def _free(now: datetime) -> dict[str, Any]:
    """The lease document if no live rebuild holds it: its holder ended, or stopped
    refreshing it (``heartbeat.STALE_AFTER_SECONDS``) by ``now``, the store's time."""
    return {
        "_id": LEASE_ID,
        "$or": [
            {"endedAt": {"$exists": True}},
            {"heartbeatAt": {"$lt": heartbeat.stale_before(now)}},
        ],
    }


async def claim(db: Db, suffix: str) -> None:
    """Take the lease for the rebuild of generation ``suffix`` (the module docstring);
    ``RebuildRunning`` if a live rebuild holds it, ``StoreError`` if the store refuses."""
    lease = db[documents.REBUILD_LEASE]
    now = await store_now(db)
    held = {"_id": LEASE_ID, "suffix": suffix, "startedAt": now, "heartbeatAt": now}
    try:
        try:
            await lease.insert_one(held)
            return
        except DuplicateKeyError:
            result = await lease.update_one(_free(now), {"$set": held, "$unset": {"endedAt": ""}})
        if result.matched_count == 1:
            return
        holder = await lease.find_one({"_id": LEASE_ID})
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot claim the rebuild lease: {exc}") from exc
    raise RebuildRunning(running_message(holder, await store_now(db)))


def running_message(holder: Mapping[str, Any] | None, now: datetime) -> str:
    """Why a rebuild did not start, naming the one that holds the lease: its generation,
    start and last heartbeat (its age against ``now``, the store's time, the clock it was
    written with), and when it would stop blocking if its process is gone."""
    stale = heartbeat.STALE_AFTER_SECONDS
    if holder is None:
        return (
            "another rebuild claimed the rebuild lease at the same moment: this one did not start"
        )
    started, beat = stored_time(holder.get("startedAt")), stored_time(holder.get("heartbeatAt"))
    since = f" ({(now - beat).total_seconds():.0f} s ago)" if beat is not None else ""
    return (
        f"another rebuild is running: generation {holder.get('suffix')}, started "
        f"{f'{started:{TIME_FORMAT}}' if started else 'at an unknown time'}, last heartbeat "
        f"{f'{beat:{TIME_FORMAT}}' if beat else 'never'}{since}; this one did not start. Wait "
        f"for it to end; if its process is gone, it stops blocking once its heartbeat is over "
        f"{stale:.0f} s old"
    )


async def _refresh(db: Db, suffix: str) -> bool:
    """Refresh the lease's heartbeat while this rebuild holds it; False if another rebuild
    took it (this one looked dead): logged, and no longer refreshed, since the switch's
    compare-and-set decides which of the two switches readers."""
    result = await db[documents.REBUILD_LEASE].update_one(
        {"_id": LEASE_ID, "suffix": suffix, "endedAt": {"$exists": False}},
        {"$currentDate": {"heartbeatAt": True}},
    )
    if result.matched_count == 0:
        log.error(
            "another rebuild took the rebuild lease from %s (its heartbeat was over %.0f s "
            "late): whichever switches readers second will refuse to",
            suffix,
            heartbeat.STALE_AFTER_SECONDS,
        )
        return False
    return True


async def _release(db: Db, suffix: str) -> None:
    """Mark the lease ended if this rebuild still holds it (never another's). Logged, not
    raised, if the store refuses: the lease then frees itself once stale."""
    try:
        await db[documents.REBUILD_LEASE].update_one(
            {"_id": LEASE_ID, "suffix": suffix}, {"$currentDate": {"endedAt": True}}
        )
    except DRIVER_ERRORS as exc:
        log.warning("cannot release the rebuild lease of %s: %s", suffix, exc)


@contextlib.asynccontextmanager
async def holding(db: Db, suffix: str) -> AsyncIterator[None]:
    """Hold the lease for the rebuild of ``suffix`` while the block runs (the module
    docstring); ``RebuildRunning`` before the block if another rebuild holds it."""
    await claim(db, suffix)
    async with heartbeat.beating(
        functools.partial(_refresh, db, suffix),
        functools.partial(_release, db, suffix),
        f"the rebuild lease of {suffix}",
    ):
        yield
