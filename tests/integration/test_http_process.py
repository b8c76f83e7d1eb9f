"""The API as its own process (``python -m web``): start-up, WebSocket routing, shutdown.

The process itself is ``tests.integration.api_harness.ApiProcess``; the tests that only talk
to it share one (``api_process``), those that stop it or check its start-up own theirs (the
fixtures are in ``tests/integration/conftest.py``).
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pymongo.asynchronous.database import AsyncDatabase

from tests.helpers import Stack, token_for
from tests.integration.api_harness import ApiProcess, api_env, run_api
from web.settings import QueryLimits

# --- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subprotocol", "init", "ack"),
    [
        ("graphql-transport-ws", "connection_init", "connection_ack"),
        ("graphql-ws", "connection_init", "connection_ack"),
    ],
)
async def test_websocket_upgrades_on_the_graphql_path_reach_the_subscription_handlers(
    api_process: ApiProcess, subprotocol: str, init: str, ack: str
) -> None:
    url = api_process.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == subprotocol
        payload = {"Authorization": f"Bearer {token_for(['ACME'])}"}
        await ws.send(json.dumps({"type": init, "payload": payload}))
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] != "ka":  # graphql-ws keep-alives may come first
                    break
        assert message["type"] == ack


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_websocket_message_over_the_body_limit_closes_1009_before_it_is_parsed(
    api_process: ApiProcess, subprotocol: str
) -> None:
    """uvicorn refuses a message larger than ``MAX_BODY_BYTES`` (its own default is 16 MiB,
    which the event loop took 0.7 s to parse), whatever it holds and before
    ``connection_init``; one of exactly that size is still served."""
    limit = QueryLimits().max_websocket_message_bytes

    def init(size: int) -> str:
        """A valid ``connection_init`` of ``size`` bytes: acknowledged if it is read at all."""
        payload = {"Authorization": f"Bearer {token_for(['ACME'])}", "pad": ""}
        message = json.dumps({"type": "connection_init", "payload": payload})
        return message.replace('"pad": ""', f'"pad": "{"x" * (size - len(message))}"')

    url = api_process.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=[subprotocol], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send(init(limit + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with websockets.connect(url, subprotocols=[subprotocol], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send(init(limit))
        async with asyncio.timeout(10):
            assert json.loads(await ws.recv())["type"] == "connection_ack"


#: Nested lists under a page of 2^31 - 1 orders: a cost of about 2^65.
NESTED_PAGES = (
    "{ orders(first: 2147483647) { edges { node { shipments { orders { shipments { orders { "
    "shipments { orders { shipments { orders { orderId } } } } } } } } } } } }"
)


async def test_a_query_costing_beyond_64_bits_gets_its_refusal_over_websocket(
    api_process: ApiProcess,
) -> None:
    """Its refusal once echoed the cost, which the encoder could not write: the client got
    no message at all. Now the refusal, its ``actual`` bounded, and the connection goes on."""
    url = api_process.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {token_for(['ACME'])}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        for op, query in (("costly", NESTED_PAGES), ("cheap", "{ __typename }")):
            await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": {"query": query}}))
        async with asyncio.timeout(10):
            received = [json.loads(await ws.recv()) for _ in range(4)]
    by_type = {(m["type"], m.get("id")): m for m in received}
    assert set(by_type) == {
        ("connection_ack", None),
        ("error", "costly"),
        ("next", "cheap"),
        ("complete", "cheap"),
    }
    [error] = by_type["error", "costly"]["payload"]
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_QUERY_COST",
        "allowed": QueryLimits().max_cost,
        "actual": 2**53 - 1,
    }


async def test_unknown_websocket_subprotocol_is_refused(api_process: ApiProcess) -> None:
    url = api_process.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=["chat"]) as ws:  # type: ignore[list-item]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


async def test_serves_http_and_stops_cleanly_on_sigterm(own_api_process: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=own_api_process.url) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { customers } }"},
            headers={"authorization": f"Bearer {token_for(['ACME'])}"},
        )
        assert response.json() == {"data": {"viewer": {"customers": ["ACME"]}}}
        assert (await client.get("/readyz")).status_code == 200
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
    assert own_api_process.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in own_api_process.log()
    assert "Traceback" not in own_api_process.log()


async def test_bad_configuration_exits_with_a_clear_message(tmp_path: Path) -> None:
    api = ApiProcess({"AUTH_HS256_SECRET": "", "AUTH_JWKS_URL": ""}, tmp_path / "api.log")
    assert api.process.wait(timeout=30) == 2
    api.stop()
    log = api.log()
    assert "AUTH_HS256_SECRET" in log and "Traceback" not in log


async def test_a_request_that_never_finishes_does_not_keep_the_process_from_stopping(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    """A client that sends half a body and goes quiet holds a request open until
    ``REQUEST_BODY_TIMEOUT_SECONDS`` (30 s; for ever before session 21); on SIGTERM the
    process waits for it ``API_SHUTDOWN_GRACE_SECONDS``, then stops anyway."""
    env = api_env(stack, mongo_db.name, API_SHUTDOWN_GRACE_SECONDS="1")
    async for api in run_api(env, tmp_path / "api.log"):
        _, writer = await asyncio.open_connection("127.0.0.1", api.port)
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: portal.test\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"query": '
        )
        await writer.drain()
        await asyncio.sleep(0.5)  # the request is in the application, awaiting its body
        api.process.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(api.process.wait, 60)  # 30 s without the grace
        assert status in (0, -signal.SIGTERM)
        assert "timeout graceful shutdown exceeded" in api.log()
        assert "Application shutdown complete" in api.log()
        writer.close()
