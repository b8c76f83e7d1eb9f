"""``python -m projections [run|rebuild|verify|generations [list|drop [--dry-run]]]``: the
projector, the rebuild, the loss check, the generations left by rebuilds."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from config.env import SettingsError
from observability import json_logs
from projections.build_marker import GenerationClaimed
from projections.generation_config import ConfigMismatch
from projections.generations import drop_generations, list_generations, report_lines
from projections.metrics import ProjectorMetrics
from projections.metrics_server import MetricsServer
from projections.rebuild import RebuildIncomplete, SwitchRefused, TruncatedHistory, rebuild
from projections.rebuild_lease import RebuildRunning
from projections.runner import run_projector, store_client
from projections.settings import ProjectorSettings, load_projector_settings
from projections.store import StoreError
from projections.store_clock import store_now
from projections.verify import check, write_metrics


def _refuse(reason: Exception, code: int) -> int:
    """Say on stderr, in one line an operator can act on, why the projector does not go on
    (bad settings, a refused rebuild, another configuration than the active generation's):
    these are conditions of the deployment, not bugs, so no traceback. Returns ``code``."""
    print(f"portal projector: {reason}", file=sys.stderr)
    return code


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _verify(settings: ProjectorSettings, args: argparse.Namespace) -> int:
    report = await check(settings, to_end=args.to_end)
    print("\n".join(report.lines()))
    if args.metrics_file is not None:
        write_metrics(report, args.metrics_file, {"group": settings.group_id})
    return 1 if report.behind or report.unsettled or report.stale or report.missing else 0


async def _generations(settings: ProjectorSettings, args: argparse.Namespace) -> int:
    """List the generations, or drop those no reader or writer can use any more
    (``projections.generations``); a store that cannot be read or written is a refusal."""
    grace = timedelta(seconds=settings.generation_drop_grace_seconds)
    client = store_client(settings)
    db = client[settings.mongodb_database]
    try:
        if args.action == "drop":
            dropped = await drop_generations(db, grace, dry_run=args.dry_run)
            verb = "would drop" if args.dry_run else "dropped"
            print("\n".join(f"{verb} generation {g.label} ({g.status})" for g in dropped))
            print(f"{verb} {len(dropped)} generation(s)")
        else:
            now = await store_now(db)
            _, generations = await list_generations(db, now)
            print("\n".join(report_lines(generations, grace, now)))
    except StoreError as error:
        return _refuse(error, 1)
    finally:
        await client.close()
    return 0


async def _run(command: str, args: argparse.Namespace, settings: ProjectorSettings) -> int:
    if command == "verify":
        return await _verify(settings, args)
    if command == "generations":
        return await _generations(settings, args)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    metrics = ProjectorMetrics()
    server = MetricsServer(
        metrics, settings.metrics_host, settings.metrics_port, settings.metrics_token
    )
    server.start()
    try:
        if command == "rebuild":
            suffix = await rebuild(
                settings, stop, metrics, allow_truncated_history=args.allow_truncated_history
            )
            print(f"rebuilt generation {suffix}; readers now use it")
        else:
            await run_projector(settings, stop, metrics)
    except (
        RebuildIncomplete,
        TruncatedHistory,
        ConfigMismatch,
        GenerationClaimed,
        RebuildRunning,
        SwitchRefused,
    ) as refusal:
        return _refuse(refusal, 1)
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Exit 0 when done, 1 when a rebuild or the projector refuses (a message on stderr), 2 for
    bad settings (every bad variable named), besides ``verify``'s own codes."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.action is not None and args.command != "generations":
        parser.error(f"{args.command} takes no action (only generations takes list or drop)")
    if args.dry_run and args.action != "drop":
        parser.error("--dry-run goes with generations drop")
    try:
        settings = load_projector_settings()
    except SettingsError as error:
        sys.exit(_refuse(error, 2))
    json_logs.configure(settings.log_level)
    sys.exit(asyncio.run(_run(args.command, args, settings)))


def _parser() -> argparse.ArgumentParser:
    """The command line; ``main`` checks what argparse cannot (an action only with
    ``generations``, ``--dry-run`` only with its ``drop``)."""
    parser = argparse.ArgumentParser(prog="python -m projections", description=__doc__)
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "rebuild", "verify", "generations"]
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=["list", "drop"],
        help="generations: list them (the default), or drop those nothing uses any more",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="generations drop: log what would be dropped, and drop nothing",
    )
    parser.add_argument(
        "--metrics-file",
        type=Path,
        help="verify: also write the result as a Prometheus text file (textfile collector)",
    )
    parser.add_argument(
        "--to-end",
        action="store_true",
        help="verify: check every retained record, not only those below the committed offsets",
    )
    parser.add_argument(
        "--allow-truncated-history",
        action="store_true",
        help="rebuild: go on when an inbound log no longer starts at offset 0 (retention "
        "removed records): the new generation then lacks their events",
    )
    return parser


if __name__ == "__main__":
    main()
