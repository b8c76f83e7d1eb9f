"""Which operations may run now, per client and per process, over HTTP and WebSocket alike.

Two lanes (``web.admission``) per API process:

* *requests*: queries and mutations running at once, at most ``MAX_REQUESTS_PER_CLIENT`` of
  one client and ``MAX_REQUESTS_IN_FLIGHT`` in all. HTTP takes its place in
  ``GraphQLEndpoint.execute_single``, before anything is parsed (a refusal is a 429); a
  WebSocket operation takes one here, in the same lane under the same client key
  (``web.limits.caller_key``), so opening more connections, or running queries over
  graphql-transport-ws instead of HTTP, gives a client no more than its share.
* *subscriptions*: open at once, at most ``MAX_SUBSCRIPTIONS_PER_CLIENT`` of one client
  across all the process's connections. A subscription lives as long as its client wants,
  so it must not hold a request's place: a client's open feeds would shut out its queries.

``WebSocketAdmission`` is a schema extension because both protocols' operations pass through
one place, Strawberry's ``Schema.stream`` (graphql-transport-ws's ``run_operation`` calls it,
graphql-ws's handler through ``Schema.subscribe``), and it is also the first place the
operation's type is known, which decides its lane. The place is taken when execution starts
(``on_execute``, after the document was checked: the checks of new large documents have
their own lane) and given back when the operation ends (``on_operation``, which also ends
when the client completes a subscription or the connection closes). A refusal is raised from
``on_execute``, which Strawberry turns into the operation's first result: for a query or
mutation an ``error`` message for its id (as for a document that fails validation); for a
subscription a ``next`` (graphql-ws: ``data``) message carrying the error, then ``complete``.
Either way only that operation is refused: the connection goes on. A WebSocket query holds
its place until its result is sent (Strawberry yields the result inside the operation hook),
where HTTP gives it back before sending: a client that stops reading blocks only its own
share, and only until its missing pong closes the connection (4504).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.context import connection_caller
from web.admission import RETRY_AFTER_SECONDS, Lane, LaneFull, caller_key, refused_for_now
from web.error_codes import ErrorCode
from web.settings import Settings


@dataclass(frozen=True)
class OperationLanes:
    """The process's two lanes; one instance per app, shared by HTTP and WebSocket."""

    requests: Lane
    subscriptions: Lane

    @classmethod
    def of(cls, settings: Settings) -> OperationLanes:
        return cls(
            requests=Lane(settings.max_requests_in_flight, settings.max_requests_per_client),
            subscriptions=Lane(None, settings.live.max_subscriptions_per_client),
        )


def requests_refused(full: LaneFull) -> GraphQLError:
    """The refusal of a query or mutation that found no place in the requests lane (HTTP
    sends it with 429 and ``Retry-After``)."""
    setting = "MAX_REQUESTS_PER_CLIENT" if full.per_client else "MAX_REQUESTS_IN_FLIGHT"
    whose = "of this client " if full.per_client else ""
    return refused_for_now(
        f"{full.allowed} requests {whose}are already running (the limit, {setting}); "
        f"retry after {RETRY_AFTER_SECONDS} s.",
        ErrorCode.RATE_LIMITED,
        limit=setting,
        allowed=full.allowed,
    )


def subscriptions_refused(full: LaneFull) -> GraphQLError:
    """The refusal of a subscription beyond the client's share: waiting does not help, only
    completing one of its subscriptions (on any connection) does."""
    return GraphQLError(
        f"This client already has {full.allowed} subscriptions open on this server (the "
        "limit, MAX_SUBSCRIPTIONS_PER_CLIENT, counts every connection): complete one "
        "before subscribing again.",
        extensions={
            "code": ErrorCode.TOO_MANY_OPERATIONS.value,
            "limit": "MAX_SUBSCRIPTIONS_PER_CLIENT",
            "allowed": full.allowed,
        },
    )


class WebSocketAdmission(SchemaExtension):
    """Admits each operation of an authenticated WebSocket connection to its lane.

    HTTP operations (no connection caller) pass untouched: the endpoint admitted them.
    One instance per operation (the app lists a factory), so ``_held`` is that operation's.
    """

    def __init__(self, lanes: OperationLanes) -> None:
        self.lanes = lanes
        self._held: tuple[Lane, Hashable] | None = None

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        finally:
            if self._held is not None:
                lane, client = self._held
                self._held = None
                lane.leave(client)

    def on_execute(self) -> Iterator[None]:
        caller = connection_caller.get()
        if caller is not None:
            subscription = self.execution_context.operation_type is OperationType.SUBSCRIPTION
            lane = self.lanes.subscriptions if subscription else self.lanes.requests
            client = caller_key(caller)
            try:
                lane.enter(client)
            except LaneFull as full:
                refused = subscriptions_refused if subscription else requests_refused
                raise refused(full) from None
            self._held = (lane, client)
        yield
