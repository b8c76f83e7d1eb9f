"""The lean path for known documents (``web.prepared``) answers as Strawberry's path does.

A document's first request runs through Strawberry and the schema extensions (and fills the
document cache); the same document sent again runs on the lean path. Each test sends a
request twice and compares what a client and an operator see: body, status, headers that
matter, metrics and the operation log line. ``lean_runs`` counts the lean path's operations,
so a test cannot pass by never taking it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from tests.helpers import Stack
from tests.integration.http_harness import (
    GRJ,
    TRACK,
    ExplodingPolicy,
    Running,
    codes,
    post,
    sample,
    seed,
    settings_for,
    start,
)
from web.graphql_http import GraphQLEndpoint
from web.prepared import PreparedOperations

PAGE = (
    "query($n: Int!) { shipments(first: $n) "
    "{ edges { node { id carrier { name } orders { id } } } } }"
)


@pytest_asyncio.fixture
async def api(stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]) -> AsyncIterator[Running]:
    await seed(mongo_db)
    settings = settings_for(stack, mongo_db.name, MAX_QUERY_COST="500")
    async for running in start(settings):
        yield running


def _calls(
    monkeypatch: pytest.MonkeyPatch, owner: type, method: str, note: Callable[[Any], str]
) -> list[str]:
    """What ``note`` says of the first argument of each call of ``owner.method``, in order."""
    runs: list[str] = []
    original = getattr(owner, method)

    async def counting(self: Any, first: Any, *args: Any) -> Any:
        runs.append(note(first))
        return await original(self, first, *args)

    monkeypatch.setattr(owner, method, counting)
    return runs


@pytest.fixture
def lean_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operation types the lean path executed, in order."""
    return _calls(monkeypatch, PreparedOperations, "execute", lambda p: p.operation_type)


def _seen(response: httpx.Response) -> tuple[int, str, Any]:
    return response.status_code, response.headers["content-type"], response.json()


async def test_a_known_document_answers_alike_with_freshness(
    api: Running, lean_runs: list[str]
) -> None:
    first, second = [
        await post(api, TRACK, {"t": "TRK-A"}, accept=GRJ, headers=api.auth(["ACME"]))
        for _ in range(2)
    ]
    assert lean_runs == ["query"]
    assert _seen(first) == _seen(second)
    body = second.json()
    assert body["data"]["shipmentByTrackingNumber"]["shipmentId"] == "SHP-A"
    assert [s["source"] for s in body["extensions"]["freshness"]["sources"]] == ["tms/us-road"]
    assert second.headers["cache-control"] == first.headers["cache-control"]
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


async def test_refusals_in_fields_keep_their_codes(api: Running, lean_runs: list[str]) -> None:
    anonymous = [await post(api, TRACK, {"t": "TRK-A"}, accept=GRJ) for _ in range(2)]
    assert lean_runs == ["query"]
    assert _seen(anonymous[0]) == _seen(anonymous[1])
    assert codes(anonymous[1]) == ["UNAUTHENTICATED"]


async def test_bad_variables_of_a_known_document_are_400(
    api: Running, lean_runs: list[str]
) -> None:
    await post(api, TRACK, {"t": "TRK-A"}, accept=GRJ, headers=api.auth(["ACME"]))
    bad = await post(api, TRACK, {"t": 42}, accept=GRJ, headers=api.auth(["ACME"]))
    assert lean_runs == ["query"]
    assert (bad.status_code, codes(bad)) == (400, ["BAD_USER_INPUT"])
    assert "data" not in bad.json()


async def test_unexpected_errors_are_masked_and_logged(
    api: Running, lean_runs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    api.app.state.policy = ExplodingPolicy()
    responses = []
    for attempt in range(2):
        headers = {**api.auth(["ACME"]), "x-request-id": f"req-lean-{attempt}-0000"}
        with caplog.at_level(logging.ERROR, logger="web.errors"):
            responses.append(await post(api, TRACK, {"t": "TRK-A"}, headers=headers))
    assert lean_runs == ["query"]
    for attempt, response in enumerate(responses):
        (error,) = response.json()["errors"]
        assert error["message"] == "Internal server error"
        assert error["extensions"] == {
            "code": "INTERNAL_SERVER_ERROR",
            "requestId": f"req-lean-{attempt}-0000",
        }
        assert "hunter2" not in response.text
    logged = [r for r in caplog.records if r.name == "web.errors"]
    assert len(logged) == 2
    for attempt, record in enumerate(logged):
        assert f"req-lean-{attempt}-0000" in record.getMessage()
        assert record.exc_info is not None  # the operator gets the traceback


async def test_limits_still_refuse_a_known_document(api: Running, lean_runs: list[str]) -> None:
    ok = await post(api, PAGE, {"n": 10}, accept=GRJ, headers=api.auth(["ACME"]))
    assert ok.status_code == 200, ok.text
    refused = await post(api, PAGE, {"n": 50}, accept=GRJ, headers=api.auth(["ACME"]))
    again = await post(api, PAGE, {"n": 10}, accept=GRJ, headers=api.auth(["ACME"]))
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["limit"] == "MAX_QUERY_COST"
    assert (again.status_code, lean_runs) == (200, ["query"])


async def test_known_subscriptions_and_get_mutations_are_still_refused(
    api: Running, lean_runs: list[str]
) -> None:
    subscription = "subscription { milestoneFeed { cursor } }"
    refused = [await post(api, subscription, accept=GRJ) for _ in range(2)]
    assert [r.status_code for r in refused] == [400, 400]
    assert "WebSocket" in refused[1].json()["errors"][0]["message"]
    several = "query A { __typename } query B { __typename }"
    unnamed = [await post(api, several, accept=GRJ) for _ in range(2)]
    assert [codes(r) for r in unnamed] == [["BAD_REQUEST"], ["BAD_REQUEST"]]
    assert lean_runs == []


async def test_metrics_and_the_operation_log_count_both_paths(
    api: Running, lean_runs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="web.operations"):
        for _ in range(2):
            await post(api, TRACK, {"t": "TRK-A"}, headers=api.auth(["ACME"]))
            await post(api, TRACK, {"t": "TRK-A"})  # anonymous: UNAUTHENTICATED
    assert lean_runs == ["query", "query", "query"]
    text = (await api.client.get("/metrics")).text
    timed = sample(text, "portal_graphql_request_duration_seconds_count", operation_type="query")
    assert timed == 4
    assert sample(text, "portal_graphql_errors_total", code="UNAUTHENTICATED") == 2
    lines = [r for r in caplog.records if r.name == "web.operations"]
    assert [getattr(r, "error_codes", None) for r in lines] == [[], ["UNAUTHENTICATED"]] * 2
    assert [getattr(r, "sub", None) is not None for r in lines] == [True, False] * 2
    assert {getattr(r, "operation_type", None) for r in lines} == {"query"}


@pytest.fixture
def view_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Requests Strawberry's HTTP view served (``GraphQLEndpoint.run``), by method."""
    return _calls(monkeypatch, GraphQLEndpoint, "run", lambda request: request.method)


@pytest.mark.parametrize(
    ("variables", "headers", "accept"),
    [
        ({"t": "TRK-A"}, "ACME", GRJ),  # answered
        ({"t": "TRK-A"}, "ACME", None),  # application/json
        ({"t": "TRK-A"}, None, GRJ),  # anonymous: UNAUTHENTICATED in the field
        ({"t": 42}, "ACME", GRJ),  # a variable of the wrong type: 400
        ({"t": "TRK-A"}, "bad token", GRJ),  # 401 with its challenge
    ],
)
async def test_a_plain_json_body_answers_as_strawberrys_view(
    api: Running,
    view_runs: list[str],
    variables: dict[str, Any],
    headers: str | None,
    accept: str | None,
) -> None:
    """A body of query and variables skips the HTTP view; the same body with a member the
    view ignores goes through it. Status, media type, body and challenge are the same."""
    sent = {"authorization": "Bearer nonsense"} if headers == "bad token" else {}
    if headers == "ACME":
        sent = api.auth(["ACME"])
    if accept is not None:
        sent["accept"] = accept
    seen = []
    for extra in ({}, {"comment": "served by the view"}, {}):
        body = {"query": TRACK, "variables": variables, **extra}
        response = await api.client.post("/graphql", json=body, headers=sent)
        seen.append((*_seen(response), response.headers.get("www-authenticate")))
    assert view_runs == ["POST"]
    assert seen[0] == seen[1] == seen[2]
