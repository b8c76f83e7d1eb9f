"""The benchmarks' load driver (``bench.http_driver``) against a scripted local server: what
it reads as a reply, and that a connection's end is a counted failure or a clean retry,
never a wrong figure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from bench.http_driver import DriverError, HttpPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


@asynccontextmanager
async def _server(handler: Handler) -> AsyncIterator[str]:
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        except asyncio.IncompleteReadError:
            pass  # the driver closed its end, as it may
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def _reply(body: bytes, *extra: bytes) -> bytes:
    headers = [b"HTTP/1.1 200 OK", b"content-length: %d" % len(body), *extra]
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


async def test_replies_by_length_and_chunked_and_the_request_as_sent() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        writer.write(_reply(b'{"data":{"a":1}}'))
        seen.append(await _read_request(reader))
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\ntransfer-encoding: chunked\r\n\r\n"
            b'5\r\n{"a":\r\n2\r\n2}\r\n0\r\n\r\n'
        )
        await writer.drain()

    async with _server(handler) as url, HttpPool(1) as pool:
        first = await pool.request("POST", url, json={"query": "{ a }"}, headers={"x-t": "1"})
        second = await pool.request("GET", url, params={"q": "a b"})
    assert (first.status, first.json()) == (200, {"data": {"a": 1}})
    assert (second.status, second.json()) == (429, {"a": 2})
    assert seen[0].startswith(b"POST /graphql HTTP/1.1\r\n")
    assert b"x-t: 1\r\n" in seen[0] and b"content-type: application/json" in seen[0]
    assert seen[0].endswith(b'\r\n\r\n{"query":"{ a }"}')
    assert seen[1].startswith(b"GET /graphql?q=a+b HTTP/1.1\r\n")


async def test_a_kept_alive_connection_the_server_closed_is_replaced() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(_reply(b"{}"))
        await writer.drain()
        writer.close()  # as uvicorn does to an idle keep-alive connection

    async with _server(handler) as url, HttpPool(1) as pool:
        for _ in range(3):
            assert (await pool.request("GET", url)).status == 200
            await asyncio.sleep(0.05)
    assert connections == 3


async def _closes_before_replying(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await _read_request(reader)
    writer.close()


async def _cuts_its_reply_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"a"')
    await writer.drain()
    writer.close()


async def _never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.sleep(5)


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (_closes_before_replying, "closed the connection before answering"),
        (_cuts_its_reply_short, "mid-reply"),
        (_never_answers, "no answer within"),
    ],
)
async def test_a_server_that_fails_on_a_new_socket_is_a_counted_failure(
    handler: Handler, message: str
) -> None:
    """Not retried (only a kept-alive socket closed while idle is): ``DriverError``, which
    the benchmarks count as a failed request."""
    async with _server(handler) as url, HttpPool(1, timeout=0.2) as pool:
        with pytest.raises(DriverError, match=message):
            await pool.request("GET", url)


async def test_a_refused_connection_is_a_failure() -> None:
    async with _server(_read_request) as url:  # type: ignore[arg-type]
        pass  # closed: nothing listens on its port now
    async with HttpPool(1) as pool:
        with pytest.raises(DriverError, match="cannot connect"):
            await pool.request("GET", url)
