"""GraphQL over HTTP against the real app and FerretDB, in-process through httpx.

Covers what a client of the endpoint notices: status codes and media types per the
GraphQL-over-HTTP specification, authentication answers, limits, masking of internals, the
operational endpoints, CORS and the GraphiQL page.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo.asynchronous.database import AsyncDatabase

from tests.helpers import Stack, token_for
from tests.integration.http_harness import (
    GRJ,
    ORIGIN,
    TRACK,
    ExplodingPolicy,
    Running,
    codes,
    media_type,
    post,
    sample,
    seed,
    served,
    settings_for,
    start,
)
from web.consumer_lag import ConsumerLagPoller
from web.metrics import Metrics


@pytest_asyncio.fixture
async def api(stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]) -> AsyncIterator[Running]:
    await seed(mongo_db)
    settings = settings_for(
        stack, mongo_db.name, MAX_QUERY_DEPTH="6", MAX_ALIASES="4", MAX_QUERY_COST="500"
    )
    async for running in start(settings):
        yield running


# --- media types and status codes ---------------------------------------------------------


async def test_post_query_as_application_json(api: Running) -> None:
    response = await post(api, TRACK, {"t": "TRK-A"}, headers=api.auth(["ACME"]))
    assert response.status_code == 200
    assert media_type(response) == "application/json"
    body = response.json()
    assert body.keys() == {"data", "extensions"}
    assert body["data"] == {
        "shipmentByTrackingNumber": {
            "shipmentId": "SHP-A",
            "customerId": "ACME",
            "status": "IN_TRANSIT",
        }
    }
    # the sources the answer came from (test_freshness_extension.py has the details)
    assert [s["source"] for s in body["extensions"]["freshness"]["sources"]] == ["tms/us-road"]


async def test_graphql_response_json_when_the_client_accepts_it(api: Running) -> None:
    response = await post(
        api, TRACK, {"t": "TRK-A"}, accept=f"{GRJ}, application/json", headers=api.auth(["ACME"])
    )
    assert response.status_code == 200
    assert media_type(response) == GRJ
    assert response.json()["data"]["shipmentByTrackingNumber"]["shipmentId"] == "SHP-A"


async def test_validation_error_is_400_only_under_graphql_response_json(api: Running) -> None:
    strict = await post(api, "{ noSuchField }", accept=GRJ)
    assert strict.status_code == 400
    assert media_type(strict) == GRJ
    assert "data" not in strict.json()
    assert codes(strict) == ["GRAPHQL_VALIDATION_FAILED"]

    legacy = await post(api, "{ noSuchField }", accept="application/json")
    assert legacy.status_code == 200
    assert codes(legacy) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_syntax_error_and_bad_variables(api: Running) -> None:
    syntax = await post(api, "{ viewer { ", accept=GRJ)
    assert (syntax.status_code, codes(syntax)) == (400, ["GRAPHQL_VALIDATION_FAILED"])
    variables = await post(api, TRACK, {"t": 42}, accept=GRJ)
    assert (variables.status_code, codes(variables)) == (400, ["BAD_USER_INPUT"])


async def test_get_runs_queries(api: Running) -> None:
    response = await api.client.get(
        "/graphql",
        params={"query": TRACK, "variables": json.dumps({"t": "TRK-A"})},
        headers={**api.auth(["ACME"]), "accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["shipmentByTrackingNumber"]["shipmentId"] == "SHP-A"


@pytest.mark.parametrize("query", ["{ __typename }", "query Named { __typename }"])
async def test_an_empty_operation_name_is_no_operation_name(api: Running, query: str) -> None:
    """GraphQL over HTTP: "Setting the value of the operationName parameter to the empty
    string is equivalent to omitting" it (a client writing every parameter of a GET, as
    URLSearchParams does, sends ``operationName=`` for an anonymous operation). It was a 400,
    "Unknown operation named ''"; POST's JSON is read the same way, since no operation can
    be named by an empty string."""
    by_get = await api.client.get("/graphql", params={"query": query, "operationName": ""})
    by_post = await api.client.post("/graphql", json={"query": query, "operationName": ""})
    for response in (by_get, by_post):
        assert (response.status_code, response.json()["data"]) == (200, {"__typename": "Query"})
    two = await api.client.get(
        "/graphql",
        params={"query": f"{query} query B {{ __typename }}", "operationName": ""},
        headers={"accept": GRJ},
    )
    assert (two.status_code, codes(two)) == (400, ["BAD_REQUEST"])
    assert "say which one to run" in two.json()["errors"][0]["message"]


@pytest.mark.parametrize("parameter", ["variables", "extensions"])
async def test_get_names_a_query_parameter_that_is_not_json(api: Running, parameter: str) -> None:
    response = await api.client.get(
        "/graphql",
        params={"query": TRACK, parameter: "{bad"},
        headers={**api.auth(["ACME"]), "accept": "application/json"},
    )
    assert (response.status_code, codes(response)) == (400, ["BAD_REQUEST"])
    message = response.json()["errors"][0]["message"]
    assert message.startswith(f"The `{parameter}` query parameter is not valid JSON: "), message


async def test_get_refuses_mutations_with_405(api: Running) -> None:
    response = await api.client.get(
        "/graphql", params={"query": "mutation { anything }"}, headers={"accept": GRJ}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert codes(response) == ["BAD_REQUEST"]
    assert "POST" in response.json()["errors"][0]["message"]


async def test_subscriptions_over_http_point_to_websocket(api: Running) -> None:
    response = await post(api, "subscription { milestoneFeed { cursor } }", accept=GRJ)
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    assert "WebSocket" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"query": "{ viewer { subject } }"}'),
        ("application/x-www-form-urlencoded", b"query=%7B%7D"),
        ("application/json; charset=latin-1", b'{"query": "{ viewer { subject } }"}'),
    ],
)
async def test_non_json_bodies_are_415(api: Running, content_type: str, body: bytes) -> None:
    response = await api.client.post(
        "/graphql", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert codes(response) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'"a string"',
        b'{"query": 42}',
        b'{"query": "{ viewer { subject } }", "variables": [1]}',
        b"{}",
    ],
)
async def test_malformed_requests_are_400_with_a_clear_message(api: Running, body: bytes) -> None:
    response = await api.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    assert response.json()["errors"][0]["message"]


_TYPENAME = "{ __typename }"
_TYPENAME_SHA256 = hashlib.sha256(_TYPENAME.encode()).hexdigest()


@pytest.mark.parametrize("accept", [None, GRJ])
@pytest.mark.parametrize(
    ("request_data", "message"),
    [
        (
            {
                "query": _TYPENAME,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}},
            },
            "The sha256Hash does not match the query.",
        ),
        (
            {
                "query": _TYPENAME,
                "extensions": {"persistedQuery": {"version": 2, "sha256Hash": _TYPENAME_SHA256}},
            },
            "extensions.persistedQuery must be {version: 1, sha256Hash: <64 hex digits>}.",
        ),
        (
            {"query": _TYPENAME, "documentId": "sha256:" + _TYPENAME_SHA256},
            "Send either `documentId` or `query`, not both.",
        ),
    ],
)
async def test_malformed_persisted_query_requests_are_400_whatever_the_accept(
    api: Running, request_data: dict[str, Any], message: str, accept: str | None
) -> None:
    """A hash that does not match the text sent with it, a malformed ``persistedQuery`` and a
    ``documentId`` beside a ``query`` are requests no server can run, as Apollo Server and
    Router answer them: 400 under any ``Accept``, like every other BAD_REQUEST. Until
    session 19 a client accepting only ``application/json`` got 200 for them (as if its
    request had been well-formed and run), and a GET the same."""
    headers = {} if accept is None else {"accept": accept}
    response = await api.client.post("/graphql", json=request_data, headers=headers)
    assert (response.status_code, media_type(response)) == (400, accept or "application/json")
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in request_data.items()}
    by_get = await api.client.get("/graphql", params=params, headers=headers)
    assert (by_get.status_code, by_get.json()) == (400, response.json())


async def test_an_unknown_persisted_query_hash_is_200_for_application_json(api: Running) -> None:
    """Apollo's protocol: a hash the server does not know is answered 200 with
    PERSISTED_QUERY_NOT_FOUND, so the client sends the text (under
    ``application/graphql-response+json`` it is 400, which Apollo Client reads as well)."""
    unknown = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "1" * 64}}}
    for accept, status in ((None, 200), (GRJ, 400)):
        headers = {} if accept is None else {"accept": accept}
        response = await api.client.post("/graphql", json=unknown, headers=headers)
        assert (response.status_code, codes(response)) == (status, ["PERSISTED_QUERY_NOT_FOUND"])


async def test_other_methods_are_405(api: Running) -> None:
    response = await api.client.put("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_unacceptable_accept_is_406(api: Running) -> None:
    response = await post(api, "{ __typename }", accept="text/csv")
    assert response.status_code == 406
    assert media_type(response) == "application/json"


async def test_a_client_that_disconnects_mid_body_is_no_error(
    api: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A mobile client losing its network halfway through a POST is nothing the operator
    should see: no ERROR (uvicorn's "Exception in ASGI application" and its traceback) and
    no response counted as a 500, only a DEBUG line."""
    caplog.set_level(logging.DEBUG)
    async with served(api.app) as (port, finished):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: portal.test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"query": "{ viewer'
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        async with asyncio.timeout(10):
            await finished.wait()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert any("disconnected before its request body" in r.getMessage() for r in caplog.records)
    metrics = (await api.client.get("/metrics")).text
    assert not sample(metrics, "portal_http_responses_total", code="500")


async def test_oversized_body_is_413(stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    settings = settings_for(stack, mongo_db.name, MAX_QUERY_BYTES="100", MAX_BODY_BYTES="1000")
    async for api in start(settings):
        response = await post(api, "{ __typename }", {"padding": "x" * 2000})
        assert response.status_code == 413
        assert codes(response) == ["BAD_REQUEST"]


# --- authentication -----------------------------------------------------------------------


async def test_no_token_is_anonymous_and_data_fields_say_unauthenticated(api: Running) -> None:
    # ``__type``: this app's MAX_QUERY_COST (500) is below what a ``__schema`` costs (1,000)
    introspection = await post(api, '{ __type(name: "Query") { name } }')
    assert introspection.json() == {"data": {"__type": {"name": "Query"}}}

    response = await post(api, TRACK, {"t": "TRK-A"})
    assert response.status_code == 200
    assert codes(response) == ["UNAUTHENTICATED"]
    assert response.json()["data"] == {"shipmentByTrackingNumber": None}


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer "
        + jwt.encode(
            {
                "sub": "mallory",
                "iss": "portal-read-model-local",
                "aud": "portal-api",
                "exp": 4102444800,
                "customers": ["GLOBEX"],
                "roles": ["support"],
            },
            "a-different-secret-0123456789abcdef0123",
            algorithm="HS256",
        ),
    ],
)
async def test_bad_tokens_are_401_with_a_challenge(api: Running, authorization: str) -> None:
    response = await post(api, TRACK, {"t": "TRK-G"}, headers={"authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="portal"')
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert codes(response) == ["UNAUTHENTICATED"]
    assert "TRK-G" not in response.text and "SHP-G" not in response.text


async def test_expired_token_is_401(api: Running) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    expired = token_for(["ACME"], tokens=api.settings.tokens, ttl_seconds=60, issued_at=an_hour_ago)
    response = await post(
        api, TRACK, {"t": "TRK-A"}, headers={"authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert "expired" in response.json()["errors"][0]["message"]


async def test_another_customers_shipment_is_not_found(api: Running) -> None:
    response = await post(api, TRACK, {"t": "TRK-G"}, headers=api.auth(["ACME"]))
    body = response.json()
    assert body["data"] == {"shipmentByTrackingNumber": None} and "errors" not in body


# --- limits -------------------------------------------------------------------------------


async def test_depth_limit(api: Running) -> None:
    deep = (
        "{ shipments { edges { node { orders { shipments { orders { shipments { id } } } } } } } }"
    )
    response = await post(api, deep, accept=GRJ, headers=api.auth(["ACME"]))
    assert response.status_code == 400
    depth = [
        e for e in response.json()["errors"] if e["extensions"].get("limit") == "MAX_QUERY_DEPTH"
    ]
    assert depth and depth[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "limit of 6 (MAX_QUERY_DEPTH)" in depth[0]["message"]


async def test_alias_limit(api: Running) -> None:
    query = "{ " + " ".join(f"a{i}: viewer {{ subject }}" for i in range(5)) + " }"
    response = await post(api, query, accept=GRJ, headers=api.auth(["ACME"]))
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_ALIASES",
        "allowed": 4,
        "actual": 5,
    }


async def test_cost_limit_counts_page_sizes(api: Running) -> None:
    # per shipment: the node, its carrier, and its orders (a list: 20 by default) = 24
    query = (
        "query($n: Int!) { shipments(first: $n) "
        "{ edges { node { id carrier { name } orders { id } } } } }"
    )
    ok = await post(api, query, {"n": 10}, accept=GRJ, headers=api.auth(["ACME"]))
    assert ok.status_code == 200, ok.text
    refused = await post(api, query, {"n": 50}, accept=GRJ, headers=api.auth(["ACME"]))
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["extensions"]["limit"] == "MAX_QUERY_COST"
    assert "MAX_QUERY_COST" in error["message"] and "`first`" in error["message"]


async def test_query_size_limit(stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    settings = settings_for(stack, mongo_db.name, MAX_QUERY_BYTES="200")
    async for api in start(settings):
        response = await post(api, "{ __typename }" + " " * 300, accept=GRJ)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["limit"] == "MAX_QUERY_BYTES"


# --- masking ------------------------------------------------------------------------------


async def test_unexpected_errors_are_masked_with_the_request_id(api: Running) -> None:
    api.app.state.policy = ExplodingPolicy()
    response = await post(
        api, TRACK, {"t": "TRK-A"}, headers={**api.auth(["ACME"]), "x-request-id": "req-masking-1"}
    )
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-masking-1"}
    assert response.headers["x-request-id"] == "req-masking-1"
    for secret in ("hunter2", "mongodb://", "RuntimeError", "Traceback", "db-7"):
        assert secret not in response.text


async def test_database_down_answers_without_internals(stack: Stack) -> None:
    # A port that accepts and immediately closes: the driver sees a broken server.
    async def slam(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = settings_for(stack, "unused", MONGODB_URI=f"mongodb://127.0.0.1:{port}/")
    try:
        async for api in start(settings):
            ready = await api.client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert (await api.client.get("/healthz")).status_code == 200

            response = await post(api, TRACK, {"t": "TRK-A"}, headers=api.auth(["ACME"]))
            assert response.status_code == 200
            (error,) = response.json()["errors"]
            assert error["extensions"]["code"] in ("SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR")
            assert str(port) not in response.text and "127.0.0.1" not in response.text
    finally:
        server.close()
        await server.wait_closed()


# --- operations ---------------------------------------------------------------------------


async def test_healthz_and_readyz(api: Running) -> None:
    health = await api.client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await api.client.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")


async def test_metrics_report_latency_errors_and_freshness(api: Running) -> None:
    await post(api, TRACK, {"t": "TRK-A"}, headers=api.auth(["ACME"]))
    await post(api, "{ noSuchField }")
    await post(api, "{ __typename }", headers={"authorization": "Bearer nope"})
    assert (await api.client.get("/healthz")).status_code == 200
    assert (await api.client.get("/no/such/path")).status_code == 404

    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    count = sample(text, "portal_graphql_request_duration_seconds_count", operation_type="query")
    assert count is not None and count >= 2
    assert sample(text, "portal_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert sample(text, "portal_graphql_errors_total", code="UNAUTHENTICATED") == 1
    freshness = sample(text, "portal_source_freshness_seconds", source="tms/us-road")
    assert freshness is not None and 15 <= freshness < 120
    # the 5xx-ratio alert reads route="graphql": probes and stray paths are counted apart
    responses = "portal_http_responses_total"
    assert sample(text, responses, code="200", route="graphql") == 2
    assert sample(text, responses, code="401", route="graphql") == 1
    assert sample(text, responses, code="200", route="operations") == 1
    assert sample(text, responses, code="404", route="other") == 1


# --- browsers -----------------------------------------------------------------------------


async def test_cors_preflight_and_response_headers(api: Running) -> None:
    preflight = await api.client.options(
        "/graphql",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()

    response = await post(api, "{ __typename }", headers={"origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN

    stranger = await api.client.options(
        "/graphql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in stranger.headers
    other = await post(api, "{ __typename }", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_browsers_get_graphiql_with_local_assets(api: Running) -> None:
    page = await api.client.get(
        "/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert page.status_code == 200
    assert media_type(page) == "text/html"
    assert "https://" not in page.text
    for asset in re.findall(r'src="(/graphiql/static/[^"]+)"', page.text):
        served = await api.client.get(asset)
        assert served.status_code == 200, asset
        assert "javascript" in served.headers["content-type"], asset


@pytest.mark.parametrize(
    "params",
    [
        {"documentId": "sha256:" + "1" * 64},
        {"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": "1" * 64}})},
    ],
)
async def test_a_browser_opening_a_persisted_operation_gets_its_result(
    api: Running, params: dict[str, str]
) -> None:
    """A GET naming a persisted operation runs it whatever its ``Accept`` says, as one with
    ``query`` does: a browser opening such a URL (a shared link, a cached GET of Apollo's
    ``useGETForHashedQueries``) got the GraphiQL page instead of the operation's answer.
    Only a GET that names no operation at all is a visit to GraphiQL."""
    browser = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    response = await api.client.get("/graphql", params=params, headers=browser)
    assert (response.status_code, media_type(response)) == (200, "application/json")
    assert codes(response) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_request_id_is_generated_when_absent(api: Running) -> None:
    response = await api.client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


# --- consumer lag -------------------------------------------------------------------------


async def test_consumer_lag_per_partition_from_committed_offsets(
    stack: Stack, topic_names: dict[str, str]
) -> None:
    topic = topic_names["orders"]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for _ in range(5):
            await producer.send_and_wait(topic, b"x", key=b"k", partition=0)
        for _ in range(2):
            await producer.send_and_wait(topic, b"y", key=b"k", partition=1)
    finally:
        await producer.stop()
    group = f"lag-test-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 3})
    finally:
        await consumer.stop()

    metrics = Metrics()
    poller = ConsumerLagPoller(
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=group,
        topics=[topic, "no-such-topic-" + group],
        metrics=metrics,
        interval_seconds=60,
    )
    try:
        snapshot = await poller.poll_once()
    finally:
        await poller.close()
    assert snapshot is not None
    lags = {(p.topic, p.partition): (p.committed, p.lag) for p in snapshot.partitions}
    assert lags[(topic, 0)] == (3, 2)  # committed 3 of 5
    assert lags[(topic, 1)] == (None, 2)  # never committed: everything retained is unread
    assert len(lags) == 4  # the topic's four partitions; the missing topic is not created
    value = metrics.registry.get_sample_value(
        "portal_projector_consumer_lag", {"topic": topic, "partition": "0"}
    )
    assert value == 2
    assert metrics.registry.get_sample_value("portal_kafka_up") == 1


@pytest.mark.parametrize("name", [5, ["A"], {"A": 1}, True])
async def test_an_operation_name_that_is_not_a_string_is_400_saying_so(
    api: Running, name: object
) -> None:
    """It was read as a name: ``Unknown operation named "['A']".``. The words are those of
    ``variables`` and ``extensions`` of the wrong type, and of the same mistake over
    WebSocket."""
    response = await api.client.post(
        "/graphql", json={"query": "query A { __typename }", "operationName": name}
    )
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    assert response.json()["errors"][0]["message"] == (
        "The GraphQL operation's `operationName` must be a string or null, if provided."
    )
