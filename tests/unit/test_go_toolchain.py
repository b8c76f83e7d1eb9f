"""``scripts/lib/go_toolchain.sh``: whether ``scripts/install`` may build FerretDB with the Go
it finds. Go 1.25 or newer builds it; an older go command that may fetch 1.25 itself
(``GOTOOLCHAIN=auto``, from Go 1.21) does too; any other is refused before the build starts,
with what to change. Each case runs the check against a stand-in ``go`` that reports the
given version and setting.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "scripts" / "lib"
#: The programs the check and env.sh run, besides go.
TOOLS = ("dirname", "mkdir", "sed")

STAND_IN_GO = """#!/bin/sh
case "$1 $2" in
  "env GOVERSION") echo "$STAND_IN_GOVERSION" ;;
  "env GOTOOLCHAIN") echo "$STAND_IN_GOTOOLCHAIN" ;;
  *) exit 2 ;;
esac
"""

SCRIPT = """
set -euo pipefail
source "$1/env.sh"
source "$1/go_toolchain.sh"
require_go_for_ferretdb
echo "may build"
"""


def _check(tmp_path: Path, version: str | None, toolchain: str = "") -> tuple[bool, str]:
    """Runs the check with only ``TOOLS`` and, unless ``version`` is None, the stand-in go
    on PATH: whether it lets the build go on, and what it printed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    if version is not None:
        go = bin_dir / "go"
        go.write_text(STAND_IN_GO)
        go.chmod(0o755)
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "-c", SCRIPT, "bash", str(LIB)],
        env={
            "PATH": str(bin_dir),
            "STACK_DIR": str(tmp_path / "stack"),
            "STAND_IN_GOVERSION": version or "",
            "STAND_IN_GOTOOLCHAIN": toolchain,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == ("may build" in done.stdout), output
    return done.returncode == 0, output


@pytest.mark.parametrize(
    ("version", "toolchain"),
    [
        ("go1.25.0", "local"),
        ("go1.26.8", "local"),
        ("go1.26.8", "auto"),
        # Older, but allowed to fetch what FerretDB's go.mod asks for.
        ("go1.24.5", "auto"),
        ("go1.21.0", "auto"),
        ("go1.24.5", "go1.24.5+auto"),
    ],
)
def test_go_that_builds_ferretdb_or_fetches_the_toolchain_that_does_is_accepted(
    tmp_path: Path, version: str, toolchain: str
) -> None:
    accepted, output = _check(tmp_path, version, toolchain)
    assert accepted, output


@pytest.mark.parametrize(
    ("version", "toolchain"),
    [
        ("go1.24.5", "local"),
        ("go1.24.5", "go1.24.5"),  # that version and no other
        ("go1.24.5", "path"),  # no download
        ("go1.20.14", "auto"),  # before Go switched toolchains at all
        ("go1.20.14", ""),
    ],
)
def test_older_go_that_may_not_fetch_the_toolchain_is_refused_before_the_build(
    tmp_path: Path, version: str, toolchain: str
) -> None:
    accepted, output = _check(tmp_path, version, toolchain)
    assert not accepted
    assert f"Go {version} is too old: FerretDB v2.7.0 needs Go >= 1.25" in output
    assert "GOTOOLCHAIN=auto would" in output


def test_without_go_the_build_is_refused(tmp_path: Path) -> None:
    accepted, output = _check(tmp_path, None)
    assert not accepted
    assert "Go is not installed" in output
