"""What one caller may read: the filter every query is AND-ed with, and the same rule on a document.

A ``Scope`` is built by ``Policy.scope`` for one caller and one request. Readers AND
``mongo_filter(collection)`` into every query, then check each fetched document with
``allows`` (defence in depth, and the only place for rules a filter cannot express) and pass
it through ``redact`` before it leaves the resolver.

Warehouse restrictions
----------------------
A customer in the policy may limit its users to some ship-from warehouses. For those users:

* an **order** is visible when its ``warehouseId`` (the copy of ``shipFrom.warehouseId``) is
  allowed; the filter expresses this exactly;
* a **shipment** is visible when it names at least one order and *every* order it names
  (``orderIds`` and the summaries under ``related.orders``) has a summary whose
  ``warehouseId`` is allowed;
* an **invoice** is visible when every one of its lines names an order and every order the
  invoice names is, by its summary, from an allowed warehouse. Lines that cannot be attributed
  to an order (storage, account-level charges) would disclose other warehouses' business, so
  such invoices stay hidden.

The last two rules need the order summaries' warehouses, which a FerretDB-friendly filter
cannot reach inside the ``related.orders`` map. For them ``mongo_filter`` narrows by customer
only and ``filter_is_complete`` is False: the reader must drop what ``allows`` rejects (and
over-fetch when paginating). Everything unknown fails closed: a shipment whose order
summaries have not arrived, or lack a warehouse, is hidden until they do.

Support staff (the policy's support roles) and roles a customer exempts are not restricted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from entitlements.caller import Caller
from entitlements.errors import ForbiddenError
from readmodel.documents import AUDIT_LOG, INVOICES, ORDERS, READ_POINTER, SHIPMENTS, SOURCES
from readmodel.links import order_warehouses

ENTITY_KINDS: Final = frozenset({ORDERS, SHIPMENTS, INVOICES})
#: Collections every authenticated caller may read whole: nothing in them belongs to a customer.
SHARED_KINDS: Final = frozenset({SOURCES, READ_POINTER})

#: Invoice fields that carry money, hidden from callers who may not see charge amounts.
INVOICE_AMOUNT_FIELDS: Final = ("subtotal", "tax", "total", "amountPaid", "balance")
INVOICE_SUMMARY_AMOUNT_FIELDS: Final = ("total", "balance")


def base_collection(name: str) -> str:
    """The logical collection of a physical one: ``orders__g2`` is ``orders``.

    Readers may hand over the generation-suffixed name they query; the rules are the same.
    """
    return name.partition("__")[0]


def _empty_limits() -> Mapping[str, frozenset[str]]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Scope:
    """The entitlements of one caller for one request; pure, cheap, safe to share."""

    caller: Caller
    #: None = every customer; only for support staff in a cross-customer search.
    customer_ids: frozenset[str] | None
    cross_customer: bool
    can_read_invoices: bool
    can_see_amounts: bool
    #: Customers whose documents this caller sees only from some warehouses, with those
    #: warehouses. Customers absent here are unrestricted for this caller.
    warehouse_limits: Mapping[str, frozenset[str]] = field(
        default_factory=_empty_limits, hash=False
    )
    #: Whether the caller holds one of the policy's support roles (audit log access).
    is_support: bool = False

    def __post_init__(self) -> None:
        if self.cross_customer != (self.customer_ids is None):
            raise ValueError("a scope covers every customer exactly when it is cross-customer")
        if self.customer_ids is not None and not self.warehouse_limits.keys() <= self.customer_ids:
            raise ValueError("warehouse limits name a customer outside the scope")
        object.__setattr__(self, "warehouse_limits", MappingProxyType(dict(self.warehouse_limits)))

    # --- queries ------------------------------------------------------------------------

    def check_customer(self, customer_id: str | None) -> None:
        """Refuse a read narrowed to a customer this scope does not name (``ForbiddenError``).

        The one rule for a ``customerId`` a client names, on lists, search, lookups and the
        live feed alike: it must be one of the accounts the caller acts for, or the caller is
        told so rather than served an empty answer. Decided from the scope alone, before any
        read, so the answer is the same whether that customer exists or not. A cross-customer
        scope (support staff searching every customer) names no list: any customer narrows
        it. A customer the caller acts for stays subject to its warehouse limits.
        """
        if customer_id is None or self.customer_ids is None:
            return
        if customer_id not in self.customer_ids:
            raise ForbiddenError(f"customer {customer_id!r} is not one of the accounts you act for")

    def mongo_filter(self, collection: str) -> dict[str, Any]:
        """The fragment every query on ``collection`` must be AND-ed with.

        Top-level scalar equality is used whenever a set has one member: indexes serve it,
        and the readers recognise it when they pick a page's ordered index. Raises
        ``ForbiddenError`` rather than returning a filter that matches nothing, so a caller
        who may not read invoices is told so instead of seeing an empty list.
        """
        kind = base_collection(collection)
        if kind in SHARED_KINDS:
            return {}
        if kind == AUDIT_LOG:
            if not self.is_support:
                raise ForbiddenError("only support staff may read the audit log")
            return {}
        if kind not in ENTITY_KINDS:
            raise ValueError(f"no entitlement rule for collection {collection!r}")
        if kind == INVOICES and not self.can_read_invoices:
            raise ForbiddenError("your roles do not allow reading invoices")

        query: dict[str, Any] = {"known": True}
        if self.customer_ids is None:
            return query
        query["customerId"] = _equal_or_in(self.customer_ids)
        if kind != ORDERS or not self.warehouse_limits:
            return query

        branches: list[dict[str, Any]] = []
        unrestricted = self.customer_ids - self.warehouse_limits.keys()
        if unrestricted:
            branches.append({"customerId": _equal_or_in(unrestricted)})
        for customer, warehouses in sorted(self.warehouse_limits.items()):
            branches.append({"customerId": customer, "warehouseId": _equal_or_in(warehouses)})
        if len(branches) == 1:
            query.update(branches[0])
        else:
            query["$or"] = branches
        return query

    def filter_is_complete(self, collection: str) -> bool:
        """Whether ``mongo_filter`` alone decides visibility on ``collection``.

        When False the filter is only a necessary condition and the reader must drop
        documents ``allows`` rejects (see the module docstring for why).
        """
        kind = base_collection(collection)
        return not (kind in (SHIPMENTS, INVOICES) and self.warehouse_limits)

    def allows(self, collection: str, doc: Mapping[str, Any]) -> bool:
        """The same rule as ``mongo_filter``, checked on a fetched document, plus the rules
        a filter cannot express. Never raises on a malformed document: it is just not shown.
        """
        kind = base_collection(collection)
        if kind in SHARED_KINDS:
            return True
        if kind == AUDIT_LOG:
            return self.is_support
        if kind not in ENTITY_KINDS:
            return False
        if kind == INVOICES and not self.can_read_invoices:
            return False
        if doc.get("known") is not True:
            return False
        customer = doc.get("customerId")
        if not isinstance(customer, str):
            return False
        if self.customer_ids is not None and customer not in self.customer_ids:
            return False
        allowed = self.warehouse_limits.get(customer)
        if allowed is None:
            return True
        if kind == ORDERS:
            return _is_member(doc.get("warehouseId"), allowed)
        if kind == SHIPMENTS:
            return _orders_all_from(doc, allowed)
        return _invoice_attributable(doc, allowed)

    def redact(self, collection: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of an allowed ``doc`` without the fields this caller may not see.

        * no invoice reader: the ``related.invoices`` summaries go;
        * no amount viewer: money fields of invoices and of invoice summaries go (absent, not
          zeroed, so nobody mistakes a hidden amount for 0.00);
        * warehouse-restricted customer: order summaries from other warehouses go, and so do
          invoice summaries (a summary cannot tell whether its invoice is attributable).
        """
        kind = base_collection(collection)
        out = dict(doc)
        if kind not in ENTITY_KINDS:
            return out
        customer = doc.get("customerId")
        allowed = self.warehouse_limits.get(customer) if isinstance(customer, str) else None

        related = out.get("related")
        if isinstance(related, Mapping):
            kept = dict(related)
            if not self.can_read_invoices or allowed is not None:
                kept.pop("invoices", None)
            elif not self.can_see_amounts and isinstance(kept.get("invoices"), Mapping):
                kept["invoices"] = {
                    key: _without(summary, INVOICE_SUMMARY_AMOUNT_FIELDS)
                    for key, summary in kept["invoices"].items()
                }
            if allowed is not None and isinstance(kept.get("orders"), Mapping):
                kept["orders"] = {
                    key: summary
                    for key, summary in kept["orders"].items()
                    if isinstance(summary, Mapping)
                    and _is_member(summary.get("warehouseId"), allowed)
                }
            out["related"] = kept

        if kind == INVOICES and not self.can_see_amounts:
            for name in INVOICE_AMOUNT_FIELDS:
                out.pop(name, None)
            for name in ("lines", "payments"):
                items = out.get(name)
                if isinstance(items, list):
                    out[name] = [_without(item, ("amount",)) for item in items]
        return out


# --- pure helpers ---------------------------------------------------------------------------


def _equal_or_in(values: Iterable[str]) -> Any:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return {"$in": ordered}


def _is_member(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _without(item: Any, names: Iterable[str]) -> Any:
    if not isinstance(item, Mapping):
        return item
    hidden = set(names)
    return {key: value for key, value in item.items() if key not in hidden}


def _orders_all_from(
    doc: Mapping[str, Any], allowed: frozenset[str], also: frozenset[str] | set[str] = frozenset()
) -> bool:
    """Whether ``doc`` links to at least one order and every order it links to (or ``also``
    names) is, by its summary, from an ``allowed`` warehouse."""
    warehouses = order_warehouses(doc)
    every = also | warehouses.keys()
    return bool(every) and all(warehouses.get(order) in allowed for order in every)


def _invoice_attributable(doc: Mapping[str, Any], allowed: frozenset[str]) -> bool:
    lines = doc.get("lines")
    if not isinstance(lines, list) or not lines:
        return False
    named: set[str] = set()
    for line in lines:
        order_id = line.get("orderId") if isinstance(line, Mapping) else None
        if not isinstance(order_id, str) or not order_id:
            return False
        named.add(order_id)
    return _orders_all_from(doc, allowed, named)
