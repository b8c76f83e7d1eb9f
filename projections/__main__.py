"""``python -m projections [run|rebuild]``: the projector process and the rebuild command."""

from __future__ import annotations

import argparse
import asyncio
import signal

from observability import json_logs
from projections.metrics import ProjectorMetrics
from projections.metrics_server import MetricsServer
from projections.rebuild import rebuild
from projections.runner import run_projector
from projections.settings import ProjectorSettings


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _run(command: str) -> None:
    settings = ProjectorSettings.from_env()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    metrics = ProjectorMetrics()
    server = MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
    server.start()
    try:
        if command == "rebuild":
            suffix = await rebuild(settings, stop, metrics)
            print(f"rebuilt generation {suffix}; readers now use it")
        else:
            await run_projector(settings, stop, metrics)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m projections", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "rebuild"])
    args = parser.parse_args()
    json_logs.configure()
    asyncio.run(_run(args.command))


if __name__ == "__main__":
    main()
