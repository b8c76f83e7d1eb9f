"""A rebuild's lease and marker judged by hosts whose clocks disagree, against the real store
(``projections.store_clock``). Before, each heartbeat was written with the rebuilding host's
clock and judged stale with the judging host's: a host whose clock ran ten minutes ahead
took a live rebuild's lease and dropped the generation it was writing, and one whose clock
ran behind kept a dead rebuild blocking for as long as the skew. Here the judging process's
own clock is shifted (its modules' ``datetime``); the store's clock is the one that counts."""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import projections.__main__ as entry
import projections.store
from projections import build_marker, generations, heartbeat, rebuild_lease
from projections.build_marker import building
from projections.generations import Status, drop_generations, list_generations
from projections.heartbeat import STALE_AFTER_SECONDS
from projections.rebuild_lease import LEASE_ID, RebuildRunning, claim, holding
from projections.settings import ProjectorSettings
from projections.store import ProjectionStore
from projections.store_clock import store_now
from readmodel import documents
from tests.helpers import Stack

Db = AsyncDatabase[dict[str, Any]]
#: The default grace period (``GENERATION_DROP_GRACE_SECONDS``).
GRACE = timedelta(seconds=ProjectorSettings.model_fields["generation_drop_grace_seconds"].default)
#: Far more than the stale time, either way.
SKEW = timedelta(minutes=10)


class _AnyDatetime(type):
    """Keeps ``isinstance(stored_time, datetime)`` true where ``datetime`` is shifted."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, datetime)


def _shifted(offset: timedelta) -> type[datetime]:
    """``datetime`` whose ``now`` runs ``offset`` away from the real (and the store's) clock."""

    class Shifted(datetime, metaclass=_AnyDatetime):
        @classmethod
        def now(cls, tz: Any = None) -> Shifted:
            return super().now(tz) + offset

    return Shifted


def _host_clock_off_by(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    """Make this process's clock, as the lease, marker and generations code reads it, run
    ``offset`` away from the store's (a judging host whose clock is off)."""
    for module in (build_marker, rebuild_lease, generations, entry):
        monkeypatch.setattr(module, "datetime", _shifted(offset), raising=False)


async def _with_orders(db: Db, suffix: str) -> None:
    """Give generation ``suffix`` its collections and an order, as a rebuild writing it."""
    await ProjectionStore(db).ensure_collections(suffix)
    orders = documents.generation_collection(documents.ORDERS, suffix)
    await db[orders].insert_one({"_id": f"O-{suffix}"})


async def _store_minutes_ago(db: Db, minutes: int) -> datetime:
    """A time ``minutes`` in the past by the store's clock: a heartbeat last written then."""
    return await store_now(db) - timedelta(minutes=minutes)


async def test_a_claimer_whose_clock_runs_ahead_does_not_take_a_live_rebuilds_lease(
    mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second rebuild on a host ten minutes ahead, while the first's heartbeat is fresh:
    refused, and its message gives the heartbeat's age by the store's clock (well under the
    stale time), not ten minutes. Before, it took the lease."""
    async with holding(mongo_db, "glive"):
        _host_clock_off_by(monkeypatch, SKEW)
        with pytest.raises(RebuildRunning) as refused:
            await claim(mongo_db, "gsecond")

    message = str(refused.value)
    assert "generation glive" in message, message
    age = re.search(r"\((\d+) s ago\)", message)
    assert age is not None and int(age.group(1)) < STALE_AFTER_SECONDS, message


async def test_a_drop_on_a_host_whose_clock_runs_ahead_keeps_a_generation_being_built(
    stack: Stack, mongo_db: Db, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``generations`` and ``generations drop`` run on a host ten minutes ahead while a
    rebuild writes its generation: listed in progress and kept, with its collections.
    Before, it was listed abandoned and dropped under the live rebuild."""
    settings = ProjectorSettings(
        kafka_bootstrap_servers=stack.kafka_bootstrap,
        mongodb_uri=stack.mongodb_uri,
        mongodb_database=mongo_db.name,
    )
    claimed = asyncio.Event()
    async with building(mongo_db, "glive", claimed):
        await _with_orders(mongo_db, "glive")
        _host_clock_off_by(monkeypatch, SKEW)

        listed = await entry._generations(settings, argparse.Namespace(action="list"))
        dropped = await drop_generations(mongo_db, GRACE)

        _, found = await list_generations(mongo_db, await store_now(mongo_db))
    assert listed == 0
    assert "glive: in progress; kept: a rebuild is writing it" in capsys.readouterr().out
    assert dropped == []
    assert {g.suffix: g.status for g in found} == {"glive": Status.IN_PROGRESS}
    assert not claimed.is_set()


async def test_a_heartbeat_stale_by_the_stores_clock_is_claimed_by_a_host_whose_clock_lags(
    mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild killed five minutes ago by the store's clock (its lease and marker beat
    last then), judged from a host ten minutes behind: the next rebuild takes the lease and
    a drop drops the abandoned generation. Before, both waited out the skew."""
    await claim(mongo_db, "gkilled")
    last_beat = await _store_minutes_ago(mongo_db, 5)
    lease = mongo_db[documents.REBUILD_LEASE]
    await lease.update_one({"_id": LEASE_ID}, {"$set": {"heartbeatAt": last_beat}})
    builds = mongo_db[documents.GENERATION_BUILDS]
    await builds.insert_one({"_id": "gkilled", "startedAt": last_beat, "heartbeatAt": last_beat})
    await _with_orders(mongo_db, "gkilled")
    _host_clock_off_by(monkeypatch, -SKEW)

    await claim(mongo_db, "gnext")
    dropped = await drop_generations(mongo_db, GRACE)

    assert (await lease.find_one({"_id": LEASE_ID}) or {}).get("suffix") == "gnext"
    assert [(g.suffix, g.status) for g in dropped] == [("gkilled", Status.ABANDONED)]
    assert "orders__gkilled" not in await mongo_db.list_collection_names()


async def test_the_store_writes_the_heartbeats_with_its_own_clock(
    mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebuilding host's clock runs ten minutes behind: the times in its lease and
    marker (start, each heartbeat, end) are the store's all the same, so a judging host
    sees them fresh, not five minutes stale."""
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.05)
    _host_clock_off_by(monkeypatch, -SKEW)
    before = await store_now(mongo_db)
    leases = mongo_db[documents.REBUILD_LEASE]
    builds = mongo_db[documents.GENERATION_BUILDS]
    started: list[dict[str, Any] | None] = []

    async with holding(mongo_db, "glagging"), building(mongo_db, "glagging", asyncio.Event()):
        started += [await leases.find_one(), await builds.find_one()]
        long_ago = await _store_minutes_ago(mongo_db, 60)
        pair = (leases, builds)
        for found in pair:
            await found.update_one({}, {"$set": {"heartbeatAt": long_ago}})
        async with asyncio.timeout(60):  # until the next beats refreshed both
            while True:
                stale = [await found.find_one({"heartbeatAt": long_ago}) for found in pair]
                if stale == [None, None]:
                    break
                await asyncio.sleep(0.05)
        beats = [await leases.find_one(), await builds.find_one()]
    ended = [await leases.find_one(), await builds.find_one()]

    times = [doc[key] for doc in started for key in ("startedAt", "heartbeatAt") if doc]
    times += [doc["heartbeatAt"] for doc in beats if doc]
    times += [doc["endedAt"] for doc in ended if doc]
    assert len(times) == 8, (started, beats, ended)
    earliest = before - timedelta(seconds=5)
    assert all(t.replace(tzinfo=UTC) >= earliest for t in times), times


async def test_a_switch_made_on_a_host_whose_clock_lags_starts_the_grace_at_the_switch(
    mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilds on a host whose clock lags by more than the grace switch readers (the first
    switch, with no pointer yet, then another): a drop right after each keeps the generation
    readers just left, which API processes may still read. Before, the pointer recorded
    the lagging host's time and the drop found the grace already over."""
    for suffix in ("", "g1", "g2"):
        await _with_orders(mongo_db, suffix)
    monkeypatch.setattr(projections.store, "datetime", _shifted(-(GRACE + SKEW)))
    store = ProjectionStore(mongo_db)

    await store.set_active_suffix(
        "g1", revision_offset=0, replacing=await store.active_generation()
    )
    after_first = await drop_generations(mongo_db, GRACE)
    await store.set_active_suffix(
        "g2", revision_offset=0, replacing=await store.active_generation()
    )
    after_second = await drop_generations(mongo_db, GRACE)

    assert (after_first, after_second) == ([], [])
    _, found = await list_generations(mongo_db, await store_now(mongo_db))
    assert {g.suffix: g.status for g in found} == {
        "": Status.RETIRED,
        "g1": Status.PREVIOUS,
        "g2": Status.ACTIVE,
    }
