"""One id per HTTP request or WebSocket connection, to tie a client's report to our logs.

The id is taken from a well-formed incoming ``X-Request-ID`` (a proxy in front may set it),
else generated; it is echoed in the response header and, for a masked error, in the error's
``extensions.requestId``. A ``ContextVar`` carries it, so code far from the request (the error
masking extension, log records) reads it without being handed the request.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Scope

from web.asgi_headers import EchoedHeaderMiddleware, incoming_header

HEADER = "x-request-id"
_current: ContextVar[str | None] = ContextVar("request_id", default=None)
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def current_request_id() -> str | None:
    return _current.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    candidate = incoming_header(headers, HEADER)
    if candidate is not None and _ACCEPTABLE.match(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware(EchoedHeaderMiddleware[str]):
    """Sets the request's id (also at ``scope["state"]["request_id"]``) and answers with it."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, HEADER, _current)

    def value_for(self, scope: Scope) -> str:
        request_id = request_id_from(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id
        return request_id

    def header_value(self, value: str) -> str:
        return value
