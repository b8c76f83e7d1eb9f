# ruff: noqa
"""TEMPORARY probe 2 (not committed)."""

from __future__ import annotations
import json, time
from typing import Any
from pymongo.asynchronous.database import AsyncDatabase
from tests.helpers import Stack
from tests.integration.http_harness import seed, settings_for, start


async def test_probe2(stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    await seed(mongo_db)
    async for api in start(settings_for(stack, mongo_db.name)):
        J = {"content-type": "application/json", **api.auth(["ACME"])}

        async def go(label: str, body: Any) -> None:
            t = time.perf_counter()
            r = await api.client.post("/graphql", content=json.dumps(body).encode(), headers=J)
            print(
                f"\n### {label}: {r.status_code} {(time.perf_counter() - t) * 1000:.0f}ms\n    {r.text[:300]}"
            )

        S = "query($s: String!) { searchShipments(text: $s) { nodes { id trackingNumber } } }"
        for s in [
            "((",
            "\\\\",
            "a[",
            "*a",
            "(?i)",
            "\\Q",
            "a{2,}",
            "^T",
            "T$",
            "TRK-A",
            "trk-a",
            "RK-",
            "\\d",
            "[[:alpha:]]",
            "(?=x)",
            ".+",
            "\t\t",
        ]:
            await go(f"search {s!r}", {"query": S, "variables": {"s": s}})
        R = "query($r: String!) { orderByReference(customerReference: $r) { id } }"
        for s in [".*", "(", "\\", "[", "PO.*"]:
            await go(f"orderByReference {s!r}", {"query": R, "variables": {"r": s}})
        T = "query($t: String!) { shipmentByTrackingNumber(trackingNumber: $t) { id } }"
        for s in [".*", "TRK.*", "trk-a", "TRK-G"]:
            await go(f"tracking {s!r}", {"query": T, "variables": {"t": s}})
        frags = (
            " ".join(
                f"fragment F{i} on Query {{ a{i}: __typename ...F{i + 1} }}" for i in range(50)
            )
            + " fragment F50 on Query { __typename }"
        )
        for i in range(3):
            await go(f"chain 50 fragments #{i}", {"query": "{ ...F0 } " + frags + " " * i})
        deep_alias = (
            "{ "
            + " ".join(f"a{i}: __typename @skip(if: false) @include(if: true)" for i in range(40))
            + " }"
        )
        await go("40 aliases with directives", {"query": deep_alias})
        await go("operationName number", {"query": "query A { __typename }", "operationName": 5})
        await go("operationName list", {"query": "query A { __typename }", "operationName": ["A"]})
        await go(
            "operationName empty w/ two ops",
            {"query": "query A { __typename } query B { __typename }", "operationName": ""},
        )
