"""Reading request headers from an ASGI scope (request id, trace context)."""

from __future__ import annotations


def incoming_header(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The first value of header ``name`` (lower case) in an ASGI scope's raw headers."""
    wanted = name.encode()
    for key, value in headers:
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None
