"""``/metrics`` and ``/readyz`` answer whoever reaches the port, as fast as they send: neither
reads the store once per request, and ``/metrics`` asks for ``METRICS_TOKEN`` when it is set.

Store reads are counted by swapping the app's database for one whose client records what it
sends (the endpoints read ``app.state.db`` per request)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from tests.helpers import CommandRecorder, Stack
from tests.integration.http_harness import Running, sample, seed, settings_for, start
from web.operations import READY_REUSE_SECONDS

TOKEN = "scrape-token-0123456789"
Recorded = tuple[AsyncDatabase[dict[str, Any]], CommandRecorder]


async def _burst(api: Running, path: str) -> list[httpx.Response]:
    """Twenty requests at once, then twenty one after another."""
    at_once = await asyncio.gather(*(api.client.get(path) for _ in range(20)))
    return [*at_once, *[await api.client.get(path) for _ in range(20)]]


def _reads_of_sources(recorder: CommandRecorder) -> int:
    return sum(1 for c in recorder.commands("find") if str(c["find"]).endswith("sources"))


async def test_metrics_ask_for_the_token_when_one_is_set(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    await seed(mongo_db)
    async for api in start(settings_for(stack, mongo_db.name, METRICS_TOKEN=TOKEN)):
        refused = await api.client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "portal_" not in refused.text
        for wrong in (f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}"):
            response = await api.client.get("/metrics", headers={"authorization": wrong})
            assert response.status_code == 401
        allowed = await api.client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200
        assert sample(allowed.text, "portal_source_freshness_seconds", source="tms/us-road")
        # probes carry no credentials
        assert (await api.client.get("/healthz")).status_code == 200
        assert (await api.client.get("/readyz")).status_code == 200


async def test_rapid_scrapes_read_the_sources_once(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]], recorded_db: Recorded
) -> None:
    # No background refresh (FRESHNESS_REFRESH_SECONDS=0): scrapes alone read the sources,
    # at most once per the setting's default interval (5 s).
    await seed(mongo_db)
    async for api in start(settings_for(stack, mongo_db.name, FRESHNESS_REFRESH_SECONDS="0")):
        db, recorder = recorded_db
        api.app.state.db = db
        scrapes = await _burst(api, "/metrics")
        assert {r.status_code for r in scrapes} == {200}
        assert _reads_of_sources(recorder) == 1
        freshness = sample(
            scrapes[-1].text, "portal_source_freshness_seconds", source="tms/us-road"
        )
        assert freshness is not None and freshness >= 20


async def test_scrapes_see_new_values_after_the_interval(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]], recorded_db: Recorded
) -> None:
    await seed(mongo_db)
    settings = settings_for(stack, mongo_db.name, FRESHNESS_REFRESH_SECONDS="1")
    async for api in start(settings):
        db, recorder = recorded_db
        api.app.state.db = db
        assert {r.status_code for r in await _burst(api, "/metrics")} == {200}
        assert _reads_of_sources(recorder) <= 1  # the background refresh keeps the copy
        await mongo_db.sources.update_one(
            {"_id": "tms/us-road"},
            {"$set": {"lastAppliedAt": datetime.now(UTC), "declared": {"status": "DEGRADED"}}},
        )
        async with asyncio.timeout(5):
            while True:
                text = (await api.client.get("/metrics")).text
                labels = {"source": "tms/us-road", "status": "DEGRADED"}
                if sample(text, "portal_source_declared_status", **labels) == 1:
                    break
                await asyncio.sleep(0.1)
        freshness = sample(text, "portal_source_freshness_seconds", source="tms/us-road")
        assert freshness is not None and freshness < 10


async def test_rapid_readiness_probes_ping_once_per_interval(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]], recorded_db: Recorded
) -> None:
    async for api in start(settings_for(stack, mongo_db.name)):
        db, recorder = recorded_db
        api.app.state.db = db
        started = time.monotonic()
        probes = await _burst(api, "/readyz")
        elapsed = time.monotonic() - started
        assert {r.status_code for r in probes} == {200}
        assert len(recorder.commands("ping")) <= 1 + int(elapsed / READY_REUSE_SECONDS)
