"""The entitlement policy: which roles see what, per-customer restrictions, and how a caller's
``Scope`` follows from them.

The policy is configuration, not code: a TOML file (see ``default_policy.toml`` for the
format) read once at start-up. ``load_policy`` is the only I/O in this package.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from entitlements.caller import DEFAULT_SUPPORT_ROLE, Caller
from entitlements.errors import ConfigurationError, ForbiddenError
from entitlements.scope import Scope

__all__ = ["CustomerRule", "Policy", "Scope", "load_policy", "parse_policy"]

POLICY_FILE_ENV: Final = "ENTITLEMENTS_FILE"
DEFAULT_POLICY_RESOURCE: Final = "default_policy.toml"


@dataclass(frozen=True)
class CustomerRule:
    """Restrictions on the users of one customer account."""

    allowed_warehouses: frozenset[str]
    #: Roles whose holders see all of this customer's warehouses.
    unrestricted_roles: frozenset[str] = frozenset()


def _no_customer_rules() -> Mapping[str, CustomerRule]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Policy:
    """The loaded policy. ``Policy()`` is the built-in default: finance reads invoices and
    sees amounts, support searches across customers, no customer is restricted."""

    invoice_roles: frozenset[str] = frozenset({"finance"})
    amount_roles: frozenset[str] = frozenset({"finance"})
    support_roles: frozenset[str] = frozenset({DEFAULT_SUPPORT_ROLE})
    customers: Mapping[str, CustomerRule] = field(default_factory=_no_customer_rules, hash=False)
    #: Roles whose callers may send free-form GraphQL documents; None: every caller may.
    #: Everyone else may run only persisted operations (``web.persisted``).
    free_form_roles: frozenset[str] | None = None
    #: Whether requests without a token (which can only introspect) may send free-form ones.
    free_form_anonymous: bool = True
    #: Where the policy came from, for start-up logs and error messages.
    origin: str = field(default="built-in defaults", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "customers", MappingProxyType(dict(self.customers)))

    def is_support(self, caller: Caller) -> bool:
        """Whether the caller holds one of this policy's support roles."""
        return not caller.roles.isdisjoint(self.support_roles)

    def may_send_free_form(self, caller: Caller | None) -> bool:
        """Whether the caller may send a document of its own rather than name a persisted one.

        A grant, like the other role lists: one listed role is enough.
        """
        if caller is None:
            return self.free_form_anonymous
        return self.free_form_roles is None or not caller.roles.isdisjoint(self.free_form_roles)

    def scope(self, caller: Caller, *, cross_customer: bool = False) -> Scope:
        """The caller's scope for one request.

        ``cross_customer=True`` widens the scope to every customer; only support staff may
        ask for it (``ForbiddenError`` otherwise), and the reader must audit such reads.
        """
        support = self.is_support(caller)
        if cross_customer and not support:
            raise ForbiddenError("searching across customers is reserved for support staff")
        limits: dict[str, frozenset[str]] = {}
        if not support:
            for customer in caller.customers:
                rule = self.customers.get(customer)
                if rule is not None and caller.roles.isdisjoint(rule.unrestricted_roles):
                    limits[customer] = rule.allowed_warehouses
        return Scope(
            caller=caller,
            customer_ids=None if cross_customer else caller.customers,
            cross_customer=cross_customer,
            can_read_invoices=not caller.roles.isdisjoint(self.invoice_roles),
            can_see_amounts=not caller.roles.isdisjoint(self.amount_roles),
            warehouse_limits=limits,
            is_support=support,
        )


def load_policy(path: Path | None = None, *, environ: Mapping[str, str] = os.environ) -> Policy:
    """Read and validate the policy: ``path``, else ``$ENTITLEMENTS_FILE``, else the packaged
    default. Raises ``ConfigurationError`` naming the file and the offending key."""
    if path is None and environ.get(POLICY_FILE_ENV):
        path = Path(environ[POLICY_FILE_ENV])
    if path is None:
        origin = f"entitlements/{DEFAULT_POLICY_RESOURCE} (packaged)"
        text = resources.files("entitlements").joinpath(DEFAULT_POLICY_RESOURCE).read_text("utf-8")
    else:
        origin = str(path)
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            message = f"{origin}: cannot read entitlement policy: {error}"
            raise ConfigurationError(message) from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{origin}: not valid TOML: {error}") from error
    return parse_policy(data, origin=origin)


def parse_policy(data: Mapping[str, Any], *, origin: str = "<policy>") -> Policy:
    """Validate a decoded policy document; pure, so tests need no files."""
    reader = _Reader(origin)
    reader.only_keys(data, "", {"roles", "customers", "documents"})
    defaults = Policy()
    roles = reader.table(data.get("roles", {}), "roles")
    reader.only_keys(roles, "roles", {"read_invoices", "see_amounts", "support"})
    customers = _customer_rules(reader, reader.table(data.get("customers", {}), "customers"))
    free_form_roles, free_form_anonymous = _document_rules(
        reader, reader.table(data.get("documents", {}), "documents"), defaults
    )
    return Policy(
        invoice_roles=reader.names(roles, "roles", "read_invoices", defaults.invoice_roles),
        amount_roles=reader.names(roles, "roles", "see_amounts", defaults.amount_roles),
        support_roles=reader.names(roles, "roles", "support", defaults.support_roles),
        customers=customers,
        free_form_roles=free_form_roles,
        free_form_anonymous=free_form_anonymous,
        origin=origin,
    )


def _customer_rules(reader: _Reader, table: Mapping[str, Any]) -> dict[str, CustomerRule]:
    """``[customers.<id>]``: the warehouses each restricted customer may see."""
    customers: dict[str, CustomerRule] = {}
    for customer, raw in table.items():
        where = f"customers.{customer}"
        if not customer.strip():
            raise reader.error(where, "customer id must not be blank")
        rule = reader.table(raw, where)
        reader.only_keys(rule, where, {"allowed_warehouses", "unrestricted_roles"})
        if "allowed_warehouses" not in rule:
            raise reader.error(
                f"{where}.allowed_warehouses",
                "missing (list the warehouses, or remove the customer to lift the restriction)",
            )
        warehouses = reader.names(rule, where, "allowed_warehouses", frozenset())
        if not warehouses:
            raise reader.error(
                f"{where}.allowed_warehouses",
                "must name at least one warehouse (remove the customer to lift the restriction)",
            )
        customers[customer] = CustomerRule(
            allowed_warehouses=warehouses,
            unrestricted_roles=reader.names(rule, where, "unrestricted_roles", frozenset()),
        )
    return customers


def _document_rules(
    reader: _Reader, documents: Mapping[str, Any], defaults: Policy
) -> tuple[frozenset[str] | None, bool]:
    """``[documents]``: who may send free-form GraphQL (roles; None: every caller), and
    whether anonymous requests may."""
    reader.only_keys(documents, "documents", {"free_form_roles", "free_form_anonymous"})
    free_form_roles = (
        reader.names(documents, "documents", "free_form_roles", frozenset())
        if "free_form_roles" in documents
        else None
    )
    free_form_anonymous = documents.get("free_form_anonymous", defaults.free_form_anonymous)
    if not isinstance(free_form_anonymous, bool):
        raise reader.error("documents.free_form_anonymous", "must be true or false")
    return free_form_roles, free_form_anonymous


@dataclass(frozen=True)
class _Reader:
    """Validation helpers that phrase every error as ``<file>: <key>: <problem>``."""

    origin: str

    def error(self, key: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{self.origin}: {key}: {problem}")

    def table(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a table, got {type(value).__name__}")
        return value

    def only_keys(self, table: Mapping[str, Any], where: str, known: set[str]) -> None:
        for key in table:
            if key not in known:
                expected = ", ".join(sorted(known))
                name = f"{where}.{key}" if where else key
                raise self.error(name, f"unknown key (expected one of: {expected})")

    def names(
        self, table: Mapping[str, Any], where: str, key: str, default: frozenset[str]
    ) -> frozenset[str]:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            raise self.error(f"{where}.{key}", "must be a list of non-empty strings")
        return frozenset(value)
