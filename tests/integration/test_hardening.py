"""Requests that stalled the API, crashed it into a plain 500 or were answered wrongly (issue
12), each sent as the attacker or careless client sent it, against the real app and FerretDB.

Every refusal must be GraphQL-shaped (``{"errors": [{"message", "extensions": {"code"}}]}``)
with the right status and code; nothing may hold the event loop for long.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Hashable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import graphql
import httpx
import jwt
import pytest
import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.caller import Caller
from entitlements.policy import Policy
from graph.global_ids import encode
from readmodel.documents import EntityKind
from resolvers.audit import MongoAuditSink
from resolvers.readers import Readers
from tests.helpers import SECRET, Stack, token_for
from tests.integration.http_harness import (
    GRJ,
    TRACK,
    Running,
    codes,
    post,
    seed,
    settings_for,
    start,
)
from tests.integration.world_harness import invoice
from web import document_cache
from web.admission import Lane
from web.document_cache import count_selections
from web.limits import STORE_SCAN_COST

T = TypeVar("T")
Doc = dict[str, Any]
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { orderId } } }"


@pytest_asyncio.fixture
async def api(stack: Stack, mongo_db: AsyncDatabase[Doc]) -> AsyncIterator[Running]:
    await seed(mongo_db)
    async for running in start(settings_for(stack, mongo_db.name)):
        yield running


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) <= {"data", "errors", "extensions"}, body
    (error,) = body["errors"]
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def assert_rate_limited(refused: httpx.Response, limit: str, allowed: int) -> None:
    """A 429 naming ``limit`` and what it allows, asking the client to retry in a second."""
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert error_of(refused)["extensions"] == {
        "code": "RATE_LIMITED",
        "limit": limit,
        "allowed": allowed,
        "retryAfter": 1,
    }


@contextlib.contextmanager
def holding(lane: Lane, clients: list[Hashable]) -> Iterator[None]:
    """Places in ``lane`` held for ``clients`` (one place per entry), as if their earlier
    requests were still running; given back on leaving."""
    for client in clients:
        lane.enter(client)
    try:
        yield
    finally:
        for client in clients:
            lane.leave(client)


async def raw_post(
    api: Running, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await api.client.post(
        "/graphql", content=body, headers={"content-type": "application/json", **(headers or {})}
    )


def order_doc(order_id: str, customer: str = "ACME") -> Doc:
    return {
        "_id": order_id,
        "customerId": customer,
        "known": True,
        "rev": 1,
        "status": "RELEASED",
        "orderedAt": datetime.now(UTC),
        "related": {},
    }


# --- 1. documents that hold the event loop ------------------------------------------------


def distinct_fields(count: int, start: int = 0) -> str:
    return "{" + " ".join(f'order(id:"{start + i}"){{id}}' for i in range(count)) + "}"


@pytest.fixture
def validated_here(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The selection counts of the documents parsed and validated in this process, i.e. on
    the API's event loop (the validation pool's workers run in other processes, which this
    does not patch). Whether a document holds the loop is a question of where it is checked,
    not of a stopwatch on a shared machine."""
    seen: list[int] = []
    validate = document_cache.validate_document

    def recording(schema: Any, document: Any, rules: Any, max_errors: int) -> Any:
        seen.append(count_selections(document))
        return validate(schema, document, rules, max_errors)

    monkeypatch.setattr(document_cache, "validate_document", recording)
    return seen


@pytest.fixture
def parsed_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts parsed in this process (on the API's event loop), as ``validated_here``."""
    seen: list[str] = []

    def recording(query: str, **options: Any) -> Any:
        seen.append(query)
        return graphql.parse(query, **options)

    monkeypatch.setattr(document_cache, "parse", recording)
    return seen


async def test_a_document_of_850_fields_is_refused_before_validation(
    api: Running, validated_here: list[int]
) -> None:
    response = await post(api, distinct_fields(850), accept=GRJ)
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] in ("MAX_QUERY_TOKENS", "MAX_QUERY_FIELDS")
    assert validated_here == []


async def test_limits_on_tokens_and_selections_name_their_setting(api: Running) -> None:
    tokens = await post(api, "{ " + "__typename " * 1_200 + "}", accept=GRJ)
    assert (tokens.status_code, error_of(tokens)["extensions"]["limit"]) == (
        400,
        "MAX_QUERY_TOKENS",
    )
    fields = await post(api, distinct_fields(51), accept=GRJ)
    assert error_of(fields)["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_QUERY_FIELDS",
        "allowed": 100,
        "actual": 102,
    }


def doubling_fragments(count: int, last: str = "id") -> str:
    """``count`` fragments, each spreading the next twice: about ``3 * count`` selections
    written, ``2 ** (count + 1)`` once the spreads are expanded."""
    body = " ".join(
        f"fragment F{i} on Order {{ id ...F{i + 1} ...F{i + 1} }}" for i in range(count - 1)
    )
    return f'{{ order(id: "SO-1") {{ ...F0 }} }} {body} fragment F{count - 1} on Order {{ {last} }}'


async def test_fragments_spreading_each_other_are_refused_for_what_they_expand_to(
    api: Running,
) -> None:
    # 33 fragments each spreading the next twice: 99 selections written (within
    # MAX_QUERY_FIELDS), 2^34 - 1 asked for. The last fragment also asks for a field Order
    # does not have: had validation run, its error would be in the answer too.
    response = await post(api, doubling_fragments(33, last="id notAField"), accept=GRJ)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "message": "The query has 21474836479 selections (fields, fragment spreads and "
            "inline fragments) once its fragment spreads are expanded, more than the limit of "
            "1000 (MAX_QUERY_EXPANDED_FIELDS): a fragment counts as many times as it is spread.",
            "extensions": {
                "code": "QUERY_TOO_COMPLEX",
                "limit": "MAX_QUERY_EXPANDED_FIELDS",
                "allowed": 1_000,
                "actual": 21_474_836_479,
            },
        }
    ]


async def test_the_expanded_count_is_screened_on_the_event_loop_too(
    stack: Stack, mongo_db: AsyncDatabase[Doc], validated_here: list[int]
) -> None:
    # 4 doubling fragments are few enough tokens to be checked on the event loop, not in a
    # worker; 31 selections asked for, over a limit of 30
    await seed(mongo_db)
    settings = settings_for(stack, mongo_db.name, MAX_QUERY_EXPANDED_FIELDS="30")
    async for running in start(settings):
        small = doubling_fragments(4)
        assert document_cache.estimated_tokens(small) <= document_cache.INLINE_TOKENS
        response = await post(running, small, accept=GRJ)
        assert error_of(response)["extensions"] == {
            "code": "QUERY_TOO_COMPLEX",
            "limit": "MAX_QUERY_EXPANDED_FIELDS",
            "allowed": 30,
            "actual": 31,
        }
        assert validated_here == []  # refused by the screen: never validated
        within = await post(running, doubling_fragments(3), accept=GRJ)
        assert within.status_code == 200, within.text
        assert validated_here == [9]


async def test_three_worst_documents_within_the_limits_do_not_stall_a_trivial_query(
    api: Running, validated_here: list[int], parsed_here: list[str]
) -> None:
    # 50 fields (100 selections) with distinct arguments: each pair conflicts, validation's
    # worst case; new texts each time, so the document cache never helps. Three clients (each
    # has DOCUMENT_CHECK_PER_CLIENT, 1, place in the worker's lane), so all three are checked.
    async def attack(n: int) -> httpx.Response:
        token = token_for(["C1"], subject=f"attacker-{n}", tokens=api.settings.tokens)
        return await post(
            api,
            distinct_fields(50, start=1_000 * n),
            accept=GRJ,
            headers={"authorization": f"Bearer {token}"},
        )

    await attack(9)  # warm: the first hand-off waits for the worker process to be ready
    attacks = asyncio.gather(*(attack(n) for n in range(3)))
    trivial = await post(api, "{ __typename }")
    refused = await attacks
    assert trivial.json() == {"data": {"__typename": "Query"}}
    answers = [
        (r.status_code, frozenset(e["extensions"]["code"] for e in r.json()["errors"]))
        for r in refused
    ]
    # fields of one name with different arguments: refused by validation, in a worker process
    assert answers == [(400, frozenset({"GRAPHQL_VALIDATION_FAILED"}))] * 3
    # none of the attackers' documents was parsed or validated on the event loop: the whole
    # check ran in the worker, which gave back a verdict; only the trivial one ran here
    assert validated_here == [1]
    assert parsed_here == ["{ __typename }"]


def unknown_fields(count: int, tag: str) -> str:
    """A new text of ``count`` selections, 3 tokens each (past ``INLINE_TOKENS`` from 22 on:
    checked in a worker, not on the event loop)."""
    return "{ " + " ".join(f"{tag}{i}: __typename" for i in range(count)) + " }"


async def test_a_large_new_document_is_validated_in_a_worker_with_located_errors(
    api: Running,
) -> None:
    fields = " ".join(f"zz{i}" for i in range(40))
    response = await post(
        api,
        f'{{\n  shipmentByTrackingNumber(trackingNumber: "TRK-A") {{\n    {fields}\n  }}\n}}',
        accept=GRJ,
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    # MAX_VALIDATION_ERRORS (10), then graphql-core's note that it stopped there
    assert len(errors) == 11
    assert errors[0]["message"] == "Cannot query field 'zz0' on type 'Shipment'."
    assert errors[0]["locations"] == [{"line": 3, "column": 5}]
    assert errors[1]["locations"] == [{"line": 3, "column": 9}]
    assert errors[-1]["message"].startswith("Too many validation errors")
    assert {e["extensions"]["code"] for e in errors} == {"GRAPHQL_VALIDATION_FAILED"}


async def test_a_client_with_too_many_new_documents_being_checked_gets_429(
    api: Running,
) -> None:
    lane = api.app.state.validation_pool.lane
    client = ("address", "127.0.0.1")  # httpx's in-process transport
    # as if this client's earlier documents were still being checked
    with holding(lane, [client] * lane.per_client):
        refused = await post(api, unknown_fields(30, "a"), accept=GRJ)
        assert_rate_limited(refused, "DOCUMENT_CHECK_PER_CLIENT", allowed=1)
        assert error_of(refused)["message"].startswith(
            "1 new query document from this client is already being checked "
            "(the limit, DOCUMENT_CHECK_PER_CLIENT); retry after 1 s"
        )
        # a signed caller is another client, counted by its token's subject
        other = await post(api, unknown_fields(30, "b"), accept=GRJ, headers=api.auth(["ACME"]))
        assert other.status_code == 200
        # texts already checked, and small ones, never wait for the lane
        assert (await post(api, "{ __typename }")).status_code == 200
        assert (await post(api, "{ x: __typename y: __typename }")).status_code == 200
    again = await post(api, unknown_fields(30, "a"), accept=GRJ)
    assert again.status_code == 200, again.text


async def test_when_the_lane_is_full_every_new_large_document_gets_429(api: Running) -> None:
    lane = api.app.state.validation_pool.lane
    with holding(lane, [("address", f"10.0.0.{n}") for n in range(lane.total)]):
        refused = await post(api, unknown_fields(30, "c"), accept="application/json")
        assert refused.status_code == 429  # an HTTP-level refusal, whatever the media type
        extensions = error_of(refused)["extensions"]
        assert (extensions["code"], extensions["limit"]) == ("RATE_LIMITED", "DOCUMENT_CHECK_QUEUE")
        assert "no-store" in refused.headers["cache-control"]
    assert lane.in_use == 0


async def test_a_validation_worker_that_died_is_replaced_without_failing_a_request(
    api: Running,
) -> None:
    pool = api.app.state.validation_pool
    assert (await post(api, unknown_fields(30, "d"), accept=GRJ)).status_code == 200
    (dying,) = pool.worker_pids()
    os.kill(dying, signal.SIGKILL)  # as if by the OOM killer
    for _ in range(100):
        if dying not in pool.worker_pids():
            break  # the pool has noticed
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the pool did not notice its worker's death within 5 s")
    after = await post(api, unknown_fields(30, "e"), accept=GRJ)
    assert after.status_code == 200, after.text
    assert after.json()["data"]["e0"] == "Query"
    assert pool.lane.in_use == 0


async def test_a_client_with_too_many_requests_running_gets_429(api: Running) -> None:
    in_flight = api.app.state.endpoint.in_flight
    alice = api.auth(["ACME"])  # subject "alice"
    # as if alice had that many requests running in this process
    with holding(in_flight, [("subject", "alice")] * in_flight.per_client):
        refused = await post(api, TRACK, {"t": "TRK-A"}, headers=alice)
        assert_rate_limited(refused, "MAX_REQUESTS_PER_CLIENT", allowed=16)
        # anyone else is served: another subject, or an anonymous client
        bob_token = token_for(["ACME"], tokens=api.settings.tokens, subject="bob", ttl_seconds=60)
        bob = {"authorization": f"Bearer {bob_token}"}
        served = await post(api, TRACK, {"t": "TRK-A"}, headers=bob)
        assert served.json()["data"]["shipmentByTrackingNumber"]["shipmentId"] == "SHP-A"
        assert (await post(api, "{ __typename }")).status_code == 200
    assert (await post(api, TRACK, {"t": "TRK-A"}, headers=alice)).status_code == 200
    assert in_flight.in_use == 0


async def test_a_process_running_its_limit_of_requests_refuses_the_next_with_429(
    api: Running,
) -> None:
    in_flight = api.app.state.endpoint.in_flight
    with holding(in_flight, [("subject", f"user-{n}") for n in range(in_flight.total)]):
        refused = await post(api, "{ __typename }", accept="application/json")
        assert_rate_limited(refused, "MAX_REQUESTS_IN_FLIGHT", allowed=512)
    assert (await post(api, "{ __typename }")).status_code == 200


# --- 2. _entities priced as one list --------------------------------------------------------


async def test_five_hundred_representations_are_refused_up_front(api: Running) -> None:
    representations = [{"__typename": "Order", "id": str(i)} for i in range(500)]
    response = await post(api, ENTITIES, {"r": representations}, accept=GRJ)
    assert response.status_code == 400
    limits = {e["extensions"]["limit"]: e["extensions"] for e in response.json()["errors"]}
    assert limits["MAX_ENTITY_REPRESENTATIONS"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_ENTITY_REPRESENTATIONS",
        "allowed": 100,
        "actual": 500,
    }
    # one refusal, not an error per representation: nothing was resolved
    assert len(response.content) < 2_000


async def test_five_thousand_representations_are_refused_before_they_are_read(
    api: Running,
) -> None:
    """5,000 representations hold 15,001 values: more than ``MAX_VARIABLE_VALUES``, refused
    before graphql-core coerces any of them (and before they are counted as lookups)."""
    representations = [{"__typename": "Order", "id": str(i)} for i in range(5_000)]
    response = await post(api, ENTITIES, {"r": representations}, accept=GRJ)
    assert response.status_code == 400
    assert error_of(response)["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_VARIABLE_VALUES",
        "allowed": 2_000,
    }
    # one refusal, not an error per representation: nothing was resolved
    assert len(response.content) < 2_000


async def test_aliased_root_lists_are_refused_for_their_store_reads(api: Running) -> None:
    """Each root list reads the store, and one whose filter matches nothing reads on through
    the customer's list (29 of them took 2 s for 100,000 orders): each costs
    ``STORE_SCAN_COST``, so 20 of them, within every other limit, are over the cost limit."""
    lists = " ".join(
        f'a{n}: orders(first: 1, filter: {{warehouseId: "NOPE{n}"}}) {{ nodes {{ id }} }}'
        for n in range(20)
    )
    response = await post(api, f"{{ {lists} }}", accept=GRJ)
    assert response.status_code == 400
    assert error_of(response)["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "MAX_QUERY_COST",
        "allowed": 5_000,
        "actual": 20 * (STORE_SCAN_COST + 2),  # and the list and its nodes, 1 each
    }


async def test_representations_count_in_the_cost(api: Running) -> None:
    query = (
        "query($r: [_Any!]!) { _entities(representations: $r) "
        "{ ... on Shipment { id orders { id shipments { id } } } } }"
    )
    representations = [{"__typename": "Shipment", "id": f"S{i}"} for i in range(100)]
    response = await post(api, query, {"r": representations}, accept=GRJ)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["limit"] == "MAX_QUERY_COST"
    assert error["extensions"]["actual"] > 5_000  # 100 x (1 + 20 x (1 + 20))


# --- 3. id batches over 101 ----------------------------------------------------------------


@pytest.mark.parametrize("count", [150, 1_000])
async def test_entities_returns_every_existing_order(
    stack: Stack, mongo_db: AsyncDatabase[Doc], count: int
) -> None:
    await mongo_db.orders.insert_many([order_doc(f"SO-{i:04d}") for i in range(count)])
    settings = settings_for(
        stack,
        mongo_db.name,
        MAX_ENTITY_REPRESENTATIONS=str(count),
        MAX_VARIABLE_VALUES=str(3 * count + 1),
    )
    async for api in start(settings):
        representations = [{"__typename": "Order", "id": f"SO-{i:04d}"} for i in range(count)]
        response = await post(api, ENTITIES, {"r": representations}, headers=api.auth(["ACME"]))
        body = response.json()
        assert "errors" not in body, body["errors"][:3]
        assert [e and e["orderId"] for e in body["data"]["_entities"]] == [
            r["id"] for r in representations
        ]


@pytest.mark.parametrize("kind", ["orders", "shipments", "invoices"])
@pytest.mark.parametrize("count", [150, 1_000])
async def test_every_dataloader_returns_every_match(
    mongo_db: AsyncDatabase[Doc], kind: EntityKind, count: int
) -> None:
    ids = [f"{kind[:2].upper()}-{i:04d}" for i in range(count)]
    await mongo_db[kind].insert_many([order_doc(i) for i in ids])  # the loader reads ids
    caller = Caller(
        subject="alice",
        customers=frozenset({"ACME"}),
        roles=frozenset({"viewer", "finance"}),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    readers = Readers(mongo_db, Policy(), caller, MongoAuditSink(mongo_db, "audit"))
    loaded = await readers.loader(kind).load_many([*ids, "missing"])
    assert [doc and doc["_id"] for doc in loaded] == [*ids, None]
    fresh = Readers(mongo_db, Policy(), caller, MongoAuditSink(mongo_db, "audit"))
    batch = await fresh.load_many(kind, [*ids, "missing", ids[0]])
    assert [doc and doc["_id"] for doc in batch] == [*ids, None, ids[0]]


async def test_a_batch_read_at_once_is_kept_by_the_request_dataloader(
    mongo_db: AsyncDatabase[Doc],
) -> None:
    """``Readers.load_many`` reads a new batch itself; the DataLoader then answers its ids
    (and its misses) without reading, and a batch it holds part of goes through it."""
    ids = [f"SO-{i:04d}" for i in range(3)]
    await mongo_db.orders.insert_many([order_doc(i) for i in ids])
    caller = Caller(
        subject="alice",
        customers=frozenset({"ACME"}),
        roles=frozenset({"viewer"}),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    readers = Readers(mongo_db, Policy(), caller, MongoAuditSink(mongo_db, "audit"))
    first = await readers.load_many("orders", [ids[0], ids[1], "missing"])
    assert [doc and doc["_id"] for doc in first] == [ids[0], ids[1], None]
    await mongo_db.orders.delete_many({})  # what is read from now on would be missing
    assert (await readers.load("orders", ids[1]) or {}).get("_id") == ids[1]
    assert await readers.load("orders", "missing") is None
    again = await readers.load_many("orders", [ids[0], ids[2]])
    assert [doc and doc["_id"] for doc in again] == [ids[0], None]


async def test_a_shipment_with_150_orders_lists_them_all(
    stack: Stack, mongo_db: AsyncDatabase[Doc]
) -> None:
    ids = [f"SO-{i:04d}" for i in range(150)]
    await mongo_db.orders.insert_many([order_doc(i) for i in ids])
    await seed(mongo_db)
    await mongo_db.shipments.update_one({"_id": "SHP-A"}, {"$set": {"orderIds": ids}})
    async for api in start(settings_for(stack, mongo_db.name, MAX_QUERY_COST="100000")):
        response = await post(
            api, '{ shipment(id: "SHP-A") { orders { orderId } } }', headers=api.auth(["ACME"])
        )
        assert [o["orderId"] for o in response.json()["data"]["shipment"]["orders"]] == ids


# --- 4. plain-text 500s and dropped connections ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"query": "query($t: String!) { __typename }", "variables": {"t": "\xff"}}', "UTF-8"),
        (
            b'{"query": "{ __typename }", "variables": {"v": '
            + b"[" * 3_000
            + b"]" * 3_000
            + b"}}",
            "nested too deeply",
        ),
        (b'{"query": "{ __typename }", "variables": {"n": ' + b"9" * 5_000 + b"}}", "digits"),
    ],
    ids=["invalid-utf8", "nested-3000", "int-5000-digits"],
)
async def test_bodies_that_crashed_the_parser_are_400(api: Running, body: bytes, says: str) -> None:
    response = await raw_post(api, body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert says in error["message"]
    assert (await post(api, "{ __typename }")).status_code == 200


async def test_a_signed_token_whose_exp_is_out_of_range_is_401(api: Running) -> None:
    token = jwt.encode(
        {
            "sub": "alice",
            "iss": api.settings.tokens.issuer,
            "aud": api.settings.tokens.audience,
            "exp": 10**12,
            "customers": ["ACME"],
            "roles": ["viewer"],
        },
        SECRET,
        algorithm="HS256",
    )
    response = await post(api, TRACK, {"t": "TRK-A"}, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
    error = error_of(response)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "exp" in error["message"]


NESTED_PAGES = (
    "query($n: Int) { orders(first: $n) { edges { node { shipments { orders { shipments { "
    "orders { shipments { orders { shipments { orders { orderId } } } } } } } } } } } }"
)


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        (
            "{ orders(first: 18446744073709551616) { totalCount } }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("query($n: Int) { orders(first: $n) { totalCount } }", {"n": 2**64}, "BAD_USER_INPUT"),
        (NESTED_PAGES, {"n": 2**31 - 1}, "QUERY_TOO_COMPLEX"),
    ],
    ids=["literal 2^64", "variable 2^64", "cost beyond 2^64"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_integers_beyond_64_bits_are_refused_with_a_code_not_a_500(
    api: Running, query: str, variables: dict[str, Any] | None, code: str, method: str
) -> None:
    """A page of 2^64 items (a literal, or a variable: GET's parameters and bodies the lean
    path does not take are parsed by ``json``, which keeps it an int), or nested lists under
    2^31 - 1 whose cost is beyond 2^64: the cost estimate read such numbers and its refusal
    echoed them, which orjson cannot write (HTTP 500). Each is refused, 400 with its code."""
    headers = {"accept": GRJ, **api.auth(["ACME"])}
    if method == "GET":
        params = {"query": query, "variables": json.dumps(variables or {})}
        response = await api.client.get("/graphql", params=params, headers=headers)
    else:
        response = await post(api, query, variables, headers=headers)
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert {e["extensions"]["code"] for e in errors} == {code}
    assert all(e["extensions"].get("actual", 0) < 2**53 for e in errors)


@pytest.mark.parametrize(
    ("argument", "decoded"),
    [
        ("after", b"[" * 100_000 + b"]" * 100_000),
        ("before", b'{"i":' * 100_000 + b'"x"' + b"}" * 100_000),
    ],
    ids=["nested arrays", "nested objects"],
)
async def test_a_cursor_nested_deeper_than_json_parses_is_bad_user_input(
    api: Running, argument: str, decoded: bytes
) -> None:
    """A made-up page cursor of JSON nested 100,000 deep made the parser raise RecursionError:
    an internal error. It is refused as every cursor this API did not issue is."""
    cursor = base64.urlsafe_b64encode(decoded).decode()
    page = "first" if argument == "after" else "last"
    query = f"query($c: String) {{ shipments({page}: 1, {argument}: $c) {{ totalCount }} }}"
    response = await post(api, query, {"c": cursor}, headers=api.auth(["ACME"]))
    assert response.status_code == 200
    error = error_of(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == f"{argument}: not a cursor issued by this connection"


# --- 5. client mistakes reported as server faults -------------------------------------------


async def test_a_lone_surrogate_in_the_query_text(api: Running) -> None:
    response = await raw_post(api, b'{"query": "{ __typename \\ud800 }"}', {"accept": GRJ})
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "\\ud800" in error["message"] and "Unicode" in error["message"]


async def test_a_lone_surrogate_in_a_variable(api: Running) -> None:
    body = json.dumps({"query": TRACK, "variables": {"t": "TRK-\ud800"}}).encode()
    response = await raw_post(api, body, {"accept": GRJ, **api.auth(["ACME"])})
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$t" in error["message"] and "surrogate" in error["message"]


async def test_nul_in_a_literal_or_a_variable_is_bad_user_input(api: Running) -> None:
    literal = await post(
        api,
        '{ orders(filter: {customerId: "HOO\\u0000LI"}) { totalCount } }',
        accept=GRJ,
        headers=api.auth(["ACME"]),
    )
    assert literal.status_code == 400
    assert codes(literal) == ["BAD_USER_INPUT"]
    assert "NUL" in literal.json()["errors"][0]["message"]

    variable = await post(
        api,
        "query($f: OrderFilterInput) { orders(filter: $f) { totalCount } }",
        {"f": {"customerId": "HOO\u0000LI"}},
        accept=GRJ,
        headers=api.auth(["ACME"]),
    )
    assert variable.status_code == 400
    assert codes(variable) == ["BAD_USER_INPUT"]
    assert "$f" in variable.json()["errors"][0]["message"]


async def test_a_time_beyond_year_9999_in_utc_is_bad_user_input(api: Running) -> None:
    response = await post(
        api,
        '{ orders(filter: {orderedAt: {from: "9999-12-31T23:59:59-14:00"}}) { totalCount } }',
        headers=api.auth(["ACME"]),
    )
    assert codes(response) == ["BAD_USER_INPUT"]
    assert "9999-12-31T23:59:59-14:00" in response.json()["errors"][0]["message"]


async def test_unusable_representations_are_bad_user_input_one_by_one(
    api: Running, mongo_db: AsyncDatabase[Doc]
) -> None:
    await mongo_db.orders.insert_one(order_doc("SO-OK"))
    representations: list[Any] = [
        {"__typename": "Order", "id": "SO-OK", "extra": 1},
        {"__typename": "Nope", "id": "SO-OK"},
        {"__typename": "Order"},
        "not an object",
        {"__typename": "Order", "id": "SO-OK", "orderId": "SO-OK"},
        {"__typename": "Order", "id": "SO-OK"},
        {"__typename": "Order", "orderId": "SO-OK"},  # the schema's other key
    ]
    response = await post(api, ENTITIES, {"r": representations}, headers=api.auth(["ACME"]))
    body = response.json()
    found = {"orderId": "SO-OK"}
    assert body["data"]["_entities"] == [None, None, None, None, None, found, found]
    by_index = {e["path"][1]: e for e in body["errors"]}
    assert sorted(by_index) == [0, 1, 2, 3, 4]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
    assert "extra" in by_index[0]["message"]
    assert "Nope" in by_index[1]["message"]
    assert "id" in by_index[2]["message"]
    assert "exactly one of id and orderId" in by_index[4]["message"]


# --- 6. spec and protocol gaps --------------------------------------------------------------


async def test_two_operations_without_operation_name_are_refused(api: Running) -> None:
    document = "query A { __typename } query B { __schema { queryType { name } } }"
    refused = await post(api, document, accept=GRJ)
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "operationName" in error["message"]

    chosen = await api.client.post(
        "/graphql", json={"query": document, "operationName": "B"}, headers={"accept": GRJ}
    )
    assert chosen.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_media_types_are_case_insensitive(api: Running) -> None:
    response = await raw_post(
        api, b'{"query": "{ __typename }"}', {"content-type": "APPLICATION/JSON; Charset=UTF-8"}
    )
    assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})


@pytest.mark.parametrize(
    ("expired_ago", "status"), [(timedelta(seconds=10), 200), (timedelta(hours=1), 401)]
)
async def test_a_token_is_accepted_up_to_its_leeway_and_refused_after_it_alike(
    api: Running, expired_ago: timedelta, status: int
) -> None:
    issued_at = datetime.now(UTC) - expired_ago - timedelta(seconds=60)
    token = token_for(["ACME"], tokens=api.settings.tokens, ttl_seconds=60, issued_at=issued_at)
    response = await post(api, TRACK, {"t": "TRK-A"}, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == status
    if status == 200:
        assert response.json()["data"] == {
            "shipmentByTrackingNumber": {
                "shipmentId": "SHP-A",
                "customerId": "ACME",
                "status": "IN_TRANSIT",
            }
        }
    else:
        assert codes(response) == ["UNAUTHENTICATED"]


# --- 7. headers -----------------------------------------------------------------------------


async def test_customer_data_is_never_stored_by_a_shared_cache(api: Running) -> None:
    responses = [
        await post(api, TRACK, {"t": "TRK-A"}, headers=api.auth(["ACME"])),
        await api.client.get(
            "/graphql",
            params={"query": TRACK, "variables": json.dumps({"t": "TRK-A"})},
            headers={**api.auth(["ACME"]), "accept": "application/json"},
        ),
        await post(api, TRACK, {"t": "TRK-A"}, headers={"authorization": "Bearer nope"}),
        await raw_post(api, b"{not json"),
    ]
    for response in responses:
        assert response.headers["cache-control"] == "private, no-store", response.request
        assert "authorization" in response.headers["vary"].lower(), response.request
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_graphiql_page_allows_only_its_own_origin(api: Running) -> None:
    page = await api.client.get("/graphql", headers={"accept": "text/html"})
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    asset = await api.client.get("/graphiql/static/vendor/graphiql/graphiql.min.js")
    assert asset.headers["x-content-type-options"] == "nosniff"


async def test_an_id_refused_in_nodes_or_entities_is_refused_at_its_index_only(
    api: Running, mongo_db: AsyncDatabase[Doc]
) -> None:
    """``nodes`` and ``_entities`` are non-null lists: a refusal of the whole field would
    null every sibling field and a gateway's whole query. An id the caller's roles do not
    cover (an invoice, for a viewer) or that is not a global id is refused at its index."""
    await mongo_db.orders.insert_one(order_doc("SO-OK"))
    await mongo_db.invoices.insert_one(invoice("IN-1", "ACME", number="INV-1"))
    order, invoice_id = encode("orders", "SO-OK"), encode("invoices", "IN-1")
    viewer = api.auth(["ACME"], ["viewer"])

    nodes = await post(
        api,
        "query($ids: [ID!]!) { viewer { subject } nodes(ids: $ids) { id } }",
        {"ids": [order, invoice_id, "SO-OK"]},
        headers=viewer,
    )
    entities = await post(
        api,
        ENTITIES,
        {"r": [{"__typename": "Order", "id": "SO-OK"}, {"__typename": "Invoice", "id": "IN-1"}]},
        headers=viewer,
    )

    body = nodes.json()
    assert body["data"] == {"viewer": {"subject": "alice"}, "nodes": [{"id": order}, None, None]}
    assert {tuple(e["path"]): e["extensions"]["code"] for e in body["errors"]} == {
        ("nodes", 1): "FORBIDDEN",
        ("nodes", 2): "BAD_USER_INPUT",
    }
    body = entities.json()
    assert body["data"]["_entities"] == [{"orderId": "SO-OK"}, None]
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["_entities", 1], "FORBIDDEN")
    ]
