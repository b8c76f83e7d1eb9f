"""Rebuilds that overlap, against the real store and broker: a second rebuild started while
one runs is refused before it writes anything (``projections.rebuild_lease``), and a switch
whose pointer someone changed meanwhile is refused (``ProjectionStore.set_active_suffix``,
a compare-and-set). Before, both rebuilds ran and switched readers in either order: readers
could go back to the generation built first, and notice revisions could go down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from projections import heartbeat
from projections import rebuild as rebuilding
from projections.generations import Status
from projections.projector import BatchProcessor
from projections.rebuild import SwitchRefused, rebuild
from projections.rebuild_lease import LEASE_ID, RebuildRunning, claim
from projections.store import ActiveGeneration, PointerMoved, ProjectionStore
from readmodel import documents
from tests.helpers import Stack
from tests.integration.projector_harness import (
    generations_held,
    produce,
    projector_env,
    projector_settings,
    run_projections,
    simulated_records,
)

Db = AsyncDatabase[dict[str, Any]]
#: A revision offset no rebuild of these tests computes: the other writer's.
OTHER_OFFSET = 777_777


def _while_building(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[str], Awaitable[None]]
) -> None:
    """Make ``meanwhile(suffix)`` happen once in the middle of a rebuild of ``suffix``:
    after its catch-up, before its switch (it holds its lease and marker then)."""
    build_indexes = rebuilding._build_indexes
    done: list[str] = []

    async def then_meanwhile(processor: BatchProcessor, stop: asyncio.Event, suffix: str) -> None:
        await build_indexes(processor, stop, suffix)
        if not done:
            done.append(suffix)
            await meanwhile(suffix)

    monkeypatch.setattr(rebuilding, "_build_indexes", then_meanwhile)


async def _cli_rebuild(stack: Stack, db: Db, topics: dict[str, str]) -> tuple[int, str]:
    """``python -m projections rebuild`` on ``db`` and ``topics``: its exit code and stderr."""
    env = projector_env(stack.kafka_bootstrap, db.name, f"test-{uuid.uuid4().hex[:8]}", topics)
    env["MONGODB_URI"] = stack.mongodb_uri
    code, _, err = await run_projections(env, "rebuild")
    return code, err


async def test_a_rebuild_started_while_another_runs_is_refused_and_the_first_completes(
    stack: Stack, topic_names: dict[str, str], mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator starts a second rebuild while the first is catching up: it exits 1 with
    one line naming the running rebuild's generation, start and last heartbeat, and writes
    nothing; the first switches readers to its generation as if alone. Before, both ran."""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 200))
    refusals: list[tuple[str, int, str]] = []

    async def second_rebuild(running: str) -> None:
        refusals.append((running, *await _cli_rebuild(stack, mongo_db, topic_names)))

    _while_building(monkeypatch, second_rebuild)
    first = await rebuild(projector_settings(stack, mongo_db, topic_names))

    [(running, code, err)] = refusals
    assert running == first
    assert code == 1, err
    assert f"another rebuild is running: generation {first}, started 20" in err, err
    assert "last heartbeat 20" in err and "this one did not start" in err, err
    assert await ProjectionStore(mongo_db).active_suffix() == first
    assert set(await generations_held(mongo_db)) <= {"", first}


async def test_of_two_rebuilds_started_at_once_one_runs_and_one_is_refused(
    stack: Stack, topic_names: dict[str, str], mongo_db: Db
) -> None:
    """A CronJob overlapping an operator's run: the two claim the lease at the same moment;
    exactly one builds and switches readers, the other writes nothing."""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 100))
    settings = projector_settings(stack, mongo_db, topic_names)

    results = await asyncio.gather(rebuild(settings), rebuild(settings), return_exceptions=True)

    [built] = [r for r in results if isinstance(r, str)]
    [refused] = [r for r in results if not isinstance(r, str)]
    assert isinstance(refused, RebuildRunning), refused
    assert f"generation {built}" in str(refused)
    assert await ProjectionStore(mongo_db).active_suffix() == built
    assert set(await generations_held(mongo_db)) <= {"", built}


@pytest.mark.parametrize("before", ["no lease yet", "a dead rebuild's lease"])
async def test_of_many_claims_at_once_exactly_one_wins(mongo_db: Db, before: str) -> None:
    """The claim is one conditional write of one document: of eight made together (an
    insert when there is no lease, an update of a stale one), one succeeds."""
    if before != "no lease yet":
        await claim(mongo_db, "gdead")
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        lease = mongo_db[documents.REBUILD_LEASE]
        await lease.update_one({"_id": LEASE_ID}, {"$set": {"heartbeatAt": hour_ago}})

    results = await asyncio.gather(
        *(claim(mongo_db, f"g{i}") for i in range(8)), return_exceptions=True
    )

    winners = [f"g{i}" for i, result in enumerate(results) if result is None]
    assert len(winners) == 1, results
    assert all(isinstance(r, RebuildRunning) for r in results if r is not None), results
    assert all(f"generation {winners[0]}" in str(r) for r in results if r is not None)


async def test_a_switch_whose_pointer_changed_meanwhile_is_refused_and_readers_keep_it(
    stack: Stack, topic_names: dict[str, str], mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a rebuild built its generation, someone else switched readers (a rebuild that
    took its lease, the store having been out of its reach for minutes): the rebuild does
    not switch, says so, and readers keep the pointer exactly as the other writer left it;
    its own generation is abandoned. Before, its switch overwrote the other's."""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 100))
    store = ProjectionStore(mongo_db)
    pointers = mongo_db[documents.READ_POINTER]
    left: list[dict[str, Any] | None] = []

    async def other_switch(_suffix: str) -> None:
        await store.ensure_collections("gother")
        await store.set_active_suffix(
            "gother", revision_offset=OTHER_OFFSET, replacing=await store.active_generation()
        )
        left.append(await pointers.find_one({"_id": "active"}))

    _while_building(monkeypatch, other_switch)
    with pytest.raises(SwitchRefused, match="readers keep gother") as refused:
        await rebuild(projector_settings(stack, mongo_db, topic_names))

    assert await pointers.find_one({"_id": "active"}) == left[0]
    assert (await store.active_generation()).revision_offset == OTHER_OFFSET
    status = await generations_held(mongo_db)
    [own] = set(status) - {"", "gother"}
    assert own in str(refused.value)
    assert status[own] is Status.ABANDONED


async def test_a_switch_from_a_pointer_whose_revision_offset_was_raised_is_refused(
    mongo_db: Db,
) -> None:
    """The same generation, but another rebuild's correction raised its revision offset
    after this switch read it: an offset computed from the old one could put notices
    below those already sent, so the switch is refused and changes nothing."""
    store = ProjectionStore(mongo_db)
    await store.set_active_suffix("g1", revision_offset=10, replacing=ActiveGeneration("", None))
    read = await store.active_generation()
    assert await store.raise_revision_offset("g1", 20)

    with pytest.raises(PointerMoved, match="revision offset 20"):
        await store.set_active_suffix("g2", revision_offset=30, replacing=read)

    assert await store.active_generation() == ActiveGeneration("g1", None, 20)


async def test_of_two_first_switches_at_once_one_lands(mongo_db: Db) -> None:
    """No pointer yet (readers on the original generation): two switches from it made
    together cannot both land, the second overwriting the first."""
    store = ProjectionStore(mongo_db)
    original = ActiveGeneration("", None)

    results = await asyncio.gather(
        store.set_active_suffix("ga", revision_offset=1, replacing=original),
        store.set_active_suffix("gb", revision_offset=2, replacing=original),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["NoneType", "PointerMoved"], results
    landed = "ga" if results[0] is None else "gb"
    assert (await store.active_generation()).suffix == landed


async def test_a_dead_rebuild_does_not_block_the_next(
    stack: Stack, topic_names: dict[str, str], mongo_db: Db
) -> None:
    """A rebuild killed outright an hour ago (SIGKILL, a lost host) left its lease and
    marker without an end: its heartbeat is stale, so the next rebuild runs."""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 100))
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await claim(mongo_db, "gkilled")
    lease = mongo_db[documents.REBUILD_LEASE]
    await lease.update_one({"_id": LEASE_ID}, {"$set": {"heartbeatAt": hour_ago}})
    builds = mongo_db[documents.GENERATION_BUILDS]
    await builds.insert_one({"_id": "gkilled", "startedAt": hour_ago, "heartbeatAt": hour_ago})

    suffix = await rebuild(projector_settings(stack, mongo_db, topic_names))

    assert await ProjectionStore(mongo_db).active_suffix() == suffix


async def test_a_rebuild_that_runs_longer_than_the_stale_time_keeps_blocking(
    stack: Stack, topic_names: dict[str, str], mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease's heartbeat is refreshed while the rebuild runs: here it is found an hour
    late (the store stalled), and once the next beat has refreshed it a second rebuild is
    refused again, rather than taking the lease of a rebuild that is alive."""
    await produce(stack.kafka_bootstrap, simulated_records(topic_names, 100))
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.1)
    lease = mongo_db[documents.REBUILD_LEASE]
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    refusals: list[str] = []

    async def stalled_then_beats(running: str) -> None:
        await lease.update_one({"_id": LEASE_ID}, {"$set": {"heartbeatAt": hour_ago}})
        async with asyncio.timeout(60):  # until the next beat refreshed it
            while True:
                held = await lease.find_one({"_id": LEASE_ID})
                if held is not None and held["heartbeatAt"] > hour_ago:
                    break
                await asyncio.sleep(0.05)
        with pytest.raises(RebuildRunning) as refused:
            await claim(mongo_db, "gsecond")
        refusals.append(str(refused.value))

    _while_building(monkeypatch, stalled_then_beats)
    first = await rebuild(projector_settings(stack, mongo_db, topic_names))

    [refusal] = refusals
    assert f"generation {first}" in refusal
    assert await ProjectionStore(mongo_db).active_suffix() == first
