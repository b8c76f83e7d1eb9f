"""``web.request_head``: uvicorn's httptools protocol bounding a request head's size and the
time to read it, driven here in-process with a stand-in transport, byte-exact; the same
against a real ``python -m web`` is in ``tests/integration/test_slow_clients.py``.

The first test names the uvicorn internals the subclass relies on: after a uvicorn upgrade
it says which one changed, before the behaviour tests say only that something did.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import httptools
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from web.request_head import HeadBoundedProtocol, HeadLimits, HeadRefusal, protocol_for

LIMIT = 4_096


class Transport(asyncio.Transport):
    """What the protocol writes, whether it closed, and which protocol holds the socket."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Echo:
    """An app answering 200 with the body it read; remembers the requests it saw."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def connect(
    app: Echo, timeout: float = 30.0, refused: list[HeadRefusal] | None = None
) -> tuple[HeadBoundedProtocol, Transport]:
    """A connection of the protocol to ``app``; what it refuses is appended to ``refused``."""
    config = Config(app, log_config=None, proxy_headers=False, lifespan="off")
    counted = refused if refused is not None else []
    protocol_class = protocol_for(HeadLimits(LIMIT, timeout), counted.append)
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    return protocol, transport


def head_of(size: int, body: bytes = b"") -> bytes:
    """A POST whose request line and headers take exactly ``size`` bytes."""
    start = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %06d\r\nX-Pad: " % len(body)
    return start + b"x" * (size - len(start) - 4) + b"\r\n\r\n" + body


async def settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_uvicorn_internals_relied_on_are_there() -> None:
    parameters = list(inspect.signature(HttpToolsProtocol.__init__).parameters)
    assert parameters == ["self", "config", "server_state", "app_state", "_loop"]
    for hook in ("data_received", "on_headers_complete", "on_message_complete"):
        assert callable(getattr(HttpToolsProtocol, hook)), hook
    for name in ("response_complete", "keep_alive"):
        assert name in inspect.getsource(RequestResponseCycle.__init__), name
    # httptools finds the callbacks on the protocol when the parser is built.
    assert "HttpRequestParser(self)" in inspect.getsource(HttpToolsProtocol.__init__)
    assert httptools.HttpRequestParser is not None


async def test_a_head_of_the_limit_is_served_with_its_body_in_the_same_read() -> None:
    app, refused = Echo(), list[HeadRefusal]()
    protocol, transport = connect(app, refused=refused)
    protocol.data_received(head_of(LIMIT, b"body") + head_of(LIMIT, b"next"))
    await settled()
    assert app.bodies == [b"body", b"next"]
    assert transport.written.count(b"HTTP/1.1 200 OK") == 2 and not transport.closed
    assert refused == []


async def test_a_head_one_byte_over_is_refused_431_before_the_app_sees_it() -> None:
    for reads in (1, 3, LIMIT + 1):  # in one read, in a few, a byte at a time
        app, refused = Echo(), list[HeadRefusal]()
        protocol, transport = connect(app, refused=refused)
        data = head_of(LIMIT + 1)
        size = -(-len(data) // reads)
        for start in range(0, len(data), size):
            if not transport.closed:
                protocol.data_received(data[start : start + size])
        await settled()
        assert app.bodies == []
        assert transport.written.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
        assert transport.closed
        assert refused == ["too_large"]


async def test_an_unfinished_head_is_answered_408_and_silence_is_closed() -> None:
    refused = list[HeadRefusal]()
    protocol, transport = connect(Echo(), timeout=0.01, refused=refused)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n")
    await asyncio.sleep(0.1)
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout") and transport.closed
    assert refused == ["timeout"]
    _, transport = connect(Echo(), timeout=0.01, refused=refused)
    await asyncio.sleep(0.1)
    assert transport.written == b"" and transport.closed
    assert refused == ["timeout", "nothing_sent"]


async def test_the_head_timeout_stops_at_the_head_and_sleeps_between_requests() -> None:
    """A body is the app's to wait for; an idle keep-alive wait is uvicorn's."""
    app, refused = Echo(), list[HeadRefusal]()
    protocol, transport = connect(app, timeout=0.01, refused=refused)
    protocol.data_received(head_of(200, b"12345")[:-2])
    await asyncio.sleep(0.1)
    protocol.data_received(b"45")
    await asyncio.sleep(0.1)
    assert app.bodies == [b"12345"] and not transport.closed and refused == []
    protocol.connection_lost(None)
