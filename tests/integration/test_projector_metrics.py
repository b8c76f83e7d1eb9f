"""A projector process's own ``/metrics`` and ``/healthz``, and its trace log lines, against
the real broker and database."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pymongo.asynchronous.database import AsyncDatabase

from readmodel.changes import ShipmentChange
from tests.contract import example
from tests.integration.api_harness import free_port
from tests.integration.projector_harness import (
    TOPIC_OF_EXAMPLE,
    produce,
    projector_env,
    read_topic,
    scrape,
    start_projector,
    stop_projector,
    topic_names_from,
    wait_caught_up,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sample's value; a missing sample fails the test (no silent zero)."""
    key = (name, frozenset(labels.items()))
    assert key in found, f"no sample {name}{labels}"
    return found[key]


async def test_projector_exports_what_it_applied_refused_and_holds(
    kafka_bootstrap: str, topic_names: dict[str, str], mongo_db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    examples = {name: example(name) for name in TOPIC_OF_EXAMPLE}
    examples["shipment-milestone.json"]["traceparent"] = TRACEPARENT
    records = [
        (topic_names[TOPIC_OF_EXAMPLE[name]], event["subject"].encode(), json.dumps(event).encode())
        for name, event in examples.items()
    ]
    records.append((topic_names["orders"], b"SO-1", b"not json at all"))
    await produce(kafka_bootstrap, records)

    port = free_port()
    group = f"metrics-{uuid.uuid4().hex[:8]}"
    env = projector_env(kafka_bootstrap, mongo_db.name, group, topic_names)
    env["PROJECTOR_METRICS_PORT"] = str(port)
    log = tmp_path / "projector.log"
    process = start_projector(env, log)
    url = f"http://127.0.0.1:{port}"
    inbound = topic_names_from(topic_names).inbound().values()
    try:
        await wait_caught_up(kafka_bootstrap, group, topic_names_from(topic_names), within=120)
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{url}/healthz")
        found = samples(await scrape(url))
        # the gauges follow the commit on the loop's next round, which may come after a new
        # generation's deferred index build (``runner._build_deferred_indexes``): wait for
        # every held partition's lag, not the first ones fetched
        for _ in range(50):
            lags = [v for (n, _), v in found.items() if n == "portal_projector_partition_lag"]
            if len(lags) == 4 * len(inbound) and not any(lags):
                break
            await asyncio.sleep(0.2)
            found = samples(await scrape(url))
    finally:
        stop_projector(process)

    assert health.status_code == 200 and health.json()["status"] == "ok"
    applied = "portal_projector_events_applied_total"
    for name, event in examples.items():
        topic = topic_names[TOPIC_OF_EXAMPLE[name]]
        assert value(found, applied, topic=topic, type=event["type"]) == 1, name
    assert sum(v for (n, _), v in found.items() if n == applied) == len(examples)
    dead = "portal_projector_dead_letters_total"
    assert value(found, dead, topic=topic_names["orders"], reason="not JSON") == 1
    assert value(found, "portal_projector_event_to_written_seconds_count") == len(examples)
    assert value(found, "portal_projector_record_to_written_seconds_count") == len(examples)
    # the contract's examples happened days ago; their records were produced just now
    assert value(found, "portal_projector_event_to_written_seconds_bucket", le="3600.0") == 0
    assert value(found, "portal_projector_record_to_written_seconds_bucket", le="60.0") == len(
        examples
    )
    assert value(found, "portal_projector_batch_records_sum") == len(records)
    assert value(found, "portal_projector_batch_duration_seconds_count") >= 1

    assert value(found, "portal_projector_assigned_partitions") == 4 * len(inbound)
    committed = {
        dict(labels)["topic"]: v
        for (n, labels), v in found.items()
        if n == "portal_projector_committed_offset"
    }
    assert set(committed) == set(inbound)
    offsets_total = sum(
        v for (n, _), v in found.items() if n == "portal_projector_committed_offset"
    )
    assert offsets_total == len(records)  # every record committed, on fresh topics
    lags = [v for (n, _), v in found.items() if n == "portal_projector_partition_lag"]
    assert len(lags) == 4 * len(inbound) and not any(lags)

    # one trace id from the event to the projector's log line and the change notice
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    traced = [line for line in lines if line.get("trace_id") == TRACE_ID]
    assert [line["event_id"] for line in traced] == [examples["shipment-milestone.json"]["id"]]
    assert traced[0]["customer_ids"] == ["ACME"] and traced[0]["level"] == "INFO"
    notices = [
        ShipmentChange.decode(r.value)
        for r in await read_topic(kafka_bootstrap, topic_names["changes"])
    ]
    assert [n.traceparent for n in notices] == [TRACEPARENT]
