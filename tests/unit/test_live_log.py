"""The change log's reads stop their consumer whatever ends them (``web.live.log``), against
a broker address that refuses connections and one that accepts them but never answers:
aiokafka's ``start`` fails on the first and waits on the second."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import AsyncIterator, Awaitable

import pytest

from graph.subscriptions import FeedUnavailable
from readmodel.topics import TopicNames
from web.live.closes import too_slow
from web.live.hub import LiveHub
from web.live.log import ChangeLog


@contextlib.asynccontextmanager
async def reported_to_the_loop() -> AsyncIterator[list[str]]:
    """What the event loop is told of until the block ends and the garbage is collected.
    aiokafka reports a consumer collected without ``stop`` there ("Unclosed
    AIOKafkaConsumer"), which asyncio's default handler logs as an error."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    reported: list[str] = []
    loop.set_exception_handler(lambda _, context: reported.append(str(context.get("message"))))
    try:
        yield reported
        gc.collect()
    finally:
        loop.set_exception_handler(previous)


def refusing_address() -> str:
    """An address nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def silent_broker() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """An address that accepts connections and never answers (a broker hung mid-start), and
    the event set once a client has connected."""
    connected = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # until the client closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}", connected
    finally:
        server.close()
        await server.wait_closed()


async def _refused(read: Awaitable[object]) -> bool:
    """Whether ``read`` fails with FeedUnavailable (holding nothing of the failure after)."""
    try:
        await read
    except FeedUnavailable:
        return True
    return False


async def test_a_read_whose_consumer_cannot_start_is_unavailable_and_leaves_no_consumer() -> None:
    async with reported_to_the_loop() as reported:
        log = ChangeLog(refusing_address(), TopicNames(), retention_hours=72)
        assert await _refused(log.read(0, 10, 10))
    assert reported == []


async def test_a_read_cancelled_while_its_consumer_starts_leaves_no_consumer() -> None:
    """A replay opens a consumer per chunk; the client's ``complete`` or its going away
    cancels the replay, often while a consumer starts."""
    async with silent_broker() as (address, connected), reported_to_the_loop() as reported:
        log = ChangeLog(address, TopicNames(), retention_hours=72)
        reading = asyncio.create_task(log.read(0, 10, 10))
        await connected.wait()  # the consumer's start now waits for the broker's answer
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        assert reading.cancelled()
        del reading
    assert reported == []


async def test_the_hub_retrying_an_unreachable_broker_leaves_no_consumer_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # pytest keeps the hub's warnings, and through each one's exception the consumer that
    # failed: without them, a consumer not stopped is collected and reported as it would be
    caplog.set_level(logging.ERROR, logger="web.live.hub")
    async with reported_to_the_loop() as reported:
        log = ChangeLog(refusing_address(), TopicNames(), retention_hours=72)
        hub = LiveHub(log, dedupe_window=10, overflow_reason=too_slow(1), retry_seconds=0.01)
        hub.begin_at(0)  # it has a position: each attempt starts a consumer at once
        hub.start()
        await asyncio.sleep(0.3)  # several attempts
        await hub.stop()
    assert reported == []
