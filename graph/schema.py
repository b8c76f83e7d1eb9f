"""The GraphQL schema: a Federation 2 subgraph (Order, Shipment, Invoice keyed by id)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from graph.entities import Invoice, Order, Shipment
from graph.query import Query

ExtensionSpec = type[SchemaExtension] | Callable[[], SchemaExtension]


def subscription_type() -> type[Any] | None:
    """The Subscription root from ``graph.subscriptions``, when that module is present."""
    try:
        module = importlib.import_module("graph.subscriptions")
    except ModuleNotFoundError as exc:
        if exc.name != "graph.subscriptions":
            raise
        return None
    subscription: type[Any] | None = getattr(module, "Subscription", None)
    return subscription


def build_schema(*, extensions: Sequence[ExtensionSpec] = ()) -> strawberry.federation.Schema:
    """Build the schema; the web layer adds its own extensions (limits, error masking).

    Federation 2 (strawberry's federation schema speaks 2.x, ``@link`` included): a gateway
    can resolve ``Order``/``Shipment``/``Invoice`` references through ``_entities``, under the
    same entitlements as every other field.
    """
    return strawberry.federation.Schema(
        query=Query,
        subscription=subscription_type(),
        types=[Order, Shipment, Invoice],
        extensions=list(extensions),
    )
