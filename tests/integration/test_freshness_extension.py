"""``extensions.freshness`` on GraphQL responses, from the in-memory copy of the sources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from tests.helpers import Stack
from tests.integration.http_harness import (
    TRACK,
    Running,
    post,
    sample,
    settings_for,
    shipment_doc,
    start,
)

INVOICES = "{ invoices(first: 5) { edges { node { id } } } }"
BACK_AT = datetime(2030, 1, 1, 12, tzinfo=UTC)


async def seed(db: AsyncDatabase[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    await db.shipments.insert_one(shipment_doc("SHP-A", "ACME", "TRK-A"))
    await db.sources.insert_many(
        [
            {"_id": "tms/us-road", "lastAppliedAt": now - timedelta(seconds=20)},
            {
                "_id": "erp/s4-prod",
                "lastAppliedAt": now - timedelta(hours=2),
                "declared": {
                    "status": "MAINTENANCE",
                    "message": "S/4 upgrade",
                    "expectedBackAt": BACK_AT,
                    "changedAt": now - timedelta(hours=2),
                },
            },
            {"_id": "wms/dc-atl", "lastAppliedAt": now - timedelta(seconds=5)},
        ]
    )


async def _seeded_api(
    stack: Stack, db: AsyncDatabase[dict[str, Any]], refresh_seconds: str
) -> AsyncIterator[Running]:
    """The API over the seeded sources, re-reading them every ``refresh_seconds`` (``0``:
    freshness left out of responses)."""
    await seed(db)
    async for api in start(settings_for(stack, db.name, FRESHNESS_REFRESH_SECONDS=refresh_seconds)):
        yield api


async def _track_a(api: Running) -> dict[str, Any]:
    """ACME's tracking query for TRK-A, checked to have found the shipment."""
    tracked: dict[str, Any] = (
        await post(api, TRACK, {"t": "TRK-A"}, headers=api.auth(["ACME"]))
    ).json()
    assert tracked["data"]["shipmentByTrackingNumber"]["shipmentId"] == "SHP-A"
    return tracked


async def test_responses_report_the_sources_they_read_from_a_copy(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    # An hour between refreshes: only the start-up read refreshes it, scrapes included.
    async for api in _seeded_api(stack, mongo_db, refresh_seconds="3600"):
        tracked = await _track_a(api)
        freshness = tracked["extensions"]["freshness"]
        assert freshness["asOf"] is not None
        assert [s["source"] for s in freshness["sources"]] == ["tms/us-road"]
        tms = freshness["sources"][0]
        assert tms["stale"] is False and tms["status"] == "AVAILABLE"
        assert "message" not in tms and "expectedBackAt" not in tms
        assert datetime.fromisoformat(tms["lastAppliedAt"]) < datetime.now(UTC)

        finance = api.auth(["ACME"], ["viewer", "finance"])
        invoices = (await post(api, INVOICES, headers=finance)).json()
        assert invoices["data"]["invoices"]["edges"] == []
        assert invoices["extensions"]["freshness"]["sources"] == [
            {
                "source": "erp/s4-prod",
                "lastAppliedAt": invoices["extensions"]["freshness"]["sources"][0]["lastAppliedAt"],
                "stale": True,
                "status": "MAINTENANCE",
                "message": "S/4 upgrade",
                "expectedBackAt": BACK_AT.isoformat(),
            }
        ]

        # no projection read, no freshness
        plain = (await post(api, "{ __typename }", headers=api.auth(["ACME"]))).json()
        assert "freshness" not in plain.get("extensions", {})

        # a copy, not a query per request: a new declaration is not seen until a refresh
        await mongo_db.sources.update_one(
            {"_id": "tms/us-road"},
            {"$set": {"declared": {"status": "DEGRADED", "message": "EDI delays"}}},
        )
        again = (await post(api, TRACK, {"t": "TRK-A"}, headers=api.auth(["ACME"]))).json()
        assert again["extensions"]["freshness"] == freshness
        # nor by a scrape: /metrics reads the store at most once per refresh interval
        metrics = (await api.client.get("/metrics")).text
        after = (await post(api, TRACK, {"t": "TRK-A"}, headers=api.auth(["ACME"]))).json()
        assert after["extensions"]["freshness"] == freshness

    assert (
        sample(metrics, "portal_source_declared_status", source="erp/s4-prod", status="MAINTENANCE")
        == 1
    )
    assert (
        sample(metrics, "portal_source_declared_status", source="erp/s4-prod", status="AVAILABLE")
        == 0
    )
    assert (
        sample(metrics, "portal_source_declared_status", source="tms/us-road", status="AVAILABLE")
        == 1
    )
    back = sample(metrics, "portal_source_expected_back_timestamp_seconds", source="erp/s4-prod")
    assert back == BACK_AT.timestamp()
    assert (
        sample(metrics, "portal_source_expected_back_timestamp_seconds", source="wms/dc-atl")
        is None
    )


async def test_freshness_can_be_left_out(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    async for api in _seeded_api(stack, mongo_db, refresh_seconds="0"):
        assert "freshness" not in (await _track_a(api)).get("extensions", {})


async def test_a_list_refused_before_anything_was_read_reports_no_source(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    """A caller without an invoice role asking for invoices gets FORBIDDEN and no data: a
    freshness entry for the ERP there would tell the portal to show "invoices as of ..."
    over a list it may not read (as ``invoice(id:)``, refused alike, never did)."""
    async for api in _seeded_api(stack, mongo_db, refresh_seconds="3600"):
        viewer = api.auth(["ACME"], ["viewer"])
        for query in (INVOICES, '{ invoice(id: "IN-1") { id } }'):
            refused = (await post(api, query, headers=viewer)).json()
            assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
            assert "freshness" not in refused.get("extensions", {}), query
