"""Header plumbing shared by the pure ASGI middlewares (request id, trace context)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Generic, TypeVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")


def incoming_header(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The first value of header ``name`` (lower case) in an ASGI scope's raw headers."""
    wanted = name.encode()
    for key, value in headers:
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None


def answering_with(send: Send, name: str, value: str) -> Send:
    """``send`` that adds header ``name: value`` to the response it starts."""

    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message)[name] = value
        await send(message)

    return send_with_header


class EchoedHeaderMiddleware(Generic[T]):
    """Pure ASGI middleware (no response buffering, so streaming and WebSockets pass through)
    that gives each HTTP request or WebSocket connection a value taken from, or made up for
    want of, an incoming header; holds it in a ``ContextVar`` while the request is served, so
    code far from the request reads it; and answers with it in the same header.

    Subclasses say how the value is derived (``value_for``) and written (``header_value``).
    """

    def __init__(self, app: ASGIApp, header: str, current: ContextVar[T | None]) -> None:
        self.app = app
        self.header = header
        self.current = current

    def value_for(self, scope: Scope) -> T:
        raise NotImplementedError

    def header_value(self, value: T) -> str:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        value = self.value_for(scope)
        token = self.current.set(value)
        try:
            await self.app(
                scope, receive, answering_with(send, self.header, self.header_value(value))
            )
        finally:
            self.current.reset(token)
