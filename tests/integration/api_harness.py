"""The API as its own process (``python -m web``) on a free port, configured only through the
environment as in production: what the process, browser, tracing and broker-down tests run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from tests.helpers import SECRET, Stack
from tests.integration.processes import NotHealthy, terminate, wait_healthy

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, within: float = 30.0) -> None:
        try:
            await wait_healthy(self.process, f"{self.url}/healthz", within)
        except NotHealthy as exc:
            raise AssertionError(f"API {exc}:\n{self.log()}") from None

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


async def start_api(env: Mapping[str, str], log_path: Path) -> ApiProcess:
    """A ready API process (stopped again if it does not become ready)."""
    api = ApiProcess(env, log_path)
    try:
        await api.wait_ready()
    except BaseException:
        api.stop()
        raise
    return api


async def run_api(env: Mapping[str, str], log_path: Path) -> AsyncIterator[ApiProcess]:
    api = await start_api(env, log_path)
    try:
        yield api
    finally:
        api.stop()


class SharedApis:
    """API processes shared by the tests of one module: one per environment, started when a
    test first asks for it and stopped with the module. Only for tests that neither stop nor
    signal the process, nor read its whole log, nor leave state another test would see."""

    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        self._env = dict(env)
        self._logs = logs
        self._running: dict[tuple[tuple[str, str], ...], ApiProcess] = {}

    async def get(self, extra: Mapping[str, str]) -> ApiProcess:
        """The running process with ``extra`` over the common environment (started if new)."""
        key = tuple(sorted(extra.items()))
        if key not in self._running:
            log = self._logs / f"api-{len(self._running)}.log"
            self._running[key] = await start_api({**self._env, **extra}, log)
        api = self._running[key]
        if api.process.poll() is not None:  # a test before this one brought it down
            raise AssertionError(f"the shared API exited ({api.process.returncode}):\n{api.log()}")
        return api

    def stop(self) -> None:
        for api in self._running.values():
            api.stop()
