"""Header plumbing shared by the pure ASGI middlewares (request id, trace context)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Send


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
