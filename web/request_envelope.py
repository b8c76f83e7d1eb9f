"""What every HTTP request and WebSocket connection gets before the app sees it.

A request id (``web.request_id``) and a W3C trace (``web.tracing``), both held in context
variables for the log lines and masked errors of the request and echoed as response headers;
and, for HTTP, the response counted by status code and route (``portal_http_responses``, the
5xx-ratio alert's input: it reads the GraphQL route only, so that probes and scrapes, a few a
minute, neither dilute the ratio nor, a ``/readyz`` 503 during a store outage, make it).
One pure ASGI layer does all three: they were three middlewares, each wrapping ``send``
again and adding its own await to every request (a few per cent of a tracking lookup's CPU,
docs/benchmarks.md, "Benchmarks").

Outermost of the app's middleware, so refusals made before GraphQL runs (401, 413, 415...)
and crashes that Starlette turns into a 500 are counted too. No buffering: streamed responses
and WebSockets pass through.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web import request_id, tracing
from web.graphiql import STATIC_PREFIX
from web.metrics import Metrics
from web.operations import PATHS as OPERATIONS_PATHS


def route_of(path: str, graphql_path: str) -> str:
    """The ``route`` label of a response: a closed set, so that a scanner's random paths add
    no series."""
    if path == graphql_path:
        return "graphql"
    if path in OPERATIONS_PATHS:
        return "operations"
    if path.startswith(STATIC_PREFIX + "/"):
        return "graphiql"
    return "other"


class RequestEnvelope:
    def __init__(self, app: ASGIApp, metrics: Metrics, graphql_path: str) -> None:
        self.app = app
        self.metrics = metrics
        self.graphql_path = graphql_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        rid = request_id.request_id_from(headers)
        trace = tracing.trace_from(headers)
        scope.setdefault("state", {})["request_id"] = rid
        rid_token = request_id.bind(rid)
        trace_token = tracing.bind(trace)
        counted = kind == "http"
        route = route_of(scope.get("path", ""), self.graphql_path)
        answered = False

        async def enveloped_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                response_headers = MutableHeaders(scope=message)
                response_headers[tracing.HEADER] = trace.traceparent
                response_headers[request_id.HEADER] = rid
                if counted:
                    self.metrics.http_responses.labels(
                        code=str(message["status"]), route=route
                    ).inc()
            await send(message)

        try:
            await self.app(scope, receive, enveloped_send)
        except Exception:
            if counted and not answered:
                self.metrics.http_responses.labels(code="500", route=route).inc()
            raise
        finally:
            tracing.unbind(trace_token)
            request_id.unbind(rid_token)
