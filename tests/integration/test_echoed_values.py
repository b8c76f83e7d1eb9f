"""A client's value that an error message names is quoted cut short, through the app: a
100 KB ``documentId`` or ``node(id:)`` echoed whole made every refusal as large as the
request, for whoever sent it and for every log or proxy that keeps responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from tests.helpers import Stack
from tests.integration.http_harness import Running, codes, post, seed, settings_for, start

Doc = dict[str, Any]

#: A client's value of 100,000 characters; a message quotes 100 of them and the length.
LONG = "x" * 50_000 + "y" * 50_000
QUOTE = f"{'x' * 50!r}...{'y' * 50!r} (100,000 characters)"


@pytest_asyncio.fixture
async def api(stack: Stack, mongo_db: AsyncDatabase[Doc]) -> AsyncIterator[Running]:
    await seed(mongo_db)
    async for running in start(settings_for(stack, mongo_db.name)):
        yield running


async def test_an_unknown_document_id_is_quoted_cut_short(api: Running) -> None:
    response = await api.client.post(
        "/graphql", json={"documentId": LONG}, headers=api.auth(["ACME"])
    )
    assert codes(response) == ["PERSISTED_QUERY_NOT_FOUND"]
    (error,) = response.json()["errors"]
    assert error["message"] == (
        f"No persisted operation has the documentId {QUOTE}: the app must ship its "
        "operations in the server's PERSISTED_OPERATIONS_FILE."
    )


async def test_a_node_id_that_is_not_a_global_id_is_quoted_cut_short(api: Running) -> None:
    response = await post(
        api, "query($id: ID!) { node(id: $id) { id } }", {"id": LONG}, headers=api.auth(["ACME"])
    )
    body = response.json()
    assert body["data"] == {"node": None}
    assert codes(response) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"].startswith(f"{QUOTE} is not a global id: pass")
    assert len(response.content) < 1_000


async def test_an_unknown_operation_name_is_quoted_cut_short(api: Running) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "query A { __typename } query B { __typename }", "operationName": LONG},
        headers=api.auth(["ACME"]),
    )
    assert (response.status_code, codes(response)) == (400, ["BAD_REQUEST"])
    assert response.json()["errors"][0]["message"] == f"Unknown operation named {QUOTE}."
