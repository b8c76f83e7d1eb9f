"""Who receives a notice: the caller's entitlements first, then the subscription's filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from entitlements.caller import Caller
from entitlements.policy import CustomerRule, Policy
from graph.subscriptions import MilestoneSelection
from projections.changes import ShipmentChange
from web.live.feed import visible


def _caller(customers: set[str], roles: set[str] | None = None) -> Caller:
    return Caller(
        subject="alice",
        customers=frozenset(customers),
        roles=frozenset(roles or {"viewer"}),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


def _change(customer: str = "ACME", **overrides: object) -> ShipmentChange:
    fields: dict[str, object] = {
        "notice_id": "tms/us-road|ms-1",
        "shipment_id": "SH-1",
        "customer_id": customer,
        "tracking_number": "1Z999AA10123456784",
        "status": "IN_TRANSIT",
        "milestone": None,
        "rev": 3,
        "projected_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    fields.update(overrides)
    return ShipmentChange(**fields)  # type: ignore[arg-type]


def test_a_caller_sees_notices_of_their_own_customers_only() -> None:
    scope = Policy().scope(_caller({"ACME", "INITECH"}))
    assert visible(scope, _change("ACME"))
    assert visible(scope, _change("INITECH"))
    assert not visible(scope, _change("GLOBEX"))


def test_support_staff_are_not_cross_customer_in_subscriptions() -> None:
    scope = Policy().scope(_caller({"ACME"}, {"support"}))
    assert not visible(scope, _change("GLOBEX"))


def test_warehouse_restricted_users_see_no_live_notices() -> None:
    """A notice does not say which warehouse the shipment's orders ship from: fail closed."""
    policy = Policy(customers={"GLOBEX": CustomerRule(allowed_warehouses=frozenset({"DC-ATL"}))})
    assert not visible(policy.scope(_caller({"GLOBEX"})), _change("GLOBEX"))
    assert visible(policy.scope(_caller({"GLOBEX"}, {"support"})), _change("GLOBEX"))


def test_filters_narrow_by_shipment_customer_status_and_tracking_number() -> None:
    change = _change("ACME")
    assert MilestoneSelection().selects(change)
    assert MilestoneSelection(shipment_id="SH-1").selects(change)
    assert not MilestoneSelection(shipment_id="SH-2").selects(change)
    assert MilestoneSelection(customer_id="ACME").selects(change)
    assert not MilestoneSelection(customer_id="GLOBEX").selects(change)
    assert MilestoneSelection(statuses=frozenset({"IN_TRANSIT", "DELIVERED"})).selects(change)
    assert not MilestoneSelection(statuses=frozenset({"DELIVERED"})).selects(change)
    assert MilestoneSelection(tracking_number=" 1z999aa10123456784 ").selects(change)
    assert not MilestoneSelection(tracking_number="1Z0").selects(change)
    assert not MilestoneSelection(tracking_number="1Z0").selects(_change(tracking_number=None))
