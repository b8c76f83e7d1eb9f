"""GraphiQL in a real (headless) Chromium: loads offline, runs a query with a token, subscribes.

The browser is driven over the DevTools protocol (``websockets``), which also reports every
request the page makes: none may leave the API's own origin.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import pytest_asyncio
import websockets
from pymongo.asynchronous.database import AsyncDatabase

from tests.helpers import token_for
from tests.integration.api_harness import ApiProcess

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs /usr/bin/chromium (Debian package `chromium`: apt-get install -y chromium)",
)

QUERY = (
    '{ shipmentByTrackingNumber(trackingNumber: "TRK-BROWSER-1") {'
    " shipmentId status carrier { name } } }"
)
#: GraphiQL parses an edited document after a short debounce; running before that would run
#: the previous document.
EDIT_SETTLE_SECONDS = 0.5
SUBSCRIPTION = "subscription { milestoneFeed { cursor shipmentId status } }"


class Page:
    """One Chromium tab over the DevTools protocol; records requests and exceptions."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.requests: list[str] = []
        self.websockets: list[str] = []
        self.frames_received: list[str] = []
        self.exceptions: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message and message["id"] in self.pending:
                self.pending.pop(message["id"]).set_result(message)
                continue
            method, params = message.get("method"), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif method == "Network.webSocketCreated":
                self.websockets.append(params["url"])
            elif method == "Network.webSocketFrameReceived":
                self.frames_received.append(params["response"]["payloadData"])
            elif method == "Runtime.exceptionThrown":
                self.exceptions.append(json.dumps(params["exceptionDetails"])[:500])

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[call_id] = future
        await self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        async with asyncio.timeout(30):
            reply = await future
        assert "error" not in reply, reply
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float = 30.0) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.25)
        shot = await self.call("Page.captureScreenshot", format="png")
        raise AssertionError(f"timed out waiting for {expression!r}; screenshot bytes: {len(shot)}")

    async def close(self) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


@pytest_asyncio.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Page]:
    profile = tmp_path / "chromium-profile"
    process = await asyncio.create_subprocess_exec(
        *[
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile}",
            "--window-size=1400,900",
            "about:blank",
        ],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        target = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws)
            await page.call("Network.enable")
            await page.call("Runtime.enable")
            await page.call("Page.enable")
            try:
                yield page
            finally:
                await page.close()
    finally:
        process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def editor(selector: str) -> str:
    """JS for the CodeMirror instance inside ``selector`` (GraphiQL 3 uses CodeMirror 5)."""
    return f"document.querySelector({json.dumps(selector + ' .CodeMirror')}).CodeMirror"


HEADERS_EDITOR = (
    "[...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]"
    ".map(e => e.CodeMirror).find(cm => cm.getValue().includes('Authorization'))"
)
RESULT = f"({editor('.result-window')}.getValue())"


async def test_graphiql_runs_a_query_and_a_subscription_offline(
    own_api_process: ApiProcess,
    browser: Page,
    mongo_db: AsyncDatabase[dict[str, Any]],
    tmp_path: Path,
) -> None:
    await mongo_db.shipments.insert_one(
        {
            "_id": "SHP-BROWSER-1",
            "customerId": "ACME",
            "known": True,
            "rev": 1,
            "trackingNumber": "TRK-BROWSER-1",
            "status": "OUT_FOR_DELIVERY",
            "carrier": {"scac": "ODFL", "name": "Old Dominion"},
            "plannedPickupAt": datetime.now(UTC) - timedelta(days=1),
            "milestones": [],
            "related": {},
        }
    )
    await browser.call("Page.navigate", url=f"{own_api_process.url}/graphql?q={quote(QUERY)}")
    await browser.wait_for("!!document.querySelector('.graphiql-execute-button')")
    # The schema loaded without a token (the placeholder header is left out): the docs show
    # the root fields...
    await browser.evaluate(
        "document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click()"
    )
    await browser.wait_for(
        "document.querySelector('.graphiql-doc-explorer')?.innerText.includes('Query')"
    )
    placeholder = await browser.evaluate(f"{HEADERS_EDITOR}.getValue()")
    assert json.loads(placeholder) == {"Authorization": "Bearer <paste token>"}

    # ... a query with the placeholder answers UNAUTHENTICATED, readably...
    await browser.evaluate("document.querySelector('.graphiql-execute-button').click()")
    unauthenticated = await browser.wait_for(f"{RESULT}.includes('UNAUTHENTICATED') && {RESULT}")
    assert "SHP-BROWSER-1" not in unauthenticated

    # ... and with a pasted token it shows the shipment.
    token = token_for(["ACME"])
    headers = json.dumps({"Authorization": f"Bearer {token}"})
    await browser.evaluate(f"{HEADERS_EDITOR}.setValue({json.dumps(headers)})")
    await asyncio.sleep(EDIT_SETTLE_SECONDS)
    await browser.evaluate("document.querySelector('.graphiql-execute-button').click()")
    shown = await browser.wait_for(f"{RESULT}.includes('SHP-BROWSER-1') && {RESULT}")
    assert json.loads(shown)["data"] == {
        "shipmentByTrackingNumber": {
            "shipmentId": "SHP-BROWSER-1",
            "status": "OUT_FOR_DELIVERY",
            "carrier": {"name": "Old Dominion"},
        }
    }

    shot = await browser.call("Page.captureScreenshot", format="png")
    (tmp_path / "graphiql-result.png").write_bytes(base64.b64decode(shot["data"]))

    # A subscription goes over graphql-transport-ws on the same path, token in connection_init.
    await browser.evaluate(
        f"{editor('.graphiql-query-editor')}.setValue({json.dumps(SUBSCRIPTION)})"
    )
    await asyncio.sleep(EDIT_SETTLE_SECONDS)
    await browser.evaluate("document.querySelector('.graphiql-execute-button').click()")
    deadline = time.monotonic() + 20
    while not any('"connection_ack"' in f for f in browser.frames_received):
        if time.monotonic() > deadline:
            shown = await browser.evaluate(RESULT)
            raise AssertionError(f"no connection_ack: {browser.websockets}, result: {shown}")
        await asyncio.sleep(0.2)
    assert browser.websockets == [own_api_process.url.replace("http", "ws") + "/graphql"]

    origin = urlsplit(own_api_process.url)
    outside = [
        url
        for url in browser.requests
        if not url.startswith(("data:", "blob:")) and urlsplit(url).netloc != origin.netloc
    ]
    assert outside == [], outside
    assert any(
        "/graphiql/static/vendor/graphiql/graphiql.min.js" in url for url in browser.requests
    )
    assert browser.exceptions == []
