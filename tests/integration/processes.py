"""Stopping the services tests and benchmarks start as subprocesses."""

from __future__ import annotations

import signal
import subprocess


def terminate(process: subprocess.Popen[bytes], *, timeout: float = 20) -> int:
    """SIGTERM, so the service shuts down as in production; SIGKILL if it does not in time.

    Returns the exit status (negative: the signal that ended it).
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
