"""Live subscriptions against the real stack: two API processes, Kafka, WebSocket clients.

Notices are published to the changes topic exactly as the projector does (and, once, by the
projector itself). Each test uses customer ids of its own, so the API processes and topics
can be shared by the whole module (starting uvicorn twice per test would dominate its time).

Timing without sleeps: a client's subscription is known to be live once it received a
*probe* (a notice whose milestone code is ``PROBE``, shaped to pass the test's filters)
published after it subscribed; and "nothing else arrived" is checked with a *fence*: a probe
published after the notices under test, which arrives after any of them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.records_to_delete import RecordsToDelete
from graphql import GraphQLError
from pymongo import AsyncMongoClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from entitlements.policy import Policy
from graph.subscriptions import LiveNotice, MilestoneSelection
from readmodel.changes import ShipmentChange
from readmodel.topics import TopicNames
from tests.contract import example
from tests.helpers import SECRET, Stack, caller, token_for, wait_for_leaders
from tests.integration.api_harness import ApiProcess, api_env, start_api
from tests.integration.clients_harness import CLIENTS
from web.live.closes import too_slow
from web.live.cursor import decode_cursor, encode_cursor
from web.live.feed import ConnectionFeed, ResumeBounds
from web.live.hub import LiveHub
from web.live.log import ChangeLog
from web.live.replays import ReplayPlaces
from web.live.settings import LiveSettings

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")

FEED = """
subscription($customerId: String, $statuses: [ShipmentStatus!], $trackingNumber: String,
             $after: String) {
  milestoneFeed(customerId: $customerId, statuses: $statuses, trackingNumber: $trackingNumber,
                after: $after) {
    cursor shipmentId trackingNumber customerId status revision projectedAt abridged
    milestone { source milestoneId rawCode status occurredAt signedBy }
  }
}
"""
SHIPMENT = """
subscription($shipmentId: ID!, $after: String) {
  shipmentUpdates(shipmentId: $shipmentId, after: $after) {
    cursor shipmentId customerId status milestone { rawCode status }
  }
}
"""
GET_LIVE_CURSOR = "query { liveCursor }"
LIVE_CURSOR = {"query": GET_LIVE_CURSOR}
PROBE_CODE = "PROBE"
#: The bounds of the ``bounded`` API process.
RESUME_MAX_NOTICES = 20
MAX_CONNECTIONS = 4
PENDING_CONNECTIONS = 2
PENDING_PER_ADDRESS = 1
CLIENT_CONNECTIONS = 2
#: Long enough that the sockets a test opens on purpose without ``connection_init`` are all
#: still pending when it opens the next, even on a loaded machine.
INIT_TIMEOUT_SECONDS = 5


def _customer(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@dataclass
class LiveStack:
    apis: tuple[ApiProcess, ApiProcess]
    topics: TopicNames
    bootstrap: str
    database: str
    producer: AIOKafkaProducer
    admin: AIOKafkaAdminClient
    #: What the two API processes were started with, and where their logs are.
    env: dict[str, str]
    logs: Path

    async def publish(self, change: ShipmentChange) -> int:
        """Publish a notice as the projector does; its offset (= the client's cursor)."""
        metadata = await self.producer.send_and_wait(
            self.topics.changes, change.encode(), key=change.shipment_id.encode()
        )
        offset: int = metadata.offset
        return offset


@pytest_asyncio.fixture(scope="module")
async def live(
    stack: Stack,
    kafka_admin: AIOKafkaAdminClient,
    mongo_client: AsyncMongoClient[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LiveStack]:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    topics = TopicNames(**{k: f"{prefix}.{v}" for k, v in TopicNames().__dict__.items()})
    single = {topics.changes, topics.dead_letter}
    created = list(topics.__dict__.values())
    await kafka_admin.create_topics(
        [NewTopic(name, 1 if name in single else 4, 1) for name in created]
    )
    database = f"test_{prefix}"
    env = api_env(
        stack,
        database,
        WS_PING_INTERVAL_SECONDS="0.5",
        WS_PONG_TIMEOUT_SECONDS="1",
        # A connection lives until exp + leeway, as HTTP accepts its token: keep the expiry
        # test short.
        AUTH_LEEWAY_SECONDS="1",
        ENTITLEMENTS_FILE="",  # the packaged policy, whatever the environment names
        **{f"TOPIC_{kind.upper()}": name for kind, name in topics.__dict__.items()},
    )
    logs = tmp_path_factory.mktemp("live")
    first = await start_api(env, logs / "api1.log")
    try:
        second = await start_api(env, logs / "api2.log")
    except BaseException:
        first.stop()
        raise
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        yield LiveStack(
            (first, second),
            topics,
            stack.kafka_bootstrap,
            database,
            producer,
            kafka_admin,
            env,
            logs,
        )
    finally:
        await producer.stop()
        for api in (first, second):
            api.stop()
        await kafka_admin.delete_topics(created)
        await mongo_client.drop_database(database)


@pytest_asyncio.fixture(scope="module")
async def bounded(live: LiveStack) -> AsyncIterator[ApiProcess]:
    """A third API process on the same topics with small resume and connection bounds."""
    env = {
        **live.env,
        "SUBSCRIPTION_RESUME_MAX_NOTICES": str(RESUME_MAX_NOTICES),
        "MAX_WEBSOCKET_CONNECTIONS": str(MAX_CONNECTIONS),
        "MAX_PENDING_WEBSOCKETS": str(PENDING_CONNECTIONS),
        "MAX_PENDING_WEBSOCKETS_PER_ADDRESS": str(PENDING_PER_ADDRESS),
        # The tests connect from 127.0.0.1 and name the client's address in X-Forwarded-For,
        # as a trusted proxy would (``_silent``).
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "MAX_WEBSOCKETS_PER_CLIENT": str(CLIENT_CONNECTIONS),
        "WS_INIT_TIMEOUT_SECONDS": str(INIT_TIMEOUT_SECONDS),
    }
    api = await start_api(env, live.logs / "bounded.log")
    try:
        yield api
    finally:
        api.stop()


# --- a WebSocket client -----------------------------------------------------------------------


@dataclass
class Client:
    """One WebSocket connection; probes are set aside from the other messages."""

    ws: ClientConnection
    auto_pong: bool = True
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    probes: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    pings: int = 0
    #: The checkpoints of each ping that carried some (operation id -> cursor), in order.
    checkpoints: list[dict[str, str]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        payload: dict[str, Any],
        *,
        protocol: Subprotocol = TRANSPORT_WS,
        auto_pong: bool = True,
        expect_ack: bool = True,
    ) -> Client:
        ws = await connect(url, subprotocols=[protocol], open_timeout=10)
        client = cls(ws, auto_pong)
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        if expect_ack:
            async with asyncio.timeout(10):
                ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
        client.reader = asyncio.create_task(client._read())
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind in ("ping", "ka"):
                    self.pings += 1
                    if (payload := message.get("payload")) is not None:
                        self.checkpoints.append(payload["checkpoints"])
                    if kind == "ping" and self.auto_pong:
                        await self.ws.send(json.dumps({"type": "pong"}))
                    continue
                payload = message.get("payload") or {}
                data = payload.get("data") if isinstance(payload, dict) else None
                event = next(iter(data.values())) if data else None
                # an event is an object; a query's answer (``liveCursor``) may be a scalar
                if isinstance(event, dict) and (
                    (event.get("milestone") or {}).get("rawCode") == PROBE_CODE
                ):
                    await self.probes.put(event["cursor"])
                else:
                    await self.events.put(message)
        except ConnectionClosed:
            pass

    async def subscribe(self, query: str, variables: dict[str, Any], op: str = "1") -> None:
        message = {
            "id": op,
            "type": "subscribe",
            "payload": {"query": query, "variables": variables},
        }
        await self.ws.send(json.dumps(message))

    async def take(self, count: int, within: float = 15.0) -> list[dict[str, Any]]:
        """The next ``count`` messages (``next``, ``error``, ``complete``), in order."""
        taken = []
        async with asyncio.timeout(within):
            for _ in range(count):
                taken.append(await self.events.get())
        return taken

    async def checkpoint_past(self, op: str, offset: int, within: float = 15.0) -> str:
        """The first checkpoint of ``op`` a ping brought at or past ``offset``."""
        async with asyncio.timeout(within):
            while True:
                for checkpoints in self.checkpoints:
                    cursor = checkpoints.get(op)
                    if cursor is not None and decode_cursor(cursor) >= offset:
                        return cursor
                await asyncio.sleep(0.1)

    async def closed(self, within: float = 10.0) -> tuple[int | None, str | None]:
        async with asyncio.timeout(within):
            await self.ws.wait_closed()
        return self.ws.close_code, self.ws.close_reason

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await self.reader


def _event(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "next", message
    event: dict[str, Any] = next(iter(message["payload"]["data"].values()))
    return event


def _change(
    customer: str, shipment: str, n: int, status: str = "IN_TRANSIT", code: str = "AF"
) -> ShipmentChange:
    return ShipmentChange(
        notice_id=f"tms/us-road|{customer}|{shipment}-ms-{n}",
        shipment_id=shipment,
        customer_id=customer,
        tracking_number=f"TRK-{shipment}",
        status=status,
        milestone={
            "source": "tms/us-road",
            "milestoneId": f"{shipment}-ms-{n}",
            "rawCode": code,
            "status": status,
            "occurredAt": datetime(2026, 11, 21, 15, n % 60, tzinfo=UTC).isoformat(),
            "location": None,
        },
        rev=n + 1,
        projected_at=datetime.now(UTC),
    )


def _probe(customer: str, shipment: str, status: str) -> ShipmentChange:
    return _change(customer, shipment, 1000 + uuid.uuid4().int % 10**6, status, PROBE_CODE)


@dataclass(frozen=True)
class _Probes:
    """Probe notices to ``clients``, one customer at a time; ``shipment`` and ``status`` shape
    the probes so that they pass the clients' filters."""

    stack: LiveStack
    clients: dict[str, list[Client]]
    shipment: str = "SH-probe"
    status: str = "IN_TRANSIT"

    async def _publish(self, customers: Iterable[str]) -> None:
        for customer in customers:
            await self.stack.publish(_probe(customer, self.shipment, self.status))

    async def until_live(self) -> None:
        """Probe each customer until every one of its clients received a probe (subscribed)."""
        clients = self.clients
        pending = {(customer, i) for customer, group in clients.items() for i in range(len(group))}
        async with asyncio.timeout(20):
            while pending:
                await self._publish({c for c, _ in pending})
                await asyncio.sleep(0.2)
                for customer, i in list(pending):
                    if not clients[customer][i].probes.empty():
                        pending.discard((customer, i))
        for group in clients.values():
            for client in group:
                while not client.probes.empty():
                    client.probes.get_nowait()

    async def fence(self) -> None:
        """Publish a probe per customer and wait for it: whatever was published before
        arrived."""
        await self._publish(self.clients)
        async with asyncio.timeout(15):
            for group in self.clients.values():
                for client in group:
                    await client.probes.get()


# --- tests ------------------------------------------------------------------------------------


async def test_clients_on_both_replicas_receive_every_matching_notice_and_nothing_else(
    live: LiveStack,
) -> None:
    acme, globex = _customer("ACME"), _customer("GLOBEX")
    first, second = live.apis
    feed_1 = await Client.open(first.ws_url, {"Authorization": f"Bearer {token_for([acme])}"})
    feed_2 = await Client.open(second.ws_url, {"authorization": f"Bearer {token_for([acme])}"})
    delivered_only = await Client.open(second.ws_url, {"token": token_for([acme])})
    one_shipment = await Client.open(first.ws_url, {"token": token_for([acme])})
    other_customer = await Client.open(first.ws_url, {"token": token_for([globex])})
    await feed_1.subscribe(FEED, {})
    await feed_2.subscribe(FEED, {"customerId": acme})
    await delivered_only.subscribe(FEED, {"statuses": ["DELIVERED"]})
    await one_shipment.subscribe(SHIPMENT, {"shipmentId": "SH-2"})
    await other_customer.subscribe(FEED, {})
    clients = {acme: [feed_1, feed_2, delivered_only, one_shipment], globex: [other_customer]}
    probes = _Probes(live, clients, "SH-2", "DELIVERED")
    await probes.until_live()

    published: list[tuple[int, ShipmentChange]] = []
    for n in range(24):
        customer = acme if n % 3 else globex
        status = "DELIVERED" if n % 4 == 0 else "IN_TRANSIT"
        change = _change(customer, f"SH-{n % 5}", n, status)
        published.append((await live.publish(change), change))
    await probes.fence()

    def expected(keep: Callable[[ShipmentChange], bool]) -> list[tuple[int, str]]:
        return [(offset, c.shipment_id) for offset, c in published if keep(c)]

    def received(client: Client) -> list[tuple[int, str]]:
        found = []
        while not client.events.empty():
            event = _event(client.events.get_nowait())
            found.append((decode_cursor(event["cursor"]), event["shipmentId"]))
        return found

    acme_notices = expected(lambda c: c.customer_id == acme)
    assert len(acme_notices) == 16
    assert received(feed_1) == acme_notices
    assert received(feed_2) == acme_notices
    assert received(delivered_only) == expected(
        lambda c: c.customer_id == acme and c.status == "DELIVERED"
    )
    assert received(one_shipment) == expected(
        lambda c: c.customer_id == acme and c.shipment_id == "SH-2"
    )
    assert received(other_customer) == expected(lambda c: c.customer_id == globex)
    for client in (feed_1, feed_2, delivered_only, one_shipment, other_customer):
        await client.close()


async def test_event_payload_as_a_client_sees_it(live: LiveStack) -> None:
    acme = _customer("ACME")
    client = await Client.open(live.apis[1].ws_url, {"token": token_for([acme])})
    await client.subscribe(FEED, {"trackingNumber": "trk-sh-9"})
    await _Probes(live, {acme: [client]}, "SH-9").until_live()
    offset = await live.publish(_change(acme, "SH-9", 7, "OUT_FOR_DELIVERY"))
    [message] = await client.take(1)
    event = _event(message)
    assert decode_cursor(event["cursor"]) == offset
    assert event["shipmentId"] == "SH-9" and event["customerId"] == acme
    assert event["trackingNumber"] == "TRK-SH-9" and event["status"] == "OUT_FOR_DELIVERY"
    assert event["revision"] == 8
    assert event["milestone"] == {
        "source": "tms/us-road",
        "milestoneId": "SH-9-ms-7",
        "rawCode": "AF",
        "status": "OUT_FOR_DELIVERY",
        "occurredAt": "2026-11-21T15:07:00+00:00",
        "signedBy": None,
    }
    assert event["abridged"] is False
    await client.close()


async def test_a_notice_sent_abridged_for_its_size_says_so(live: LiveStack) -> None:
    """A milestone whose free text made its notice too large reaches the client with its
    identity and status, marked abridged: the client refetches the shipment for the rest."""
    acme = _customer("ACME")
    client = await Client.open(live.apis[0].ws_url, {"token": token_for([acme])})
    await client.subscribe(FEED, {"trackingNumber": "trk-sh-10"})
    await _Probes(live, {acme: [client]}, "SH-10").until_live()
    whole = _change(acme, "SH-10", 3, "DELIVERED")
    signed = {**(whole.milestone or {}), "signedBy": "J. RIVERA, receiving " * 20_000}
    sent = replace(whole, milestone=signed).sendable()
    assert sent is not None
    await live.publish(sent[0])
    [message] = await client.take(1)
    event = _event(message)
    assert event["abridged"] is True and event["status"] == "DELIVERED"
    assert event["milestone"] == {
        "source": "tms/us-road",
        "milestoneId": "SH-10-ms-3",
        "rawCode": "AF",
        "status": "DELIVERED",
        "occurredAt": "2026-11-21T15:03:00+00:00",
        "signedBy": None,
    }
    await client.close()


async def test_reconnecting_with_a_cursor_on_the_other_replica_has_no_gap_and_no_duplicate(
    live: LiveStack,
) -> None:
    acme = _customer("ACME")
    first, second = live.apis
    client = await Client.open(first.ws_url, {"token": token_for([acme])})
    await client.subscribe(FEED, {})
    await _Probes(live, {acme: [client]}).until_live()
    for n in range(5):
        await live.publish(_change(acme, f"SH-{n}", n))
    seen = [_event(m) for m in await client.take(5)]
    last_cursor = seen[-1]["cursor"]
    await client.close()

    # Missed while disconnected, including a notice the projector published twice.
    missed = [_change(acme, f"SH-{n}", n) for n in range(5, 10)]
    for change in missed:
        await live.publish(change)
    await live.publish(missed[1])

    async def keep_publishing() -> None:
        for n in range(10, 40):
            await live.publish(_change(acme, f"SH-{n}", n))
            await asyncio.sleep(0.01)

    publishing = asyncio.create_task(keep_publishing())  # the hand-over happens mid-stream
    resumed = await Client.open(second.ws_url, {"token": token_for([acme])})
    await resumed.subscribe(FEED, {"after": last_cursor})
    await publishing
    events = [_event(m) for m in await resumed.take(35)]
    await _Probes(live, {acme: [resumed]}).fence()

    assert [e["shipmentId"] for e in events] == [f"SH-{n}" for n in range(5, 40)]
    assert resumed.events.empty(), "nothing after the last notice, and no duplicate"
    cursors = [decode_cursor(e["cursor"]) for e in events]
    assert cursors == sorted(set(cursors))
    assert cursors[0] > decode_cursor(last_cursor)
    await resumed.close()


async def _live_cursor(api: ApiProcess, token: str | None) -> dict[str, Any]:
    """The response to ``{ liveCursor }`` over HTTP, once ``api``'s feed has a position."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        async with asyncio.timeout(15):
            while True:
                response = await http.post("/graphql", json=LIVE_CURSOR, headers=headers)
                body: dict[str, Any] = response.json()
                codes = [e["extensions"]["code"] for e in body.get("errors", [])]
                if codes != ["SERVICE_UNAVAILABLE"]:  # the hub has not reached Kafka yet
                    return body
                await asyncio.sleep(0.2)


async def _cursor_past(api: ApiProcess, token: str, offset: int) -> str:
    """``liveCursor`` of ``api`` once its feed has read the notice at ``offset``."""
    async with asyncio.timeout(15):
        while True:
            cursor: str = (await _live_cursor(api, token))["data"]["liveCursor"]
            if decode_cursor(cursor) >= offset:
                return cursor
            await asyncio.sleep(0.1)


async def test_a_live_cursor_taken_before_the_fetch_resumes_with_no_change_missed(
    live: LiveStack,
) -> None:
    """An app takes ``liveCursor`` before fetching, subscribes with it, receives nothing
    and loses its connection; a change is stored meanwhile. Subscribing again with the same
    cursor, on either replica, delivers that change, then the live ones; a cursor taken once
    the process had read the change does not deliver it again."""
    acme = _customer("ACME")
    token = token_for([acme])
    first, second = live.apis
    app = await Client.open(first.ws_url, {"token": token})
    await app.subscribe(GET_LIVE_CURSOR, {}, op="cursor")  # over the app's own socket
    answer, complete = await app.take(2)
    assert complete == {"id": "cursor", "type": "complete"}
    taken_before = _event(answer)
    await app.subscribe(FEED, {"after": taken_before})
    await app.close()  # dropped before any event came

    missed = _change(acme, "SH-1", 1)
    missed_at = await live.publish(missed)
    taken_after = await _cursor_past(first, token, missed_at)
    resumed = await Client.open(second.ws_url, {"token": token})
    await resumed.subscribe(FEED, {"after": taken_before})
    later = await Client.open(first.ws_url, {"token": token})
    await later.subscribe(FEED, {"after": taken_after})
    live_at = await live.publish(_change(acme, "SH-2", 2))

    received = [_event(m) for m in await resumed.take(2)]
    assert [(decode_cursor(e["cursor"]), e["shipmentId"]) for e in received] == [
        (missed_at, "SH-1"),
        (live_at, "SH-2"),
    ]
    [event] = [_event(m) for m in await later.take(1)]
    assert (decode_cursor(event["cursor"]), event["shipmentId"]) == (live_at, "SH-2")
    await _Probes(live, {acme: [resumed, later]}).fence()
    assert resumed.events.empty() and later.events.empty(), "nothing more, and no repeat"
    for client in (resumed, later):
        await client.close()


async def test_a_live_cursor_is_refused_to_a_caller_who_may_not_subscribe(
    live: LiveStack,
) -> None:
    """Without a token, as ``connection_init`` would refuse the socket: UNAUTHENTICATED."""
    body = await _live_cursor(live.apis[0], None)
    assert body["data"] == {"liveCursor": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["path"] == ["liveCursor"]


async def test_a_customer_you_do_not_act_for_is_forbidden_on_the_feed_as_on_a_list(
    live: LiveStack,
) -> None:
    """The same refusal, FORBIDDEN with the same message, from the feed and from ``orders``
    of the same API process; and the same whether that customer has data or not."""
    acme, other = _customer("ACME"), _customer("OTHER")
    await live.publish(_change(other, "SH-1", 1))  # the other customer exists in the log
    token = token_for([acme])
    client = await Client.open(live.apis[0].ws_url, {"token": token})
    refusals = {}
    for op, customer in (("1", other), ("2", _customer("NOBODY"))):
        await client.subscribe(FEED, {"customerId": customer}, op=op)
        error, complete = await client.take(2)
        assert (error["id"], complete) == (op, {"id": op, "type": "complete"})
        [detail] = error["payload"]["errors"]
        assert detail["extensions"]["code"] == "FORBIDDEN"
        assert detail["message"] == f"customer {customer!r} is not one of the accounts you act for"
        refusals[customer] = detail["message"]
    await client.close()

    async with httpx.AsyncClient(base_url=live.apis[0].url, timeout=10) as http:
        response = await http.post(
            "/graphql",
            json={
                "query": "query($c: String) { orders(filter: {customerId: $c}) { totalCount } }",
                "variables": {"c": other},
            },
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
    [listed] = response.json()["errors"]
    assert listed["extensions"]["code"] == "FORBIDDEN"
    assert listed["message"] == refusals[other]


async def test_a_bad_token_is_refused_with_4403(live: LiveStack) -> None:
    client = await Client.open(
        live.apis[0].ws_url, {"Authorization": "Bearer forged.token.here"}, expect_ack=False
    )
    code, reason = await client.closed()
    assert code == 4403
    assert reason and reason.startswith("Forbidden")


async def test_the_connection_closes_with_4401_when_its_token_expires(live: LiveStack) -> None:
    client = await Client.open(
        live.apis[1].ws_url, {"token": token_for([_customer("A")], ttl_seconds=2)}
    )
    code, reason = await client.closed(within=6)
    assert code == 4401
    assert reason and "expired" in reason


async def test_the_server_pings_and_drops_peers_that_do_not_answer(live: LiveStack) -> None:
    token = token_for([_customer("A")])
    answering = await Client.open(live.apis[0].ws_url, {"token": token})
    silent = await Client.open(live.apis[0].ws_url, {"token": token}, auto_pong=False)
    legacy = await Client.open(live.apis[1].ws_url, {"token": token}, protocol=LEGACY_WS)
    code, _ = await silent.closed(within=5)
    assert code == 4504
    assert silent.pings >= 1
    assert answering.pings >= 2 and answering.ws.close_code is None
    assert legacy.pings >= 2, "graphql-ws clients get ka messages"
    await answering.close()
    await legacy.close()


async def test_the_projector_s_notices_reach_subscribers(live: LiveStack, tmp_path: Path) -> None:
    """End to end: an upstream milestone event, projected, arrives on a subscription."""
    from projections.status_mapping import load_status_mapping
    from tests.integration.projector_harness import (
        projector_env,
        start_projector,
        stop_projector,
    )

    customer = _customer("ACME")
    shipment = f"SH-{uuid.uuid4().hex[:8]}"
    client = await Client.open(live.apis[0].ws_url, {"token": token_for([customer])})
    await client.subscribe(SHIPMENT, {"shipmentId": shipment})
    await _Probes(live, {customer: [client]}, shipment).until_live()

    planned = example("shipment-planned.json")
    milestone = example("shipment-milestone.json")
    for event in (planned, milestone):
        event["id"] = f"{event['id']}-{shipment}"
        event["subject"] = event["data"]["shipmentId"] = shipment
        event["customerid"] = customer
    planned["data"]["customerId"] = customer
    for event in (planned, milestone):
        await live.producer.send_and_wait(
            live.topics.shipments, json.dumps(event).encode(), key=shipment.encode()
        )

    group = f"projector-{uuid.uuid4().hex[:8]}"
    env = projector_env(live.bootstrap, live.database, group, live.topics.__dict__)
    env["AUTH_HS256_SECRET"] = SECRET
    log = tmp_path / "projector.log"
    process = start_projector(env, log)
    try:
        events = [_event(m) for m in await client.take(1, within=60)]
    except TimeoutError:
        tail = log.read_text(errors="replace")[-3000:]
        pytest.fail(f"no notice from the projector; its log ends with:\n{tail}")
    finally:
        stop_projector(process)
    expected_status = load_status_mapping().map("tms/us-road", milestone["data"]["statusCode"])
    assert events[0]["shipmentId"] == shipment and events[0]["customerId"] == customer
    assert events[0]["milestone"]["rawCode"] == "AF"
    assert events[0]["status"] == expected_status
    await client.close()


async def _open_once_a_place_is_free(url: str, payload: dict[str, Any]) -> Client:
    """A connection to a process at its connection cap, retried until one closed there."""
    async with asyncio.timeout(10):
        while True:
            try:
                return await Client.open(url, payload)
            except ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 1013, exc
                await asyncio.sleep(0.1)


async def test_connections_beyond_the_process_cap_are_closed_with_1013(
    bounded: ApiProcess,
) -> None:
    """The first test on ``bounded``: it counts every socket that process holds."""
    clients = [
        await Client.open(
            bounded.ws_url, {"token": token_for([_customer("A")], subject=f"cap-{n}")}
        )
        for n in range(MAX_CONNECTIONS)
    ]
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        async with connect(bounded.ws_url, subprotocols=[protocol], open_timeout=10) as refused:
            # The handshake completes with the protocol asked for, so the client reads why.
            assert refused.subprotocol == protocol
            async with asyncio.timeout(5):
                await refused.wait_closed()
        assert refused.close_code == 1013
        assert refused.close_reason == (
            "Try again later: this server holds as many WebSocket connections as it may"
        )
    for client in clients:
        assert client.ws.close_code is None, "the connections within the cap stay open"
    await clients[0].close()
    again = await _open_once_a_place_is_free(
        bounded.ws_url, {"token": token_for([_customer("A")], subject="cap-again")}
    )
    for client in (again, *clients[1:]):
        await client.close()


async def test_a_client_holding_its_share_of_connections_is_closed_with_1013_at_init(
    bounded: ApiProcess,
) -> None:
    """Its other connections, and other clients', are not affected; closing one frees its
    place. (``bounded`` allows one connection more than this test holds at once.)"""
    token = token_for([_customer("A")], subject="many-sockets")
    held = [
        await _open_once_a_place_is_free(bounded.ws_url, {"token": token})
        for _ in range(CLIENT_CONNECTIONS)
    ]
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        over = await Client.open(
            bounded.ws_url, {"token": token}, protocol=protocol, expect_ack=False
        )
        assert await over.closed() == (
            1013,
            f"Try again later: this client already holds {CLIENT_CONNECTIONS} WebSocket "
            "connections here",
        )
    assert all(client.ws.close_code is None for client in held)
    await held[0].close()
    again = await _open_once_a_place_is_free(bounded.ws_url, {"token": token})
    for client in (again, *held[1:]):
        await client.close()


async def _silent(url: str, address: str, protocol: Subprotocol = TRANSPORT_WS) -> ClientConnection:
    """A socket that sends no ``connection_init``, from ``address`` as a trusted proxy
    forwards it (the ``bounded`` process trusts 127.0.0.1)."""
    return await connect(
        url,
        subprotocols=[protocol],
        open_timeout=10,
        additional_headers={"X-Forwarded-For": address},
    )


async def test_a_socket_without_connection_init_is_closed_after_ws_init_timeout(
    bounded: ApiProcess,
) -> None:
    """``WS_INIT_TIMEOUT_SECONDS`` is ``INIT_TIMEOUT_SECONDS`` on ``bounded``: both protocols
    close with 4408."""
    for n, protocol in enumerate((TRANSPORT_WS, LEGACY_WS)):
        async with await _silent(bounded.ws_url, f"192.0.2.{n + 1}", protocol) as silent:
            async with asyncio.timeout(INIT_TIMEOUT_SECONDS + 10):
                await silent.wait_closed()
        assert silent.close_code == 4408


async def test_sockets_awaiting_connection_init_beyond_their_cap_are_closed_with_1013(
    bounded: ApiProcess,
) -> None:
    """Sockets that never authenticate (a flood, from many addresses) take at most
    ``MAX_PENDING_WEBSOCKETS`` places, not every place: an initialised connection keeps its
    own, and a client connects again as soon as a pending socket goes (4408 after
    ``WS_INIT_TIMEOUT_SECONDS``, ``INIT_TIMEOUT_SECONDS`` on ``bounded``)."""
    subscriber = await _open_once_a_place_is_free(
        bounded.ws_url, {"token": token_for([_customer("A")], subject="pending-cap")}
    )
    silent = [
        await _silent(bounded.ws_url, f"198.51.100.{n + 1}") for n in range(PENDING_CONNECTIONS)
    ]
    # 1 + 2 sockets of MAX_CONNECTIONS (4): room in total, none for one more pending.
    async with await _silent(bounded.ws_url, "198.51.100.99", LEGACY_WS) as refused:
        async with asyncio.timeout(5):
            await refused.wait_closed()
    assert (refused.close_code, refused.close_reason) == (
        1013,
        "Try again later: this server holds as many WebSocket connections awaiting "
        "connection_init as it may",
    )
    for ws in silent:
        async with asyncio.timeout(INIT_TIMEOUT_SECONDS + 10):
            await ws.wait_closed()
        assert ws.close_code == 4408
    assert subscriber.ws.close_code is None, "the initialised connection stays open"
    again = await _open_once_a_place_is_free(
        bounded.ws_url, {"token": token_for([_customer("A")], subject="pending-cap-again")}
    )
    for client in (subscriber, again):
        await client.close()


async def test_one_address_cannot_take_every_pending_place(bounded: ApiProcess) -> None:
    """An address holding ``MAX_PENDING_WEBSOCKETS_PER_ADDRESS`` sockets without
    ``connection_init`` has its next one closed with 1013, while another address still
    gets a pending place (``MAX_PENDING_WEBSOCKETS`` is larger) and is served."""
    flood = [await _silent(bounded.ws_url, "203.0.113.7") for _ in range(PENDING_PER_ADDRESS)]
    async with await _silent(bounded.ws_url, "203.0.113.7") as refused:
        async with asyncio.timeout(5):
            await refused.wait_closed()
    assert (refused.close_code, refused.close_reason) == (
        1013,
        "Try again later: too many WebSocket connections from your address await connection_init",
    )
    other = await _silent(bounded.ws_url, "203.0.113.8")
    payload = {"token": token_for([_customer("A")], subject="per-address")}
    await other.send(json.dumps({"type": "connection_init", "payload": payload}))
    async with asyncio.timeout(10):
        assert json.loads(await other.recv())["type"] == "connection_ack"
    await other.close()
    for ws in flood:
        await ws.close()


async def test_a_resume_further_back_than_the_bound_is_expired_and_one_within_it_replays_exactly(
    live: LiveStack, bounded: ApiProcess
) -> None:
    acme = _customer("ACME")
    token = token_for([acme], subject="resume-bound")
    watcher = await Client.open(bounded.ws_url, {"token": token})
    await watcher.subscribe(FEED, {})
    probes = _Probes(live, {acme: [watcher]})
    await probes.until_live()
    offsets = [
        await live.publish(_change(acme, f"SH-{n}", n)) for n in range(RESUME_MAX_NOTICES + 5)
    ]
    await probes.fence()  # the bounded process has read the log up to here
    await watcher.close()

    client = await Client.open(bounded.ws_url, {"token": token})
    await client.subscribe(FEED, {"after": encode_cursor(offsets[0])}, op="far")
    await client.subscribe(FEED, {"after": encode_cursor(offsets[10])}, op="near")
    messages = await client.take(2 + len(offsets[11:]))
    far = [m for m in messages if m["id"] == "far"]
    assert [m["type"] for m in far] == ["next", "complete"]
    [detail] = far[0]["payload"]["errors"]
    assert detail["extensions"]["code"] == "CURSOR_EXPIRED"
    assert f"more than {RESUME_MAX_NOTICES} notices" in detail["message"]
    assert "Refetch the current state" in detail["message"]

    near = [decode_cursor(_event(m)["cursor"]) for m in messages if m["id"] == "near"]
    assert near == offsets[11:]
    await _Probes(live, {acme: [client]}).fence()
    assert client.events.empty(), "nothing more, and no duplicate"
    await client.close()


async def test_a_rarely_matching_subscriber_resumes_with_a_ping_s_checkpoint(
    live: LiveStack, bounded: ApiProcess
) -> None:
    """One shipment's updates while more than ``SUBSCRIPTION_RESUME_MAX_NOTICES`` notices of
    another customer pass: its last event's cursor has expired, but a ping brought a
    checkpoint past them, and resuming with it after a drop misses nothing and repeats
    nothing."""
    acme, globex = _customer("ACME"), _customer("GLOBEX")
    token = token_for([acme], subject="checkpoints")
    client = await Client.open(bounded.ws_url, {"token": token})
    await client.subscribe(SHIPMENT, {"shipmentId": "SH-rare"}, op="rare")
    await _Probes(live, {acme: [client]}, "SH-rare").until_live()
    await live.publish(_change(acme, "SH-rare", 1))
    old_cursor = _event((await client.take(1))[0])["cursor"]
    others = [
        await live.publish(_change(globex, f"SH-{n}", n)) for n in range(RESUME_MAX_NOTICES + 5)
    ]
    checkpoint = await client.checkpoint_past("rare", others[-1])
    await client.close()

    missed = await live.publish(_change(acme, "SH-rare", 2))
    for n in range(3):
        await live.publish(_change(globex, f"SH-{n}", 100 + n))
    resumed = await Client.open(bounded.ws_url, {"token": token})
    await resumed.subscribe(SHIPMENT, {"shipmentId": "SH-rare", "after": checkpoint}, op="rare")
    await resumed.subscribe(SHIPMENT, {"shipmentId": "SH-rare", "after": old_cursor}, op="old")
    messages = await resumed.take(3)
    rare = [_event(m) for m in messages if m["id"] == "rare"]
    assert [(decode_cursor(e["cursor"]), e["milestone"]["rawCode"]) for e in rare] == [
        (missed, "AF")
    ]
    old = [m for m in messages if m["id"] == "old"]
    assert [m["type"] for m in old] == ["next", "complete"]
    assert old[0]["payload"]["errors"][0]["extensions"]["code"] == "CURSOR_EXPIRED"
    await _Probes(live, {acme: [resumed]}, "SH-rare").fence()
    assert resumed.events.empty(), "nothing more, and no repeat"
    await resumed.close()


@dataclass
class _GraphqlWs:
    """``clients/live-checkpoints.mjs``: docs/api.md's graphql-ws snippet following one
    shipment in a Node process, reporting JSON lines (``connected``, ``after``, ``event``,
    ``error``)."""

    process: asyncio.subprocess.Process
    lines: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, url: str, token: str, shipment: str) -> _GraphqlWs:
        installed = CLIENTS / "node_modules" / "graphql-ws"
        assert installed.exists(), f"{installed} is missing: run scripts/install"
        process = await asyncio.create_subprocess_exec(
            "node",
            str(CLIENTS / "live-checkpoints.mjs"),
            url,
            token,
            shipment,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        client = cls(process)
        client.reader = asyncio.create_task(client._read())
        return client

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            await self.lines.put(json.loads(raw))

    async def until(self, key: str, within: float = 20.0) -> Any:
        """The value of the next line that has ``key``."""
        async with asyncio.timeout(within):
            while True:
                line = await self.lines.get()
                assert "error" not in line, line
                if key in line:
                    return line[key]

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        if self.reader is not None:
            await self.reader


async def test_the_readme_s_graphql_ws_client_resumes_from_a_checkpoint_after_a_drop(
    live: LiveStack, bounded: ApiProcess
) -> None:
    """The snippet of docs/api.md, run by graphql-ws itself: the pings' checkpoints move a quiet
    subscription's ``after`` past more than ``SUBSCRIPTION_RESUME_MAX_NOTICES`` notices of
    another customer; the connection is cut, graphql-ws reconnects with the same payload, and
    the change stored meanwhile arrives (with the event's cursor that ``after`` was, the
    resume would have been CURSOR_EXPIRED)."""
    acme, globex = _customer("ACME"), _customer("GLOBEX")
    client = await _GraphqlWs.start(bounded.ws_url, token_for([acme]), "SH-quiet")
    try:
        await client.until("connected")
        async with asyncio.timeout(20):
            while client.lines.empty():  # probes until the subscription is live
                await live.publish(_probe(acme, "SH-quiet", "IN_TRANSIT"))
                await asyncio.sleep(0.3)
        await client.until("event")
        others = [
            await live.publish(_change(globex, f"SH-{n}", n)) for n in range(RESUME_MAX_NOTICES + 5)
        ]
        while decode_cursor(await client.until("after")) < others[-1]:
            pass
        await client.send("drop")
        missed = await live.publish(_change(acme, "SH-quiet", 1))
        await client.until("connected")
        event = await client.until("event")
        resumed = event["data"]["shipmentUpdates"]
        assert (decode_cursor(resumed["cursor"]), resumed["milestone"]["rawCode"]) == (
            missed,
            "AF",
        )
        await client.send("quit")
    finally:
        await client.stop()


async def _first(notices: AsyncIterator[LiveNotice]) -> LiveNotice:
    return await anext(notices)


@dataclass(frozen=True)
class _InProcess:
    """Feeds of this test process on the real change log, with ``bounds`` shared by all."""

    hub: LiveHub
    log: ChangeLog
    bounds: ResumeBounds

    def resume(self, customer: str, subject: str, after: int) -> AsyncGenerator[LiveNotice, None]:
        feed = ConnectionFeed(
            hub=self.hub,
            log=self.log,
            scope=Policy().scope(caller(customer, subject=subject)),
            buffer_size=16,
            dedupe_window=100,
            on_close=lambda reason: None,
            resume=self.bounds,
            client=subject,
        )
        return feed.stream(MilestoneSelection(customer_id=customer), encode_cursor(after))


@pytest_asyncio.fixture
async def in_process(live: LiveStack) -> AsyncIterator[Callable[[ResumeBounds], _InProcess]]:
    log = ChangeLog(live.bootstrap, live.topics, retention_hours=72)
    hub = LiveHub(log, dedupe_window=100, overflow_reason=too_slow(16))
    hub.start()
    try:
        yield lambda bounds: _InProcess(hub, log, bounds)
    finally:
        await hub.stop()


async def test_replays_beyond_the_process_cap_wait_for_a_place_then_are_refused(
    live: LiveStack, in_process: Callable[[ResumeBounds], _InProcess]
) -> None:
    """The feed in-process, on the real change log, with one replay place: a resume is
    refused with RATE_LIMITED if no place comes free in time, and waits while the place is
    held (as an app resuming many subscriptions at once does). Two processes' worth of
    places, so that neither outcome depends on how fast the machine is: on the first the
    place stays held until the refusal; on the second the wait outlasts any delay."""
    acme = _customer("ACME")
    offsets = [await live.publish(_change(acme, f"SH-{n}", n)) for n in range(4)]
    full = ReplayPlaces(total=1, per_client=1, wait_seconds=0.5)
    async with full.place("holding"):  # a replay reading its chunk, longer than the wait
        with pytest.raises(GraphQLError) as refused:
            await anext(in_process(ResumeBounds(100, full)).resume(acme, "second", offsets[0]))
    assert refused.value.extensions == {
        "code": "RATE_LIMITED",
        "limit": "MAX_SUBSCRIPTION_REPLAYS",
        "allowed": 1,
        "retryAfter": 1,
    }

    busy = ReplayPlaces(total=1, per_client=1, wait_seconds=30)
    async with busy.place("holding"):
        third = in_process(ResumeBounds(100, busy)).resume(acme, "third", offsets[0])
        waiting = asyncio.create_task(_first(third))
        await asyncio.sleep(0.1)
        assert not waiting.done()
    # The chunk was read: the place goes to the one waiting.
    assert decode_cursor((await waiting).cursor) == offsets[1]
    await third.aclose()


async def test_many_resumes_at_once_with_the_default_caps_all_replay_even_to_slow_readers(
    live: LiveStack, in_process: Callable[[ResumeBounds], _InProcess]
) -> None:
    """After a replica stops, its clients resume at once on the others. 20 resumes of a short
    gap, on a process with the default replay caps, each client taking one notice and then
    reading no more (a phone on a slow network): every one is served, and the paused
    readers hold no replay place."""
    acme = _customer("ACME")
    offsets = [await live.publish(_change(acme, f"SH-{n}", n)) for n in range(3)]
    settings = LiveSettings()
    feeds = in_process(ResumeBounds.of(settings))
    resumes = [feeds.resume(acme, f"phone-{n}", offsets[0]) for n in range(20)]
    try:
        # Against a hang only: a resume that found no place (one kept by a paused reader)
        # is refused with RATE_LIMITED after the default wait, and gather raises that.
        async with asyncio.timeout(settings.replay_wait_seconds + 30):
            firsts = await asyncio.gather(*(_first(resume) for resume in resumes))
        assert [decode_cursor(notice.cursor) for notice in firsts] == [offsets[1]] * 20
        assert feeds.bounds.replays.in_use == 0, "a paused reader holds no replay place"
        assert [decode_cursor((await anext(r)).cursor) for r in resumes] == [offsets[2]] * 20
    finally:
        for resume in resumes:
            await resume.aclose()


async def test_a_cursor_beyond_the_log_s_end_is_expired_with_the_refetch_advice(
    live: LiveStack,
) -> None:
    """A cursor past the end of the change log: what an app holds after the changes topic
    was created again (a new broker, an operator's reset), where its offsets start over.
    CURSOR_EXPIRED, whose documented remedy (liveCursor, refetch, subscribe) works; not a
    BAD_USER_INPUT that an app resubscribing with its cursor would meet again and again."""
    acme = _customer("ACME")
    end = await live.publish(_change(acme, "SH-1", 1)) + 1
    client = await Client.open(live.apis[0].ws_url, {"token": token_for([acme])})
    await client.subscribe(FEED, {"after": encode_cursor(end + 1_000)})
    message, complete = await client.take(2)
    assert complete["type"] == "complete"
    [detail] = message["payload"]["errors"]
    assert detail["extensions"]["code"] == "CURSOR_EXPIRED"
    assert "Refetch the current state" in detail["message"]
    await client.close()


async def test_a_cursor_older_than_the_retained_log_is_expired(live: LiveStack) -> None:
    """Runs last in this module: it deletes the start of the shared changes topic."""
    acme = _customer("ACME")
    # Every API's hub must have read the notices before their records go: one still behind
    # them would lose its place in the log (and close its connections) instead.
    watchers = [await Client.open(api.ws_url, {"token": token_for([acme])}) for api in live.apis]
    for watcher in watchers:
        await watcher.subscribe(FEED, {}, op="watch")
    probes = _Probes(live, {acme: watchers})
    await probes.until_live()
    offsets = [await live.publish(_change(acme, f"SH-{n}", n)) for n in range(3)]
    await probes.fence()  # each hub has read past the three
    for watcher in watchers:
        await watcher.close()
    partition = TopicPartition(live.topics.changes, 0)
    await live.admin.delete_records({partition: RecordsToDelete(offsets[-1])})

    client = await Client.open(live.apis[0].ws_url, {"token": token_for([acme])})
    await client.subscribe(FEED, {"after": encode_cursor(offsets[0])}, op="old")
    await client.subscribe(FEED, {"after": encode_cursor(offsets[1])}, op="recent")
    messages = await client.take(3)
    old = [m for m in messages if m["id"] == "old"]
    recent = [m for m in messages if m["id"] == "recent"]
    assert [m["type"] for m in old] == ["next", "complete"]
    [detail] = old[0]["payload"]["errors"]
    assert detail["extensions"]["code"] == "CURSOR_EXPIRED"
    assert "retention" in detail["message"]
    assert old[0]["payload"]["data"] is None

    # A cursor right before the earliest retained notice still resumes.
    [message] = recent
    assert decode_cursor(_event(message)["cursor"]) == offsets[-1]
    await client.close()


async def test_the_app_creates_the_changes_topic_with_the_retention_window(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient
) -> None:
    """The resume window is the topic's retention: CHANGES_RETENTION_HOURS at creation."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    prefix = f"t{uuid.uuid4().hex[:12]}"
    topics = TopicNames(**{k: f"{prefix}.{v}" for k, v in TopicNames().__dict__.items()})
    await ChangeLog(kafka_bootstrap, topics, retention_hours=5).ensure_topic()
    try:
        # Creation returns before the partition's metadata is there (until then it lists
        # none); a topic of more than one partition never satisfies this wait.
        await wait_for_leaders(kafka_admin, {topics.changes: 1})
        [described] = await kafka_admin.describe_topics([topics.changes])
        [config] = await kafka_admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.changes, {"retention.ms": None})]
        )
        entries = config.to_object()["resources"][0]["config_entries"]
    finally:
        await kafka_admin.delete_topics([topics.changes, topics.dead_letter])
    assert len(described["partitions"]) == 1, "one partition: its offsets are the cursors"
    assert {e["config_names"]: e["config_value"] for e in entries}["retention.ms"] == str(
        5 * 3_600_000
    )
