"""Strawberry's WebSocket protocol handlers, extended with what a production feed needs.

Strawberry answers pings but never sends them, accepts any ``connection_init`` and does not
know about token lifetimes. These subclasses add, for both protocols:

* authentication in ``connection_init`` (``web.live.service.authorization_of``), with the
  same verifier as HTTP; a refused token closes with 4403, a client that already holds
  ``MAX_WEBSOCKETS_PER_CLIENT`` connections in the process with 1013;
* the connection's ``ConnectionFeed``, published in ``graph.subscriptions.current_feed``
  before ``connection_ack`` so every operation task of the connection inherits it;
* keepalive: graphql-transport-ws sends ``ping`` every ``WS_PING_INTERVAL_SECONDS`` and closes
  (4504) a peer whose ``pong`` does not arrive within ``WS_PONG_TIMEOUT_SECONDS``; the legacy
  graphql-ws protocol has no pong, so it just sends ``ka`` on the same interval;
* checkpoints: each graphql-transport-ws ``ping`` names, per subscription, a cursor the
  subscription may resume from (``web.live.progress``), so that one whose filter matches
  rarely does not hold a cursor that other customers' notices make expire;
* closing (4408) a connection without ``connection_init`` within the view's
  ``connection_init_wait_timeout``: Strawberry does so for graphql-transport-ws only, and
  the legacy handler here does the same;
* closing (4401) when the token expires, and closing when the feed gives up on the
  connection (slow client 4413, shutdown 1012); see ``web.live.closes``.

Beyond one connection's own limit of operations, each operation is admitted per client across
all the process's connections (queries and mutations in HTTP's lane, subscriptions under
``MAX_SUBSCRIPTIONS_PER_CLIENT``) by ``web.operation_admission``, a schema extension: both
protocols run their operations through Strawberry's ``Schema.stream``, not through a method
of these handlers that they share.

The web app opts in with, on its ``strawberry.asgi.GraphQL`` subclass::

    graphql_transport_ws_handler_class = LiveTransportWSHandler
    graphql_ws_handler_class = LiveGraphQLWSHandler
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine, Hashable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    PingMessage,
    PongMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ErrorMessage as LegacyErrorMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import (
    OperationMessage as LegacyOperationMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import (
    StartMessage as LegacyStartMessage,
)

from entitlements.caller import Caller
from entitlements.errors import AuthenticationError
from graph.context import connection_caller
from graph.subscriptions import current_feed
from web.admission import Lane, LaneFull, caller_key
from web.error_codes import ErrorCode
from web.live.closes import (
    INIT_TIMEOUT,
    PONG_TIMEOUT,
    TOKEN_EXPIRED,
    CloseReason,
    bad_request,
    duplicate_id,
    forbidden,
    too_many_of_client,
)
from web.live.connections import initialised
from web.live.feed import ConnectionFeed
from web.live.progress import current_operation
from web.live.service import LiveService
from web.operation_payload import payload_refusal
from web.persisted import DocumentRequest, PersistedQueryError, document_for

logger = logging.getLogger(__name__)

_UNAVAILABLE = CloseReason(1011, "Live subscriptions are not available on this server")
#: What a send or close on a connection that is already gone raises, depending on the layer.
_GONE = (WebSocketDisconnected, WebSocketDisconnect, OSError)


def _scope_of(websocket: object) -> dict[str, Any] | None:
    """The ASGI scope of the Starlette WebSocket under Strawberry's adapter (None outside one)."""
    scope = getattr(getattr(websocket, "ws", None), "scope", None)
    return scope if isinstance(scope, dict) else None


def _app_state(websocket: object) -> object:
    """``app.state`` of the Starlette app serving ``websocket`` (None outside one)."""
    scope = _scope_of(websocket)
    return getattr(scope.get("app") if scope is not None else None, "state", None)


def operations_refusal(
    limit: int | None, running: Collection[str], operation_id: str
) -> GraphQLError | None:
    """The refusal of operation ``operation_id`` on a connection already running ``running``;
    None when it may start (an id already running replaces its operation, as in Strawberry).
    The error is coded, unlike Strawberry's own refusal."""
    if limit is None or operation_id in running or len(running) < limit:
        return None
    return GraphQLError(
        f"This connection already runs {len(running)} operations, the limit per connection: "
        "complete one, or open another connection.",
        extensions={
            "code": ErrorCode.TOO_MANY_OPERATIONS.value,
            "limit": "operations per connection",
            "allowed": limit,
            "actual": len(running) + 1,
        },
    )


def operation_text(websocket: object, caller: Caller | None, payload: Mapping[str, Any]) -> str:
    """The text an operation's payload runs: the persisted operation it names (``documentId``
    or APQ hash), or its own ``query`` if the caller may send free-form documents
    (``web.persisted``); ``PersistedQueryError`` otherwise. Both protocols' operations go
    through it, so neither lets a role limited to its app's operations send its own."""
    document_id = payload.get("documentId")
    query = document_for(
        _app_state(websocket),
        caller,
        DocumentRequest(
            payload.get("query"),
            document_id if isinstance(document_id, str) else None,
            payload.get("extensions"),
        ),
    )
    return query or ""


#: The messages that name an operation by ``id``, per protocol (a legacy ``start`` without
#: one is refused by ``LiveGraphQLWSHandler.handle_start`` itself).
TRANSPORT_WS_IDS: Final = ("subscribe", "complete")
LEGACY_IDS: Final = ("stop",)


def malformed(message: object, with_ids: Collection[str]) -> str | None:
    """Why a message is not one its protocol defines; None for one Strawberry's handlers
    can read. They raised on a message that is not an object, one without a string
    ``type``, a ``subscribe`` whose ``payload`` is not an object, and a message of
    ``with_ids`` whose ``id`` is missing or unhashable: the socket was dropped without a
    close code. A number as ``id`` ran the operation; the protocols say a string."""
    if not isinstance(message, dict):
        return "A message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "A message needs a type, a string"
    if kind in with_ids and not isinstance(message.get("id"), str):
        return f"A {kind} message needs an id, a string"
    if kind == "subscribe" and not isinstance(message.get("payload"), dict):
        return "A subscribe message needs a payload object holding the operation"
    return None


def live_service_of(view: object, websocket: object) -> LiveService | None:
    """The process's ``LiveService``: ``view.live`` if the view carries one, else
    ``app.state.live`` of the Starlette app serving the WebSocket."""
    service = getattr(view, "live", None)
    if isinstance(service, LiveService):
        return service
    service = getattr(_app_state(websocket), "live", None)
    return service if isinstance(service, LiveService) else None


@dataclass(frozen=True)
class Admitted:
    """A connection whose ``connection_init`` was accepted: who it is, and whose feed."""

    service: LiveService
    caller: Caller


class ConnectionGuard:
    """The timers and the single close of one connection, whichever protocol it speaks."""

    def __init__(self, websocket: Any) -> None:
        self._websocket = websocket
        self._tasks: set[asyncio.Task[None]] = set()
        self.feed: ConnectionFeed | None = None
        self.closing = False
        #: The client's place among its connections (``MAX_WEBSOCKETS_PER_CLIENT``), once
        #: admitted; given back by ``shutdown``.
        self._held: tuple[Lane, Hashable] | None = None

    async def admit(self, view: object, payload: Mapping[str, Any]) -> Admitted | CloseReason:
        """The one ``connection_init`` flow of both protocols: find the live service,
        authenticate the payload, and publish the connection's feed and caller (in
        ``graph.subscriptions.current_feed`` and ``graph.context.connection_caller``) before
        the handler acknowledges, so every operation task of the connection inherits them.
        A ``CloseReason`` says why the connection must be refused instead. Either way the
        socket no longer counts as pending (``web.live.connections.initialised``)."""
        try:
            return await self._admit(view, payload)
        finally:
            initialised(_scope_of(self._websocket))

    async def _admit(self, view: object, payload: Mapping[str, Any]) -> Admitted | CloseReason:
        service = live_service_of(view, self._websocket)
        if service is None:
            return _UNAVAILABLE
        try:
            caller = await service.authenticate(payload)
        except AuthenticationError as exc:
            return forbidden(str(exc))
        client = caller_key(caller)
        try:
            service.connections.enter(client)
        except LaneFull as full:
            return too_many_of_client(full.allowed)
        self._held = (service.connections, client)
        self.feed = service.open_feed(caller, self.close_soon)
        current_feed.set(self.feed)
        connection_caller.set(caller)
        return Admitted(service, caller)

    def acknowledged(self, caller: Caller, keepalive: Coroutine[Any, Any, None]) -> None:
        """Start the timers of an acknowledged connection: token expiry and ``keepalive``."""
        self.spawn(self._expire_at(caller.valid_until))
        self.spawn(keepalive)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coroutine`` until it ends or the connection does (``shutdown``)."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def terminate(self, reason: CloseReason) -> None:
        """End the connection's subscriptions (if any) and close it with ``reason``."""
        if self.feed is not None:
            self.feed.terminate(reason)  # calls close_soon
        else:
            self.close_soon(reason)

    def close_soon(self, reason: CloseReason) -> None:
        """Close the connection from a task of its own: callers may run inside the hub's
        dispatch, which must never wait on one client's socket."""
        if self.closing:
            return
        self.closing = True
        logger.info("closing WebSocket: %s %s", reason.code, reason.reason)
        self.spawn(self._close(reason))

    async def shutdown(self) -> None:
        if self._held is not None:
            lane, client = self._held
            self._held = None
            lane.leave(client)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with suppress(asyncio.CancelledError):
                await task

    async def _close(self, reason: CloseReason) -> None:
        try:
            await self._websocket.close(code=reason.code, reason=reason.reason)
        except (*_GONE, RuntimeError) as exc:
            # Already closed by the peer or by Starlette: nothing left to tell the client.
            logger.debug("WebSocket already closed: %r", exc)

    async def _expire_at(self, expires_at: datetime) -> None:
        await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()))
        self.terminate(TOKEN_EXPIRED)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("WebSocket background task failed", exc_info=task.exception())


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws with authentication, server pings and connection limits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = ConnectionGuard(self.websocket)
        self._pong = asyncio.Event()
        self._caller: Caller | None = None
        #: One message written at a time, so that a ping's checkpoints are taken when every
        #: ``next`` written before it has been counted as sent (``send_message``).
        self._sending = asyncio.Lock()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload", {})
        if (
            self.connection_timed_out
            or self.connection_init_received
            or not isinstance(payload, dict)
        ):
            await super().handle_connection_init(message)  # Strawberry refuses these
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        admission = await self._guard.admit(self.view, payload)
        if isinstance(admission, CloseReason):
            self.connection_init_received = True
            await self.websocket.close(code=admission.code, reason=admission.reason)
            return
        self._caller = admission.caller
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            live = admission.service.settings
            self._guard.acknowledged(
                admission.caller,
                self._keepalive(live.ping_interval_seconds, live.pong_timeout_seconds),
            )

    async def handle_pong(self, message: PongMessage) -> None:
        self._pong.set()

    async def handle_message(self, message: Message) -> None:
        """Strawberry's, closing with 4400 on a message it would raise on (``malformed``)."""
        reason = malformed(message, TRANSPORT_WS_IDS)
        if reason is not None:
            await self.handle_invalid_message(reason)
            return
        await super().handle_message(message)

    async def handle_invalid_message(self, error_message: str) -> None:
        """Strawberry's 4400, its reason cut to a close frame's 123 bytes: Strawberry quotes
        the client's ``type`` whole (``Unknown message type: ...``)."""
        reason = bad_request(error_message)
        await self.websocket.close(code=reason.code, reason=reason.reason)

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        """Strawberry's 4400 reason for an operation that cannot start (a syntax error, which
        quotes the offending token), cut to a close frame's 123 bytes."""
        reason = BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)
        return None if reason is None else bad_request(reason).reason

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Strawberry's, with a coded error when the connection runs too many operations,
        and persisted operations over WebSocket as over HTTP (``web.persisted``): the
        payload may name one by ``documentId`` or APQ hash, and a caller without free-form
        permission may run only those. A refusal is an ``error`` message for that id."""
        if self.connection_acknowledged and message["id"] in self.operations:
            reason = duplicate_id(message["id"])  # Strawberry's 4409 quotes the id whole
            await self.websocket.close(code=reason.code, reason=reason.reason)
            return
        refusal = operations_refusal(
            self.max_subscriptions_per_connection, self.operations, message["id"]
        )
        if self.connection_acknowledged and refusal is not None:
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [refusal.formatted]}
            )
            return
        payload = message["payload"]  # an object: ``handle_message`` closed the socket else
        if self.connection_acknowledged:
            refusal = payload_refusal(payload)
            if refusal is None:
                try:
                    query = operation_text(self.websocket, self._caller, payload)
                except PersistedQueryError as exc:
                    refusal = exc.graphql_error()
            if refusal is not None:
                error = refusal.formatted
                await self.send_message({"id": message["id"], "type": "error", "payload": [error]})
                return
            message = {**message, "payload": {**payload, "query": query}}
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        """Strawberry's, with ``operation`` published in the task it runs in
        (``web.live.progress.current_operation``): its subscription's progress is kept under
        it, and the pings name that progress by the operation's id."""
        current_operation.set(operation)
        await super().run_operation(operation)

    async def send_message(self, message: Message) -> None:
        """Strawberry's, one message at a time: a ``ping`` carries the checkpoint of each
        subscription of the connection (``{"checkpoints": {"<id>": "<cursor>"}}``; no payload
        when there is none), and a ``next`` counts its notice as sent once written.

        Under the lock, every ``next`` already written has been counted, so a checkpoint is
        never before an event the client received ahead of it; and every notice the
        subscription wants up to the checkpoint went out before the ping (``Progress``)."""
        async with self._sending:
            if message["type"] == "ping" and "payload" not in message:
                message = self._ping()
            await super().send_message(message)
            if message["type"] == "next" and self._guard.feed is not None:
                self._guard.feed.sent(self.operations.get(message["id"]))

    def _ping(self) -> PingMessage:
        feed = self._guard.feed
        checkpoints = {} if feed is None else feed.checkpoints(self.operations)
        if not checkpoints:
            return {"type": "ping"}
        return {"type": "ping", "payload": {"checkpoints": checkpoints}}

    async def shutdown(self) -> None:
        await self._guard.shutdown()
        await super().shutdown()

    async def _keepalive(self, interval: float, pong_within: float) -> None:
        """Ping every ``interval``; no pong within ``pong_within`` seconds closes with 4504."""
        while not self._guard.closing:
            await asyncio.sleep(interval)
            self._pong.clear()
            try:
                async with asyncio.timeout(pong_within):
                    await self.send_message({"type": "ping"})
                    await self._pong.wait()
            except TimeoutError:
                self._guard.terminate(PONG_TIMEOUT)
                return
            except _GONE:
                return


class LiveGraphQLWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """The legacy graphql-ws protocol (subscriptions-transport-ws) with the same guarantees,
    except liveness: the protocol has no pong, so the server only sends ``ka``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Our own ``ka`` loop replaces Strawberry's, which uses the view's interval.
        self.keep_alive = False
        self._guard = ConnectionGuard(self.websocket)
        self._caller: Caller | None = None
        self._init_deadline: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        if self._guard.closing:
            return  # too late: the init timeout is closing the connection
        if self._init_deadline is not None:
            self._init_deadline.cancel()
        payload = message.get("payload")
        if self.connection_acknowledged or (payload is not None and not isinstance(payload, dict)):
            await super().handle_connection_init(message)
            return
        admission = await self._guard.admit(self.view, payload or {})
        if isinstance(admission, CloseReason):
            await self._refuse(admission)
            return
        self._caller = admission.caller
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            interval = admission.service.settings.ping_interval_seconds
            self._guard.acknowledged(admission.caller, self._keep_alive(interval))

    async def handle(self) -> None:
        """Strawberry's, timing ``connection_init`` as graphql-transport-ws does: Strawberry's
        legacy handler waits for it for ever, so an idle socket would hold a connection (and
        its memory) without ever authenticating."""
        within = self.view.connection_init_wait_timeout.total_seconds()
        self._init_deadline = self._guard.spawn(self._close_unless_initialised(within))
        try:
            await super().handle()
        finally:
            await self._guard.shutdown()

    async def handle_message(self, message: LegacyOperationMessage) -> None:
        """Strawberry's, refusing a message it would raise on (``malformed``) as a malformed
        ``start`` is refused: graphql-ws has no close code for it."""
        reason = malformed(message, LEGACY_IDS)
        if reason is None:
            await super().handle_message(message)
            return
        refusal = GraphQLError(reason, extensions={"code": ErrorCode.BAD_REQUEST.value})
        # No operation to name: ``id`` null, as a refused ``start`` without one gets.
        error = {"type": "error", "id": None, "payload": refusal.formatted}
        await self.send_message(cast(LegacyErrorMessage, error))

    async def handle_start(self, message: LegacyStartMessage) -> None:
        """Strawberry's, with a coded error when the connection runs too many operations, and
        persisted operations as over graphql-transport-ws (``operation_text``): a caller
        without free-form permission may run only those; a start without a string id or a
        payload object is refused as ``BAD_REQUEST`` (Strawberry's would raise on it). A
        refusal is an ``error`` message for that id."""
        if not self.connection_acknowledged:
            await super().handle_start(message)  # Strawberry's refusal (close 4401)
            return
        payload = message.get("payload")
        refusal: GraphQLError | None
        if not isinstance(message.get("id"), str) or not isinstance(payload, dict):
            refusal = GraphQLError(
                "A start message needs an id (a string) and a payload object holding the "
                "operation (its query).",
                extensions={"code": "BAD_REQUEST"},
            )
        else:
            refusal = operations_refusal(
                self.max_subscriptions_per_connection, self.tasks, message["id"]
            )
        if refusal is None:
            refusal = payload_refusal(payload)
        if refusal is None:
            try:
                query = operation_text(self.websocket, self._caller, payload)
                message = {**message, "payload": {**payload, "query": query}}
            except PersistedQueryError as exc:
                refusal = exc.graphql_error()
        if refusal is not None:
            await self.send_message(
                {"type": "error", "id": message.get("id"), "payload": refusal.formatted}
            )
            return
        await super().handle_start(message)

    async def _refuse(self, reason: CloseReason) -> None:
        await self.send_message({"type": "connection_error", "payload": {"message": reason.reason}})
        await self.websocket.close(code=reason.code, reason=reason.reason)

    async def _close_unless_initialised(self, within: float) -> None:
        """Cancelled by the first ``connection_init``; else closes with 4408 after ``within``."""
        await asyncio.sleep(within)
        self._guard.close_soon(INIT_TIMEOUT)

    async def _keep_alive(self, interval: float) -> None:
        while not self._guard.closing:
            try:
                await self.send_message({"type": "ka"})
            except _GONE:
                return
            await asyncio.sleep(interval)
