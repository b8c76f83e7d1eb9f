"""One id per HTTP request or WebSocket connection, to tie a client's report to our logs.

The id is taken from a well-formed incoming ``X-Request-ID`` (a proxy in front may set it),
else generated; it is echoed in the response header and, for a masked error, in the error's
``extensions.requestId``. A ``ContextVar`` carries it, so code far from the request (the error
masking extension, log records) reads it without being handed the request. Both are done per
request by ``web.request_envelope``.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

from web.asgi_headers import incoming_header

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


def bind(request_id: str) -> Token[str | None]:
    """Make ``request_id`` the current one (``web.request_envelope``, per request)."""
    return _current.set(request_id)


def unbind(token: Token[str | None]) -> None:
    _current.reset(token)
