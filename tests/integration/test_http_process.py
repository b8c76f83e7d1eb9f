"""The API as its own process (``python -m web``): start-up, WebSocket routing, shutdown.

``ApiProcess`` is also what the browser and broker-down tests run against: a real uvicorn on
a free port, configured only through the environment, as in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.mint import mint_token
from entitlements.tokens import TokenSettings
from tests.conftest import Stack
from tests.integration.processes import terminate

REPO = Path(__file__).resolve().parents[2]
SECRET = "process-tests-shared-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_token(customers: list[str], roles: list[str] | None = None, secret: str = SECRET) -> str:
    return mint_token(
        TokenSettings(hs256_secret=secret),
        subject="process-test",
        customers=customers,
        roles=roles or ["viewer"],
        ttl_seconds=900,
    )


class ApiProcess:
    """``python -m web`` on a free port; ``stop`` sends SIGTERM like an orchestrator."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "web"],
            cwd=REPO,
            env={**os.environ, **env, "API_HOST": "127.0.0.1", "API_PORT": str(self.port)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"API exited with {self.process.returncode}:\n{self.log()}"
                    )
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"API not up within {within}s:\n{self.log()}")

    def stop(self) -> int:
        status = terminate(self.process)
        self._log.close()
        return status


def api_env(stack: Stack, database: str, **extra: str) -> dict[str, str]:
    return {
        "AUTH_HS256_SECRET": SECRET,
        "MONGODB_URI": stack.mongodb_uri,
        "MONGODB_DATABASE": database,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "LOG_LEVEL": "INFO",
        **extra,
    }


async def run_api(env: Mapping[str, str], log_path: Path) -> AsyncIterator[ApiProcess]:
    api = ApiProcess(env, log_path)
    try:
        await api.wait_ready()
        yield api
    finally:
        api.stop()


@pytest_asyncio.fixture
async def api_process(
    stack: Stack,
    mongo_db: AsyncDatabase[dict[str, Any]],
    topic_names: dict[str, str],
    tmp_path: Path,
) -> AsyncIterator[ApiProcess]:
    topics = {f"TOPIC_{name.upper()}": topic for name, topic in topic_names.items()}
    async for api in run_api(api_env(stack, mongo_db.name, **topics), tmp_path / "api.log"):
        yield api


# --- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subprotocol", "init", "ack"),
    [
        ("graphql-transport-ws", "connection_init", "connection_ack"),
        ("graphql-ws", "connection_init", "connection_ack"),
    ],
)
async def test_websocket_upgrades_on_the_graphql_path_reach_the_subscription_handlers(
    api_process: ApiProcess, subprotocol: str, init: str, ack: str
) -> None:
    url = api_process.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == subprotocol
        payload = {"Authorization": f"Bearer {api_token(['ACME'])}"}
        await ws.send(json.dumps({"type": init, "payload": payload}))
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] != "ka":  # graphql-ws keep-alives may come first
                    break
        assert message["type"] == ack


async def test_unknown_websocket_subprotocol_is_refused(api_process: ApiProcess) -> None:
    url = api_process.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=["chat"]) as ws:  # type: ignore[list-item]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


async def test_serves_http_and_stops_cleanly_on_sigterm(
    api_process: ApiProcess, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    async with httpx.AsyncClient(base_url=api_process.url) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { customers } }"},
            headers={"authorization": f"Bearer {api_token(['ACME'])}"},
        )
        assert response.json() == {"data": {"viewer": {"customers": ["ACME"]}}}
        assert (await client.get("/readyz")).status_code == 200
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
    assert api_process.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in api_process.log()
    assert "Traceback" not in api_process.log()


async def test_bad_configuration_exits_with_a_clear_message(tmp_path: Path) -> None:
    api = ApiProcess({"AUTH_HS256_SECRET": "", "AUTH_JWKS_URL": ""}, tmp_path / "api.log")
    assert api.process.wait(timeout=30) == 2
    api.stop()
    log = api.log()
    assert "AUTH_HS256_SECRET" in log and "Traceback" not in log
