"""A source in MAINTENANCE that sends data again after the time it gave is reported back
(``resolvers.freshness``): portals drop the maintenance banner while its data flows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from resolvers.freshness import source_freshness

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
DECLARED = datetime(2026, 11, 28, 21, 0, tzinfo=UTC)
BACK_AT = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)


def erp(last_event_at: datetime, **declared: Any) -> dict[str, Any]:
    return {
        "_id": "erp/s4-prod",
        "lastEventAt": last_event_at,
        "lastAppliedAt": NOW,
        "declared": {
            "status": "MAINTENANCE",
            "message": "Quarterly upgrade",
            "expectedBackAt": BACK_AT,
            "changedAt": DECLARED,
        }
        | declared,
    }


def test_data_after_the_expected_time_reports_the_source_available() -> None:
    seen = source_freshness(erp(BACK_AT + timedelta(minutes=1)), now=NOW)
    assert (seen.declared_status, seen.message, seen.expected_back_at, seen.declared_at) == (
        "AVAILABLE",
        None,
        None,
        None,
    )
    assert seen.last_event_at == BACK_AT + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("last_event_at", "declared"),
    [
        # data during the window (or at its announced end) proves nothing yet
        (BACK_AT - timedelta(hours=1), {}),
        (BACK_AT, {}),
        # a window with no end given lasts until the source says otherwise
        (BACK_AT + timedelta(hours=1), {"expectedBackAt": None}),
        # the source repeated MAINTENANCE after its time: that declaration is its newest event
        (BACK_AT + timedelta(hours=1), {"changedAt": BACK_AT + timedelta(hours=1)}),
    ],
    ids=["during", "at-the-time", "no-time-given", "declared-again"],
)
def test_a_source_is_kept_in_maintenance_until_it_is_seen_back(
    last_event_at: datetime, declared: dict[str, Any]
) -> None:
    seen = source_freshness(erp(last_event_at, **declared), now=NOW)
    assert (seen.declared_status, seen.message) == ("MAINTENANCE", "Quarterly upgrade")


def test_a_degraded_source_stays_degraded_while_its_data_flows() -> None:
    seen = source_freshness(erp(BACK_AT + timedelta(hours=1), status="DEGRADED"), now=NOW)
    assert (seen.declared_status, seen.expected_back_at) == ("DEGRADED", BACK_AT)
