"""The API app in-process (httpx over ASGI) against FerretDB: settings, seeding, requests.

Shared by the HTTP, hardening and broker-down tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.helpers import SECRET, Stack, token_for
from web.app import create_app
from web.settings import Settings, load_settings

GRJ = "application/graphql-response+json"
ORIGIN = "https://portal.example.com"
TRACK = (
    "query($t: String!) { shipmentByTrackingNumber(trackingNumber: $t) {"
    " shipmentId customerId status } }"
)


def settings_for(stack: Stack, database: str, **overrides: str) -> Settings:
    return load_settings(
        {
            "AUTH_HS256_SECRET": SECRET,
            "MONGODB_URI": stack.mongodb_uri,
            "MONGODB_DATABASE": database,
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
            "CORS_ORIGINS": ORIGIN,
            **overrides,
        }
    )


def shipment_doc(shipment_id: str, customer: str, tracking: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "_id": shipment_id,
        "customerId": customer,
        "known": True,
        "rev": 1,
        "updatedAt": now,
        "trackingNumber": tracking,
        "status": "IN_TRANSIT",
        "mode": "LTL",
        "carrier": {"scac": "ODFL", "name": "Old Dominion"},
        "plannedPickupAt": now - timedelta(days=1),
        "milestones": [],
        "cancelled": False,
        "related": {},
    }


async def seed(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db.shipments.insert_many(
        [shipment_doc("SHP-A", "ACME", "TRK-A"), shipment_doc("SHP-G", "GLOBEX", "TRK-G")]
    )
    await db.sources.insert_one(
        {
            "_id": "tms/us-road",
            "lastEventAt": datetime.now(UTC) - timedelta(seconds=30),
            "lastAppliedAt": datetime.now(UTC) - timedelta(seconds=20),
            "declared": {"status": "AVAILABLE"},
        }
    )


class ExplodingPolicy:
    """Stands for a bug below the web layer: its message holds things no client may see."""

    def scope(self, *args: object, **kwargs: object) -> object:
        raise RuntimeError("KeyError in mongodb://admin:hunter2@db-7.internal/portal")

    def may_send_free_form(self, caller: object) -> bool:
        return True


class Running:
    """An app whose lifespan is running, and an httpx client bound to it."""

    def __init__(self, app: Starlette, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app = app
        self.client = client
        self.settings = settings

    def auth(self, customers: list[str], roles: list[str] | None = None) -> dict[str, str]:
        token = token_for(customers, roles, tokens=self.settings.tokens)
        return {"authorization": f"Bearer {token}"}


async def start(settings: Settings) -> AsyncIterator[Running]:
    # Without web.live: these tests are about HTTP, and its change-log reader would only add
    # Kafka clients starting and stopping with every test's app.
    app = create_app(settings, live=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
            yield Running(app, c, settings)


@contextlib.asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """``app`` (its lifespan already running) behind a real uvicorn server in this process, on
    a free port of 127.0.0.1, for what only a server shows: its log of a request, a client
    that goes away. Yields the port and an event set when the app has finished with an HTTP
    request (returned or raised, and uvicorn has logged any exception: it does so before it
    next awaits)."""
    finished = asyncio.Event()

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                finished.set()

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # a client may connect at once: the server accepts once it is up
    server = uvicorn.Server(uvicorn.Config(watched, lifespan="off", log_config=None))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield listener.getsockname()[1], finished
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def post(
    api: Running,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    accept: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if accept is not None:
        sent["accept"] = accept
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = dict(variables)
    return await api.client.post("/graphql", json=body, headers=sent)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


def sample(metrics_text: str, name: str, **labels: str) -> float | None:
    for line in metrics_text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        metric, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', metric))
        if metric.split("{")[0] == name and all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None
