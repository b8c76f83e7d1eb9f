"""W3C trace context for every HTTP request and WebSocket connection.

A valid incoming ``traceparent`` is continued (same trace id, a span of our own); anything
else starts a new trace. The span is held in a ``ContextVar`` so every log line written
while serving the request carries ``trace_id``/``span_id`` (``observability.json_logs``),
and it is returned in the response's ``traceparent`` header, so a portal (or the gateway in
front) can quote the id an operator searches the logs for.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Scope

from observability.trace_context import TraceContext, new_trace, parse_traceparent
from web.asgi_headers import EchoedHeaderMiddleware, incoming_header
from web.request_id import current_request_id

HEADER = "traceparent"
_current: ContextVar[TraceContext | None] = ContextVar("trace_context", default=None)


def log_context() -> Mapping[str, Any]:
    """The request's ids, for every log line (``json_logs.add_context``)."""
    trace = _current.get()
    return {
        "request_id": current_request_id(),
        "trace_id": trace.trace_id if trace else None,
        "span_id": trace.span_id if trace else None,
    }


def trace_from(headers: list[tuple[bytes, bytes]]) -> TraceContext:
    value = incoming_header(headers, HEADER)
    incoming = parse_traceparent(value) if value is not None else None
    return incoming.child() if incoming is not None else new_trace()


class TraceMiddleware(EchoedHeaderMiddleware[TraceContext]):
    """Sets the request's trace and answers with it."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, HEADER, _current)

    def value_for(self, scope: Scope) -> TraceContext:
        return trace_from(scope.get("headers", []))

    def header_value(self, value: TraceContext) -> str:
        return value.traceparent
