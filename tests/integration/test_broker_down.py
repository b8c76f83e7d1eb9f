"""Kafka goes down: portals keep reading, and the API says how stale the data is getting.

Runs the real projector and the real API as processes, feeds milestones through Kafka, then
stops the broker (``scripts/stack stop kafka``; restarted in ``finally``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.global_ids import number
from tests.helpers import Stack, token_for
from tests.integration.api_harness import REPO, run_api
from tests.integration.http_harness import sample
from tests.integration.projector_harness import Pipeline, produce

T = TypeVar("T")

STALE_AFTER_SECONDS = 4
SOURCE = "tms/us-road"
SHIPMENT = "SH-BROKER-1"
TRACKING = "TRK-BROKER-1"
READ = f"""{{
  shipmentByTrackingNumber(trackingNumber: "{TRACKING}") {{ id status milestones {{ rawCode }} }}
  dataFreshness {{ source stale lastAppliedAt lagSeconds }}
}}"""


def planned(sequence: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"planned-{sequence}",
        "source": SOURCE,
        "type": "logistics.shipment.planned.v1",
        "subject": SHIPMENT,
        "time": "2026-11-21T09:30:00-05:00",
        "datacontenttype": "application/json",
        "customerid": "ACME",
        "sequence": sequence,
        "data": {
            "shipmentId": SHIPMENT,
            "customerId": "ACME",
            "orderIds": ["SO-BROKER-1"],
            "mode": "LTL",
            "carrier": {"scac": "ODFL", "name": "Old Dominion"},
            "trackingNumber": TRACKING,
            "origin": {
                "line1": "100 Logistics Pkwy",
                "city": "Atlanta",
                "postalCode": "30336",
                "countryCode": "US",
            },
            "destination": {
                "line1": "5 Market St",
                "city": "Chicago",
                "postalCode": "60601",
                "countryCode": "US",
            },
            "plannedPickupAt": "2026-11-21T15:00:00-05:00",
            "plannedDeliveryAt": "2026-11-24T12:00:00-06:00",
            "serviceLevel": "STANDARD",
        },
    }


def milestone(sequence: int) -> dict[str, Any]:
    minute = f"{sequence:02d}"
    return {
        "specversion": "1.0",
        "id": f"milestone-{sequence}",
        "source": SOURCE,
        "type": "logistics.shipment.milestone.v1",
        "subject": SHIPMENT,
        "time": f"2026-11-21T16:{minute}:00-05:00",
        "datacontenttype": "application/json",
        "customerid": "ACME",
        "sequence": sequence,
        "data": {
            "shipmentId": SHIPMENT,
            "milestoneId": f"ms-broker-{sequence}",
            "statusCode": "P1",
            "occurredAt": f"2026-11-21T16:{minute}:00-05:00",
            "location": {"city": "Atlanta", "countryCode": "US"},
        },
    }


async def send(stack: Stack, topic: str, *events: dict[str, Any]) -> None:
    await produce(
        stack.kafka_bootstrap,
        [(topic, SHIPMENT.encode(), json.dumps(event).encode()) for event in events],
    )


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float, what: str) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.25)


async def stack_command(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(REPO / "scripts" / "stack"), *args, env=dict(os.environ)
    )
    async with asyncio.timeout(180):
        assert await process.wait() == 0, f"scripts/stack {' '.join(args)} failed"


@pytest.mark.skipif(
    os.environ.get("EXTERNAL_STACK") == "1",
    reason="stops the broker with scripts/stack, which leaves an external stack alone",
)
async def test_reads_survive_a_broker_outage_and_freshness_reports_staleness(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    stack = pipeline.stack
    shipments_topic = pipeline.topics["shipments"]
    projector_log = (tmp_path / "projector.log").open("wb")
    projector = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "projections",
        "run",
        cwd=REPO,
        env=pipeline.projector_env(),
        stdout=projector_log,
        stderr=asyncio.subprocess.STDOUT,
    )
    api_settings = pipeline.api_env(
        STALE_AFTER_SECONDS=str(STALE_AFTER_SECONDS), LAG_POLL_INTERVAL_SECONDS="1"
    )
    headers = {"authorization": f"Bearer {token_for(['ACME'])}"}
    try:
        async for api in run_api(api_settings, tmp_path / "api.log"):
            async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:

                async def read() -> dict[str, Any]:
                    response = await client.post("/graphql", json={"query": READ}, headers=headers)
                    assert response.status_code == 200, response.text
                    body = response.json()
                    assert "errors" not in body, body
                    data: dict[str, Any] = body["data"]
                    return data

                def source(data: dict[str, Any]) -> dict[str, Any]:
                    return next(s for s in data["dataFreshness"] if s["source"] == SOURCE)

                async def milestones_seen(count: int) -> dict[str, Any] | None:
                    data = await read()
                    shipment = data["shipmentByTrackingNumber"]
                    return data if shipment and len(shipment["milestones"]) >= count else None

                async def metrics() -> str:
                    return (await client.get("/metrics")).text

                # While events flow, the source stays fresh for longer than the threshold.
                await send(stack, shipments_topic, planned(1), milestone(2))
                await eventually(lambda: milestones_seen(1), 60, "the first milestone")
                started = time.monotonic()
                sequence = 2
                while time.monotonic() - started < STALE_AFTER_SECONDS + 2:
                    sequence += 1
                    await send(stack, shipments_topic, milestone(sequence))
                    data = await eventually(
                        partial(milestones_seen, sequence - 1), 30, f"milestone {sequence}"
                    )
                    assert source(data)["stale"] is False
                    await asyncio.sleep(1)

                async def lag_reported() -> str | None:
                    text = await metrics()
                    up = sample(text, "portal_kafka_up") == 1
                    lag = sample(text, "portal_projector_consumer_lag", topic=shipments_topic)
                    return text if up and lag is not None else None

                await eventually(lag_reported, 30, "consumer lag in /metrics")

                last_applied = source(await read())["lastAppliedAt"]
                await stack_command("stop", "kafka")
                try:
                    # Reads keep working, and the replica stays ready.
                    before = await read()
                    assert number(before["shipmentByTrackingNumber"]["id"]) == SHIPMENT
                    assert (await client.get("/readyz")).status_code == 200

                    async def stale() -> dict[str, Any] | None:
                        data = await read()
                        return data if source(data)["stale"] else None

                    data = await eventually(stale, STALE_AFTER_SECONDS + 20, "stale: true")
                    # Nothing was applied since the broker stopped; the data is simply aging.
                    assert source(data)["lastAppliedAt"] == last_applied
                    shipment = data["shipmentByTrackingNumber"]
                    assert number(shipment["id"]) == SHIPMENT
                    assert len(shipment["milestones"]) == sequence - 1

                    async def kafka_down() -> str | None:
                        text = await metrics()
                        return text if sample(text, "portal_kafka_up") == 0 else None

                    text = await eventually(kafka_down, 40, "portal_kafka_up 0")
                    freshness = sample(text, "portal_source_freshness_seconds", source=SOURCE)
                    assert freshness is not None and freshness > STALE_AFTER_SECONDS
                finally:
                    await stack_command("start", "kafka")
    finally:
        if projector.returncode is None:
            projector.terminate()
            async with asyncio.timeout(30):
                await projector.wait()
        projector_log.close()
