"""Subscriptions benchmark: many open WebSocket subscriptions over two API processes.

Run against the local stack (``scripts/stack start``):

    .venv/bin/python bench/subscriptions.py [--connections 1000] [--rate 200] [--seconds 30]

What it does, on fresh topics so nothing else interferes:

1. starts two API processes (``python -m web``) and records their RSS, with the per-address
   and per-client WebSocket limits raised to the run's size (``CROWD_LIMITS``: every client
   comes from one address);
2. opens ``--connections`` graphql-transport-ws connections, half to each process, each with
   one ``milestoneFeed`` subscription for one of ``--customers`` customers; records RSS again
   (bytes per connection = growth / connections on that process);
3. publishes change notices to the changes topic as the projector does, at ``--rate`` per
   second for ``--seconds``, customers round-robin, so each notice matches
   connections / customers subscriptions;
4. measures, for every (notice, matching subscription), the time from publishing to the
   client receiving it (``projectedAt`` carries the publish time; one clock, one machine),
   and counts what never arrived.

The driver (this process) runs every client, so its own CPU time is part of the latency.
Cost model: each delivery runs the subscription's selection set once (graphql-core, about
1.3 ms of CPU with the web extensions), so a process saturates near 700-800 deliveries/s per
core; ``--customers 50`` (20 deliveries per notice, 4,000/s) shows what saturation looks like
(latency grows, buffers fill, clients are cut off with 4413).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.arguments import add_broker_argument
from bench.results import percentile
from readmodel.changes import ShipmentChange
from readmodel.topics import TopicNames
from tests.helpers import SECRET, shipment_change, token_for
from tests.integration.api_harness import ApiProcess

REPO = Path(__file__).resolve().parents[1]
FEED = "subscription { milestoneFeed { cursor shipmentId projectedAt milestone { rawCode } } }"
WARMUP_CODE = "WARMUP"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Client:
    customer: str
    ws: ClientConnection
    latencies: list[float] = field(default_factory=list)
    warm: asyncio.Event = field(default_factory=asyncio.Event)
    closed_with: int | None = None

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                received = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await self.ws.send('{"type":"pong"}')
                elif kind == "next":
                    event = message["payload"]["data"]["milestoneFeed"]
                    if event["milestone"]["rawCode"] == WARMUP_CODE:
                        self.warm.set()
                        continue
                    sent = datetime.fromisoformat(event["projectedAt"]).timestamp()
                    self.latencies.append(received - sent)
        except ConnectionClosed:
            self.closed_with = self.ws.close_code


async def open_client(url: str, customer: str) -> Client:
    ws = await connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        open_timeout=30,
        ping_interval=None,
    )
    token = token_for([customer], subject=f"bench-{customer}")
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    ack = json.loads(await ws.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"not acknowledged: {ack}")
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": FEED}}))
    return Client(customer, ws)


def notice(customer: str, n: int, code: str = "AF") -> ShipmentChange:
    """Notice ``n`` of ``customer``, projected now (latency is measured from it), with a
    notice id of its own so that no hub drops it as a repeat."""
    now = datetime.now(UTC)
    return shipment_change(
        n,
        customer,
        code=code,
        occurred_at=now,
        notice_id=f"bench|{customer}|{n}|{uuid.uuid4().hex[:6]}",
        projected_at=now,
    )


async def create_topics(admin: AIOKafkaAdminClient, prefix: str) -> TopicNames:
    """A private set of topics for this run (the changes topic with one partition)."""
    topics = TopicNames(**{k: f"{prefix}.{v}" for k, v in TopicNames().__dict__.items()})
    await admin.create_topics(
        [
            NewTopic(name, 1 if name in (topics.changes, topics.dead_letter) else 4, 1)
            for name in topics.__dict__.values()
        ]
    )
    return topics


#: Clients connected at once (``connect_all``): each waits for its ``connection_ack``.
CONNECT_BATCH = 50
#: The API's WebSocket limits the bench's clients meet as no real population does: every
#: one comes from this process's address, and each customer's share through one token
#: subject (in one process when the customers are even, ``connect_all``). At their
#: defaults (20 pending per address, 16 connections and 32 subscriptions per client) the
#: runs the docstring describes were closed with 1013 before measuring anything.
CROWD_LIMITS = (
    "MAX_WEBSOCKET_CONNECTIONS",
    "MAX_PENDING_WEBSOCKETS",
    "MAX_PENDING_WEBSOCKETS_PER_ADDRESS",
    "MAX_WEBSOCKETS_PER_CLIENT",
    "MAX_SUBSCRIPTIONS_PER_CLIENT",
)


def api_environment(
    bootstrap: str, prefix: str, topics: TopicNames, connections: int
) -> dict[str, str]:
    """The API processes' environment: the run's topics and database, and room for all of
    its ``connections`` under each of ``CROWD_LIMITS`` (unless the environment sets one)."""
    return {
        **dict.fromkeys(CROWD_LIMITS, str(max(connections, CONNECT_BATCH))),
        **os.environ,
        "PYTHONPATH": str(REPO),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MONGODB_DATABASE": prefix,
        "AUTH_HS256_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
        **{f"TOPIC_{kind.upper()}": name for kind, name in topics.__dict__.items()},
    }


async def connect_all(
    apis: list[ApiProcess], customers: list[str], connections: int
) -> list[Client]:
    """``connections`` subscribed clients, alternating between the two processes."""
    clients: list[Client] = []
    for batch_start in range(0, connections, CONNECT_BATCH):
        batch = range(batch_start, min(batch_start + CONNECT_BATCH, connections))
        clients += await asyncio.gather(
            *(
                open_client(
                    f"ws://127.0.0.1:{apis[i % 2].port}/graphql", customers[i % len(customers)]
                )
                for i in batch
            )
        )
    return clients


async def warm_up(
    producer: AIOKafkaProducer, topics: TopicNames, customers: list[str], clients: list[Client]
) -> None:
    """Until every subscription is registered with its process's hub; then forget the
    warm-up's latencies."""
    async with asyncio.timeout(60):
        while not all(client.warm.is_set() for client in clients):
            for customer in customers:
                await producer.send(
                    topics.changes, notice(customer, 0, WARMUP_CODE).encode(), key=b"w"
                )
            await asyncio.sleep(0.5)
    await asyncio.sleep(1)
    for client in clients:
        client.latencies.clear()


async def publish(
    producer: AIOKafkaProducer, topics: TopicNames, customers: list[str], total: int, rate: float
) -> float:
    """``total`` notices at ``rate`` per second, round-robin over the customers; the seconds
    it took."""
    begin = time.monotonic()
    for n in range(total):
        delay = begin + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        change = notice(customers[n % len(customers)], n)
        await producer.send(topics.changes, change.encode(), key=change.shipment_id.encode())
    await producer.flush()
    return time.monotonic() - begin


async def wait_delivered(clients: list[Client], expected: int, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if sum(len(c.latencies) for c in clients) >= expected:
            return
        await asyncio.sleep(0.2)


@dataclass
class Run:
    """What one run measured, for ``report``."""

    clients: list[Client]
    customers: list[str]
    connect_seconds: float
    total: int
    produce_seconds: float
    expected: int
    rss_idle: list[int]
    rss_connected: list[int]
    rss_after: list[int]


def report(run: Run, connections: int) -> None:
    clients, customers, total = run.clients, run.customers, run.total
    latencies = [value for client in clients for value in client.latencies]
    per_client_p99 = [percentile(c.latencies, 0.99) for c in clients if c.latencies]
    closed = [c.closed_with for c in clients if c.closed_with is not None]
    per_process = [len(clients[i::2]) for i in range(2)]
    print(
        f"connections: {len(clients)} ({per_process[0]} + {per_process[1]}), "
        f"opened and subscribed in {run.connect_seconds:.1f} s"
    )
    print(
        f"customers: {len(customers)}; each notice matches "
        f"{connections // len(customers)} subscriptions"
    )
    print(
        f"notices: {total} at {total / run.produce_seconds:.0f}/s for {run.produce_seconds:.1f} s"
    )
    print(
        f"deliveries: {len(latencies)} of {run.expected} expected "
        f"({run.expected - len(latencies)} missing); connections closed by server: {len(closed)}"
    )
    if latencies:
        print(
            "publish -> client latency: "
            f"p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p90 {percentile(latencies, 0.9) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms"
        )
        print(
            "per-client p99: "
            f"median {percentile(per_client_p99, 0.5) * 1000:.1f} ms, "
            f"worst {max(per_client_p99) * 1000:.1f} ms"
        )
    for i in range(len(run.rss_idle)):
        growth = run.rss_connected[i] - run.rss_idle[i]
        print(
            f"API {i + 1} RSS: idle {run.rss_idle[i] / 2**20:.1f} MiB, "
            f"with {per_process[i]} subscriptions {run.rss_connected[i] / 2**20:.1f} MiB "
            f"(~{growth / per_process[i] / 1024:.1f} KiB per connection), "
            f"after the run {run.rss_after[i] / 2**20:.1f} MiB"
        )


async def measure(
    args: argparse.Namespace,
    apis: list[ApiProcess],
    producer: AIOKafkaProducer,
    topics: TopicNames,
    opened: list[Client],
    readers: list[asyncio.Task[None]],
) -> Run:
    """Connect, warm up, publish at the given rate and wait for the deliveries. The clients
    and their reader tasks go into ``opened`` and ``readers`` as they start, for the caller
    to close whatever happens."""
    await asyncio.gather(*(api.wait_ready() for api in apis))
    await producer.start()
    await asyncio.sleep(2)  # let the processes settle (imports done, hubs connected)
    rss_idle = [rss_bytes(api.process.pid) for api in apis]
    customers = [f"CUST{i:03d}" for i in range(args.customers)]
    started = time.monotonic()
    clients = await connect_all(apis, customers, args.connections)
    opened += clients
    readers += [asyncio.create_task(client.read()) for client in clients]
    connect_seconds = time.monotonic() - started
    await warm_up(producer, topics, customers, clients)
    rss_connected = [rss_bytes(api.process.pid) for api in apis]
    total = int(args.rate * args.seconds)
    produce_seconds = await publish(producer, topics, customers, total, args.rate)
    expected = sum(
        sum(1 for c in clients if c.customer == customers[n % len(customers)]) for n in range(total)
    )
    await wait_delivered(clients, expected)
    rss_after = [rss_bytes(api.process.pid) for api in apis]
    run = Run(
        clients, customers, connect_seconds, total, produce_seconds, expected,
        rss_idle, rss_connected, rss_after,
    )  # fmt: skip
    return run


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
    await admin.start()
    topics = await create_topics(admin, prefix)
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / prefix
    logs.mkdir(parents=True)
    env = api_environment(args.bootstrap, prefix, topics, args.connections)
    apis = [ApiProcess(env, logs / f"api{i}.log") for i in range(2)]
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=2, acks=1)
    clients: list[Client] = []
    readers: list[asyncio.Task[None]] = []
    try:
        report(await measure(args, apis, producer, topics, clients, readers), args.connections)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
        await producer.stop()
        for api in apis:
            api.stop()
        await admin.delete_topics(list(topics.__dict__.values()))
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_broker_argument(parser)
    parser.add_argument("--connections", type=int, default=1000)
    # 200 customers: each notice matches 5 subscriptions (a few portal users per customer).
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    asyncio.run(main(parser.parse_args()))
