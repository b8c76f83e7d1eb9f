"""Slow and oversized requests against the API as its own process (``python -m web``), over
raw sockets: the bounds on reading a request's head (``web.request_head``, a subclass of
uvicorn's httptools protocol) and body (``web.graphql_http``). They fail if a uvicorn upgrade
changes the hooks the subclass relies on.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.helpers import token_for
from tests.integration.api_harness import ApiProcess
from tests.integration.http_harness import sample

#: The default ``REQUEST_HEADER_MAX_BYTES``; the timeouts are set short for these tests.
HEAD_LIMIT = 65_536
TIMEOUT = 1.0
#: Longer than any answer here may take: a test that waits this long has failed.
PATIENCE = 20.0
#: How long a test waits for a timeout's effect: ample for the tests' one second, and
#: shorter than the default head timeout (15 s), so that a process that did not take the
#: tests' setting fails the test rather than passing it late.
WITHIN_TIMEOUT = 10.0


#: ``python -m web`` as ``api_process`` starts it, with one-second timeouts.
pytestmark = pytest.mark.parametrize(
    "api_process",
    [
        {
            "REQUEST_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
            "REQUEST_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
        }
    ],
    indirect=True,
    ids=["short-timeouts"],
)


def head_of(size: int) -> bytes:
    """A GET of /healthz whose request line and headers take exactly ``size`` bytes."""
    start, end = b"GET /healthz HTTP/1.1\r\nHost: portal.test\r\nX-Pad: ", b"\r\n\r\n"
    return start + b"x" * (size - len(start) - len(end)) + end


async def answer(
    reader: asyncio.StreamReader, within: float = PATIENCE
) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of one response (read up to its Content-Length)."""
    async with asyncio.timeout(within):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines)
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split(" ")[1]), headers, body


async def closed(reader: asyncio.StreamReader, within: float = PATIENCE) -> bool:
    """True once the server has closed the connection (end of file, nothing more sent)."""
    async with asyncio.timeout(within):
        return await reader.read() == b""


async def refused(api: ApiProcess, reason: str) -> float | None:
    """``portal_http_request_heads_refused_total`` for ``reason`` as a scrape of the
    process's ``/metrics`` shows it (the process is shared by this module's tests: compare
    before and after)."""
    async with httpx.AsyncClient(base_url=api.url, timeout=PATIENCE) as client:
        response = await client.get("/metrics")
    response.raise_for_status()
    return sample(response.text, "portal_http_request_heads_refused_total", reason=reason)


async def test_a_head_of_the_limit_is_served_and_one_byte_more_is_refused_431(
    api_process: ApiProcess,
) -> None:
    before = await refused(api_process, "too_large")
    reader, writer = await asyncio.open_connection("127.0.0.1", api_process.port)
    writer.write(head_of(HEAD_LIMIT))
    assert (await answer(reader))[0] == 200
    writer.write(head_of(HEAD_LIMIT + 1))  # on the same, kept-alive connection
    status, headers, body = await answer(reader)
    assert (status, headers["connection"]) == (431, "close")
    assert body == b"Request head too large."
    assert await closed(reader)
    writer.close()
    assert before is not None  # the series is there, at 0, before any refusal
    assert await refused(api_process, "too_large") == before + 1


async def test_forty_megabytes_of_headers_are_not_read(api_process: ApiProcess) -> None:
    """Session 19 sent 400,000 headers (40 MB): read whole and answered. Now the process
    closes the connection once past the limit, and what the client could send before
    its writes failed is what the sockets' buffers hold."""
    _, writer = await asyncio.open_connection("127.0.0.1", api_process.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: portal.test\r\n")
    chunk = b"".join(b"X-Header-%06d: %s\r\n" % (i, b"v" * 80) for i in range(10_000))
    sent = 0
    with pytest.raises(ConnectionError):
        async with asyncio.timeout(PATIENCE):
            while sent < 40_000_000:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
    assert sent < 40_000_000
    writer.close()


async def test_a_head_sent_a_byte_at_a_time_is_cut_off_with_408(api_process: ApiProcess) -> None:
    before = await refused(api_process, "timeout")
    reader, writer = await asyncio.open_connection("127.0.0.1", api_process.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: portal.test\r\n")

    async def trickle() -> None:
        while True:
            writer.write(b"x")
            await asyncio.sleep(TIMEOUT / 5)

    trickling = asyncio.create_task(trickle())
    try:
        status, headers, body = await answer(reader, WITHIN_TIMEOUT)
    finally:
        trickling.cancel()
    assert (status, headers["connection"]) == (408, "close")
    assert body == b"Request head not received in time."
    assert await closed(reader)
    writer.close()
    assert before is not None
    assert await refused(api_process, "timeout") == before + 1


async def test_a_connection_that_sends_nothing_is_closed(api_process: ApiProcess) -> None:
    before = await refused(api_process, "nothing_sent")
    reader, writer = await asyncio.open_connection("127.0.0.1", api_process.port)
    assert await closed(reader, WITHIN_TIMEOUT)  # without an answer: no request was begun
    writer.close()
    assert before is not None
    assert await refused(api_process, "nothing_sent") == before + 1


async def test_an_idle_keep_alive_connection_keeps_uvicorns_timeout(
    api_process: ApiProcess,
) -> None:
    """Between requests the head timeout does not run: a connection idle for longer than it
    (but not uvicorn's 5 s keep-alive) serves its next request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api_process.port)
    for _ in range(2):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: portal.test\r\n\r\n")
        assert (await answer(reader))[0] == 200
        await asyncio.sleep(TIMEOUT * 2)
    writer.close()


def post_head(length: int) -> bytes:
    return (
        b"POST /graphql HTTP/1.1\r\nHost: portal.test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


async def test_a_stalled_body_is_answered_408_and_the_connection_closed(
    api_process: ApiProcess,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", api_process.port)
    writer.write(post_head(1000) + b'{"query": ')
    status, headers, body = await answer(reader, WITHIN_TIMEOUT)
    assert (status, headers["connection"]) == (408, "close")
    [error] = json.loads(body)["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert await closed(reader)
    writer.close()


async def test_a_body_arriving_slowly_but_steadily_is_served(api_process: ApiProcess) -> None:
    """The body timeout bounds a pause, not the whole body: one taking three times as long,
    a piece at a time, is answered."""
    body = json.dumps({"query": "{ __typename }"}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", api_process.port)
    writer.write(post_head(len(body)))
    pieces = [body[i : i + len(body) // 6 + 1] for i in range(0, len(body), len(body) // 6 + 1)]
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(TIMEOUT / 2)
    status, _, answered = await answer(reader)
    assert (status, json.loads(answered)) == (200, {"data": {"__typename": "Query"}})
    writer.close()


async def test_a_websocket_outlives_the_head_timeout(api_process: ApiProcess) -> None:
    """The upgrade request's head is read under the same bounds; once upgraded, the
    connection is the WebSocket protocol's and the head timeout no longer runs."""
    async with websockets.connect(api_process.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await asyncio.sleep(TIMEOUT * 2)
        payload = {"Authorization": f"Bearer {token_for(['ACME'])}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        async with asyncio.timeout(PATIENCE):
            assert json.loads(await ws.recv())["type"] == "connection_ack"
