"""The ceiling for ``bench/api.py``: the portal's three benchmark reads with nothing around them.

A minimal Starlette app that sends the same MongoDB queries the readers send for the three
benchmarked portal screens (same filters, sort, limit, index hint and projection) with PyMongo's
``AsyncMongoClient`` and returns the documents as JSON. No GraphQL, no token verification,
no entitlement checks, no redaction, no read-pointer lookup: whatever the API costs beyond
this is the price of those.

    .venv/bin/python bench/api_ceiling.py  # CEILING_PORT, MONGODB_URI, MONGODB_DATABASE

Routes (``customer`` is what the API takes from the token):

* ``GET /shipment?customer=C&tracking=T``: the newest known shipment of C with tracking T;
* ``GET /orders?customer=C&first=20``: C's newest orders, each with the shipment summaries
  the projector embeds under ``related.shipments`` (the orders page with shipments nested);
* ``GET /invoices?customer=C&first=20``: C's newest invoices.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import orjson
import uvicorn
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from readmodel import documents
from readmodel.search_keys import tracking_key

Doc = dict[str, Any]

#: As many connections as the API's own client may open.
MAX_POOL_SIZE: Final = 32


def _public(doc: Mapping[str, Any]) -> Doc:
    """Drop the projector's bookkeeping (``_orderState`` ...), as the readers do."""
    return {k: v for k, v in doc.items() if k == "_id" or not k.startswith("_")}


def json_response(body: object) -> Response:
    """orjson, as the API encodes its responses (datetimes as ISO 8601, as the API's)."""
    return Response(orjson.dumps(body), media_type="application/json")


def _database(request: Request) -> AsyncDatabase[Doc]:
    db: AsyncDatabase[Doc] = request.app.state.db
    return db


def _first(request: Request) -> int:
    return max(1, min(100, int(request.query_params.get("first", "20"))))


async def shipment(request: Request) -> Response:
    query = {
        documents.TRACKING_KEY: tracking_key(request.query_params["tracking"]),
        "customerId": request.query_params["customer"],
        "known": True,
    }
    # The same query, projection and index hint the readers send (``Readers.shipment_by_tracking``
    # in a generation whose shipments hold their tracking keys).
    doc = await _database(request).shipments.find_one(
        query,
        documents.WITHOUT_BOOKKEEPING[documents.SHIPMENTS],
        sort=[("plannedPickupAt", -1), ("_id", -1)],
        hint=documents.TRACKING_KEY_INDEX,
    )
    return json_response({"shipment": _public(doc) if doc else None})


async def _page(request: Request, collection: str, sort_field: str) -> Response:
    first = _first(request)
    query = {"customerId": request.query_params["customer"], "known": True}
    # The same query, projection, limit and index hint the readers send for one customer's page.
    cursor = _database(request)[collection].find(
        query,
        documents.WITHOUT_BOOKKEEPING[collection],
        sort=[(sort_field, -1), ("_id", -1)],
        limit=first + 1,
        hint=documents.sort_index(collection, sort_field),
    )
    docs = await cursor.to_list()
    return json_response(
        {"items": [_public(d) for d in docs[:first]], "hasNextPage": len(docs) > first}
    )


async def orders(request: Request) -> Response:
    return await _page(request, "orders", "orderedAt")


async def invoices(request: Request) -> Response:
    return await _page(request, "invoices", "issuedAt")


async def healthz(request: Request) -> Response:
    return Response("ok")


def create_app(mongodb_uri: str, database: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            mongodb_uri, tz_aware=True, maxPoolSize=MAX_POOL_SIZE, appname="bench-ceiling"
        )
        app.state.db = client[database]
        try:
            yield
        finally:
            await client.close()

    return Starlette(
        routes=[
            Route("/shipment", shipment),
            Route("/orders", orders),
            Route("/invoices", invoices),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    app = create_app(
        os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/"), os.environ["MONGODB_DATABASE"]
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["CEILING_PORT"]),
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
