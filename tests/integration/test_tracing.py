"""One trace id from the TMS event to the API's log, and from a portal's request to the
API's log and response; JSON log lines with the caller's sub and customers, never tokens."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from tests.contract import example
from tests.helpers import Stack, token_for
from tests.integration.api_harness import ApiProcess, api_env, run_api
from tests.integration.projector_harness import (
    Pipeline,
    produce,
    start_projector,
    stop_projector,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def wait_for_line(api: ApiProcess, predicate: Any, within: float = 60) -> dict[str, Any]:
    for _ in range(int(within * 5)):
        for line in json_lines(api.log()):
            if predicate(line):
                return line
        await asyncio.sleep(0.2)
    raise AssertionError(f"no such log line; the API's log ends with:\n{api.log()[-3000:]}")


async def test_a_request_s_trace_reaches_the_log_and_the_response(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    token = token_for(["ACME", "GLOBEX"])
    query = '{ shipmentByTrackingNumber(trackingNumber: "none") { id } }'
    async for api in run_api(api_env(stack, mongo_db.name), tmp_path / "api.log"):
        async with httpx.AsyncClient() as http:
            traced = await http.post(
                f"{api.url}/graphql",
                json={"query": query, "operationName": None},
                headers={"authorization": f"Bearer {token}", "traceparent": TRACEPARENT},
            )
            fresh = await http.post(f"{api.url}/graphql", json={"query": "{ __typename }"})
            bad = await http.post(
                f"{api.url}/graphql",
                json={"query": "{ __typename }"},
                headers={"traceparent": "00-zzz-nope-01"},
            )
        line = await wait_for_line(
            api, lambda x: x.get("message") == "graphql operation" and x.get("sub")
        )
        log = api.log()

    assert traced.status_code == 200
    version, trace_id, span_id, flags = traced.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id != "b7ad6b7169203331"  # our own span, in the caller's trace
    assert fresh.headers["traceparent"].split("-")[1] != TRACE_ID
    assert bad.headers["traceparent"].split("-")[1] != "zzz"  # ignored, a new trace started

    assert line["trace_id"] == TRACE_ID and line["span_id"] == span_id
    assert line["request_id"] == traced.headers["x-request-id"]
    assert line["sub"] == "alice" and line["customer_ids"] == ["ACME", "GLOBEX"]
    assert line["operation_type"] == "query" and line["error_codes"] == []
    assert token not in log and token.split(".")[1] not in log


async def test_one_trace_id_from_the_tms_event_to_the_subscription_feed(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    shipment = f"SH-{uuid.uuid4().hex[:8]}"
    planned = example("shipment-planned.json")
    milestone = example("shipment-milestone.json")
    for event in (planned, milestone):
        event["subject"] = event["data"]["shipmentId"] = shipment
    milestone["traceparent"] = TRACEPARENT

    async for api in run_api(pipeline.api_env(), tmp_path / "api.log"):
        await wait_for_line(api, lambda x: str(x.get("message", "")).startswith("live hub reading"))
        await produce(
            pipeline.stack.kafka_bootstrap,
            [
                (pipeline.topics["shipments"], shipment.encode(), json.dumps(e).encode())
                for e in (planned, milestone)
            ],
        )
        projector_log = tmp_path / "projector.log"
        projector = start_projector(pipeline.projector_env(), projector_log)
        try:
            dispatched = await wait_for_line(api, lambda x: x.get("message") == "notice dispatched")
        finally:
            stop_projector(projector)

    applied = [
        line
        for line in json_lines(projector_log.read_text())
        if line.get("message") == "event applied"
    ]
    assert [line["trace_id"] for line in applied] == [TRACE_ID]  # the planned event is untraced
    assert applied[0]["subject"] == shipment and applied[0]["event_id"] == milestone["id"]
    assert dispatched["trace_id"] == TRACE_ID
    stated = f"{milestone['data']['milestoneId']}|{milestone['sequence']}"
    assert dispatched["notice_id"] == f"tms/us-road|{stated}"
    assert dispatched["shipment_id"] == shipment and dispatched["customer_ids"] == ["ACME"]


async def test_probes_scrapes_and_query_strings_write_no_log_line(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    """Orchestrator probes and scrapes come every few seconds per replica: a line each would
    bury the lines that matter. A GET's query string holds the document and its variables
    (what a portal user searched for), which only the operation's own line may summarize."""
    searched = f"PRO-{uuid.uuid4().hex}"
    document = "query Track($n: String!) { shipmentByTrackingNumber(trackingNumber: $n) { id } }"
    async for api in run_api(api_env(stack, mongo_db.name), tmp_path / "api.log"):
        async with httpx.AsyncClient(base_url=api.url) as http:
            probes = [await http.get(path) for path in ("/healthz", "/readyz", "/metrics")]
            response = await http.get(
                "/graphql",
                params={"query": document, "variables": json.dumps({"n": searched})},
                headers={"authorization": f"Bearer {token_for(['ACME'])}"},
            )
        line = await wait_for_line(api, lambda x: x.get("operation_name") == "Track")
        log = api.log()

    assert [p.status_code for p in probes] == [200, 200, 200] and response.status_code == 200
    assert line["error_codes"] == []
    assert searched not in log
    assert not [
        x
        for x in json_lines(log)
        if any(p in x["message"] for p in ("/healthz", "/readyz", "/metrics"))
    ]
