"""The GraphQL schema: a Federation 2 subgraph (Order, Shipment, Invoice keyed by id)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from strawberry.extensions import SchemaExtension

from graph.entities import Invoice, Order, Shipment
from graph.query import Query
from graph.subscriptions import Subscription, SubscriptionExecutionContext

ExtensionSpec = type[SchemaExtension] | Callable[[], SchemaExtension]


def build_schema(*, extensions: Sequence[ExtensionSpec] = ()) -> strawberry.federation.Schema:
    """Build the schema; the web layer adds its own extensions (limits, error masking).

    Federation 2 (strawberry's federation schema speaks 2.x, ``@link`` included): a gateway
    can resolve ``Order``/``Shipment``/``Invoice`` references through ``_entities``, under the
    same entitlements as every other field.
    """
    return strawberry.federation.Schema(
        query=Query,
        subscription=Subscription,
        types=[Order, Shipment, Invoice],
        extensions=list(extensions),
        # graphql-core 3.3 grows a subscription's memory with every event otherwise.
        execution_context_class=SubscriptionExecutionContext,
    )
