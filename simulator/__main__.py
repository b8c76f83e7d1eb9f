"""Command line: ``python -m simulator history|live|demo``.

* ``history`` publishes a seeded history of ``--days`` days ending at ``--now`` (default:
  the real clock) and prints the counts per topic;
* ``live`` continues that history in real time at about ``--rate`` records per second until
  SIGINT/SIGTERM; give it the history's ``--seed``, ``--days``, ``--customers``,
  ``--orders-per-day`` and ``--now`` so ids and sequences carry on;
* ``demo`` does both in one process: the usual way to fill an empty stack and keep it moving.

Topic names come from ``TOPIC_*`` environment variables (see ``readmodel.topics``); the
broker from ``--bootstrap`` or ``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from config.env import SettingsError
from config.topics import load_topic_names
from readmodel.topics import TopicNames
from simulator.faults import FaultRates
from simulator.live import SystemClock, paced
from simulator.publish import Publisher, PublishError
from simulator.records import TopicKind
from simulator.world import DEFAULT_SPEEDUP, History, Tally, expected_counts, generate, live


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--now: not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs an offset, e.g. 2026-11-27T12:00:00+00:00")
    return moment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("history", "live", "demo"):
        sub = commands.add_parser(name)
        sub.add_argument("--seed", type=int, default=7)
        sub.add_argument("--days", type=int, default=90)
        sub.add_argument(
            "--customers", type=int, default=None, help="first N customers (default: all)"
        )
        sub.add_argument("--orders-per-day", type=float, default=40)
        sub.add_argument("--now", default=None, help="end of the history, ISO 8601 with offset")
        sub.add_argument("--faults", choices=("none", "default"), default="none")
        sub.add_argument(
            "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"
        )
        if name == "history":
            sub.add_argument(
                "--dry-run", action="store_true", help="generate and count, publish nothing"
            )
        if name in ("live", "demo"):
            sub.add_argument("--rate", type=float, default=5.0, help="records per second, about")
            sub.add_argument("--speedup", type=float, default=DEFAULT_SPEEDUP)
    return parser


def _print_tally(label: str, tally: Tally, topics: dict[TopicKind, str], seconds: float) -> None:
    print(f"{label}: {tally.total} records ({tally.total_broken} broken) in {seconds:.1f}s")
    for kind, count in sorted(tally.records.items()):
        print(f"  {topics[kind]:<32} {count:>8}  broken {tally.broken.get(kind, 0)}")
    sys.stdout.flush()


def _history_of(args: argparse.Namespace, now: datetime) -> History:
    """The history the arguments name: ``live`` continues the one ``history`` loaded."""
    return History(args.seed, args.days, args.customers, args.orders_per_day, now)


async def _history(args: argparse.Namespace, now: datetime, topics: dict[TopicKind, str]) -> None:
    started = time.monotonic()
    records = generate(*_history_of(args, now), faults=FaultRates.named(args.faults))
    if getattr(args, "dry_run", False):
        tally = expected_counts(records)
    else:
        async with Publisher(args.bootstrap, topics) as publisher:
            tally = await publisher.send_all(records)
    _print_tally(f"history up to {now.isoformat()}", tally, topics, time.monotonic() - started)
    if args.command == "history":
        customers = f" --customers {args.customers}" if args.customers is not None else ""
        print(
            f"continue it with: python -m simulator live --seed {args.seed} --days {args.days}"
            f"{customers} --orders-per-day {args.orders_per_day:g} --now {now.isoformat()}"
        )


async def _live(args: argparse.Namespace, now: datetime, topics: dict[TopicKind, str]) -> None:
    feed = live(
        _history_of(args, now),
        rate=args.rate,
        speedup=args.speedup,
        live_from=datetime.now(UTC),
        faults=FaultRates.named(args.faults),
    )
    started = time.monotonic()
    print(f"live: continuing the history that ended {now.isoformat()}; Ctrl-C to stop")
    sys.stdout.flush()
    async with Publisher(args.bootstrap, topics, linger_ms=5) as publisher:
        try:
            await publisher.send_stream(paced(feed, SystemClock()))
        finally:
            _print_tally("live", publisher.tally, topics, time.monotonic() - started)


async def _run(args: argparse.Namespace, topic_names: TopicNames) -> None:
    now = _now(args.now)
    topics = topic_names.inbound()
    if args.command in ("history", "demo"):
        await _history(args, now, topics)
    if args.command in ("live", "demo"):
        await _live(args, now, topics)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _now(args.now)
        topic_names = load_topic_names()
    except (argparse.ArgumentTypeError, SettingsError) as exc:
        print(exc, file=sys.stderr)
        return 2
    loop = asyncio.new_event_loop()
    task = loop.create_task(_run(args, topic_names))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        return 0
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
