"""``scripts/lib/bounded.sh``: how ``scripts/test`` bounds the pytest run.

A Ctrl-C in the terminal (SIGINT to the script's process group) or a CI runner's SIGTERM must
end the run promptly, with the command's own teardown (it gets SIGINT, as pytest needs to tear
its fixtures down and report), and then let the script stop what it started. The deadline
still ends a hung command the same way, and one that ignores the interrupt is killed after the
grace period. Each test runs a small script shaped like ``scripts/test`` around a sleeping
Python child standing in for pytest.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOUNDED = ROOT / "scripts" / "lib" / "bounded.sh"
#: Far below the run's deadline (an hour): the script must end as soon as its child has.
PROMPT_SECONDS = 20

#: Stands in for pytest: sleeps until interrupted, then tears down (writes the marker file
#: named by its first argument). With a second argument it ignores SIGINT: a hung teardown.
CHILD = """
import os, signal, sys, time
if len(sys.argv) > 2:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    # Inside the try: a test signals as soon as it reads this line, and an interrupt before
    # the try would end the child without its teardown (a flaky failure under load).
    print(f"ready {os.getpid()}", flush=True)
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    with open(sys.argv[1], "w") as marker:
        marker.write("torn down")
    sys.exit(130)
"""

#: Shaped like scripts/test: its own traps, the bounded run, then its clean-up and exit.
SCRIPT = """
set -euo pipefail
source "$1"
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'echo "stopped what it started"' EXIT
rc=0
run_bounded "$2" "$3" "${@:4}" || rc=$?
echo "run_bounded returned $rc"
exit "$rc"
"""


@dataclass
class Run:
    script: subprocess.Popen[str]
    child_pid: int
    marker: Path

    def finish(self) -> str:
        """The script's remaining output once it has exited, which it must do promptly."""
        try:
            self.script.wait(PROMPT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the script still runs {PROMPT_SECONDS}s later")
        out, _ = self.script.communicate(timeout=5)
        return out


class Start(Protocol):
    def __call__(self, duration: str, grace: str = "300", *, ignore_interrupt: bool = False) -> Run:
        """Starts the script with the child under ``run_bounded DURATION GRACE``."""
        ...


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    runs: list[Run] = []

    def start(duration: str, grace: str = "300", *, ignore_interrupt: bool = False) -> Run:
        marker = tmp_path / "torn-down"
        child = [sys.executable, "-c", CHILD, str(marker)]
        if ignore_interrupt:
            child.append("ignore")
        script = subprocess.Popen(
            ["bash", "-c", SCRIPT, "bash", str(BOUNDED), duration, grace, *child],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's job has
        )
        assert script.stdout is not None
        readable, _, _ = select.select([script.stdout], [], [], PROMPT_SECONDS)
        assert readable, "the child did not start"
        ready = script.stdout.readline().split()
        assert ready[:1] == ["ready"], ready
        run = Run(script, int(ready[1]), marker)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.script.poll() is None:
            os.killpg(run.script.pid, signal.SIGKILL)
            run.script.wait()
        if _running(run.child_pid):
            os.kill(run.child_pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("name", "to_group", "status"),
    [
        ("SIGINT", True, 130),  # Ctrl-C in the terminal
        ("SIGTERM", True, 143),  # a CI runner signalling the job's process group
        ("SIGINT", False, 130),  # a runner signalling the shell alone
        ("SIGTERM", False, 143),
    ],
)
def test_a_signal_ends_the_run_promptly_after_the_commands_teardown(
    start: Start, name: str, to_group: bool, status: int
) -> None:
    run = start("60m")
    send = os.killpg if to_group else os.kill
    send(run.script.pid, getattr(signal, name))
    out = run.finish()
    assert run.script.returncode == status, out
    assert run.marker.read_text() == "torn down", "the command was not interrupted (SIGINT)"
    assert not _running(run.child_pid)
    assert f"run_bounded returned {status}\nstopped what it started" in out


def test_the_deadline_interrupts_the_command(start: Start) -> None:
    run = start("1s")
    out = run.finish()
    assert run.script.returncode == 124, out
    assert run.marker.read_text() == "torn down"
    assert "stopped what it started" in out


def test_a_command_that_ignores_the_interrupt_is_killed_after_the_grace(start: Start) -> None:
    run = start("60m", "1", ignore_interrupt=True)
    began = time.monotonic()
    os.killpg(run.script.pid, signal.SIGINT)
    out = run.finish()
    assert time.monotonic() - began >= 1
    assert run.script.returncode == 130, out
    assert not run.marker.exists()
    assert not _running(run.child_pid)
    assert "stopped what it started" in out
