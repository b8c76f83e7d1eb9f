"""The projection generations the store holds, and dropping those nothing uses any more.

A generation is the collections ``<name>__<suffix>`` of ``documents.GENERATION_COLLECTIONS``
(suffix "" is the original generation, named without one). Each is one of:

* **active**: the read pointer names it. Never dropped.
* **in progress**: a rebuild is writing it (its marker's heartbeat is fresh,
  ``projections.build_marker``). Never dropped: the rebuild would switch readers to a
  generation without those collections.
* **abandoned**: its rebuild ended, or died, without switching readers to it (its marker
  says so). No reader and no live projector ever used it: dropped at once.
* **previous** (readers left it at the last switch) and **retired** (left before that):
  for ``READ_POINTER_CACHE_SECONDS`` after a switch an API process may still read it, and a
  live projector writes a batch into it if the batch started within
  ``POINTER_REFRESH_SECONDS`` of the switch (then again into the new one). Dropped only once
  ``GENERATION_DROP_GRACE_SECONDS`` have passed since the switch the pointer records: every
  retired generation was left no later than that. A pointer written before it recorded
  ``switchedAt`` (before session 19) is given one by the first drop: the time of that drop,
  which is after the switch, so the grace counts from then (``switchedAtEstimated``). A
  generation without a marker (rebuilt before session 19) is taken for a retired one.
  With no pointer at all, a generation whose rebuild marked its switch (the pointer write
  then failed, or the rebuild died) counts from that mark: no reader ever used it.

Why the reads go in this order (collections, markers, pointer): a rebuild writes its marker
before its first collection, so every generation listed has its marker already; and it
switches the pointer before it marks its end, so a generation whose marker says it ended is
found named by the pointer, if it was switched to. The claim of an abandoned generation is
a conditional delete of its marker (``build_marker.abandoned_filter``), so a rebuild that
was only slow and refreshes its heartbeat first keeps it.

Every "now" here is the store's time (``projections.store_clock``), the clock the markers'
heartbeats are written with: a drop run on a host whose clock is minutes off neither drops a
generation a rebuild is writing nor keeps an abandoned one for as long as the skew.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from pymongo.asynchronous.database import AsyncDatabase

from projections.build_marker import abandoned_filter
from projections.heartbeat import stale_before
from projections.store import DRIVER_ERRORS, StoreError, generation_label
from projections.store_clock import TIME_FORMAT, store_now
from readmodel import documents
from readmodel.documents import stored_time
from readmodel.read_pointer import ReadPointer, read_pointer

log = logging.getLogger(__name__)

Db = AsyncDatabase[dict[str, Any]]


class Status(StrEnum):
    """What a generation is to readers and writers (the module docstring)."""

    ACTIVE = "active"
    IN_PROGRESS = "in progress"
    PREVIOUS = "previous"
    RETIRED = "retired"
    ABANDONED = "abandoned"


@dataclass(frozen=True)
class Generation:
    """One generation found in the store: its collections with their (estimated) document
    counts, and, for a previous or retired one, the latest time readers can have left it
    (None: not recorded)."""

    suffix: str
    status: Status
    collections: Mapping[str, int]
    switched_from: datetime | None

    @property
    def label(self) -> str:
        return generation_label(self.suffix)


class Verdict(NamedTuple):
    """Whether a drop may drop a generation now, and the reason its log line gives."""

    drop: bool
    reason: str


def classify(
    suffix: str, pointer: ReadPointer, marker: Mapping[str, Any] | None, now: datetime
) -> Status:
    """What generation ``suffix`` is, from the pointer and its rebuild's marker (if any)."""
    if suffix == pointer.suffix:
        return Status.ACTIVE
    if marker is not None:
        beat = stored_time(marker.get("heartbeatAt"))
        fresh = beat is not None and beat > stale_before(now)
        if fresh and "endedAt" not in marker:
            return Status.IN_PROGRESS
        if "switchedAt" not in marker:
            return Status.ABANDONED
    return Status.PREVIOUS if suffix == pointer.previous else Status.RETIRED


def left_at(pointer: ReadPointer, marker: Mapping[str, Any] | None) -> datetime | None:
    """The latest time readers can have left a previous or retired generation: the last
    switch the pointer records, or its own rebuild's switch if later (a rebuild that died
    between marking its switch and writing the pointer, or whose pointer write the store
    refused). With no pointer at all, that own switch: it never landed, so no reader used
    the generation (the first rebuild's, which no later switch would ever bound). None if
    neither records one."""
    own = stored_time(marker.get("switchedAt")) if marker is not None else None
    if pointer.switched_at is None:
        return None if pointer.exists else own
    return max(pointer.switched_at, own) if own is not None else pointer.switched_at


def verdict(generation: Generation, now: datetime, grace: timedelta) -> Verdict:
    """Whether a drop may drop ``generation`` now, and why (for the log line)."""
    status = generation.status
    if status is Status.ACTIVE:
        return Verdict(False, "readers use it")
    if status is Status.IN_PROGRESS:
        return Verdict(False, "a rebuild is writing it")
    if status is Status.ABANDONED:
        return Verdict(True, "its rebuild ended without switching readers to it")
    left = generation.switched_from
    if left is None:
        return Verdict(
            False,
            "no switch time recorded (a pointer written before session 19, or no pointer: "
            "no rebuild ever switched readers)",
        )
    until = left + grace
    when = f"readers left it {'at' if status is Status.PREVIOUS else 'by'} {left:{TIME_FORMAT}}"
    if now < until:
        return Verdict(False, f"{when}: kept until {until:{TIME_FORMAT}}")
    return Verdict(True, f"{when}, over {grace} ago")


def _by_suffix(names: Iterable[str]) -> dict[str, list[str]]:
    """The generation collections among ``names``, by suffix (others, such as the audit
    log and the pointer, belong to no generation)."""
    found: dict[str, list[str]] = defaultdict(list)
    for name in names:
        base, separator, suffix = name.partition("__")
        if base in documents.GENERATION_COLLECTIONS and bool(separator) == bool(suffix):
            found[suffix].append(name)
    return found


async def list_generations(db: Db, now: datetime) -> tuple[ReadPointer, list[Generation]]:
    """The pointer and every generation the store holds, oldest first (suffixes sort by age,
    the original first); read in the order the module docstring explains."""
    try:
        found = _by_suffix(await db.list_collection_names())
        markers = {doc["_id"]: doc async for doc in db[documents.GENERATION_BUILDS].find()}
        pointer = read_pointer(await db[documents.READ_POINTER].find_one({"_id": "active"}))
        generations = []
        for suffix in sorted(found):
            marker = markers.get(suffix)
            counts = {name: await db[name].estimated_document_count() for name in found[suffix]}
            status = classify(suffix, pointer, marker, now)
            left = left_at(pointer, marker) if status in (Status.PREVIOUS, Status.RETIRED) else None
            generations.append(Generation(suffix, status, dict(sorted(counts.items())), left))
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot list the projection generations: {exc}") from exc
    return pointer, generations


async def _record_switch_time(db: Db, now: datetime) -> None:
    """Give a pointer written before session 19 a switch time: ``now``, after the real one,
    so the grace of the generations readers left counts from here (the module docstring).
    Only if it still has none: a rebuild's switch meanwhile recorded the real one."""
    await db[documents.READ_POINTER].update_one(
        {"_id": "active", "switchedAt": {"$exists": False}},
        {"$set": {"switchedAt": now, "switchedAtEstimated": True}},
    )
    log.info("the read pointer records no switch time; recorded %s as the latest it can be", now)


async def _drop(db: Db, generation: Generation, reason: str, now: datetime) -> bool:
    """Drop ``generation``'s collections, each with a log line naming it, then its marker;
    whether it was dropped. An abandoned one is first claimed (its marker deleted only if
    still abandoned): a rebuild that refreshed its heartbeat since the listing keeps it."""
    builds = db[documents.GENERATION_BUILDS]
    if generation.status is Status.ABANDONED:
        claimed = await builds.delete_one(abandoned_filter(generation.suffix, now))
        if claimed.deleted_count == 0:
            log.warning("keeping generation %s: its rebuild is alive again", generation.label)
            return False
    for name in generation.collections:
        log.warning(
            "dropping collection %s of %s generation %s: %s",
            name,
            generation.status,
            generation.label,
            reason,
        )
        await db.drop_collection(name)
    await builds.delete_one({"_id": generation.suffix})
    return True


async def drop_generations(db: Db, grace: timedelta, *, dry_run: bool = False) -> list[Generation]:
    """Drop every generation ``verdict`` allows (the module docstring says which), logging
    each kept one with the reason; the generations dropped (``dry_run``: that would be,
    with nothing written)."""
    now = await store_now(db)
    pointer, generations = await list_generations(db, now)
    dropped = []
    try:
        if pointer.exists and pointer.switched_at is None and not dry_run:
            await _record_switch_time(db, now)
        for generation in generations:
            decision = verdict(generation, now, grace)
            if not decision.drop:
                log.info(
                    "keeping %s generation %s: %s",
                    generation.status,
                    generation.label,
                    decision.reason,
                )
            elif dry_run:
                log.info(
                    "would drop %s generation %s (%s): %s",
                    generation.status,
                    generation.label,
                    ", ".join(generation.collections),
                    decision.reason,
                )
                dropped.append(generation)
            elif await _drop(db, generation, decision.reason, now):
                dropped.append(generation)
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot drop projection generations: {exc}") from exc
    return dropped


def report_lines(generations: Iterable[Generation], grace: timedelta, now: datetime) -> list[str]:
    """What ``python -m projections generations`` prints: each generation with its status,
    whether a drop would drop it at ``now`` (the store's time, as the listing's) and why,
    then its collections and document counts."""
    lines = []
    for generation in generations:
        decision = verdict(generation, now, grace)
        action = "a drop would drop it" if decision.drop else "kept"
        lines.append(f"{generation.label}: {generation.status}; {action}: {decision.reason}")
        lines.extend(
            f"  {name}: {count} documents" for name, count in generation.collections.items()
        )
    return lines or ["no projection generation in this database"]
