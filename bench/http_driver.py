"""A lean HTTP/1.1 load driver for the benchmarks: keep-alive connections, C-parsed replies.

Why not httpx, which the tests use: the benchmarks drive the servers from the same two-core
machine, so the driver's own CPU is taken from the servers and the store it measures. httpx
spends about 3 ms of CPU on a small request and its answer (session 10, measured against a
bare ASGI app), more than the API spends answering a tracking lookup (2 ms), so at 200
requests/s the driver alone took over half a core. A load generator on its own machine, as
in any real deployment, would not; this one keeps its share small the way wrk or vegeta do:
requests written as bytes on pooled keep-alive sockets, replies parsed by ``httptools`` (the C
parser uvicorn already installs), no redirects, cookies, retries or decoding of content.

Only what the benchmarks send: ``GET`` with a query string and ``POST`` with a JSON body, to
``http://host:port/path`` on 127.0.0.1, answered with a ``Content-Length`` or chunked body.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httptools
import orjson

#: How much one read asks of the socket; a bigger answer takes several reads.
READ_CHUNK: Final = 65_536


class DriverError(Exception):
    """The server closed, answered what is not HTTP/1.1, or took longer than the timeout."""


@dataclass(frozen=True)
class Reply:
    status: int
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclass
class _Parsed:
    """What ``httptools`` reports of one reply while it is read."""

    parser: Any = None
    body: list[bytes] = field(default_factory=list)
    complete: bool = False
    #: Read when the headers are complete: llhttp no longer knows once the message is.
    keep_alive: bool = False

    def on_headers_complete(self) -> None:
        self.keep_alive = bool(self.parser.should_keep_alive())

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.complete = True


class _Closed(DriverError):
    """The server closed the connection before a byte of the reply."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @property
    def open(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    async def exchange(self, request: bytes) -> tuple[Reply, bool]:
        """Send ``request`` and read its reply; the flag says whether the socket stays open."""
        parsed = _Parsed()
        parser = parsed.parser = httptools.HttpResponseParser(parsed)
        started = False
        try:
            self.writer.write(request)
            while not parsed.complete:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    if started:
                        raise DriverError("the server closed the connection mid-reply")
                    raise _Closed("the server closed the connection before answering")
                started = True
                parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise DriverError(f"not an HTTP/1.1 reply: {exc}") from exc
        except OSError as exc:
            raise DriverError(f"connection failed: {exc!r}") from exc
        reply = Reply(parser.get_status_code(), b"".join(parsed.body))
        return reply, parsed.keep_alive

    def close(self) -> None:
        self.writer.close()


class HttpPool:
    """Keep-alive connections per server, at most ``size`` open to each at once (callers
    bound their own concurrency; a call past ``size`` waits for a connection)."""

    def __init__(self, size: int, timeout: float = 30.0) -> None:
        self._size = size
        self._timeout = timeout
        self._idle: dict[tuple[str, int], list[_Connection]] = defaultdict(list)
        self._gates: dict[tuple[str, int], asyncio.Semaphore] = {}

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path or "/"
        if params:
            target += "?" + urlencode(params)
        body = orjson.dumps(json) if json is not None else b""
        lines = [f"{method} {target} HTTP/1.1", f"host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if json is not None:
            lines.append("content-type: application/json")
        lines.append(f"content-length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        key = (host, port)
        gate = self._gates.setdefault(key, asyncio.Semaphore(self._size))
        async with gate:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._send(key, request)
            except TimeoutError as exc:
                raise DriverError(f"no answer within {self._timeout} s") from exc

    async def _send(self, key: tuple[str, int], request: bytes) -> Reply:
        """``request`` on an idle connection, else a new one. A kept-alive connection the
        server closed while idle (uvicorn closes them after 5 s) is replaced and the request
        sent again on the new one: the benchmarks send only reads, so that is safe."""
        idle = self._idle[key]
        while idle:
            connection = idle.pop()
            if connection.open:
                try:
                    return await self._exchange(key, connection, request)
                except _Closed:
                    break
            connection.close()
        return await self._exchange(key, await self._connect(key), request)

    async def _exchange(
        self, key: tuple[str, int], connection: _Connection, request: bytes
    ) -> Reply:
        try:
            reply, keep = await connection.exchange(request)
        except BaseException:
            connection.close()
            raise
        if keep:
            self._idle[key].append(connection)
        else:
            connection.close()
        return reply

    @staticmethod
    async def _connect(key: tuple[str, int]) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(*key)
        except OSError as exc:
            raise DriverError(f"cannot connect to {key[0]}:{key[1]}: {exc}") from exc
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        connections = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for connection in connections:
            connection.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()

    async def __aenter__(self) -> HttpPool:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
