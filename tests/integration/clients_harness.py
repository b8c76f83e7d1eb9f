"""The npm toolchains in ``clients/`` (installed by ``scripts/install``: ``npm ci``, pinned by
``clients/package-lock.json``), run as subprocesses: what the client and composition tests
drive."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.integration.api_harness import REPO

CLIENTS = REPO / "clients"
BIN = CLIENTS / "node_modules" / ".bin"


def tool(name: str) -> Path:
    """An npm package's command (``relay-compiler`` ...), failing the test when it is missing."""
    path = BIN / name
    assert path.exists(), f"{path} is missing: run scripts/install (npm ci in clients/)"
    return path


def run(command: list[str], cwd: Path) -> str:
    """``command``'s standard output, failing the test with its output when it fails."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout
