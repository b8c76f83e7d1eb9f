"""Waiting for and stopping the services tests and benchmarks start as subprocesses."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import httpx


class NotHealthy(Exception):
    """The service exited, or did not answer ``/healthz`` in time."""


async def wait_healthy(process: subprocess.Popen[bytes], url: str, within: float = 30) -> None:
    """Until ``url`` (a ``/healthz``) answers 200; raises ``NotHealthy`` when the process
    exits first or ``within`` seconds pass (the process is left running: its caller owns
    it, and reads its log for the reason)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise NotHealthy(f"exited with {process.returncode}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise NotHealthy(f"not up within {within:.0f} s")


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
