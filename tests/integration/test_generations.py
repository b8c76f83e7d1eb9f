"""``python -m projections generations [drop]`` against the real store: what a drop leaves
and what it drops, with generations made as rebuilds make them (``build_marker.building``
around their collections, ``set_active_suffix`` for their switch), and by real rebuilds."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from projections import build_marker, generations, heartbeat, projector
from projections import rebuild as rebuilding
from projections.build_marker import GenerationClaimed, building
from projections.generations import (
    Generation,
    Status,
    drop_generations,
    list_generations,
)
from projections.projector import BatchProcessor
from projections.rebuild import rebuild
from projections.settings import ProjectorSettings
from projections.status_mapping import load_status_mapping
from projections.store import ProjectionStore, StoreError
from readmodel import documents
from readmodel.read_pointer import ReadPointer
from readmodel.topics import TopicNames
from tests.helpers import Stack
from tests.integration.projector_harness import (
    REPO,
    generations_held,
    produce,
    projector_settings,
    records_of,
    run_projections,
    simulated_records,
    snapshot,
)

Db = AsyncDatabase[dict[str, Any]]
#: The default grace period (``GENERATION_DROP_GRACE_SECONDS``).
GRACE = timedelta(seconds=ProjectorSettings.model_fields["generation_drop_grace_seconds"].default)


async def _fill(db: Db, suffixes: Iterable[str]) -> None:
    """Give each generation its collections and an order, as a projector writing it would."""
    store = ProjectionStore(db)
    for suffix in suffixes:
        await store.ensure_collections(suffix)
        orders = documents.generation_collection(documents.ORDERS, suffix)
        await db[orders].insert_one({"_id": f"O-{suffix or 'original'}"})


async def _switch(store: ProjectionStore, suffix: str) -> None:
    """Switch readers to ``suffix`` as a rebuild does: from the pointer as it is now."""
    await store.set_active_suffix(
        suffix, revision_offset=0, replacing=await store.active_generation()
    )


async def _abandoned(db: Db, suffix: str) -> None:
    """A rebuild that wrote ``suffix`` and failed before its switch."""
    with pytest.raises(RuntimeError, match="before the switch"):
        async with building(db, suffix, asyncio.Event()):
            await _fill(db, [suffix])
            raise RuntimeError("interrupted before the switch")


async def _killed(db: Db, suffix: str) -> None:
    """A rebuild of ``suffix`` killed outright an hour ago: its marker ends no more beats."""
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    builds = db[documents.GENERATION_BUILDS]
    await builds.insert_one({"_id": suffix, "startedAt": hour_ago, "heartbeatAt": hour_ago})
    await _fill(db, [suffix])


async def _switch_was(db: Db, ago: timedelta) -> None:
    """Let the time since the last switch be ``ago`` (time passing, without the wait)."""
    pointer = await db[documents.READ_POINTER].find_one({"_id": "active"})
    assert pointer is not None
    switched = pointer["switchedAt"].replace(tzinfo=UTC) - ago
    await db[documents.READ_POINTER].update_one(
        {"_id": "active"}, {"$set": {"switchedAt": switched}}
    )


async def test_a_drop_leaves_active_and_in_progress_generations_and_drops_abandoned_and_expired(
    mongo_db: Db,
) -> None:
    """Readers left the original generation, then g1, for g2; a rebuild failed before its
    switch (ga), one was killed (gk), one is running (gp); the last switch was longer ago
    than the grace period. Before, nothing dropped any of them."""
    store = ProjectionStore(mongo_db)
    await _fill(mongo_db, ["", "g1", "g2"])
    await _switch(store, "g1")
    await _switch(store, "g2")
    await _abandoned(mongo_db, "ga")
    await _killed(mongo_db, "gk")
    await _switch_was(mongo_db, GRACE + timedelta(minutes=1))

    async with building(mongo_db, "gp", asyncio.Event()):
        await _fill(mongo_db, ["gp"])
        _, listed = await list_generations(mongo_db, datetime.now(UTC))
        assert {g.suffix: g.status for g in listed}["gp"] is Status.IN_PROGRESS
        dropped = await drop_generations(mongo_db, GRACE)

        assert {(g.suffix, g.status) for g in dropped} == {
            ("", Status.RETIRED),
            ("g1", Status.PREVIOUS),
            ("ga", Status.ABANDONED),
            ("gk", Status.ABANDONED),
        }
        assert set(await generations_held(mongo_db)) == {"g2", "gp"}
        assert await mongo_db["orders__g2"].find_one({"_id": "O-g2"}) is not None
        assert await mongo_db["orders__gp"].find_one({"_id": "O-gp"}) is not None
    assert await store.active_suffix() == "g2"


async def test_the_previous_generation_is_kept_through_its_grace_period(mongo_db: Db) -> None:
    """Just after the switch, API processes may still read the original generation and a
    live projector may still write a batch into it: only the abandoned one goes. Once the
    grace period has passed, a second drop drops it."""
    store = ProjectionStore(mongo_db)
    await _fill(mongo_db, ["", "g1"])
    await _switch(store, "g1")
    await _abandoned(mongo_db, "ga")

    dropped = await drop_generations(mongo_db, GRACE)

    assert [(g.suffix, g.status) for g in dropped] == [("ga", Status.ABANDONED)]
    assert set(await generations_held(mongo_db)) == {"", "g1"}

    await _switch_was(mongo_db, GRACE + timedelta(seconds=1))
    assert [g.suffix for g in await drop_generations(mongo_db, GRACE)] == [""]
    assert set(await generations_held(mongo_db)) == {"g1"}


async def test_a_dry_run_names_what_a_drop_would_drop_and_drops_nothing(mongo_db: Db) -> None:
    await _fill(mongo_db, [""])
    await _abandoned(mongo_db, "ga")

    would = await drop_generations(mongo_db, GRACE, dry_run=True)

    assert [(g.suffix, g.status) for g in would] == [("ga", Status.ABANDONED)]
    assert set(await generations_held(mongo_db)) == {"", "ga"}


async def test_a_pointer_written_before_switch_times_keeps_the_previous_generation(
    mongo_db: Db,
) -> None:
    """A pointer an earlier version wrote says nothing of when readers switched: the first
    drop keeps the generations readers left and records its own time as the switch's, so
    the grace period counts from then."""
    await _fill(mongo_db, ["", "g1"])
    await mongo_db[documents.READ_POINTER].insert_one({"_id": "active", "suffix": "g1"})
    before = datetime.now(UTC)

    assert await drop_generations(mongo_db, GRACE) == []

    pointer, generations = await list_generations(mongo_db, datetime.now(UTC))
    assert pointer.switched_at_estimated and pointer.switched_at is not None
    assert pointer.switched_at >= before.replace(microsecond=0)
    assert [(g.suffix, g.status) for g in generations] == [
        ("", Status.RETIRED),
        ("g1", Status.ACTIVE),
    ]
    await _switch_was(mongo_db, GRACE + timedelta(seconds=1))
    assert [g.suffix for g in await drop_generations(mongo_db, GRACE)] == [""]


async def test_a_first_rebuild_whose_switch_failed_is_dropped_once_its_grace_has_passed(
    mongo_db: Db,
) -> None:
    """The first rebuild ever marked its switch, then the store refused its pointer write
    (or the rebuild was killed right there): no pointer exists, so no reader ever used its
    generation, and its own switch time is the latest readers could have left it. Before,
    every drop kept it ("the pointer records no switch time"), a full copy of the read
    model, until a later rebuild switched."""
    await _fill(mongo_db, [""])
    with pytest.raises(StoreError, match="refused"):
        async with building(mongo_db, "g1", asyncio.Event()):
            await _fill(mongo_db, ["g1"])
            await build_marker.mark_switching(mongo_db, "g1")
            raise StoreError("cannot switch the projection pointer: refused")

    assert await drop_generations(mongo_db, GRACE) == []  # within the grace of its switch
    late = datetime.now(UTC) - GRACE - timedelta(seconds=1)
    builds = mongo_db[documents.GENERATION_BUILDS]
    await builds.update_one({"_id": "g1"}, {"$set": {"switchedAt": late}})
    assert [g.suffix for g in await drop_generations(mongo_db, GRACE)] == ["g1"]
    assert set(await generations_held(mongo_db)) == {""}


async def test_rebuilds_leave_what_a_drop_needs_to_tell_their_generations_apart(
    stack: Stack, topic_names: dict[str, str], mongo_db: Db
) -> None:
    """A rebuild that switched: its generation active, the original one previous (in its
    grace period). A rebuild stopped before its switch: abandoned, and dropped."""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 200))
    settings = projector_settings(stack, mongo_db, topic_names)
    await _fill(mongo_db, [""])
    suffix = await rebuild(settings)
    stopped = asyncio.Event()
    stopped.set()
    with pytest.raises(RuntimeError, match="interrupted before the switch"):
        await rebuild(settings, stopped)

    _, generations = await list_generations(mongo_db, datetime.now(UTC))
    status = {g.suffix: g.status for g in generations}
    (failed,) = set(status) - {"", suffix}
    assert status == {"": Status.PREVIOUS, suffix: Status.ACTIVE, failed: Status.ABANDONED}
    assert [g.suffix for g in await drop_generations(mongo_db, GRACE)] == [failed]
    assert set(await generations_held(mongo_db)) == {"", suffix}


async def test_a_rebuild_whose_generation_a_drop_claimed_does_not_switch_readers(
    stack: Stack,
    topic_names: dict[str, str],
    mongo_db: Db,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store was out of the rebuild's reach for minutes (its heartbeat late) and a drop
    took its generation for a dead rebuild's: readers must not be sent to what is left of
    it. The drop dropped exactly that generation, and nothing of it remains. (This checked
    only that whatever was listed after was abandoned, which held with nothing listed.)"""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 100))
    build_indexes = rebuilding._build_indexes
    # no heartbeat of the rebuild's own notices the claim first: the switch must
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 3600.0)
    claimed: list[str] = []

    async def dropped_meanwhile(
        processor: BatchProcessor, stop: asyncio.Event, suffix: str
    ) -> None:
        await build_indexes(processor, stop, suffix)
        if not await mongo_db[documents.GENERATION_BUILDS].count_documents({"_id": suffix}):
            return  # claimed already (the catch-up after the first)
        late = datetime.now(UTC) - timedelta(hours=1)
        builds = mongo_db[documents.GENERATION_BUILDS]
        await builds.update_one({"_id": suffix}, {"$set": {"heartbeatAt": late}})
        assert [g.suffix for g in await drop_generations(mongo_db, GRACE)] == [suffix]
        claimed.append(suffix)

    monkeypatch.setattr(rebuilding, "_build_indexes", dropped_meanwhile)
    with pytest.raises(GenerationClaimed, match="rebuild again"):
        await rebuild(projector_settings(stack, mongo_db, topic_names))

    assert await ProjectionStore(mongo_db).active_suffix() == ""
    (suffix,) = claimed
    _, generations = await list_generations(mongo_db, datetime.now(UTC))
    # the drop took every collection of it and the rebuild wrote none after: nothing is
    # left, and its marker says it ended unswitched (abandoned, had it written any)
    assert generations == []
    assert set(await generations_held(mongo_db)) == set()
    marker = await mongo_db[documents.GENERATION_BUILDS].find_one({"_id": suffix})
    assert marker is not None and "endedAt" in marker and "switchedAt" not in marker
    assert await drop_generations(mongo_db, GRACE) == []


async def test_a_projector_idle_across_a_switch_writes_nothing_more_into_the_previous_generation(
    mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its next batch after a quiet spell went into the generation it last saw, readers'
    previous one (then into the new one): a drop could not count on the previous generation
    staying dropped. Now a batch rereads a pointer read longer ago than
    ``POINTER_REFRESH_SECONDS`` (here, the quiet spell is longer than that)."""
    topics = TopicNames()
    records = records_of(simulated_records(topics.inbound(), 300))
    processor = BatchProcessor(ProjectionStore(mongo_db), load_status_mapping(), topics)
    await processor.process(records[:150])
    before = await snapshot(mongo_db)
    store = ProjectionStore(mongo_db)
    await store.ensure_collections("g1")
    await _switch(store, "g1")
    monkeypatch.setattr(projector, "POINTER_REFRESH_SECONDS", -1.0)

    await processor.process(records[150:])

    assert await snapshot(mongo_db) == before
    assert await mongo_db["orders__g1"].count_documents({}) > 0


async def test_a_rebuild_that_beats_again_after_the_listing_keeps_its_generation(
    mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drop listed gk as a dead rebuild's (its heartbeat an hour late: the store was out
    of its reach); the rebuild refreshed it before the drop claimed it: it is alive, and its
    generation stays."""
    await _fill(mongo_db, [""])
    await _killed(mongo_db, "gk")
    listing = generations.list_generations

    async def then_beat(db: Db, now: datetime) -> tuple[ReadPointer, list[Generation]]:
        listed = await listing(db, now)
        builds = db[documents.GENERATION_BUILDS]
        await builds.update_one({"_id": "gk"}, {"$set": {"heartbeatAt": datetime.now(UTC)}})
        return listed

    monkeypatch.setattr(generations, "list_generations", then_beat)

    assert await drop_generations(mongo_db, GRACE) == []
    assert set(await generations_held(mongo_db)) == {"", "gk"}


async def _cli(db: Db, *argv: str) -> tuple[int, str, str]:
    """``python -m projections <argv>`` on ``db``: its exit code, stdout and stderr."""
    env = {
        **os.environ,
        "MONGODB_DATABASE": db.name,
        "PYTHONPATH": str(REPO),
        "PROJECTOR_METRICS_PORT": "0",
    }
    return await run_projections(env, *argv)


async def test_the_operator_commands_list_and_drop_with_a_line_for_each_collection_dropped(
    mongo_db: Db,
) -> None:
    store = ProjectionStore(mongo_db)
    await _fill(mongo_db, ["", "g1"])
    await _switch(store, "g1")
    await _abandoned(mongo_db, "ga")

    code, listed, _ = await _cli(mongo_db, "generations")
    assert code == 0
    assert "(original): previous; kept: readers left it at" in listed
    assert "g1: active; kept: readers use it" in listed
    assert "ga: abandoned; a drop would drop it" in listed
    assert "  orders__ga: 1 documents" in listed

    code, out, log = await _cli(mongo_db, "generations", "drop", "--dry-run")
    assert (code, out) == (0, "would drop generation ga (abandoned)\nwould drop 1 generation(s)\n")
    assert set(await generations_held(mongo_db)) == {"", "g1", "ga"}

    code, out, log = await _cli(mongo_db, "generations", "drop")
    assert (code, out) == (0, "dropped generation ga (abandoned)\ndropped 1 generation(s)\n")
    for base in documents.GENERATION_COLLECTIONS:
        assert f"dropping collection {base}__ga of abandoned generation ga" in log
    assert set(await generations_held(mongo_db)) == {"", "g1"}
