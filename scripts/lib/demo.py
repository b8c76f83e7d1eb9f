"""The Python half of ``scripts/demo``: the steps that talk to Kafka and MongoDB.

Usage: demo.py COMMAND [options]; configuration comes from the same environment the demo's
processes get (``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI``, ``MONGODB_DATABASE``, ``TOPIC_*``,
``PROJECTOR_GROUP``, ``AUTH_*``), so the helper and the processes always agree on names.

* ``reset``: delete the demo's topics and drop its database, then create the inbound topics
  empty. A demo start loads a fresh world: topics holding an older world would mix two
  worlds with the same ids (the simulator's counters restart), and a projector group
  would resume from offsets of deleted records.
* ``wait-caught-up``: wait until the projector group has committed every inbound record.
* ``examples``: pick values of the loaded world for GraphiQL's example tabs (printed as
  shell assignments of ``GRAPHIQL_EXAMPLE_*``, see ``web.graphiql_examples``).
* ``tokens``: print the demo users' bearer tokens, one ``label<TAB>token`` line each.

Exit status 0 on success, 1 on failure (with one line on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pymongo
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from probe import alive  # scripts/lib/probe.py: the stack's own checks
from pymongo.errors import PyMongoError

from entitlements.mint import mint_token
from entitlements.token_env import load_token_settings
from projections.settings import ProjectorSettings, load_projector_settings
from readmodel import documents
from readmodel.read_pointer import read_pointer
from readmodel.topics import TopicNames
from simulator import catalog
from web.consumer_lag import ConsumerLagPoller
from web.metrics import Metrics

#: Partitions of the inbound topics, as the stack's broker would create them.
INBOUND_PARTITIONS: Final = 4
#: The customer the viewer and finance demo users belong to.
DEMO_CUSTOMER: Final = "ACME"
#: Statuses in which a shipment makes the most telling "track a shipment" example, best first.
TRACKING_PREFERENCE: Final = ("IN_TRANSIT", "OUT_FOR_DELIVERY", "EXCEPTION", "DELIVERED")


class DemoError(Exception):
    """A demo step failed; the message says which and why."""


# --- reset --------------------------------------------------------------------------------


async def reset(settings: ProjectorSettings, limit_seconds: float) -> None:
    topics = settings.topics
    all_topics = [*topics.inbound().values(), topics.dead_letter, topics.changes]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        doomed = [topic for topic in all_topics if topic in existing]
        if doomed:
            await admin.delete_topics(doomed)
        deadline = time.monotonic() + limit_seconds
        while set(await admin.list_topics()) & set(doomed):
            if time.monotonic() > deadline:
                raise DemoError(f"Kafka did not delete {doomed} within {limit_seconds:.0f}s")
            await asyncio.sleep(0.2)
        await _create_inbound(admin, topics, deadline)
    except KafkaError as exc:
        raise DemoError(f"Kafka at {settings.kafka_bootstrap_servers}: {exc!r}") from exc
    finally:
        await admin.close()
    _drop_database(settings)


async def _create_inbound(admin: AIOKafkaAdminClient, topics: TopicNames, deadline: float) -> None:
    """Create the inbound topics; a name still being deleted is refused for a moment."""
    wanted = list(topics.inbound().values())
    while True:
        missing = [t for t in wanted if t not in set(await admin.list_topics())]
        if not missing:
            break
        try:
            await admin.create_topics([NewTopic(t, INBOUND_PARTITIONS, 1) for t in missing])
        except (TopicAlreadyExistsError, KafkaError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    while True:
        described = await admin.describe_topics(wanted)
        if all(
            t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        if time.monotonic() > deadline:
            raise DemoError(f"the topics {wanted} have no leader yet")
        await asyncio.sleep(0.2)


def _drop_database(settings: ProjectorSettings) -> None:
    client = _mongo(settings)
    try:
        client.drop_database(settings.mongodb_database)
    except PyMongoError as exc:
        raise DemoError(f"MongoDB at {settings.mongodb_uri}: {exc!r}") from exc
    finally:
        client.close()


def _mongo(settings: ProjectorSettings) -> pymongo.MongoClient[dict[str, Any]]:
    return pymongo.MongoClient(settings.mongodb_uri, serverSelectionTimeoutMS=10_000, tz_aware=True)


# --- waiting for the projector -------------------------------------------------------------


async def wait_caught_up(
    settings: ProjectorSettings,
    *,
    limit_seconds: float,
    pid: int | None,
    every: float,
) -> None:
    """Poll the projector group's lag until it is zero; print progress every ``every`` s."""
    poller = ConsumerLagPoller(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.group_id,
        topics=settings.topics.inbound().values(),
        metrics=Metrics(),
        interval_seconds=1.0,
    )
    started = time.monotonic()
    last_report = started
    try:
        while True:
            snapshot = await poller.poll_once()
            elapsed = time.monotonic() - started
            if snapshot is not None and snapshot.partitions:
                total = sum(p.end for p in snapshot.partitions)
                if snapshot.total == 0:
                    print(f"[demo] projector caught up: {total} records in {elapsed:.0f}s")
                    return
                if time.monotonic() - last_report >= every:
                    last_report = time.monotonic()
                    done = total - snapshot.total
                    print(f"[demo]   projected {done} of {total} records ({elapsed:.0f}s)")
                    sys.stdout.flush()
            if not alive(pid):
                raise DemoError(f"the projector (pid {pid}) exited before catching up")
            if elapsed > limit_seconds:
                behind = snapshot.total if snapshot is not None else "unknown"
                raise DemoError(
                    f"the projector did not catch up within {limit_seconds:.0f}s ({behind} records "
                    "behind): see its log"
                )
            await asyncio.sleep(1.0)
    finally:
        await poller.close()


# --- example values -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleValues:
    tracking_number: str
    customer_id: str
    search_text: str
    #: The customer whose own shipment could not be the tracking example, if any.
    fallback_from: str | None = None

    def as_shell(self) -> str:
        return "\n".join(
            f"{name}={shlex.quote(value)}"
            for name, value in (
                ("GRAPHIQL_EXAMPLE_TRACKING_NUMBER", self.tracking_number),
                ("GRAPHIQL_EXAMPLE_CUSTOMER_ID", self.customer_id),
                ("GRAPHIQL_EXAMPLE_SEARCH_TEXT", self.search_text),
            )
        )


def choose_examples(customer_id: str, shipments: Iterable[dict[str, Any]]) -> ExampleValues:
    """Pick a shipment of ``customer_id`` in the most telling status (ties: the most
    milestones) and the destination city most shipments of all customers go to.

    A small or young world may not have shipped anything of ``customer_id`` yet: the tracking
    example then shows another customer's shipment (the support token sees it) rather than
    refusing to start the demo; ``fallback_from`` says so, for the demo to tell the user.
    """
    cities: Counter[str] = Counter()
    best: dict[str, tuple[tuple[int, int], str]] = {}
    for doc in shipments:
        city = (doc.get("destination") or {}).get("city")
        if city:
            cities[city] += 1
        owner, tracking = doc.get("customerId"), doc.get("trackingNumber")
        if not owner or not tracking:
            continue
        status = doc.get("status")
        rank = TRACKING_PREFERENCE.index(status) if status in TRACKING_PREFERENCE else 99
        key = (rank, -len(doc.get("milestones") or ()))
        if owner not in best or key < best[owner][0]:
            best[owner] = (key, str(tracking))
    if customer_id in best:
        tracking, fallback_from = best[customer_id][1], None
    elif best:
        tracking, fallback_from = min(best.values())[1], customer_id
    else:
        raise DemoError("the loaded world has no shipment with a tracking number")
    return ExampleValues(
        tracking_number=tracking,
        customer_id=customer_id,
        search_text=cities.most_common(1)[0][0] if cities else tracking[:6],
        fallback_from=fallback_from,
    )


def find_examples(settings: ProjectorSettings) -> ExampleValues:
    client = _mongo(settings)
    try:
        db = client[settings.mongodb_database]
        suffix = read_pointer(db[documents.READ_POINTER].find_one({"_id": "active"})).suffix
        collection = db[documents.generation_collection(documents.SHIPMENTS, suffix)]
        fields = {"customerId": 1, "trackingNumber": 1, "status": 1, "destination.city": 1}
        shipments = list(collection.find({}, {**fields, "milestones.milestoneId": 1}))
    except PyMongoError as exc:
        raise DemoError(f"MongoDB at {settings.mongodb_uri}: {exc!r}") from exc
    finally:
        client.close()
    return choose_examples(DEMO_CUSTOMER, shipments)


# --- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    label: str
    subject: str
    customers: tuple[str, ...]
    roles: tuple[str, ...]


def demo_users(all_customers: Sequence[str]) -> list[DemoUser]:
    return [
        DemoUser("ACME viewer", "acme-viewer", (DEMO_CUSTOMER,), ("viewer",)),
        DemoUser("ACME finance", "acme-finance", (DEMO_CUSTOMER,), ("viewer", "finance")),
        DemoUser("3PL support", "support-agent", tuple(all_customers), ("support",)),
    ]


def print_tokens(customers: Sequence[str], ttl_seconds: int) -> None:
    settings = load_token_settings()
    for user in demo_users(customers):
        token = mint_token(
            settings,
            subject=user.subject,
            customers=user.customers,
            roles=user.roles,
            ttl_seconds=ttl_seconds,
        )
        description = (
            f"{user.label} (sub {user.subject}; customers {','.join(user.customers)}; "
            f"roles {','.join(user.roles)})"
        )
        print(f"{description}\t{token}")


# --- command line ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="demo.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    reset_cmd = commands.add_parser("reset")
    reset_cmd.add_argument("--timeout", type=float, default=60.0)
    wait = commands.add_parser("wait-caught-up")
    wait.add_argument("--timeout", type=float, default=600.0)
    wait.add_argument("--pid", type=int, default=None, help="fail early if this process ends")
    wait.add_argument("--every", type=float, default=10.0, help="seconds between progress lines")
    commands.add_parser("examples")
    tokens = commands.add_parser("tokens")
    tokens.add_argument(
        "--customers",
        default=",".join(c.customer_id for c in catalog.CUSTOMERS),
        help="the support user's customers (default: every customer of the simulator)",
    )
    tokens.add_argument("--ttl", type=int, default=24 * 3600)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_projector_settings()
        if args.command == "reset":
            asyncio.run(reset(settings, args.timeout))
        elif args.command == "wait-caught-up":
            asyncio.run(
                wait_caught_up(
                    settings,
                    limit_seconds=args.timeout,
                    pid=args.pid,
                    every=args.every,
                )
            )
        elif args.command == "examples":
            examples = find_examples(settings)
            if examples.fallback_from:
                print(
                    f"[demo] {examples.fallback_from} has no shipment with a tracking number"
                    " yet: the tracking example is another customer's (the support token"
                    " sees it)",
                    file=sys.stderr,
                )
            print(examples.as_shell())
        else:
            print_tokens([c for c in args.customers.split(",") if c], args.ttl)
    except (DemoError, ValueError) as exc:
        print(f"[demo] ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
