"""The projector's metrics: bounded dead-letter labels, and /healthz served beside the loop."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from projections.metrics import ProjectorMetrics, reason_class
from projections.metrics_server import STALLED_AFTER_SECONDS, MetricsServer
from projections.runner import until_done
from projections.store import StoreError


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("record has no value", "no value"),
        ("not JSON: Expecting value: line 1 column 1 (char 0)", "not JSON"),
        ("not a JSON object: got array", "not a JSON object"),
        ("nested too deeply: maximum recursion depth exceeded", "nested too deeply"),
        ("not UTF-8: invalid start byte at byte 371", "not UTF-8"),
        ("header name not UTF-8: header 0, in hex 'ff' (kept as ...)", "header name not UTF-8"),
        ("type: unknown event type 'x.y'", "type"),
        ("data.lines[17].sku: missing", "data.lines[].sku"),
        ("data.lines[3].sku: missing", "data.lines[].sku"),
        ("event type logistics.order.created.v1 does not belong on t.tms", "wrong topic"),
        ("customerid 'B' does not match the customer 'A' of orders 'SO-1'", "customer conflict"),
        (
            "document-too-large: applying it would make shipments 'SH-1' 15,728,700 bytes,"
            " over the limit of 15,728,640",
            "document too large",
        ),
        ("something nobody foresaw, with 'values'", "other"),
    ],
)
def test_dead_letter_reasons_become_a_few_labels(reason: str, label: str) -> None:
    assert reason_class(reason) == label


async def test_healthz_fails_and_metrics_stay_up_while_the_loop_is_stuck() -> None:
    """/healthz reads the loop's heartbeat from another thread: a stuck loop is reported."""
    metrics = ProjectorMetrics()
    server = MetricsServer(metrics, "127.0.0.1", 0)
    server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            metrics.loop_came_round()
            assert (await http.get("/healthz")).status_code == 200
            assert metrics.last_loop_at is not None
            metrics.last_loop_at -= STALLED_AFTER_SECONDS + 1
            stuck = await http.get("/healthz")
            assert stuck.status_code == 503 and stuck.json()["status"] == "stalled"
            assert (await http.get("/metrics")).status_code == 200
            assert (await http.get("/other")).status_code == 404
    finally:
        server.stop()


async def test_metrics_ask_for_the_token_when_one_is_set() -> None:
    metrics = ProjectorMetrics()
    server = MetricsServer(metrics, "127.0.0.1", 0, token="scrape-token-0123456789")
    server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            refused = await http.get("/metrics")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "portal_projector" not in refused.text
            for wrong in ("Bearer scrape-token-012345678", "Basic scrape-token-0123456789"):
                assert (
                    await http.get("/metrics", headers={"authorization": wrong})
                ).status_code == 401
            allowed = await http.get(
                "/metrics", headers={"authorization": "Bearer scrape-token-0123456789"}
            )
            assert allowed.status_code == 200
            assert "portal_projector_last_loop_timestamp_seconds" in allowed.text
            assert (await http.get("/healthz")).status_code == 200  # probes need no token
    finally:
        server.stop()


async def test_healthz_stays_ok_while_a_batch_waits_out_a_store_outage() -> None:
    """A liveness probe must not restart a projector for MongoDB being down: retrying the
    batch is the loop doing its job."""
    metrics = ProjectorMetrics()
    server = MetricsServer(metrics, "127.0.0.1", 0)
    metrics.loop_came_round()
    assert metrics.last_loop_at is not None
    metrics.last_loop_at -= STALLED_AFTER_SECONDS + 1  # the outage has lasted that long
    attempts = 0

    async def write() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise StoreError("MongoDB unreachable")
        return "written"

    assert await until_done(write, asyncio.Event(), metrics) == "written"
    server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            health = await http.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        server.stop()
