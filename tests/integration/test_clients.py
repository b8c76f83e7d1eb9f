"""Relay and Apollo clients against the live API, with the real toolchains from npm.

``relay-compiler`` compiles the portal operations in ``clients/relay`` against the exported
``graph/schema.graphql`` and persists them; ``@apollo/generate-persisted-query-manifest``
builds a manifest from ``clients/apollo``; ``python -m web`` loads both
(``PERSISTED_OPERATIONS_FILE``) and serves them to a role that may run only those; Apollo
Client with its persisted-queries link runs a query by hash after a miss. The toolchains are
installed by ``scripts/install`` (``clients/package-lock.json``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from pymongo.asynchronous.database import AsyncDatabase

from graph.global_ids import encode
from tests.helpers import token_for
from tests.integration.api_harness import REPO, ApiProcess, SharedApis
from tests.integration.clients_harness import CLIENTS, run, tool

GRJ = "application/graphql-response+json"
APP = ["app"]  # a role the packaged policy limits to persisted operations


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Relay persist output and the Apollo manifest, built now from the sources."""
    out = tmp_path_factory.mktemp("clients")
    (out / "__generated__").mkdir()
    relay_file = out / "relay-persisted.json"
    relay_file.write_text("{}")
    relay_config = {
        "src": str(CLIENTS / "relay" / "src"),
        "schema": str(REPO / "graph" / "schema.graphql"),
        "language": "javascript",
        "artifactDirectory": str(out / "__generated__"),
        "persistConfig": {"file": str(relay_file), "algorithm": "MD5"},
    }
    (out / "relay.config.json").write_text(json.dumps(relay_config))
    run([str(tool("relay-compiler")), "relay.config.json"], out)
    apollo_file = out / "apollo-manifest.json"
    apollo_config = {
        "documents": [str(CLIENTS / "apollo" / "*.graphql")],
        "output": str(apollo_file),
    }
    (out / "pq.config.json").write_text(json.dumps(apollo_config))
    run([str(tool("generate-persisted-query-manifest")), "--config", "pq.config.json"], out)
    return {"relay": relay_file, "apollo": apollo_file}


def relay_ops(manifests: Mapping[str, Path]) -> dict[str, str]:
    """Relay's persisted operations by operation name -> id."""
    persisted: dict[str, str] = json.loads(manifests["relay"].read_text())
    return {text.split("(")[0].split()[1]: op_id for op_id, text in persisted.items()}


def apollo_ops(manifests: Mapping[str, Path]) -> dict[str, dict[str, str]]:
    manifest = json.loads(manifests["apollo"].read_text())
    assert manifest["format"] == "apollo-persisted-query-manifest"
    return {op["name"]: op for op in manifest["operations"]}


async def _seed(db: AsyncDatabase[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    base = {"customerId": "ACME", "known": True, "rev": 1, "updatedAt": now, "related": {}}
    await db.orders.insert_many(
        [
            {**base, "_id": f"SO-{n}", "orderedAt": now - timedelta(hours=n), "lines": []}
            for n in range(1, 4)
        ]
    )
    milestone = {
        "source": "tms/us-road",
        "milestoneId": "m1",
        "status": "PICKED_UP",
        "occurredAt": now - timedelta(hours=2),
    }
    await db.shipments.insert_one(
        {
            **base,
            "_id": "SH-1",
            "trackingNumber": "TRK-1",
            "status": "PICKED_UP",
            "milestones": [milestone],
            "plannedPickupAt": now,
        }
    )


@pytest_asyncio.fixture(scope="module")
async def api(
    shared_apis: SharedApis,
    module_db: AsyncDatabase[dict[str, Any]],
    manifests: dict[str, Path],
) -> ApiProcess:
    """One API for the module's tests: they only read the seeded data, and the one operation
    a test registers (Apollo's automatic persisted query) is its own."""
    await _seed(module_db)
    files = f"{manifests['relay']},{manifests['apollo']}"
    return await shared_apis.get({"PERSISTED_OPERATIONS_FILE": files})


async def _post(
    api: ApiProcess, body: Mapping[str, Any], roles: list[str] | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token_for(['ACME'], roles)}", "accept": GRJ}
    async with httpx.AsyncClient() as client:
        return await client.post(f"{api.url}/graphql", json=dict(body), headers=headers)


def _codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


async def test_relay_persisted_operations_run_for_an_app_role(
    api: ApiProcess, manifests: dict[str, Path]
) -> None:
    ops = relay_ops(manifests)
    assert set(ops) >= {"portalShipmentQuery", "portalOrdersQuery", "portalShipmentRefetchQuery"}

    shipment = await _post(
        api,
        {"documentId": ops["portalShipmentQuery"], "variables": {"trackingNumber": "TRK-1"}},
        APP,
    )
    assert shipment.status_code == 200, shipment.text
    found = shipment.json()["data"]["shipmentByTrackingNumber"]
    assert found["id"] == encode("shipments", "SH-1") and found["shipmentId"] == "SH-1"
    assert [m["milestoneId"] for m in found["milestones"]] == ["m1"]

    # @connection pagination: two pages of the orders list.
    first = await _post(
        api, {"documentId": ops["portalOrdersQuery"], "variables": {"count": 2}}, APP
    )
    orders = first.json()["data"]["orders"]
    assert [e["node"]["orderId"] for e in orders["edges"]] == ["SO-1", "SO-2"]
    assert orders["pageInfo"]["hasNextPage"] is True
    page = {"count": 2, "cursor": orders["pageInfo"]["endCursor"]}
    second = await _post(
        api, {"documentId": ops["portalOrdersPaginationQuery"], "variables": page}, APP
    )
    assert [e["node"]["orderId"] for e in second.json()["data"]["orders"]["edges"]] == ["SO-3"]

    # The refetch Relay generated for @refetchable goes through node(id:).
    refetch = await _post(
        api,
        {"documentId": ops["portalShipmentRefetchQuery"], "variables": {"id": found["id"]}},
        APP,
    )
    node = refetch.json()["data"]["node"]
    assert node == {
        "__typename": "Shipment",
        "id": found["id"],
        "trackingNumber": "TRK-1",
        "status": "PICKED_UP",
    }
    # Not another customer's: the same refetch for a customer without it reads null.
    other = {"authorization": f"Bearer {token_for(['GLOBEX'], APP)}", "accept": GRJ}
    async with httpx.AsyncClient() as client:
        hidden = await client.post(
            f"{api.url}/graphql",
            json={
                "documentId": ops["portalShipmentRefetchQuery"],
                "variables": {"id": found["id"]},
            },
            headers=other,
        )
    assert hidden.json()["data"] == {"node": None}


async def test_apollo_manifest_runs_by_document_id_and_by_hash(
    api: ApiProcess, manifests: dict[str, Path]
) -> None:
    op = apollo_ops(manifests)["ShipmentWithMilestones"]
    variables = {"trackingNumber": "TRK-1"}
    by_id = await _post(api, {"documentId": op["id"], "variables": variables}, APP)
    by_prefixed_id = await _post(
        api, {"documentId": f"sha256:{op['id']}", "variables": variables}, APP
    )
    by_hash = await _post(
        api,
        {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": op["id"]}},
            "variables": variables,
        },
        APP,
    )
    for response in (by_id, by_prefixed_id, by_hash):
        assert response.status_code == 200, response.text
        assert response.json()["data"]["shipmentByTrackingNumber"]["shipmentId"] == "SH-1"
    # GET, as Apollo sends hashed queries with useGETForHashedQueries.
    async with httpx.AsyncClient() as client:
        got = await client.get(
            f"{api.url}/graphql",
            params={"documentId": op["id"], "variables": json.dumps(variables)},
            headers={"authorization": f"Bearer {token_for(['ACME'], APP)}"},
        )
    assert got.json()["data"]["shipmentByTrackingNumber"]["shipmentId"] == "SH-1"


async def test_only_listed_operations_for_an_app_role_free_form_for_explorers(
    api: ApiProcess, manifests: dict[str, Path]
) -> None:
    own = {"query": "{ orders(first: 1) { nodes { orderId } } }"}
    refused = await _post(api, own, APP)
    assert (refused.status_code, _codes(refused)) == (400, ["PERSISTED_QUERY_REQUIRED"])
    assert "data" not in refused.json()
    # Viewers (GraphiQL users) may still explore free-form.
    allowed = await _post(api, own, ["viewer"])
    assert allowed.json()["data"] == {"orders": {"nodes": [{"orderId": "SO-1"}]}}
    # A listed operation sent as text is the same operation.
    op = apollo_ops(manifests)["ShipmentWithMilestones"]
    listed = await _post(api, {"query": op["body"], "variables": {"trackingNumber": "TRK-1"}}, APP)
    assert listed.json()["data"]["shipmentByTrackingNumber"]["shipmentId"] == "SH-1"
    unknown = await _post(api, {"documentId": "0" * 32}, APP)
    assert (unknown.status_code, _codes(unknown)) == (400, ["PERSISTED_QUERY_NOT_FOUND"])


def _apollo(api: ApiProcess, roles: list[str], operation: Path, variables: dict[str, Any]) -> Any:
    command = [
        "node",
        str(CLIENTS / "apollo-run.mjs"),
        f"{api.url}/graphql",
        token_for(["ACME"], roles),
        str(operation),
        json.dumps(variables),
    ]
    return json.loads(run(command, CLIENTS))


async def test_apollo_client_registers_a_hash_after_a_miss_then_sends_the_hash_alone(
    api: ApiProcess, tmp_path: Path
) -> None:
    operation = tmp_path / "unlisted.graphql"
    operation.write_text('query Unlisted { shipment(id: "SH-1") { shipmentId status } }\n')
    ran = await asyncio.to_thread(_apollo, api, ["viewer"], operation, {})
    expected = {"shipment": {"__typename": "Shipment", "shipmentId": "SH-1", "status": "PICKED_UP"}}
    assert [r["data"] for r in ran["results"]] == [expected, expected]
    shapes = [(r["hasQuery"], r["codes"]) for r in ran["requests"]]
    assert shapes == [
        (False, ["PERSISTED_QUERY_NOT_FOUND"]),  # first run: the server does not know it
        (True, []),  # the link retries with the text, which the server remembers
        (False, []),  # second run, new client: the hash alone is enough
    ]


async def test_apollo_client_of_an_app_role_runs_a_listed_operation_by_hash(
    api: ApiProcess,
) -> None:
    ran = await asyncio.to_thread(
        _apollo,
        api,
        APP,
        CLIENTS / "apollo" / "shipment-with-milestones.graphql",
        {"trackingNumber": "TRK-1"},
    )
    assert [r["data"]["shipmentByTrackingNumber"]["shipmentId"] for r in ran["results"]] == [
        "SH-1",
        "SH-1",
    ]
    assert [(r["hasQuery"], r["codes"]) for r in ran["requests"]] == [(False, []), (False, [])]


async def test_websocket_subscriptions_follow_the_same_rules(api: ApiProcess) -> None:
    url = api.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"Authorization": f"Bearer {token_for(['ACME'], APP)}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        async with asyncio.timeout(10):
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = 'subscription { shipmentUpdates(shipmentId: "SH-1") { cursor } }'
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            refused = json.loads(await ws.recv())
            await ws.send(
                json.dumps({"id": "2", "type": "subscribe", "payload": {"documentId": "nope"}})
            )
            unknown = json.loads(await ws.recv())
    assert refused["type"] == "error" and refused["id"] == "1"
    assert [e["extensions"]["code"] for e in refused["payload"]] == ["PERSISTED_QUERY_REQUIRED"]
    assert [e["extensions"]["code"] for e in unknown["payload"]] == ["PERSISTED_QUERY_NOT_FOUND"]
