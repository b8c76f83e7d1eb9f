"""The WebSocket protocol handlers, driven in-process with a scripted socket (no network).

What a client notices: which messages arrive, and with which code the connection closes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
import strawberry
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.types.unset import UNSET

from entitlements.policy import Policy
from entitlements.tokens import TokenVerifier
from graph.context import ConnectionCaller, GraphContext
from graph.freshness import FreshnessCopy
from graph.subscriptions import Subscription
from tests.helpers import SECRET, TOKENS, shipment_change, token_for
from tests.unit.live_doubles import ScriptedLog, live_service
from web.admission import Lane
from web.app import graphql_endpoint, new_document_cache
from web.live import feed
from web.live.cursor import decode_cursor, encode_cursor
from web.live.handlers import LiveGraphQLWSHandler, LiveTransportWSHandler
from web.live.hub import LiveHub
from web.live.service import LiveService
from web.masking import CodedErrors
from web.metrics import Metrics
from web.operation_admission import OperationLanes, WebSocketAdmission
from web.settings import load_settings

MILESTONE_FEED = """
subscription($customerId: String, $after: String) {
  milestoneFeed(customerId: $customerId, after: $after) {
    cursor shipmentId trackingNumber customerId status revision projectedAt
    milestone { source milestoneId rawCode status occurredAt location { city } }
  }
}
"""


@strawberry.type(description="Unused; a schema needs a query root.")
class _Query:
    @strawberry.field(description="Always true.")  # type: ignore[untyped-decorator]
    def ok(self) -> bool:
        return True


SCHEMA = strawberry.federation.Schema(query=_Query, subscription=Subscription)


class ScriptedSocket(AsyncWebSocketAdapter):
    """The client's side: ``inbox`` is what it sends, ``sent`` what it receives.

    ``capacity`` bounds what the client has not read yet; a full one blocks the server's
    sends, like a client that stopped reading its socket.
    """

    def __init__(self, view: Any, capacity: int = 0) -> None:
        super().__init__(view)
        self.inbox: asyncio.Queue[object] = asyncio.Queue()
        self.sent: asyncio.Queue[Any] = asyncio.Queue(capacity)
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        while not self.closed.done():
            receive = asyncio.ensure_future(self.inbox.get())
            waiters: set[asyncio.Future[Any]] = {receive, self.closed}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                receive.cancel()
                return
            yield receive.result()

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.closed.done():
            raise WebSocketDisconnected
        await self.sent.put(message)

    async def close(self, code: int, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result((code, reason))

    async def receive(self, within: float = 2.0) -> Any:
        async with asyncio.timeout(within):
            return await self.sent.get()

    async def close_code(self, within: float = 3.0) -> tuple[int, str]:
        async with asyncio.timeout(within):
            return await asyncio.shield(self.closed)


class _View:
    def __init__(self, live: LiveService, init_timeout: float = 5.0) -> None:
        self.live = live
        #: Strawberry's view setting, which both protocols' handlers read.
        self.connection_init_wait_timeout = timedelta(seconds=init_timeout)

    async def on_ws_connect(self, context: object) -> object:
        return UNSET


@contextlib.asynccontextmanager
async def _connection(
    service: LiveService,
    *,
    legacy: bool = False,
    capacity: int = 0,
    schema: strawberry.Schema = SCHEMA,
    context: Any = None,
    max_operations: int | None = None,
    init_timeout: float = 5.0,
) -> AsyncIterator[ScriptedSocket]:
    view = _View(service, init_timeout)
    socket = ScriptedSocket(view, capacity)
    common: dict[str, Any] = {
        "view": view,
        "websocket": socket,
        "context": context if context is not None else {},
        "root_value": None,
        "schema": schema,
        "max_subscriptions_per_connection": max_operations,
    }
    handler: LiveTransportWSHandler | LiveGraphQLWSHandler
    if legacy:
        handler = LiveGraphQLWSHandler(**common, keep_alive=False, keep_alive_interval=None)
    else:
        handler = LiveTransportWSHandler(
            **common, connection_init_wait_timeout=view.connection_init_wait_timeout
        )
    task = asyncio.create_task(handler.handle())
    try:
        yield socket
    finally:
        await socket.close(1000, "test over")
        async with asyncio.timeout(5):
            await task


async def _ack(socket: ScriptedSocket, payload: Mapping[str, object]) -> None:
    """A well-formed ``connection_init`` with ``payload``, and its acknowledgement: the first
    message either protocol answers with (the legacy ``ka`` loop starts after it)."""
    await socket.inbox.put({"type": "connection_init", "payload": payload})
    assert (await socket.receive())["type"] == "connection_ack"


async def _subscribe(socket: ScriptedSocket, variables: dict[str, object] | None = None) -> None:
    await socket.inbox.put(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": MILESTONE_FEED, "variables": variables or {}},
        }
    )


async def _until_registered(hub: LiveHub, count: int = 1) -> None:
    for _ in range(400):
        if hub.subscriber_count >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{count} subscription(s) never registered with the hub")


async def _subscribed(
    socket: ScriptedSocket, hub: LiveHub, variables: dict[str, object] | None = None
) -> None:
    """Connect as an ACME user and subscribe to the milestone feed with ``variables``;
    return once ``hub`` has the subscription, so that what it dispatches next reaches it."""
    await _ack(socket, {"token": token_for(["ACME"])})
    await _subscribe(socket, variables)
    await _until_registered(hub)


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"token": "x.y.z"}, {"authorization": "Basic abc"}],
)
async def test_connection_init_without_a_valid_token_closes_4403(payload: dict[str, str]) -> None:
    async with _connection(live_service()) as socket:
        await socket.inbox.put({"type": "connection_init", "payload": payload})
        code, reason = await socket.close_code()
    assert code == 4403
    assert reason.startswith("Forbidden")


@pytest.mark.parametrize("key", ["Authorization", "authorization", "token"])
async def test_each_documented_payload_shape_authenticates(key: str) -> None:
    token = token_for(["ACME"])
    value = token if key == "token" else f"Bearer {token}"
    async with _connection(live_service()) as socket:
        await _ack(socket, {key: value})


async def test_an_expiring_token_closes_the_connection_with_4401() -> None:
    # The connection lives as long as HTTP would accept its token: exp plus the leeway.
    service = dataclasses.replace(
        live_service(), verifier=TokenVerifier(dataclasses.replace(TOKENS, leeway_seconds=2))
    )
    async with _connection(service) as socket:
        await _ack(socket, {"Authorization": f"Bearer {token_for(['ACME'], ttl_seconds=1)}"})
        await asyncio.sleep(1.2)
        assert not socket.closed.done()  # inside the leeway: still open
        code, reason = await socket.close_code(within=4)
    assert code == 4401
    assert "expired" in reason


@pytest.mark.parametrize("legacy", [False, True])
async def test_a_connection_without_connection_init_in_time_is_closed_with_4408(
    legacy: bool,
) -> None:
    """Both protocols: a socket that never sends ``connection_init`` does not stay open."""
    async with _connection(live_service(), legacy=legacy, init_timeout=0.1) as socket:
        code, reason = await socket.close_code(within=2)
    assert (code, reason) == (4408, "Connection initialisation timeout")


@pytest.mark.parametrize("legacy", [False, True])
async def test_a_connection_initialised_in_time_outlives_the_init_timeout(legacy: bool) -> None:
    async with _connection(live_service(), legacy=legacy, init_timeout=0.1) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        await asyncio.sleep(0.3)
        assert not socket.closed.done()


# --- delivery under entitlements -----------------------------------------------------------


async def test_a_subscriber_receives_its_customer_s_milestones_with_cursors() -> None:
    service = live_service()
    service.hub.begin_at(0)
    async with _connection(service) as socket:
        await _ack(socket, {"Authorization": f"Bearer {token_for(['ACME'])}"})
        await _subscribe(socket)
        await _until_registered(service.hub)
        service.hub.dispatch(0, shipment_change(0, "GLOBEX"))
        service.hub.dispatch(1, shipment_change(1, "ACME"))
        message = await socket.receive()

    assert message["type"] == "next" and message["id"] == "1"
    event = message["payload"]["data"]["milestoneFeed"]
    assert decode_cursor(event["cursor"]) == 1
    assert event["customerId"] == "ACME" and event["shipmentId"] == "SH-1"
    assert event["status"] == "IN_TRANSIT" and event["revision"] == 2
    assert event["milestone"]["rawCode"] == "AF"
    assert event["milestone"]["location"] == {"city": "Atlanta"}
    assert socket.sent.empty(), "GLOBEX's notice never reaches an ACME user"


async def test_filtering_on_a_customer_you_do_not_act_for_is_forbidden() -> None:
    service = live_service()
    service.hub.begin_at(0)
    async with _connection(service) as socket:
        await _ack(socket, {"Authorization": f"Bearer {token_for(['ACME'])}"})
        await _subscribe(socket, {"customerId": "GLOBEX"})
        message = await socket.receive()
        assert (await socket.receive())["type"] == "complete"
    errors = message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert errors[0]["message"] == "customer 'GLOBEX' is not one of the accounts you act for"


@pytest.mark.parametrize(
    ("chunk", "reads"), [(1_000, [(2, 5)]), (2, [(2, 5), (4, 5)])], ids=["one-read", "chunks"]
)
async def test_resuming_replays_the_missed_notices_then_goes_live_without_gap_or_duplicate(
    chunk: int, reads: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read in one chunk or several (``REPLAY_CHUNK``), the replay is the same."""
    monkeypatch.setattr(feed, "REPLAY_CHUNK", chunk)
    history = [shipment_change(offset) for offset in range(6)]
    history[4] = shipment_change(
        4, notice_id=history[2].notice_id
    )  # a repeat from a projector crash
    log = ScriptedLog(history)
    service = live_service(log=log)
    service.hub.begin_at(5)  # this replica saw the log up to offset 4
    async with _connection(service) as socket:
        await _subscribed(socket, service.hub, {"after": encode_cursor(1)})
        service.hub.dispatch(5, history[5])
        service.hub.dispatch(6, shipment_change(6))
        cursors = [
            decode_cursor((await socket.receive())["payload"]["data"]["milestoneFeed"]["cursor"])
            for _ in range(4)
        ]
    assert log.replays == reads
    assert cursors == [2, 3, 5, 6]


async def test_a_cursor_older_than_the_log_fails_with_cursor_expired() -> None:
    service = live_service(log=ScriptedLog([shipment_change(o) for o in range(10)], earliest=5))
    service.hub.begin_at(10)
    async with _connection(service) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        await _subscribe(socket, {"after": encode_cursor(2)})
        message = await socket.receive()
    error = message["payload"]["errors"][0]
    assert error["extensions"]["code"] == "CURSOR_EXPIRED"
    assert "retention" in error["message"]


async def test_a_cursor_of_5000_digits_is_bad_user_input() -> None:
    """``int()`` refuses more than 4,300 digits with a ValueError: a forged resume cursor got
    an internal error, not the refusal every cursor this API did not issue gets."""
    service = live_service(log=ScriptedLog([shipment_change(o) for o in range(10)]))
    service.hub.begin_at(10)
    forged = base64.urlsafe_b64encode(b"c1:" + b"9" * 5000).decode()
    async with _connection(service) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        await _subscribe(socket, {"after": forged})
        message = await socket.receive()
    [error] = message["payload"]["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "the cursor is not one this API issued"


async def test_a_subscription_outside_an_authenticated_websocket_is_unauthenticated() -> None:
    result = await SCHEMA.subscribe(MILESTONE_FEED)
    assert not isinstance(result, strawberry.types.ExecutionResult)
    first = await anext(result)
    assert first.errors and (first.errors[0].extensions or {})["code"] == "UNAUTHENTICATED"


# --- keepalive and slow clients ------------------------------------------------------------


async def test_the_server_pings_and_keeps_a_peer_that_answers() -> None:
    async with _connection(live_service(ping=0.05, pong=0.2)) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        for _ in range(4):
            assert (await socket.receive())["type"] == "ping"
            await socket.inbox.put({"type": "pong"})
        assert not socket.closed.done()


async def test_a_peer_that_does_not_answer_pings_is_closed_with_4504() -> None:
    async with _connection(live_service(ping=0.05, pong=0.1)) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        assert (await socket.receive())["type"] == "ping"
        code, _ = await socket.close_code()
    assert code == 4504


async def test_a_client_that_stops_reading_is_disconnected_with_4413() -> None:
    service = live_service(buffer=3)
    service.hub.begin_at(0)
    async with _connection(service, capacity=1) as socket:
        await _subscribed(socket, service.hub)
        for offset in range(10):
            service.hub.dispatch(offset, shipment_change(offset))
            await asyncio.sleep(0.01)
        code, reason = await socket.close_code()
    assert code == 4413
    assert "too slow" in reason
    assert service.hub.subscriber_count == 0


# --- the legacy graphql-ws protocol ----------------------------------------------------------


async def test_legacy_protocol_sends_keepalives_and_refuses_bad_tokens() -> None:
    async with _connection(live_service(ping=0.05), legacy=True) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        assert [(await socket.receive())["type"] for _ in range(2)] == ["ka", "ka"]

    async with _connection(live_service(), legacy=True) as socket:
        await socket.inbox.put({"type": "connection_init", "payload": {"token": "nope"}})
        assert (await socket.receive())["type"] == "connection_error"
        code, _ = await socket.close_code()
    assert code == 4403


async def test_a_query_over_the_legacy_protocol_is_refused_saying_where_queries_go() -> None:
    # Strawberry's legacy handler serves subscriptions only; the API's schema once masked its
    # refusal as "Internal server error" and logged it as a bug.
    coded_schema = strawberry.federation.Schema(
        query=_Query, subscription=Subscription, extensions=[CodedErrors]
    )
    async with _connection(live_service(), legacy=True, schema=coded_schema) as socket:
        await _ack(socket, {"Authorization": f"Bearer {token_for(['ACME'])}"})
        await socket.inbox.put({"id": "q", "type": "start", "payload": {"query": "{ ok }"}})
        message = await _next_message(socket)
    assert message["type"] == "error" and message["id"] == "q"
    assert message["payload"]["extensions"] == {"code": "BAD_REQUEST"}
    assert "graphql-transport-ws" in message["payload"]["message"]
    assert "HTTP" in message["payload"]["message"]


# --- hardening (issue 12) ---------------------------------------------------------------------


@strawberry.type(description="Who the operation runs as.")
class _WhoQuery:
    @strawberry.field(description="The caller's subject, as the readers see it.")  # type: ignore[untyped-decorator]
    def whoami(self, info: strawberry.Info) -> str | None:
        caller = info.context.readers.caller
        return caller.subject if caller is not None else None


WHO_SCHEMA = strawberry.federation.Schema(
    query=_WhoQuery, subscription=Subscription, extensions=[ConnectionCaller]
)


async def _next_message(socket: ScriptedSocket) -> Any:
    """The next message that is not a legacy keepalive (``ka``)."""
    while (message := await socket.receive())["type"] == "ka":
        pass
    return message


def _anonymous_context() -> GraphContext:
    # Built at the handshake, before connection_init, as web.graphql_http does.
    return GraphContext.build(db=None, policy=Policy(), caller=None, audit=object())  # type: ignore[arg-type]


async def test_a_query_over_websocket_runs_as_the_connection_s_caller() -> None:
    # graphql-transport-ws allows queries; Strawberry's legacy graphql-ws handler serves only
    # subscriptions (a query there is refused: see the legacy protocol tests above).
    context = _anonymous_context()
    async with _connection(live_service(), schema=WHO_SCHEMA, context=context) as socket:
        await _ack(socket, {"Authorization": f"Bearer {token_for(['ACME'])}"})
        for op in ("q1", "q2"):
            await socket.inbox.put(
                {"id": op, "type": "subscribe", "payload": {"query": "{ whoami }"}}
            )
            message = await _next_message(socket)
            assert message == {"id": op, "type": "next", "payload": {"data": {"whoami": "alice"}}}
            assert (await _next_message(socket))["type"] == "complete"
    assert context.caller is None  # each operation got a context of its own


async def test_a_token_whose_exp_is_out_of_range_closes_4403_not_a_dropped_socket() -> None:
    assert TOKENS.hs256_secret is not None
    forged = jwt.encode(
        {
            "sub": "alice",
            "iss": TOKENS.issuer,
            "aud": TOKENS.audience,
            "exp": 10**12,
            "customers": ["ACME"],
            "roles": ["viewer"],
        },
        TOKENS.hs256_secret,
        algorithm="HS256",
    )
    async with _connection(live_service()) as socket:
        await socket.inbox.put(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {forged}"}}
        )
        code, reason = await socket.close_code()
    assert code == 4403
    assert "exp" in reason


@pytest.mark.parametrize("legacy", [False, True])
async def test_one_operation_too_many_gets_an_error_with_a_code(legacy: bool) -> None:
    async with _connection(live_service(), legacy=legacy, max_operations=1) as socket:
        token = token_for(["ACME"])
        kind = "start" if legacy else "subscribe"
        await _ack(socket, {"Authorization": f"Bearer {token}"})
        for op in ("1", "2"):
            await socket.inbox.put(
                {"id": op, "type": kind, "payload": {"query": MILESTONE_FEED, "variables": {}}}
            )
        message = await _next_message(socket)
    assert message["type"] == "error" and message["id"] == "2"
    payload = message["payload"]
    error = payload[0] if isinstance(payload, list) else payload
    assert error["extensions"]["code"] == "TOO_MANY_OPERATIONS"
    assert error["extensions"]["allowed"] == 1


@pytest.mark.parametrize("legacy", [False, True])
async def test_a_role_limited_to_persisted_operations_cannot_subscribe_with_its_own_document(
    legacy: bool,
) -> None:
    # graphql-transport-ws refused it; the legacy protocol ran it (session 12's audit).
    service = live_service()
    service.hub.begin_at(0)
    policy = Policy(free_form_roles=frozenset({"viewer"}))
    async with _connection(service, legacy=legacy) as socket:
        # what web.persisted reads: the policy of the app serving the WebSocket
        app = SimpleNamespace(state=SimpleNamespace(policy=policy))
        socket.ws = SimpleNamespace(scope={"app": app})  # type: ignore[attr-defined]
        token = token_for(["ACME"], ["app"])
        await _ack(socket, {"Authorization": f"Bearer {token}"})
        kind = "start" if legacy else "subscribe"
        await socket.inbox.put(
            {"id": "1", "type": kind, "payload": {"query": MILESTONE_FEED, "variables": {}}}
        )
        message = await _next_message(socket)
        service.hub.dispatch(0, shipment_change(0, "ACME"))
        await asyncio.sleep(0.05)
        assert service.hub.subscriber_count == 0
    assert message["type"] == "error" and message["id"] == "1"
    payload = message["payload"]
    error = payload[0] if isinstance(payload, list) else payload
    assert error["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"


@pytest.mark.parametrize(
    "start",
    [
        {"id": "1", "type": "start"},
        {"id": "1", "type": "start", "payload": "subscription { x }"},
        {"type": "start", "payload": {"query": MILESTONE_FEED}},
        {"id": "1", "type": "start", "payload": {"query": MILESTONE_FEED, "variables": "{}"}},
    ],
    ids=["no payload", "payload not an object", "no id", "variables not an object"],
)
async def test_a_malformed_legacy_start_is_refused_and_the_connection_goes_on(
    start: dict[str, object],
) -> None:
    service = live_service()
    service.hub.begin_at(0)
    async with _connection(service, legacy=True) as socket:
        token = token_for(["ACME"])
        await _ack(socket, {"Authorization": f"Bearer {token}"})
        await socket.inbox.put(start)
        refused = await _next_message(socket)
        await socket.inbox.put(
            {"id": "2", "type": "start", "payload": {"query": MILESTONE_FEED, "variables": {}}}
        )
        await asyncio.sleep(0.05)
        subscribers = service.hub.subscriber_count
    assert refused["type"] == "error" and refused.get("id") == start.get("id")
    assert refused["payload"]["extensions"]["code"] == "BAD_REQUEST"
    assert subscribers == 1


# --- admission across connections (security review, session 15) -----------------------------


def _admitted_schema(lanes: OperationLanes, gate: asyncio.Event) -> strawberry.Schema:
    """A schema with the API's WebSocket admission, and a query that runs until ``gate``."""

    @strawberry.type(description="Queries; ``held`` runs until the test opens the gate.")
    class GatedQuery:
        @strawberry.field(description="True, once the gate opens.")  # type: ignore[untyped-decorator]
        async def held(self) -> bool:
            await gate.wait()
            return True

        @strawberry.field(description="Always true, at once.")  # type: ignore[untyped-decorator]
        def ok(self) -> bool:
            return True

    return strawberry.federation.Schema(
        query=GatedQuery,
        subscription=Subscription,
        extensions=[CodedErrors, ConnectionCaller, lambda: WebSocketAdmission(lanes)],
    )


def _lanes(*, requests_per_client: int = 16, subscriptions_per_client: int = 32) -> OperationLanes:
    return OperationLanes(
        requests=Lane(total=64, per_client=requests_per_client),
        subscriptions=Lane(total=None, per_client=subscriptions_per_client),
    )


async def _query(socket: ScriptedSocket, op: str, query: str = "{ held }") -> None:
    await socket.inbox.put({"id": op, "type": "subscribe", "payload": {"query": query}})


async def _until_running(lane: Lane, count: int) -> None:
    for _ in range(400):
        if lane.in_use == count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{lane.in_use} operations hold a place, never {count}")


async def test_websocket_queries_beyond_a_client_s_share_are_refused_across_its_connections() -> (
    None
):
    lanes, gate = _lanes(requests_per_client=2), asyncio.Event()
    schema = _admitted_schema(lanes, gate)
    alice = {"token": token_for(["ACME"])}
    bob = {"token": token_for(["ACME"], subject="bob")}
    async with (
        _connection(live_service(), schema=schema) as first,
        _connection(live_service(), schema=schema) as second,
        _connection(live_service(), schema=schema) as other,
    ):
        for socket, payload in ((first, alice), (second, alice), (other, bob)):
            await _ack(socket, payload)
        await _query(first, "1")
        await _query(first, "2")
        await _until_running(lanes.requests, 2)
        await _query(second, "3")  # alice's third, on another connection
        refused = await second.receive()
        await _query(other, "4")  # bob is served meanwhile
        await _until_running(lanes.requests, 3)
        gate.set()
        served = [await first.receive() for _ in range(4)] + [await other.receive()]
        await _query(second, "5")  # alice's queries ended: she is served again
        again = await second.receive()
    assert refused == {  # the words and code HTTP's 429 carries
        "id": "3",
        "type": "error",
        "payload": [
            {
                "message": "2 requests of this client are already running (the limit, "
                "MAX_REQUESTS_PER_CLIENT); retry after 1 s.",
                "extensions": {
                    "code": "RATE_LIMITED",
                    "limit": "MAX_REQUESTS_PER_CLIENT",
                    "allowed": 2,
                    "retryAfter": 1,
                },
            }
        ],
    }
    nexts = [m for m in served if m["type"] == "next"]
    assert [m["payload"] for m in nexts] == [{"data": {"held": True}}] * 3
    assert again == {"id": "5", "type": "next", "payload": {"data": {"held": True}}}
    assert lanes.requests.in_use == 0


async def test_http_and_websocket_requests_of_one_client_share_its_count() -> None:
    # The app's own wiring: the schema's WebSocket admission and the HTTP endpoint's lane.
    settings = load_settings({"AUTH_HS256_SECRET": SECRET, "MAX_REQUESTS_PER_CLIENT": "2"})
    documents = new_document_cache(settings)
    schema, endpoint = graphql_endpoint(
        settings, Metrics(), documents, FreshnessCopy(max_age_seconds=5)
    )
    async with (
        _connection(live_service(), schema=schema, context=_anonymous_context()) as alice,
        _connection(live_service(), schema=schema, context=_anonymous_context()) as bob,
    ):
        await _ack(alice, {"token": token_for(["ACME"])})
        await _ack(bob, {"token": token_for(["ACME"], subject="bob")})
        # as if two HTTP requests of alice were running (tests/integration/test_hardening.py
        # shows HTTP takes and meets these same places)
        endpoint.in_flight.enter(("subject", "alice"))
        endpoint.in_flight.enter(("subject", "alice"))
        await _query(alice, "1", "{ __typename }")
        refused = (await alice.receive())["payload"][0]["extensions"]
        await _query(bob, "2", "{ __typename }")
        bob_served = (await bob.receive())["payload"]
        endpoint.in_flight.leave(("subject", "alice"))
        await _query(alice, "3", "{ __typename }")
        alice_served = (await alice.receive())["payload"]
    assert (refused["code"], refused["limit"]) == ("RATE_LIMITED", "MAX_REQUESTS_PER_CLIENT")
    assert bob_served["data"] == {"__typename": "Query"}
    assert alice_served["data"] == {"__typename": "Query"}
    assert endpoint.in_flight.in_use == 1  # only the HTTP place still held by the test


async def test_subscriptions_beyond_a_client_s_cap_are_refused_across_connections() -> None:
    lanes = _lanes(requests_per_client=1, subscriptions_per_client=2)
    schema = _admitted_schema(lanes, asyncio.Event())
    service = live_service()
    service.hub.begin_at(0)
    token = {"token": token_for(["ACME"])}
    feed = {"query": MILESTONE_FEED, "variables": {}}
    async with (
        _connection(service, schema=schema) as modern,
        _connection(service, schema=schema, legacy=True) as legacy,
    ):
        await _ack(modern, token)
        await _ack(legacy, token)
        await modern.inbox.put({"id": "s1", "type": "subscribe", "payload": feed})
        await legacy.inbox.put({"id": "s2", "type": "start", "payload": feed})
        await _until_registered(service.hub, 2)
        await modern.inbox.put({"id": "s3", "type": "subscribe", "payload": feed})
        refused = await modern.receive()
        assert (await modern.receive()) == {"id": "s3", "type": "complete"}
        # open subscriptions hold no place among the client's running requests (1 here)
        await _query(modern, "q", "{ ok }")
        query = await modern.receive()
        assert (await modern.receive())["type"] == "complete"
        await legacy.inbox.put({"id": "s2", "type": "stop"})
        assert (await _next_message(legacy)) == {"type": "complete", "id": "s2"}
        await modern.inbox.put({"id": "s4", "type": "subscribe", "payload": feed})
        await _until_registered(service.hub, 2)
        await legacy.inbox.put({"id": "s5", "type": "start", "payload": feed})
        legacy_refused = await _next_message(legacy), await _next_message(legacy)
        service.hub.dispatch(0, shipment_change(0, "ACME"))
        delivered = await modern.receive(), await modern.receive()
    (error,) = refused["payload"]["errors"]
    assert refused["id"] == "s3" and refused["payload"]["data"] is None
    assert error["extensions"] == {
        "code": "TOO_MANY_OPERATIONS",
        "limit": "MAX_SUBSCRIPTIONS_PER_CLIENT",
        "allowed": 2,
    }
    assert "already has 2 subscriptions open" in error["message"]
    assert query == {"id": "q", "type": "next", "payload": {"data": {"ok": True}}}
    assert legacy_refused == (
        {"type": "data", "id": "s5", "payload": {"data": None, "errors": [error]}},
        {"type": "complete", "id": "s5"},
    )
    assert sorted(m["id"] for m in delivered) == ["s1", "s4"]
    assert lanes.subscriptions.in_use == 0 and lanes.requests.in_use == 0


# --- refusals while the document is checked (session 15) ------------------------------------

_SELECTION = "{ milestoneFeed { cursor } }"
_FEED = f"subscription {_SELECTION}"


@pytest.mark.parametrize("legacy", [False, True], ids=["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize(
    ("text", "code"),
    [
        (_FEED + " " * 1000, "QUERY_TOO_COMPLEX"),  # MAX_QUERY_BYTES
        (_FEED.replace("cursor", "cursor " * 100), "QUERY_TOO_COMPLEX"),  # MAX_QUERY_TOKENS
        (_FEED[:-1], "GRAPHQL_VALIDATION_FAILED"),  # a syntax error
        (f"subscription A {_SELECTION} subscription B {_SELECTION}", "BAD_REQUEST"),
    ],
    ids=["too long", "too many tokens", "syntax error", "no operationName"],
)
async def test_a_document_refused_while_checked_gets_http_s_error_and_the_connection_goes_on(
    legacy: bool, text: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The limits refuse these while parsing; Strawberry's stream let the refusal escape: the
    # client got only `complete` (legacy: nothing) and the log a traceback per attempt.
    limits = {"MAX_QUERY_BYTES": "1000", "MAX_QUERY_TOKENS": "100"}
    settings = load_settings({"AUTH_HS256_SECRET": SECRET, **limits})
    schema, _ = graphql_endpoint(
        settings, Metrics(), new_document_cache(settings), FreshnessCopy(max_age_seconds=5)
    )
    over_http = await schema.execute(text, context_value=_anonymous_context())
    service = live_service()
    service.hub.begin_at(0)
    kind = "start" if legacy else "subscribe"
    async with _connection(
        service, legacy=legacy, schema=schema, context=_anonymous_context()
    ) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        await socket.inbox.put({"id": "bad", "type": kind, "payload": {"query": text}})
        refused = await _next_message(socket)
        await socket.inbox.put({"id": "ok", "type": kind, "payload": {"query": MILESTONE_FEED}})
        await _until_registered(service.hub)
        service.hub.dispatch(0, shipment_change(0, "ACME"))
        answered = await _next_message(socket)
    assert refused["type"] == "error" and refused["id"] == "bad"
    payload = refused["payload"] if legacy else refused["payload"][0]
    assert payload["extensions"]["code"] == code
    assert [payload] == [error.formatted for error in over_http.errors or ()]
    assert answered["id"] == "ok" and answered["type"] == ("data" if legacy else "next")
    assert answered["payload"]["data"]["milestoneFeed"]["shipmentId"] == "SH-0"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_resume_skips_a_repeat_that_the_live_feed_dropped() -> None:
    """The client received milestone 1 live, then the projector re-published it (a crash
    after publishing, offset 3) and the hub dropped the repeat for every live subscriber.
    The client drops at offset 2 and resumes with its cursor: the replay must not send
    offset 3, a milestone it already has (notice ids are not shown, so it cannot tell)."""
    history = [shipment_change(offset) for offset in range(5)]
    history[3] = shipment_change(1)  # same notice id as offset 1
    service = live_service(log=ScriptedLog(history))
    service.hub.begin_at(0)
    async with _connection(service) as socket:  # the first connection, live from offset 0
        await _subscribed(socket, service.hub)
        for offset in range(5):
            service.hub.dispatch(offset, history[offset])
        live = [
            decode_cursor((await socket.receive())["payload"]["data"]["milestoneFeed"]["cursor"])
            for _ in range(4)
        ]
    assert live == [0, 1, 2, 4]  # the hub dropped the repeat at 3

    async with _connection(service) as socket:  # the client dropped after offset 2
        await _ack(socket, {"token": token_for(["ACME"])})
        await _subscribe(socket, {"after": encode_cursor(2)})
        replayed = decode_cursor(
            (await socket.receive())["payload"]["data"]["milestoneFeed"]["cursor"]
        )
    assert replayed == 4


# --- checkpoints in pings -------------------------------------------------------------------


@dataclasses.dataclass
class _Seen:
    """What a client read, in order: ``("event", offset)`` and ``("ping", checkpoint)``."""

    order: list[tuple[str, int | None]] = dataclasses.field(default_factory=list)

    def checkpoints(self) -> list[int]:
        return [offset for kind, offset in self.order if kind == "ping" and offset is not None]

    def assert_exact(self) -> None:
        """No ping names a checkpoint at or past an event read after it, nor before an
        event read ahead of it: resuming with it neither misses nor repeats an event."""
        for at, (kind, checkpoint) in enumerate(self.order):
            if kind != "ping" or checkpoint is None:
                continue
            before = [offset for k, offset in self.order[:at] if k == "event"]
            after = [offset for k, offset in self.order[at + 1 :] if k == "event"]
            assert all(offset is not None and offset > checkpoint for offset in after)
            assert all(offset is not None and offset <= checkpoint for offset in before)


async def _read_until(socket: ScriptedSocket, seen: _Seen, done: Any, within: float = 3.0) -> None:
    """Read messages (answering pings) until ``done(seen)``."""
    async with asyncio.timeout(within):
        while not done(seen):
            message = await socket.receive(within)
            if message["type"] == "ping":
                checkpoints = (message.get("payload") or {}).get("checkpoints", {})
                cursor = checkpoints.get("1")
                seen.order.append(("ping", None if cursor is None else decode_cursor(cursor)))
                await socket.inbox.put({"type": "pong"})
            elif message["type"] == "next":
                event = message["payload"]["data"]["milestoneFeed"]
                seen.order.append(("event", decode_cursor(event["cursor"])))


async def test_pings_name_a_checkpoint_past_notices_the_subscription_does_not_match() -> None:
    """An ACME subscriber receives no GLOBEX notice, and so no cursor past them; its pings
    do carry one, which it can resume with instead of its old cursor."""
    service = live_service(ping=0.05, pong=5.0)
    service.hub.begin_at(0)
    async with _connection(service) as socket:
        await _subscribed(socket, service.hub)
        service.hub.dispatch(0, shipment_change(0, "ACME"))
        for offset in range(1, 6):
            service.hub.dispatch(offset, shipment_change(offset, "GLOBEX"))
        seen = _Seen()
        await _read_until(socket, seen, lambda seen: 5 in seen.checkpoints())
    assert [offset for kind, offset in seen.order if kind == "event"] == [0]
    seen.assert_exact()


async def test_a_checkpoint_never_passes_a_notice_still_buffered_or_being_sent() -> None:
    """A client reading slowly (the server's sends wait for it) has notices of its own
    buffered and one being written while other customers' notices pass: no ping names a
    checkpoint past one it has not received yet, nor before one it has."""
    service = live_service(ping=0.05, pong=5.0)
    service.hub.begin_at(0)
    async with _connection(service, capacity=1) as socket:
        await _subscribed(socket, service.hub)
        for offset in range(12):
            customer = "ACME" if offset < 4 else "GLOBEX"
            service.hub.dispatch(offset, shipment_change(offset, customer))
        await asyncio.sleep(0.2)  # pings fall due while the sends wait for the client
        seen = _Seen()
        await _read_until(socket, seen, lambda seen: 11 in seen.checkpoints())
    assert [offset for kind, offset in seen.order if kind == "event"] == [0, 1, 2, 3]
    seen.assert_exact()


async def test_a_resumed_subscription_s_checkpoints_follow_its_replay() -> None:
    """Resumed after offset 1, with ACME's notices at 3 and 6 among GLOBEX's to replay:
    no checkpoint passes a replayed notice not yet sent, none goes back before the cursor,
    and once the replay is done they pass GLOBEX's live notices too."""
    history = [shipment_change(o, "ACME" if o in (3, 6) else "GLOBEX") for o in range(8)]
    service = live_service(ping=0.05, pong=5.0, log=ScriptedLog(history))
    service.hub.begin_at(8)
    async with _connection(service, capacity=1) as socket:
        await _subscribed(socket, service.hub, {"after": encode_cursor(1)})
        service.hub.dispatch(8, shipment_change(8, "GLOBEX"))
        await asyncio.sleep(0.2)
        seen = _Seen()
        await _read_until(socket, seen, lambda seen: 8 in seen.checkpoints())
    assert [offset for kind, offset in seen.order if kind == "event"] == [3, 6]
    assert min(seen.checkpoints()) >= 1
    seen.assert_exact()


async def test_a_checkpoint_never_goes_back_before_the_cursor_resumed_with() -> None:
    """A cursor from a replica further along than this one: the checkpoints start at it,
    not at this replica's position (a client replacing its cursor would replay again)."""
    service = live_service(ping=0.05, pong=5.0)
    service.hub.begin_at(3)
    async with _connection(service) as socket:
        await _subscribed(socket, service.hub, {"after": encode_cursor(6)})
        seen = _Seen()
        await _read_until(socket, seen, lambda seen: len(seen.checkpoints()) >= 2)
        for offset in range(3, 9):
            service.hub.dispatch(offset, shipment_change(offset, "GLOBEX"))
        await _read_until(socket, seen, lambda seen: 8 in seen.checkpoints())
    assert min(seen.checkpoints()) == 6
    assert [kind for kind, _ in seen.order if kind == "event"] == []


# --- what a careless or hostile client sends (defect hunt, session 20) ------------------------


@pytest.mark.parametrize(
    "message",
    [
        [1, 2],
        "subscribe",
        {"id": "1", "type": "subscribe", "payload": "{ whoami }"},
        {"id": {"x": 1}, "type": "subscribe", "payload": {"query": "{ whoami }"}},
        {"id": 5, "type": "subscribe", "payload": {"query": "{ whoami }"}},
    ],
    ids=["array", "string", "payload-not-object", "id-object", "id-number"],
)
async def test_a_message_of_the_wrong_shape_closes_4400_saying_why(message: object) -> None:
    """graphql-transport-ws: a message of a format the protocol does not define closes the
    socket with 4400. These made Strawberry's handler raise: the socket was dropped with no
    close code at all (the client saw an abnormal closure, 1006), or ran with a number as id."""
    async with _connection(live_service(), schema=WHO_SCHEMA, context=_anonymous_context()) as s:
        await _ack(s, {"Authorization": f"Bearer {token_for(['ACME'])}"})
        await s.inbox.put(message)
        code, reason = await s.close_code()
    assert code == 4400
    assert reason


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"query": "{ __typename }", "variables": "{}"}, "`variables` must be an object or null"),
        ({"query": "{ __typename }", "variables": [1]}, "`variables` must be an object or null"),
        ({"query": "{ __typename }", "extensions": "x"}, "`extensions` must be an object or null"),
        (
            {"query": "{ __typename }", "operationName": 5},
            "`operationName` must be a string or null",
        ),
        ({"query": "query A { __typename }", "operationName": "Z"}, 'Unknown operation named "Z".'),
        (
            {"query": "query A { __typename }", "operationName": "Z" * 100_000},
            f"Unknown operation named {'Z' * 50!r}...{'Z' * 50!r} (100,000 characters).",
        ),
        ({"variables": {}}, "The request has no GraphQL query."),
    ],
    ids=[
        "variables-string",
        "variables-array",
        "extensions",
        "name-number",
        "name-nowhere",
        "name-nowhere-long",
        "none",
    ],
)
async def test_an_unusable_operation_gets_a_bad_request_error_and_the_connection_goes_on(
    payload: dict[str, object], says: str, caplog: pytest.LogCaptureFixture
) -> None:
    """As over HTTP (400, BAD_REQUEST, the same words). Over WebSocket a string as
    ``variables`` got only ``complete`` (and a traceback in the log), and an ``operationName``
    naming no operation an INTERNAL_SERVER_ERROR."""
    settings = load_settings({"AUTH_HS256_SECRET": SECRET})
    schema, _ = graphql_endpoint(
        settings, Metrics(), new_document_cache(settings), FreshnessCopy(max_age_seconds=5)
    )
    async with _connection(live_service(), schema=schema, context=_anonymous_context()) as s:
        await _ack(s, {"Authorization": f"Bearer {token_for(['ACME'])}"})
        await s.inbox.put({"id": "bad", "type": "subscribe", "payload": payload})
        refused = await _next_message(s)
        await s.inbox.put({"id": "ok", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        answered = await _next_message(s)
    assert refused["id"] == "bad" and refused["type"] == "error"
    [error] = refused["payload"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert says in error["message"]
    assert (answered["id"], answered["type"]) == ("ok", "next")
    assert answered["payload"]["data"] == {"__typename": "Query"}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    "message",
    [[1, 2], "start", {"id": "1"}, {"type": "stop"}, {"type": "stop", "id": ["1"]}],
    ids=["array", "string", "no-type", "stop-no-id", "stop-id-list"],
)
async def test_a_legacy_message_of_the_wrong_shape_is_refused_and_the_connection_goes_on(
    message: object,
) -> None:
    """graphql-ws defines no close code for these; Strawberry's handler raised on each and the
    socket was dropped (no close code). Refused like a malformed ``start``: an ``error``
    message with BAD_REQUEST, and the connection's other operations go on."""
    service = live_service()
    service.hub.begin_at(0)
    async with _connection(service, legacy=True) as socket:
        await _ack(socket, {"Authorization": f"Bearer {token_for(['ACME'])}"})
        await socket.inbox.put(message)
        refused = await _next_message(socket)
        await socket.inbox.put(
            {"id": "2", "type": "start", "payload": {"query": MILESTONE_FEED, "variables": {}}}
        )
        await _until_registered(service.hub)
    assert refused["type"] == "error"
    assert refused["payload"]["extensions"]["code"] == "BAD_REQUEST"
    assert refused["payload"]["message"]


# --- a client's values in close reasons ---------------------------------------------------

#: A message id (or type) of 200,000 characters, each two bytes in UTF-8: a close frame's
#: reason holds 123 bytes, so it must be cut, and on a character's boundary.
LONG_ID = "é" * 200_000


async def test_a_duplicate_id_of_200_000_characters_closes_4409_with_a_short_reason() -> None:
    async with _connection(live_service()) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        for _ in range(2):
            await socket.inbox.put(
                {"id": LONG_ID, "type": "subscribe", "payload": {"query": MILESTONE_FEED}}
            )
        code, reason = await socket.close_code()
    assert code == 4409
    assert len(reason.encode()) <= 123
    assert (
        reason == f"Subscriber for {'é' * 10!r}...{'é' * 10!r} (200,000 characters) already exists"
    )


async def test_an_unknown_message_type_of_200_000_characters_closes_4400_cut_to_fit() -> None:
    async with _connection(live_service()) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        await socket.inbox.put({"type": LONG_ID})
        code, reason = await socket.close_code()
    assert code == 4400
    assert len(reason.encode()) <= 123
    assert reason.startswith("Unknown message type: éé") and reason.endswith("é...")


async def test_a_syntax_error_quoting_a_long_token_closes_4400_cut_to_fit() -> None:
    async with _connection(live_service()) as socket:
        await _ack(socket, {"token": token_for(["ACME"])})
        query = "subscription A " + "B" * 10_000
        await socket.inbox.put({"id": "1", "type": "subscribe", "payload": {"query": query}})
        code, reason = await socket.close_code()
    assert code == 4400
    assert len(reason.encode()) <= 123
    assert reason.startswith("Syntax Error: Expected '{', found Name 'BBB") and reason.endswith(
        "..."
    )
