"""The simulator's publisher and CLI against the real broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from readmodel.kafka_admin import partitions_of
from readmodel.topics import INBOUND_KINDS
from simulator.faults import FaultRates
from simulator.publish import Publisher
from simulator.records import TopicKind
from simulator.world import expected_counts, generate

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def read_all(bootstrap: str, topics: list[str]) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every (key, value) on ``topics``, in partition order, up to the current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
        async with asyncio.timeout(60):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, messages in batch.items():
                    out[tp.topic] += [(m.key or b"", m.value or b"") for m in messages]
        return out
    finally:
        await consumer.stop()


def inbound(topic_names: dict[str, str]) -> dict[TopicKind, str]:
    return {kind: topic_names[kind] for kind in INBOUND_KINDS}


async def test_a_published_history_reads_back_per_topic_in_key_order(
    kafka_bootstrap: str, topic_names: dict[str, str]
) -> None:
    faults = FaultRates(duplicate=0.05, stale_snapshot=0.3, disorder=0.1, broken=0.02)
    records = list(generate(3, days=3, orders_per_day=15, now=NOW, faults=faults))
    topics = inbound(topic_names)
    async with Publisher(kafka_bootstrap, topics) as publisher:
        tally = await publisher.send_all(records)
    assert tally == expected_counts(records)

    landed = await read_all(kafka_bootstrap, list(topics.values()))
    for kind, topic in topics.items():
        sent = [r for r in records if r.topic_kind == kind]
        assert len(landed[topic]) == len(sent), kind
        # Per key, the broker keeps the order the simulator emitted (faults included).
        sent_by_key: dict[bytes, list[bytes]] = defaultdict(list)
        for record in sent:
            sent_by_key[record.key].append(record.value)
        got_by_key: dict[bytes, list[bytes]] = defaultdict(list)
        for key, value in landed[topic]:
            got_by_key[key].append(value)
        assert got_by_key == sent_by_key, kind
    broken = [r for r in records if r.broken]
    assert broken and all((r.key, r.value) in landed[topics[r.topic_kind]] for r in broken[:20])


def _cli_env(topic_names: dict[str, str], bootstrap: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({f"TOPIC_{kind.upper()}": topic for kind, topic in topic_names.items()})
    env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    env["PYTHONPATH"] = str(REPO)
    return env


async def test_the_cli_publishes_the_history_it_would_count(
    kafka_bootstrap: str, topic_names: dict[str, str]
) -> None:
    args = ["--seed", "5", "--days", "2", "--orders-per-day", "12", "--now", NOW.isoformat()]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "simulator", "history", *args, "--faults", "default"],
        env=_cli_env(topic_names, kafka_bootstrap),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    expected = expected_counts(generate(5, 2, None, 12, now=NOW, faults=FaultRates.default()))
    assert f"history up to {NOW.isoformat()}: {expected.total} records" in done.stdout
    landed = await read_all(kafka_bootstrap, [topic_names[k] for k in INBOUND_KINDS])
    for kind in INBOUND_KINDS:
        assert len(landed[topic_names[kind]]) == expected.records.get(kind, 0), kind


async def test_live_cli_trickles_until_interrupted(
    kafka_bootstrap: str, topic_names: dict[str, str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulator", "live", "--days", "1", "--orders-per-day", "10",
        "--rate", "40", "--now", now.isoformat(),
        env=_cli_env(topic_names, kafka_bootstrap),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.sleep(8)
        first = await read_all(kafka_bootstrap, [topic_names[k] for k in INBOUND_KINDS])
        await asyncio.sleep(3)
        second = await read_all(kafka_bootstrap, [topic_names[k] for k in INBOUND_KINDS])
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    first_count = sum(len(v) for v in first.values())
    second_count = sum(len(v) for v in second.values())
    assert first_count > 0
    assert second_count > first_count  # still moving
    assert b"live: continuing" in out
