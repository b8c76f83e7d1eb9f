"""A PostgreSQL + FerretDB + Kafka stack of the test's own, free to be killed and restarted.

The shared stack (``scripts/stack``'s default ports) serves every other test and engineer:
fault injection must never stop it. This one runs the same script with its own
``STACK_DIR`` and ports, and the binaries of an installed stack (``FERRETDB_BIN``,
``KAFKA_LIBS``; by default the ones ``scripts/install`` put under this checkout's
``.stack/``).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STACK_SCRIPT = REPO / "scripts" / "stack"


#: Where the kernel picks the local ports of outgoing connections (Linux's default if it
#: cannot be read).
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: The lowest port a private stack takes.
_LOWEST = 20_000
#: The stack's services in the groups that start and stop independently: FerretDB needs
#: PostgreSQL, the broker neither.
_APART = (("postgres", "ferretdb"), ("kafka",))


def _outgoing_ports() -> range:
    try:
        low, high = (int(bound) for bound in _EPHEMERAL.read_text().split())
    except (OSError, ValueError):
        low, high = 32_768, 60_999
    return range(low, high + 1)


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(*, pair: bool = False) -> int:
    """A port nobody listens on (and, with ``pair``, the one after it too: Kafka's
    controller), outside the range the kernel hands to outgoing connections: the stack's
    services bind theirs seconds after they are chosen, and meanwhile every connection this
    machine opens takes a port of that range (CI once saw Kafka's controller port taken so,
    between PostgreSQL's and FerretDB's start and Kafka's)."""
    outgoing = _outgoing_ports()
    candidates = [port for port in range(_LOWEST, 65_535) if port not in outgoing]
    while True:
        port = random.choice(candidates)
        if _bindable(port) and (not pair or _bindable(port + 1)):
            return port


def installed(name: str, default: Path) -> Path:
    return Path(os.environ.get(name) or default)


@dataclass(frozen=True)
class PrivateStack:
    directory: Path
    kafka_port: int
    ferretdb_port: int
    postgres_port: int

    @classmethod
    def at(cls, directory: Path) -> PrivateStack:
        return cls(directory, _free_port(pair=True), _free_port(), _free_port())

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongodb_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.ferretdb_port}/"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            STACK_DIR=str(self.directory),
            KAFKA_PORT=str(self.kafka_port),
            FERRETDB_PORT=str(self.ferretdb_port),
            POSTGRES_PORT=str(self.postgres_port),
            FERRETDB_BIN=str(installed("FERRETDB_BIN", REPO / ".stack/bin/ferretdb")),
            KAFKA_LIBS=str(installed("KAFKA_LIBS", REPO / ".stack/kafka/libs")),
            VENV_PY=sys.executable,
            POSTGRES_SHARED_BUFFERS="128MB",
            KAFKA_HEAP_OPTS="-Xms128m -Xmx512m",
            READY_TIMEOUT="90",
            # group members may ask a session short enough that a killed one's partitions
            # pass to the others within seconds (``fault_harness.SESSION_TIMEOUT_MS``)
            KAFKA_MIN_SESSION_TIMEOUT_MS="1000",
        )
        env.pop("EXTERNAL_STACK", None)
        return env

    def _run(self, command: str, *services: str) -> None:
        done = subprocess.run(
            [str(STACK_SCRIPT), command, *services],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"scripts/stack {command} {' '.join(services)} failed "
                f"({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )

    def _run_together(self, command: str, services: tuple[str, ...]) -> None:
        """``command`` on ``services``, or when none are named on the store (PostgreSQL then
        FerretDB) and the broker at once: their start-ups and stops (seconds each, mostly
        waiting for a server) overlap instead of adding up."""
        if services:
            self._run(command, *services)
            return
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = [pool.submit(self._run, command, *part) for part in _APART]
            for run in runs:
                run.result()

    def start(self, *services: str) -> None:
        self._run_together("start", services)

    def stop(self, *services: str) -> None:
        self._run_together("stop", services)

    def restart(self, *services: str) -> None:
        self._run("restart", *services)


@contextmanager
def running_private_stack(keep_logs_in: Path) -> Iterator[PrivateStack]:
    """A started private stack, stopped and removed after, its logs copied to
    ``keep_logs_in`` (a test's ``tmp_path``) for a failure's reader.

    It lives in a directory of its own under the system's temporary directory, not under
    pytest's ``tmp_path``: every pytest run resets its base directory
    (``/tmp/pytest-of-<user>``) to mode 700 when it starts, which takes the postgres OS
    user's way to its data directory from under a stack still running in another run
    (PostgreSQL then PANICs on ``pg_control`` and the test fails on refused connections)."""
    directory = Path(tempfile.mkdtemp(prefix="portal-private-stack-"))
    stack = PrivateStack.at(directory / "stack")
    try:
        stack.start()
        yield stack
    finally:
        try:
            stack.stop()
        finally:
            logs = directory / "stack" / "logs"
            if logs.is_dir():
                shutil.copytree(logs, keep_logs_in, dirs_exist_ok=True)
            shutil.rmtree(directory, ignore_errors=True)
