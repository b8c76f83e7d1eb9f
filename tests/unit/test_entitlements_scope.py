"""Scopes: what viewer, finance and support callers may read, as filters and on documents."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitlements.caller import Caller
from entitlements.errors import ForbiddenError
from entitlements.policy import CustomerRule, Policy
from entitlements.scope import Scope
from readmodel.documents import WAREHOUSE_IDS, field_key
from tests.helpers import caller

POLICY = Policy(
    customers={
        "GLOBEX": CustomerRule(frozenset({"DC-ATL"}), frozenset({"regional-admin"})),
        "INITECH": CustomerRule(frozenset({"DC-LAX", "DC-SEA"})),
    }
)
CUSTOMERS = ("ACME", "GLOBEX", "INITECH", "UMBRELLA")
WAREHOUSES = ("DC-ATL", "DC-LAX", "DC-SEA", "DC-RTM")
ROLES = ("viewer", "finance", "support", "regional-admin")


def scope(*roles: str, customers: tuple[str, ...] = ("ACME",), cross: bool = False) -> Scope:
    return POLICY.scope(caller(*customers, roles=roles), cross_customer=cross)


def order(customer: str = "ACME", warehouse: str = "DC-ATL", **extra: Any) -> dict[str, Any]:
    return {"_id": "SO-1", "customerId": customer, "known": True, "warehouseId": warehouse} | extra


def summaries(**warehouses: str | None) -> dict[str, Any]:
    return {
        field_key(order_id): {"orderId": order_id, "warehouseId": warehouse}
        for order_id, warehouse in warehouses.items()
    }


def shipment(customer: str, order_ids: list[str], **warehouses: str | None) -> dict[str, Any]:
    return {
        "_id": "SH-1",
        "customerId": customer,
        "known": True,
        "orderIds": order_ids,
        "related": {"orders": summaries(**warehouses)},
    }


def invoice(
    customer: str, line_orders: list[str | None], **warehouses: str | None
) -> dict[str, Any]:
    lines = [{"description": "x", "amount": "10.00", "orderId": o} for o in line_orders]
    return {
        "_id": "INV-1",
        "customerId": customer,
        "known": True,
        "lines": lines,
        "orderIds": sorted({o for o in line_orders if o}),
        "total": "10.00",
        "related": {"orders": summaries(**warehouses)},
    }


# --- roles ------------------------------------------------------------------------------------


def test_viewer_scope() -> None:
    s = scope("viewer", customers=("ACME",))
    assert (s.customer_ids, s.cross_customer) == (frozenset({"ACME"}), False)
    assert not s.can_read_invoices and not s.can_see_amounts
    assert s.mongo_filter("orders") == {"known": True, "customerId": "ACME"}
    assert s.mongo_filter("shipments") == {"known": True, "customerId": "ACME"}


def test_several_customers_use_in() -> None:
    s = scope("viewer", customers=("UMBRELLA", "ACME"))
    assert s.mongo_filter("orders") == {
        "known": True,
        "customerId": {"$in": ["ACME", "UMBRELLA"]},
    }


def test_viewer_may_not_read_invoices() -> None:
    s = scope("viewer")
    with pytest.raises(ForbiddenError, match="invoices") as caught:
        s.mongo_filter("invoices")
    assert caught.value.code == "FORBIDDEN"
    assert not s.allows("invoices", invoice("ACME", ["SO-1"]))


def test_finance_reads_invoices_and_sees_amounts() -> None:
    s = scope("finance")
    assert s.can_read_invoices and s.can_see_amounts
    assert s.mongo_filter("invoices") == {"known": True, "customerId": "ACME"}
    assert s.allows("invoices", invoice("ACME", ["SO-1"]))


def test_invoice_readers_without_amounts_get_amounts_removed() -> None:
    policy = Policy(invoice_roles=frozenset({"finance", "clerk"}))
    s = policy.scope(caller("ACME", roles=("clerk",)))
    assert s.can_read_invoices and not s.can_see_amounts
    doc = invoice("ACME", ["SO-1"]) | {
        "subtotal": "9.00",
        "tax": "1.00",
        "amountPaid": "0.00",
        "balance": "10.00",
        "payments": [{"paymentId": "P1", "amount": "5.00"}],
    }
    shown = s.redact("invoices", doc)
    for name in ("subtotal", "tax", "total", "amountPaid", "balance"):
        assert name not in shown
    assert all("amount" not in line for line in shown["lines"])
    assert shown["payments"] == [{"paymentId": "P1"}]
    assert shown["lines"][0]["description"] == "x"
    assert doc["total"] == "10.00" and doc["lines"][0]["amount"] == "10.00"  # input untouched
    assert scope("finance").redact("invoices", doc) == doc


def test_invoice_summaries_on_orders_follow_invoice_rights() -> None:
    summary = {"invoiceId": "INV-1", "total": "10.00", "balance": "3.00", "status": "OPEN"}
    doc = order(related={"invoices": {"INV-1": summary}, "shipments": {"SH-1": {}}})
    assert "invoices" not in scope("viewer").redact("orders", doc)["related"]
    assert scope("viewer").redact("orders", doc)["related"]["shipments"] == {"SH-1": {}}
    assert scope("finance").redact("orders", doc)["related"]["invoices"] == {"INV-1": summary}
    clerk = Policy(invoice_roles=frozenset({"clerk"})).scope(caller("ACME", roles=("clerk",)))
    assert clerk.redact("orders", doc)["related"]["invoices"] == {
        "INV-1": {"invoiceId": "INV-1", "status": "OPEN"}
    }


def test_cross_customer_is_for_support_only() -> None:
    for roles in [("viewer",), ("finance",), ("viewer", "finance", "regional-admin")]:
        with pytest.raises(ForbiddenError, match="support"):
            scope(*roles, cross=True)
    s = scope("support", customers=(), cross=True)
    assert s.customer_ids is None and s.cross_customer
    assert s.mongo_filter("orders") == {"known": True}
    assert s.allows("orders", order("UMBRELLA", "DC-RTM"))
    with pytest.raises(ForbiddenError):
        s.mongo_filter("invoices")  # support alone is not finance
    assert scope("support", "finance", cross=True).mongo_filter("invoices") == {"known": True}


def test_support_without_cross_customer_keeps_its_claimed_customers() -> None:
    s = scope("support", customers=("GLOBEX",))
    assert s.customer_ids == frozenset({"GLOBEX"}) and not s.cross_customer
    assert s.mongo_filter("orders") == {"known": True, "customerId": "GLOBEX"}


def test_scope_consistency_is_enforced() -> None:
    nobody = caller("ACME", roles=())
    with pytest.raises(ValueError):
        Scope(nobody, customer_ids=None, cross_customer=False, can_read_invoices=False,
              can_see_amounts=False)  # fmt: skip
    with pytest.raises(ValueError):
        Scope(nobody, customer_ids=frozenset({"ACME"}), cross_customer=False,
              can_read_invoices=False, can_see_amounts=False,
              warehouse_limits={"GLOBEX": frozenset({"DC-ATL"})})  # fmt: skip
    with pytest.raises(ValueError):  # every customer's, yet limited
        Scope(nobody, customer_ids=None, cross_customer=True, can_read_invoices=False,
              can_see_amounts=False,
              warehouse_limits={"GLOBEX": frozenset({"DC-ATL"})})  # fmt: skip


def test_unknown_documents_are_never_served() -> None:
    s = scope("finance", customers=("ACME",))
    assert not s.allows("orders", order(known=False))
    assert not s.allows("orders", {k: v for k, v in order().items() if k != "known"})
    assert not s.allows("shipments", shipment("ACME", ["SO-1"]) | {"known": False})
    assert not s.allows("orders", order(customerId=None))


def test_shared_and_internal_collections() -> None:
    s = scope("viewer")
    assert s.mongo_filter("sources") == {} and s.allows("sources", {"_id": "erp/s4-prod"})
    with pytest.raises(ForbiddenError):
        s.mongo_filter("audit_log")
    assert not s.allows("audit_log", {"subject": "x"})
    assert scope("support").mongo_filter("audit_log") == {}
    with pytest.raises(ValueError, match="no entitlement rule"):
        s.mongo_filter("customers")
    assert not s.allows("customers", {"customerId": "ACME", "known": True})


def test_generation_collections_follow_their_base() -> None:
    s = scope("viewer", customers=("GLOBEX",))
    assert s.mongo_filter("orders__g7") == s.mongo_filter("orders")
    with pytest.raises(ForbiddenError):
        s.mongo_filter("invoices__g7")
    assert s.mongo_filter("shipments__g7") == s.mongo_filter("shipments")


# --- warehouse restrictions -------------------------------------------------------------------


def test_restricted_customer_orders_filter() -> None:
    s = scope("viewer", customers=("GLOBEX",))
    assert s.warehouse_limits == {"GLOBEX": frozenset({"DC-ATL"})}
    assert s.mongo_filter("orders") == {
        "known": True,
        "customerId": "GLOBEX",
        "warehouseId": "DC-ATL",
    }
    assert s.allows("orders", order("GLOBEX", "DC-ATL"))
    assert not s.allows("orders", order("GLOBEX", "DC-LAX"))
    assert not s.allows("orders", {k: v for k, v in order("GLOBEX").items() if k != "warehouseId"})


def test_restricted_and_unrestricted_customers_together() -> None:
    s = scope("viewer", customers=("ACME", "GLOBEX", "INITECH", "UMBRELLA"))
    assert s.mongo_filter("orders") == {
        "known": True,
        "customerId": {"$in": ["ACME", "GLOBEX", "INITECH", "UMBRELLA"]},
        "$or": [
            {"customerId": {"$in": ["ACME", "UMBRELLA"]}},
            {"customerId": "GLOBEX", "warehouseId": "DC-ATL"},
            {"customerId": "INITECH", "warehouseId": {"$in": ["DC-LAX", "DC-SEA"]}},
        ],
    }
    assert s.allows("orders", order("ACME", "DC-RTM"))
    assert s.allows("orders", order("INITECH", "DC-SEA"))
    assert not s.allows("orders", order("GLOBEX", "DC-SEA"))
    # Shipments by the warehouses the projector derives from their orders' summaries.
    assert s.mongo_filter("shipments") == {
        "known": True,
        "customerId": {"$in": ["ACME", "GLOBEX", "INITECH", "UMBRELLA"]},
        "$or": [
            {"customerId": {"$in": ["ACME", "UMBRELLA"]}},
            {
                "customerId": "GLOBEX",
                "warehouseIds": {
                    "$elemMatch": {"$in": ["DC-ATL"]},
                    "$not": {"$elemMatch": {"$nin": ["DC-ATL"]}},
                },
            },
            {
                "customerId": "INITECH",
                "warehouseIds": {
                    "$elemMatch": {"$in": ["DC-LAX", "DC-SEA"]},
                    "$not": {"$elemMatch": {"$nin": ["DC-LAX", "DC-SEA"]}},
                },
            },
        ],
    }
    # Their search documents do not follow the orders' summaries: the customers only.
    assert s.search_keys_filter("shipments") == {
        "known": True,
        "customerId": {"$in": ["ACME", "GLOBEX", "INITECH", "UMBRELLA"]},
    }
    assert s.search_keys_filter("orders") == s.mongo_filter("orders")


def test_exempt_roles_and_support_see_every_warehouse() -> None:
    for s in (
        scope("viewer", "regional-admin", customers=("GLOBEX",)),
        scope("support", customers=("GLOBEX",)),
    ):
        assert s.warehouse_limits == {}
        assert s.mongo_filter("orders") == {"known": True, "customerId": "GLOBEX"}
        assert s.allows("orders", order("GLOBEX", "DC-LAX"))
    # The exemption is per customer: regional-admin of GLOBEX is still limited at INITECH.
    s = scope("regional-admin", customers=("GLOBEX", "INITECH"))
    assert s.warehouse_limits == {"INITECH": frozenset({"DC-LAX", "DC-SEA"})}


def test_restricted_shipments_need_every_order_from_an_allowed_warehouse() -> None:
    s = scope("viewer", customers=("GLOBEX",))
    assert s.allows("shipments", shipment("GLOBEX", ["SO-1"], **{"SO-1": "DC-ATL"}))
    two = shipment("GLOBEX", ["SO-1", "SO-2"], **{"SO-1": "DC-ATL", "SO-2": "DC-ATL"})
    assert s.allows("shipments", two)
    mixed = shipment("GLOBEX", ["SO-1", "SO-2"], **{"SO-1": "DC-ATL", "SO-2": "DC-LAX"})
    assert not s.allows("shipments", mixed)
    # Fail closed while an order summary is missing or has no warehouse yet.
    assert not s.allows("shipments", shipment("GLOBEX", ["SO-1", "SO-2"], **{"SO-1": "DC-ATL"}))
    assert not s.allows("shipments", shipment("GLOBEX", ["SO-1"], **{"SO-1": None}))
    assert not s.allows("shipments", shipment("GLOBEX", []))
    # A summary the shipment does not list in orderIds still counts.
    extra = shipment("GLOBEX", ["SO-1"], **{"SO-1": "DC-ATL", "SO-9": "DC-LAX"})
    assert not s.allows("shipments", extra)
    # Ids that need escaping as map keys are matched by the id stored in the summary.
    dotted = shipment("GLOBEX", ["SO.1"], **{"SO.1": "DC-ATL"})
    assert "SO%2E1" in dotted["related"]["orders"]
    assert s.allows("shipments", dotted)
    # Unrestricted customers need no order summaries at all.
    assert scope("viewer", customers=("ACME",)).allows("shipments", shipment("ACME", []))


def test_restricted_invoices_need_every_line_attributed_to_an_allowed_order() -> None:
    s = scope("finance", customers=("GLOBEX",))
    assert s.mongo_filter("invoices") == {
        "known": True,
        "customerId": "GLOBEX",
        "warehouseIds": {
            "$elemMatch": {"$in": ["DC-ATL"]},
            "$not": {"$elemMatch": {"$nin": ["DC-ATL"]}},
        },
    }
    ok = invoice("GLOBEX", ["SO-1", "SO-2"], **{"SO-1": "DC-ATL", "SO-2": "DC-ATL"})
    assert s.allows("invoices", ok)
    assert not s.allows("invoices", invoice("GLOBEX", ["SO-1", None], **{"SO-1": "DC-ATL"}))
    other = invoice("GLOBEX", ["SO-1", "SO-2"], **{"SO-1": "DC-ATL", "SO-2": "DC-SEA"})
    assert not s.allows("invoices", other)
    assert not s.allows("invoices", invoice("GLOBEX", ["SO-1"]))
    assert not s.allows("invoices", invoice("GLOBEX", []))
    assert scope("finance", "regional-admin", customers=("GLOBEX",)).allows("invoices", other)


def test_redaction_for_restricted_customers() -> None:
    s = scope("finance", customers=("GLOBEX",))
    doc = shipment("GLOBEX", ["SO-1"], **{"SO-1": "DC-ATL", "SO-2": "DC-LAX"})
    doc["related"]["invoices"] = {"INV-1": {"invoiceId": "INV-1", "total": "1.00"}}
    shown = s.redact("shipments", doc)
    assert set(shown["related"]["orders"]) == {"SO-1"}
    assert "invoices" not in shown["related"]
    assert set(doc["related"]["orders"]) == {"SO-1", "SO-2"}  # input untouched
    unrestricted = scope("finance", customers=("ACME",)).redact(
        "shipments", doc | {"customerId": "ACME"}
    )
    assert set(unrestricted["related"]["orders"]) == {"SO-1", "SO-2"}
    assert "invoices" in unrestricted["related"]


# --- properties -------------------------------------------------------------------------------

customer_ids = st.sampled_from(CUSTOMERS)
warehouse_ids = st.one_of(st.none(), st.sampled_from(WAREHOUSES))
order_ids = st.sampled_from(("SO-1", "SO-2", "SO-3"))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": "X", "customerId": draw(customer_ids)}
    known = draw(st.sampled_from((True, False, None)))
    if known is not None:
        doc["known"] = known
    warehouse = draw(warehouse_ids)
    if warehouse is not None:
        doc["warehouseId"] = warehouse
    doc["orderIds"] = draw(st.lists(order_ids, unique=True, max_size=3))
    related = draw(st.dictionaries(order_ids, warehouse_ids, max_size=3))
    doc["related"] = {"orders": summaries(**related)}
    doc["lines"] = [
        {"amount": "1.00", "orderId": o}
        for o in draw(st.lists(st.one_of(st.none(), order_ids), max_size=3))
    ]
    return doc


callers = st.builds(
    lambda customers, roles: caller(*customers, roles=roles),
    st.frozensets(customer_ids),
    st.frozensets(st.sampled_from(ROLES)),
)
collections = st.sampled_from(("orders", "shipments", "invoices"))


@given(callers, collections, documents())
def test_documents_of_other_customers_are_never_allowed(
    who: Caller, collection: str, doc: dict[str, Any]
) -> None:
    s = POLICY.scope(who)
    if doc["customerId"] not in who.customers:
        assert not s.allows(collection, doc)


@given(callers, st.sampled_from(("shipments", "invoices")), documents(), st.lists(warehouse_ids))
def test_a_stored_warehouse_list_never_widens_what_allows_accepts(
    who: Caller, collection: str, doc: dict[str, Any], stored: list[str | None]
) -> None:
    """``allows`` judges the summaries as fetched, whatever ``warehouseIds`` claims (a
    document written before the field, or by a writer that got it wrong)."""
    s = POLICY.scope(who)
    assert s.allows(collection, doc | {WAREHOUSE_IDS: stored}) == s.allows(collection, doc)


@given(callers, documents())
def test_restricted_users_see_orders_only_from_allowed_warehouses(
    who: Caller, doc: dict[str, Any]
) -> None:
    s = POLICY.scope(who)
    rule = POLICY.customers.get(doc["customerId"])
    exempt = POLICY.is_support(who) or (rule is not None and who.roles & rule.unrestricted_roles)
    if s.allows("orders", doc) and rule is not None and not exempt:
        assert doc["warehouseId"] in rule.allowed_warehouses


# --- a customer the client names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "customers"),
    [
        (("viewer",), ("ACME",)),
        (("finance",), ("ACME", "INITECH")),
        (("viewer",), ("GLOBEX",)),  # warehouse-limited to DC-ATL
        (("support",), ("ACME",)),  # support outside a cross-customer search: its claims
    ],
)
def test_naming_a_customer_outside_the_scope_is_forbidden(
    roles: tuple[str, ...], customers: tuple[str, ...]
) -> None:
    s = scope(*roles, customers=customers)
    with pytest.raises(ForbiddenError) as refused:
        s.check_customer("UMBRELLA")
    assert str(refused.value) == "customer 'UMBRELLA' is not one of the accounts you act for"
    for mine in customers:
        s.check_customer(mine)  # one of the caller's accounts narrows, whatever its limits
    s.check_customer(None)


def test_a_customer_id_of_100_000_characters_is_quoted_cut_short() -> None:
    with pytest.raises(ForbiddenError) as refused:
        scope("viewer", customers=("ACME",)).check_customer("x" * 50_000 + "y" * 50_000)
    assert str(refused.value) == (
        f"customer {'x' * 50!r}...{'y' * 50!r} (100,000 characters) is not one of the "
        "accounts you act for"
    )


def test_a_cross_customer_scope_may_name_any_customer() -> None:
    s = scope("support", cross=True)
    for customer in (*CUSTOMERS, "NOT-A-CUSTOMER-ANYWHERE"):
        s.check_customer(customer)


def test_a_scope_narrowed_to_a_customer_reads_that_customer_alone_under_its_limits() -> None:
    s = scope("viewer", customers=("ACME", "GLOBEX"))
    globex = s.narrowed("GLOBEX")
    assert globex.customer_ids == frozenset({"GLOBEX"})
    assert globex.mongo_filter("orders") == {
        "known": True,
        "customerId": "GLOBEX",
        "warehouseId": "DC-ATL",
    }
    assert s.narrowed("ACME").mongo_filter("orders") == {"known": True, "customerId": "ACME"}
    assert s.narrowed(None) is s
    with pytest.raises(ForbiddenError):
        s.narrowed("UMBRELLA")
    support = scope("support", cross=True)
    assert support.narrowed("UMBRELLA") is support  # the read's own customerId narrows it
