"""What one caller may read: the filter every query is AND-ed with, and the same rule on a document.

A ``Scope`` is built by ``Policy.scope`` for one caller and one request. Readers AND
``mongo_filter(collection)`` into every query, then check each fetched document with
``allows`` (defence in depth: the same rules, on the document as fetched) and pass
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

The last two rules need the order summaries' warehouses, which a filter cannot reach inside
the ``related.orders`` map. So the projector keeps them in a field of their own on every
write, ``warehouseIds`` (``readmodel.links.visible_warehouses``, the one definition of both
rules), and ``mongo_filter`` asks for a non-empty ``warehouseIds`` all of whose members are
allowed. On a document whose ``warehouseIds`` has settled, that matches exactly what
``allows`` accepts; while a summary push is being settled the field is absent (the push
unsets it in the same update: ``projections.store._push_operation``), so the filter may
hide the document for that moment but does not show one its summaries do not allow
(provided no projector of the code before the field runs: docs/architecture.md, "Warehouse limits").
``allows`` checks the same rule on the summaries as fetched (defence in depth): pages drop
what it rejects and read on; counts count what the filter matches. Everything unknown fails
closed: a shipment whose order summaries have not arrived, or lack a warehouse, has no
``warehouseIds`` and is hidden until they do; so is a document written before the field
existed, until the projector's start fills it (docs/architecture.md, "Warehouse limits").

Support staff (the policy's support roles) and roles a customer exempts are not restricted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final

from entitlements.caller import Caller
from entitlements.errors import ForbiddenError
from readmodel.documents import (
    AUDIT_LOG,
    INVOICES,
    ORDERS,
    READ_POINTER,
    SHIPMENTS,
    SOURCES,
    WAREHOUSE_IDS,
    base_collection,
)
from readmodel.links import visible_warehouses
from readmodel.quoting import ECHOED_CHARACTERS, quoted

ENTITY_KINDS: Final = frozenset({ORDERS, SHIPMENTS, INVOICES})
#: Collections every authenticated caller may read whole: nothing in them belongs to a customer.
SHARED_KINDS: Final = frozenset({SOURCES, READ_POINTER})

#: Invoice fields that carry money, hidden from callers who may not see charge amounts.
INVOICE_AMOUNT_FIELDS: Final = ("subtotal", "tax", "total", "amountPaid", "balance")
INVOICE_SUMMARY_AMOUNT_FIELDS: Final = ("total", "balance")


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
        if self.warehouse_limits and (
            self.customer_ids is None or not self.warehouse_limits.keys() <= self.customer_ids
        ):
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
            raise ForbiddenError(
                f"customer {quoted(customer_id, ECHOED_CHARACTERS)} is not one of the accounts "
                "you act for"
            )

    def narrowed(self, customer_id: str | None) -> Scope:
        """This scope for a read narrowed to ``customer_id`` (None: not narrowed), once
        ``check_customer`` allows it: the same caller and rules over that customer alone, so
        the read's filter names it and nothing is read for the caller's other customers. A
        cross-customer scope stays whole: its filter names no customer, the read's own
        ``customerId`` narrows it."""
        self.check_customer(customer_id)
        if customer_id is None or self.customer_ids is None:
            return self
        limits = {c: w for c, w in self.warehouse_limits.items() if c == customer_id}
        return replace(self, customer_ids=frozenset({customer_id}), warehouse_limits=limits)

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
        if not self.warehouse_limits:
            return query

        branches: list[dict[str, Any]] = []
        unrestricted = self.customer_ids - self.warehouse_limits.keys()
        if unrestricted:
            branches.append({"customerId": _equal_or_in(unrestricted)})
        for customer, warehouses in sorted(self.warehouse_limits.items()):
            branches.append({"customerId": customer, **_from_warehouses(kind, warehouses)})
        if len(branches) == 1:
            query.update(branches[0])
        else:
            query["$or"] = branches
        return query

    def search_keys_filter(self, kind: str) -> dict[str, Any]:
        """The fragment a query of ``kind``'s search documents (``readmodel.search_keys``)
        must be AND-ed with: ``mongo_filter``, but for a warehouse-limited customer's
        shipments the customer alone. A search document copies what its shipment's own
        events set, not the ``warehouseIds`` the order summaries decide, so the shipments
        it names are candidates: the page read of them by id applies the whole filter."""
        query = self.mongo_filter(kind)
        # (``customer_ids`` is never None with limits: ``__post_init__`` refuses that scope)
        if base_collection(kind) != SHIPMENTS or not self.warehouse_limits or not self.customer_ids:
            return query
        return {"known": True, "customerId": _equal_or_in(self.customer_ids)}

    def allows(self, collection: str, doc: Mapping[str, Any]) -> bool:
        """The same rule as ``mongo_filter``, checked on a fetched document (the warehouse
        rules from its summaries rather than the field the projector derives from them).
        Never raises on a malformed document: it is just not shown.
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
        # from the summaries as fetched, not the stored ``WAREHOUSE_IDS`` the filter read
        warehouses = visible_warehouses(kind, doc)
        return warehouses is not None and allowed.issuperset(warehouses)

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


def _from_warehouses(kind: str, allowed: frozenset[str]) -> dict[str, Any]:
    """The filter of a warehouse-limited customer's ``kind`` documents: an order's own
    warehouse; every one of a shipment's or invoice's ``WAREHOUSE_IDS`` (none: hidden)."""
    if kind == ORDERS:
        return {"warehouseId": _equal_or_in(allowed)}
    # An array with an allowed member and none other. ``$elemMatch`` matches arrays only
    # (not a scalar, nor an object such as ``{"0": ...}``, which ``<field>.0: {$exists}``
    # matched on FerretDB); nulls, numbers and nested arrays are members not allowed.
    ordered = sorted(allowed)
    return {
        WAREHOUSE_IDS: {
            "$elemMatch": {"$in": ordered},
            "$not": {"$elemMatch": {"$nin": ordered}},
        }
    }


def _is_member(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _without(item: Any, names: Iterable[str]) -> Any:
    if not isinstance(item, Mapping):
        return item
    hidden = set(names)
    return {key: value for key, value in item.items() if key not in hidden}
