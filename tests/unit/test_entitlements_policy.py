"""Loading the entitlement policy: the packaged default, overrides, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from entitlements.errors import ConfigurationError
from entitlements.policy import CustomerRule, Policy, load_policy, parse_policy
from tests.helpers import caller


def test_packaged_default_policy() -> None:
    policy = load_policy(environ={})
    assert policy.invoice_roles == {"finance"}
    assert policy.amount_roles == {"finance"}
    assert policy.support_roles == {"support"}
    assert policy.customers == {"GLOBEX": CustomerRule(frozenset({"DC-ATL"}))}
    assert "packaged" in policy.origin
    # Portal users and support may explore; an app's role runs only persisted operations.
    assert policy.free_form_roles == frozenset({"viewer", "finance", "support"})
    assert policy.may_send_free_form(caller("GLOBEX", roles=("viewer",)))
    assert policy.may_send_free_form(caller("GLOBEX", roles=("app", "support")))
    assert not policy.may_send_free_form(caller("GLOBEX", roles=("app",)))
    assert policy.may_send_free_form(None)


def test_free_form_documents_per_role(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[documents]\nfree_form_roles = []\nfree_form_anonymous = false\n")
    locked = load_policy(path)
    assert not locked.may_send_free_form(caller("GLOBEX", roles=("support",)))
    assert not locked.may_send_free_form(None)
    # Without the key every caller may, as before the setting existed.
    assert Policy().may_send_free_form(
        caller("GLOBEX", roles=("app",))
    ) and Policy().may_send_free_form(None)


def test_entitlements_file_env_overrides_the_default(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[roles]\nread_invoices = ["finance", "controller"]\nsupport = ["ops"]\n'
        '[customers.INITECH]\nallowed_warehouses = ["DC-LAX", "DC-SEA"]\n'
        'unrestricted_roles = ["regional-admin"]\n'
    )
    policy = load_policy(environ={"ENTITLEMENTS_FILE": str(path)})
    assert policy.invoice_roles == {"finance", "controller"}
    assert policy.amount_roles == {"finance"}  # unspecified keys keep their defaults
    assert policy.support_roles == {"ops"}
    assert policy.customers == {
        "INITECH": CustomerRule(frozenset({"DC-LAX", "DC-SEA"}), frozenset({"regional-admin"}))
    }
    assert policy.origin == str(path)
    # The configured support role, not the built-in name, grants cross-customer search.
    assert policy.scope(caller("GLOBEX", roles=("ops",)), cross_customer=True).customer_ids is None
    assert policy.is_support(caller("GLOBEX", roles=("ops",))) and not policy.is_support(
        caller("GLOBEX", roles=("support",))
    )


def test_explicit_path_wins_over_env(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("")
    policy = load_policy(path, environ={"ENTITLEMENTS_FILE": "/nonexistent.toml"})
    assert policy.customers == {}


def test_empty_policy_is_the_built_in_default() -> None:
    assert parse_policy({}) == Policy()


#: A customer table, bare and with one allowed warehouse, for the cases that go wrong inside it.
_GLOBEX = "[customers.GLOBEX]\n"
_GLOBEX_ATL = _GLOBEX + 'allowed_warehouses = ["DC-ATL"]\n'
_GLOBEX_KEY = "customers.GLOBEX."


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[role]\n", "role", "unknown key"),
        ('[roles]\nread_invoice = ["finance"]\n', "roles.read_invoice", "unknown key"),
        ('[roles]\nread_invoices = "finance"\n', "roles.read_invoices", "list of non-empty"),
        ("[roles]\nsee_amounts = [1]\n", "roles.see_amounts", "list of non-empty"),
        ('[roles]\nsupport = [""]\n', "roles.support", "list of non-empty"),
        ('roles = "all"\n', "roles", "must be a table"),
        ('customers = ["GLOBEX"]\n', "customers", "must be a table"),
        ('[customers]\nGLOBEX = "DC-ATL"\n', "customers.GLOBEX", "must be a table"),
        ("[customers.GLOBEX]\n", "customers.GLOBEX.allowed_warehouses", "missing"),
        (
            _GLOBEX + "allowed_warehouses = []\n",
            _GLOBEX_KEY + "allowed_warehouses",
            "at least one warehouse",
        ),
        (_GLOBEX_ATL + 'warehouses = ["x"]\n', _GLOBEX_KEY + "warehouses", "unknown key"),
        (
            _GLOBEX_ATL + 'unrestricted_roles = "x"\n',
            _GLOBEX_KEY + "unrestricted_roles",
            "list of non-empty",
        ),
        ('[customers." "]\nallowed_warehouses = ["DC-ATL"]\n', "customers. ", "blank"),
        ("[documents]\nfree_form = []\n", "documents.free_form", "unknown key"),
        ('[documents]\nfree_form_roles = "app"\n', "documents.free_form_roles", "list of"),
        (
            '[documents]\nfree_form_anonymous = "yes"\n',
            "documents.free_form_anonymous",
            "true or false",
        ),
    ],
)
def test_invalid_policy_names_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ")
    assert problem in message


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[roles\n")
    with pytest.raises(ConfigurationError, match=f"^{re.escape(str(path))}: not valid TOML"):
        load_policy(path)


def test_missing_file() -> None:
    with pytest.raises(ConfigurationError, match=r"^/nonexistent/policy\.toml: cannot read"):
        load_policy(environ={"ENTITLEMENTS_FILE": "/nonexistent/policy.toml"})


def test_configuration_error_is_a_value_error() -> None:
    """Settings loaders that collect every bad value catch ValueError."""
    with pytest.raises(ValueError):
        parse_policy({"roles": {"support": "x"}})
