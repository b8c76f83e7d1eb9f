"""The GraphQL endpoint under random and hostile requests (hypothesis), against the real app.

Whatever the body, headers, variables or document: never a 5xx, every JSON answer with
errors is GraphQL-shaped with a code on each error, and the server still answers a trivial
query afterwards.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.mint import mint_token
from tests.helpers import SECRET, Stack
from tests.integration.http_harness import seed, settings_for
from web.app import create_app
from web.settings import Settings

Doc = dict[str, Any]


class Fuzzed:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings


@pytest_asyncio.fixture
async def fuzzed(stack: Stack, mongo_db: AsyncDatabase[Doc]) -> AsyncIterator[Fuzzed]:
    await seed(mongo_db)
    app_settings = settings_for(stack, mongo_db.name)
    app = create_app(app_settings, live=False)
    async with app.router.lifespan_context(app):
        # Exceptions the app lets escape become the 500 a real server would send.
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
            yield Fuzzed(c, app_settings)


# --- strategies ---------------------------------------------------------------------------

HOSTILE_STRINGS = st.sampled_from(
    ["\ud800", "a\udfffb", "\x00", "HOO\x00LI", "9999-12-31T23:59:59-14:00", "", "🚚", "\\"]
)
STRINGS = st.one_of(st.text(max_size=30), HOSTILE_STRINGS)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    STRINGS,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(STRINGS, inner, max_size=5),
    max_leaves=25,
)

KNOWN_QUERIES = [
    "{ __typename }",
    "query($t: String!) { shipmentByTrackingNumber(trackingNumber: $t) { id status } }",
    "query($f: OrderFilterInput, $n: Int) { orders(filter: $f, first: $n) "
    "{ totalCount edges { cursor node { id status shipments { id } } } } }",
    "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id } } }",
    "query($s: String!, $c: Boolean) { searchShipments(text: $s, crossCustomer: $c) "
    "{ nodes { id } } }",
    "query($a: String) { invoices(after: $a) { nodes { id total { amount } } } }",
    "{ viewer { subject expiresAt } dataFreshness { source stale } }",
    "query A { __typename } query B { __typename }",
    "subscription { milestoneFeed { cursor } }",
    "mutation { x }",
    '{ orders(filter: {orderedAt: {from: "9999-12-31T23:59:59-14:00"}}) { totalCount } }',
    '{ order(id: "\\u0000") { id } }',
    'fragment F on Order { id ...F } { order(id: "1") { ...F } }',
]
FIELD_NAMES = st.sampled_from(
    ["order", "shipment", "invoice", "orders", "viewer", "__typename", "_entities", "nope"]
)


@st.composite
def generated_documents(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["fields", "deep", "fragments", "junk"]))
    if kind == "fields":
        count = draw(st.integers(1, 400))
        name = draw(FIELD_NAMES)
        return "{" + " ".join(f'{name}(id:"{i}"){{id}}' for i in range(count)) + "}"
    if kind == "deep":
        depth = draw(st.integers(1, 600))
        return "{ " + "viewer { " * depth + "subject" + " }" * depth + " }"
    if kind == "fragments":
        count = draw(st.integers(1, 120))
        spreads = " ".join(f"...F{i}" for i in range(count))
        fragments = " ".join(f"fragment F{i} on Order {{ id ...F{i + 1} }}" for i in range(count))
        return (
            f'{{ order(id: "1") {{ {spreads} }} }} {fragments} fragment F{count} on Order {{ id }}'
        )
    return draw(st.text(max_size=200))


DOCUMENTS = st.one_of(st.sampled_from(KNOWN_QUERIES), generated_documents(), STRINGS)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "APPLICATION/JSON",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "text/plain",
            "multipart/form-data; boundary=x",
        ]
    ),
    st.text(max_size=40),
)
ACCEPTS = st.one_of(
    st.none(),
    st.sampled_from(
        ["application/json", "application/graphql-response+json", "*/*", "text/csv", "*/*;q=x"]
    ),
    st.text(max_size=40),
)


def _token(settings: Settings, claims: dict[str, Any]) -> str:
    base = {
        "sub": "alice",
        "iss": settings.tokens.issuer,
        "aud": settings.tokens.audience,
        "exp": 4_102_444_800,
        "customers": ["ACME"],
        "roles": ["viewer"],
    }
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


AUTHORIZATIONS = st.one_of(
    st.none(),
    st.just("valid"),
    st.text(max_size=60),
    st.builds(lambda s: f"Bearer {s}", st.text(max_size=60)),
    st.dictionaries(
        st.sampled_from(["exp", "sub", "customers", "roles", "iat", "nbf", "aud"]),
        JSON_VALUES,
        min_size=1,
        max_size=3,
    ),
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["request", "request", "request", "mutated", "raw", "deep"]))
    if kind == "raw":
        return draw(st.binary(max_size=300))
    if kind == "deep":
        depth = draw(st.integers(100, 5_000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        closer = "]" if opener == "[" else "}"
        return (
            b'{"query": "{ __typename }", "variables": {"v": '
            + (opener * depth).encode()
            + (closer * depth).encode()
            + b"}}"
        )
    request: dict[str, Any] = {"query": draw(st.one_of(DOCUMENTS, JSON_VALUES))}
    if draw(st.booleans()):
        request["variables"] = draw(
            st.one_of(
                st.dictionaries(st.sampled_from(["t", "f", "n", "r", "s", "a"]), JSON_VALUES),
                JSON_VALUES,
            )
        )
    if draw(st.booleans()):
        request["operationName"] = draw(st.one_of(st.sampled_from(["A", "B", "C"]), JSON_VALUES))
    encoded = json.dumps(request).encode()
    if kind == "mutated" and encoded:
        position = draw(st.integers(0, len(encoded) - 1))
        byte = draw(st.binary(min_size=1, max_size=3))
        encoded = encoded[:position] + byte + encoded[position + 1 :]
    return encoded


# --- the property -------------------------------------------------------------------------


def _assert_graphql_shaped(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    media = response.headers.get("content-type", "").split(";")[0]
    if media == "text/html":
        return  # the GraphiQL page
    assert media in ("application/json", "application/graphql-response+json"), media
    body = response.json()
    assert isinstance(body, dict) and ("data" in body or "errors" in body), body
    for error in body.get("errors") or []:
        assert isinstance(error["message"], str) and error["message"], error
        assert isinstance(error["extensions"]["code"], str), error
    if response.status_code >= 400:
        assert body.get("errors"), body


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET"]),
    body=bodies(),
    content_type=CONTENT_TYPES,
    accept=ACCEPTS,
    authorization=AUTHORIZATIONS,
    variables=st.one_of(st.none(), st.text(max_size=50), JSON_VALUES.map(json.dumps)),
    document=DOCUMENTS,
)
async def test_no_request_gets_a_5xx_or_an_uncoded_error(
    fuzzed: Fuzzed,
    method: str,
    body: bytes,
    content_type: str,
    accept: str | None,
    authorization: Any,
    variables: str | None,
    document: str,
) -> None:
    headers: dict[str, str] = {}
    if accept is not None:
        headers["accept"] = accept
    if authorization == "valid":
        headers["authorization"] = "Bearer " + mint_token(
            fuzzed.settings.tokens,
            subject="alice",
            customers=["ACME"],
            roles=["viewer"],
            ttl_seconds=600,
        )
    elif isinstance(authorization, dict):
        headers["authorization"] = "Bearer " + _token(fuzzed.settings, authorization)
    elif authorization is not None:
        headers["authorization"] = authorization
    headers = {k: v for k, v in headers.items() if v.isascii() and "\n" not in v and "\r" not in v}
    if method == "POST":
        headers["content-type"] = content_type if content_type.isascii() else "application/json"
        response = await fuzzed.client.post("/graphql", content=body, headers=headers)
    else:
        params = {"query": document}
        if variables is not None:
            params["variables"] = variables
        # Encoded by hand: a lone surrogate becomes bytes that are not UTF-8, as a hostile
        # client may send them.
        query = "&".join(
            f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in params.items()
        )
        response = await fuzzed.client.get(f"/graphql?{query}", headers=headers)
    _assert_graphql_shaped(response)

    trivial = await fuzzed.client.post("/graphql", json={"query": "{ __typename }"})
    assert trivial.json() == {"data": {"__typename": "Query"}}
