"""``scripts/demo``, the README's main command, end to end on the running stack.

Each test runs the real script with a small history and its own API port, database, topics,
consumer group and demo directory, so it collides neither with other tests nor with a demo
the developer is running; ``--keep-stack`` (and Ctrl-C, which stops only what the demo
started) leave the shared stack up.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from projections.store import ProjectionStore
from readmodel import documents
from readmodel.topics import TopicNames
from tests.helpers import Stack
from tests.integration.api_harness import free_port

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "scripts" / "demo"
#: Generous for a slow FerretDB; a healthy stack needs about 20 s per start.
START_TIMEOUT = 240.0

TOKEN_AFTER_LABEL = re.compile(
    r'^  (?P<label>[^\n]+)\n  \{"Authorization": "Bearer (?P<token>[^"]+)"\}$', re.M
)
TRACKING_NUMBER = re.compile(r"tracking number (\S+)")


def demo_processes(demo_dir: Path) -> list[int]:
    """Pids of processes whose environment marks them as this demo's (see scripts/demo)."""
    marker = f"PORTAL_DEMO_DIR={demo_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _parent(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))


def demo_services(demo_dir: Path) -> list[int]:
    """The demo's own processes, without their children (the API's validation fork server
    and multiprocessing's resource tracker end with the API; ``demo_processes`` still sees
    them, so a stray one fails the checks after the demo stops)."""
    pids = demo_processes(demo_dir)
    return [pid for pid in pids if _parent(pid) not in pids]


def pidfiles(demo_dir: Path) -> list[Path]:
    return sorted(demo_dir.glob("*.pid"))


def tokens_of(output: str) -> dict[str, str]:
    """Demo user label (e.g. "ACME viewer") -> the bearer token printed under it."""
    return {m["label"].split(" (")[0]: m["token"] for m in TOKEN_AFTER_LABEL.finditer(output)}


def run(
    env: dict[str, str], *args: str, timeout: float = START_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEMO), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest_asyncio.fixture
async def demo_env(
    stack: Stack,
    tmp_path: Path,
    kafka_admin: AIOKafkaAdminClient,
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[dict[str, str]]:
    """The environment of one small, isolated demo; stops it and removes its data afterwards."""
    name = f"demo{uuid.uuid4().hex[:10]}"
    topics = {field: f"{name}.{topic}" for field, topic in asdict(TopicNames()).items()}
    env = {
        **os.environ,
        "DEMO_DIR": str(tmp_path / "demo"),
        "API_PORT": str(free_port()),
        # A developer's own demo may hold the default 9464.
        "PROJECTOR_METRICS_PORT": "0",
        "MONGODB_URI": stack.mongodb_uri,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "MONGODB_DATABASE": name,
        "PROJECTOR_GROUP": f"{name}-projector",
        "DEMO_DAYS": "3",
        "DEMO_ORDERS_PER_DAY": "8",
        "DEMO_RATE": "2",
        "DEMO_CATCH_UP_TIMEOUT": "150",
        **{f"TOPIC_{field.upper()}": topic for field, topic in topics.items()},
    }
    yield env
    await asyncio.to_thread(run, env, "stop", "--keep-stack", timeout=120)
    existing = set(await kafka_admin.list_topics())
    ours = [topic for topic in topics.values() if topic in existing]
    if ours:
        await kafka_admin.delete_topics(ours)
    # Bounded: a hung FerretDB must fail the teardown, not stall the session.
    await asyncio.wait_for(mongo_client.drop_database(name), 60)


async def graphql(port: str, token: str, query: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_detached_demo_serves_its_world_and_stops_without_strays(
    demo_env: dict[str, str], mongo_client: AsyncMongoClient[dict[str, Any]]
) -> None:
    demo_dir = Path(demo_env["DEMO_DIR"])
    port = demo_env["API_PORT"]

    started = await asyncio.to_thread(run, demo_env, "--detach")
    output = started.stdout + started.stderr
    assert started.returncode == 0, output
    assert f"http://127.0.0.1:{port}/graphql" in output
    tokens = tokens_of(started.stdout)
    assert set(tokens) == {"ACME viewer", "ACME finance", "3PL support"}, output
    match = TRACKING_NUMBER.search(started.stdout)
    assert match is not None, output
    tracking_number = match[1]
    # The small world's shipments may all be planned but not picked up yet (no milestones):
    # what the API must serve is every milestone the store holds (the live trickle may add
    # more between the two reads, never fewer).
    store = ProjectionStore(mongo_client[demo_env["MONGODB_DATABASE"]])
    shipments = store.collection_name(documents.SHIPMENTS, await store.active_suffix())
    stored = await store.db[shipments].find_one({"trackingNumber": tracking_number})
    assert stored is not None

    # A young world may not have tracked anything of ACME yet: the demo then shows another
    # customer's shipment, which the support token sees and ACME's viewer must not.
    owner = stored["customerId"]
    body = await graphql(
        port,
        tokens["ACME viewer" if owner == "ACME" else "3PL support"],
        f'{{ shipmentByTrackingNumber(trackingNumber: "{tracking_number}") '
        "{ trackingNumber customerId status milestones { rawCode } } }",
    )
    shipment = body["data"]["shipmentByTrackingNumber"]
    assert shipment is not None, body
    assert shipment["trackingNumber"] == tracking_number
    assert shipment["customerId"] == owner
    served = Counter(m["rawCode"] for m in shipment["milestones"])
    assert Counter(m["rawCode"] for m in stored["milestones"]) - served == Counter()

    async with httpx.AsyncClient(timeout=30) as client:
        page = await client.get(f"http://127.0.0.1:{port}/graphql", headers={"Accept": "text/html"})
    assert tracking_number in page.text, "GraphiQL's first tab tracks the printed shipment"

    again = await asyncio.to_thread(run, demo_env, "--detach", timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert set(tokens_of(again.stdout)) == {"ACME viewer", "ACME finance", "3PL support"}

    pids = demo_services(demo_dir)
    assert len(pids) == 3, f"projector, API and live trickle expected, found {pids}"
    stopped = await asyncio.to_thread(run, demo_env, "stop", "--keep-stack", timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert demo_processes(demo_dir) == []
    assert pidfiles(demo_dir) == []
    await mongo_client.admin.command("ping")  # the shared stack is still up


async def test_foreground_demo_stops_what_it_started_on_ctrl_c(
    demo_env: dict[str, str],
) -> None:
    demo_dir = Path(demo_env["DEMO_DIR"])
    process = await asyncio.create_subprocess_exec(
        str(DEMO),
        cwd=REPO,
        env=demo_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while not any(line.startswith("[demo] ready in") for line in lines):
            remaining = deadline - time.monotonic()
            assert remaining > 0, "".join(lines)
            line = await asyncio.wait_for(process.stdout.readline(), remaining)
            assert line, "scripts/demo ended before it was ready:\n" + "".join(lines)
            lines.append(line.decode())
        assert len(demo_services(demo_dir)) == 3
        # What a terminal's Ctrl-C does: SIGINT to the foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        rest, _ = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    output = "".join(lines) + rest.decode()
    assert process.returncode == 0, output
    assert "[demo] demo stopped" in output
    assert demo_processes(demo_dir) == []
