"""Who receives a notice: the caller's entitlements first, then the subscription's filters."""

from __future__ import annotations

from datetime import UTC, datetime

from entitlements.policy import CustomerRule, Policy
from graph.subscriptions import MilestoneSelection
from readmodel.changes import ShipmentChange
from readmodel.links import order_warehouses
from tests.helpers import caller
from web.live.feed import visible


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
    scope = Policy().scope(caller("ACME", "INITECH"))
    assert visible(scope, _change("ACME"))
    assert visible(scope, _change("INITECH"))
    assert not visible(scope, _change("GLOBEX"))


def test_support_staff_are_not_cross_customer_in_subscriptions() -> None:
    scope = Policy().scope(caller("ACME", roles=("support",)))
    assert not visible(scope, _change("GLOBEX"))


def test_warehouse_restricted_users_see_notices_of_their_warehouses_only() -> None:
    policy = Policy(customers={"GLOBEX": CustomerRule(allowed_warehouses=frozenset({"DC-ATL"}))})
    restricted = policy.scope(caller("GLOBEX"))
    support = policy.scope(caller("GLOBEX", roles=("support",)))

    atlanta = _change("GLOBEX", order_warehouses={"SO-1": "DC-ATL"})
    reno = _change("GLOBEX", order_warehouses={"SO-2": "DC-RNO"})
    both = _change("GLOBEX", order_warehouses={"SO-1": "DC-ATL", "SO-2": "DC-RNO"})
    summary_not_arrived = _change("GLOBEX", order_warehouses={"SO-3": None})
    no_orders = _change("GLOBEX")

    assert visible(restricted, atlanta)
    assert not visible(restricted, reno)
    assert not visible(restricted, both)  # every order must be from an allowed warehouse
    assert not visible(restricted, summary_not_arrived)  # unknown fails closed
    assert not visible(restricted, no_orders)
    assert all(visible(support, c) for c in (atlanta, reno, both, summary_not_arrived))


def test_order_warehouses_survive_the_changes_topic() -> None:
    change = _change("GLOBEX", order_warehouses={"SO-1": "DC-ATL", "SO-3": None})
    assert ShipmentChange.decode(change.encode()) == change


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
    # as a label prints it, or as someone pasted it with a no-break space and an en dash
    assert MilestoneSelection(tracking_number="1Z 999 AA1 01 2345 6784").selects(change)
    assert MilestoneSelection(tracking_number="1z-999-aa1\u00a001\u20132345-6784").selects(change)
    assert not MilestoneSelection(tracking_number="1Z0").selects(change)
    assert not MilestoneSelection(tracking_number="1Z0").selects(_change(tracking_number=None))


def test_a_notice_names_every_order_of_the_shipment_with_its_warehouse_if_known() -> None:
    shipment = {
        "orderIds": ["SO-1", "SO-2"],
        "related": {"orders": {"SO-1": {"orderId": "SO-1", "warehouseId": "DC-ATL"}}},
    }
    assert order_warehouses(shipment) == {"SO-1": "DC-ATL", "SO-2": None}
    assert order_warehouses({}) == {}


def test_a_notice_sent_without_its_orders_warehouses_is_hidden_from_warehouse_limited_users() -> (
    None
):
    """A shipment of so many orders that its notice went without their warehouses: every
    order is from the caller's allowed warehouse, but the notice can no longer show it, so
    it fails closed for warehouse-limited users; others still get it."""
    policy = Policy(customers={"GLOBEX": CustomerRule(allowed_warehouses=frozenset({"DC-ATL"}))})
    orders = {f"SO-{n:07d}": "DC-ATL" for n in range(30_000)}
    sent = _change("GLOBEX", order_warehouses=orders).sendable()
    assert sent is not None
    abridged = ShipmentChange.decode(sent[1])

    assert abridged.abridged
    assert not visible(policy.scope(caller("GLOBEX")), abridged)
    assert visible(policy.scope(caller("GLOBEX", roles=("support",))), abridged)
    assert visible(Policy().scope(caller("GLOBEX")), abridged)  # no warehouse rule
