"""The durable marker of a rebuild in progress.

``projections generations drop`` must never drop a generation a rebuild is still writing,
and should drop one a failed rebuild left. Nothing else tells them apart: a rebuild reads
with no consumer group, and its collections look alike either way. So each rebuild keeps one
document in ``documents.GENERATION_BUILDS`` (``_id``: its suffix):

* ``startedAt`` and ``heartbeatAt``, written before the generation's first collection
  exists (a drop that lists a generation's collections therefore finds its marker too);
* ``heartbeatAt`` refreshed every ``heartbeat.HEARTBEAT_SECONDS`` while the rebuild runs: a
  rebuild killed outright (SIGKILL, a lost host) stops refreshing it, and once it is older
  than ``heartbeat.STALE_AFTER_SECONDS`` its generation counts as abandoned;
* ``switchedAt``, set just before the rebuild switches readers to the generation: from then
  on the generation is, or was, the one readers use, never an abandoned one (unset again if
  the switch is refused: the pointer changed meanwhile, ``projections.rebuild``);
* ``endedAt``, when the rebuild ends, switched or not.

Every time in the marker is the store's (``projections.store_clock``): written with
``$currentDate``, and judged stale against the store's time, never a host's own clock (two
hosts' clocks minutes apart made a live rebuild look abandoned).

Every write is an update of this one document (no transaction, no change stream: the same on
FerretDB 2 and MongoDB 6). A drop claims an abandoned generation by deleting its marker with
a filter that matches only an abandoned one (``abandoned_filter``); the rebuild's heartbeat
and its ``switchedAt`` update only a marker that exists. Whichever lands first wins: a
rebuild whose marker a drop claimed (its heartbeat late because the store was unreachable
for minutes) stops at its next heartbeat and refuses to switch (``GenerationClaimed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from projections import heartbeat
from projections.store import DRIVER_ERRORS, StoreError
from projections.store_clock import store_now
from readmodel import documents

log = logging.getLogger(__name__)


class GenerationClaimed(RuntimeError):
    """A drop found this rebuild's marker stale and dropped its generation as abandoned."""


def abandoned_filter(suffix: str, now: datetime) -> dict[str, Any]:
    """The marker of generation ``suffix`` if its rebuild ended, or stopped refreshing it,
    without ever switching readers to it: what a drop may claim. ``now`` is the store's
    time (``store_clock.store_now``), the clock the heartbeat was written with."""
    return {
        "_id": suffix,
        "switchedAt": {"$exists": False},
        "$or": [
            {"endedAt": {"$exists": True}},
            {"heartbeatAt": {"$lt": heartbeat.stale_before(now)}},
        ],
    }


async def mark_switching(db: AsyncDatabase[dict[str, Any]], suffix: str) -> None:
    """Record that the rebuild of ``suffix`` is about to switch readers to it; raise
    ``GenerationClaimed`` if a drop claimed it meanwhile (its collections may be gone, so
    readers must not be sent there)."""
    try:
        result = await db[documents.GENERATION_BUILDS].update_one(
            {"_id": suffix}, {"$currentDate": {"switchedAt": True}}
        )
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot mark generation {suffix} as switching: {exc}") from exc
    if result.matched_count == 0:
        raise GenerationClaimed(_claimed_message(suffix))


async def unmark_switching(db: AsyncDatabase[dict[str, Any]], suffix: str) -> None:
    """Take back ``mark_switching``: the switch was refused (``PointerMoved``) and no reader
    ever used generation ``suffix``, so once the rebuild ends it is abandoned, dropped by
    the next drop at once. Logged, not raised, if the store refuses: the generation then
    counts as retired and goes once the grace after the last switch has passed."""
    try:
        await db[documents.GENERATION_BUILDS].update_one(
            {"_id": suffix}, {"$unset": {"switchedAt": ""}}
        )
    except DRIVER_ERRORS as exc:
        log.warning("cannot record that rebuild %s did not switch: %s", suffix, exc)


def _claimed_message(suffix: str) -> str:
    return (
        f"generation {suffix} was dropped as abandoned (its rebuild's marker went more than "
        f"{heartbeat.STALE_AFTER_SECONDS:.0f} s without a heartbeat); readers were not "
        "switched to it: rebuild again"
    )


async def _refresh(db: AsyncDatabase[dict[str, Any]], suffix: str, claimed: asyncio.Event) -> bool:
    """Refresh the marker's heartbeat; set ``claimed`` and return False if it is gone."""
    result = await db[documents.GENERATION_BUILDS].update_one(
        {"_id": suffix}, {"$currentDate": {"heartbeatAt": True}}
    )
    if result.matched_count == 0:
        log.error("%s", _claimed_message(suffix))
        claimed.set()
        return False
    return True


@contextlib.asynccontextmanager
async def building(
    db: AsyncDatabase[dict[str, Any]], suffix: str, claimed: asyncio.Event
) -> AsyncIterator[None]:
    """Hold the marker of the rebuild of ``suffix`` while the block runs (the module
    docstring); ``claimed`` is set if a drop claims it. Entered before the generation has a
    collection: a store that refuses the marker stops the rebuild before it writes."""
    builds = db[documents.GENERATION_BUILDS]
    now = await store_now(db)
    try:
        await builds.insert_one({"_id": suffix, "startedAt": now, "heartbeatAt": now})
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot record rebuild {suffix} as in progress: {exc}") from exc
    async with heartbeat.beating(
        functools.partial(_refresh, db, suffix, claimed),
        functools.partial(_end, db, suffix),
        f"the marker of rebuild {suffix}",
    ):
        yield


async def _end(db: AsyncDatabase[dict[str, Any]], suffix: str) -> None:
    """Record that the rebuild of ``suffix`` ended. Upserted: a rebuild whose marker a drop
    claimed may have written collections again since, and a marker that ended without a
    switch makes them abandoned (a later drop drops them). Not raised if the store refuses:
    the marker then goes stale, which says the same ``heartbeat.STALE_AFTER_SECONDS`` later."""
    try:
        await db[documents.GENERATION_BUILDS].update_one(
            {"_id": suffix}, {"$currentDate": {"endedAt": True}}, upsert=True
        )
    except DRIVER_ERRORS as exc:
        log.warning("cannot record the end of rebuild %s: %s", suffix, exc)
