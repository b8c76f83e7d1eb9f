"""Every field of Order, Shipment and Invoice answers the same whether its value types
convert their fields when built (as before) or when a field is asked for (``StoredValue``).

The expected answers below were produced by the eager conversion (``main`` before the value
types converted lazily) for the same documents and selection; they are written out so that a
field answered from the wrong key, with the wrong conversion, or differently on the leaf path
and through its resolver, fails here. The documents hold odd values on purpose: wrong types,
nulls, absent keys, malformed nested values and lists with garbage items.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import (
    ExecutionResult,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    execute,
    parse,
)

from graph import leaf_fields
from graph.entities import RELATIONS, Invoice, Order, Shipment
from graph.leaf_fields import LeafExecutionContext
from graph.schema import resolved_type_names
from graph.subscriptions import SubscriptionExecutionContext

_WHEN = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)

SHIPMENT: dict[str, Any] = {
    "_id": "SH-1",
    "customerId": "ACME",
    "status": "IN_TRANSIT",
    "mode": "TELEPORT",  # unknown to this version: null
    "carrier": {"scac": "ABCD", "name": 7},
    "trackingNumber": "1Z999",
    "origin": "not a mapping",
    "destination": {"city": "Rotterdam", "countryCode": "NL", "postalCode": None},
    "plannedPickupAt": _WHEN,
    "plannedDeliveryAt": "2026-11-28T09:00:00+01:00",
    "serviceLevel": ["GROUND"],
    "eta": "not a time",
    "deliveredAt": None,
    "milestones": [
        {  # stored in another order than the schema's: the answer follows the query
            "signedBy": 42,
            "estimatedDeliveryAt": "2026-11-29T10:00:00Z",
            "location": {"lon": True, "lat": 32.78, "region": "TX", "city": "Dallas"},
            "occurredAt": _WHEN,
            "reasonCode": None,
            "status": "IN_TRANSIT",
            "rawCode": "AF",
            "milestoneId": "M-1",
            "source": "tms/us-road",
        },
        "garbage",
        {"rawCode": "ZZ", "status": "TELEPORTED", "location": ["x"], "occurredAt": 5},
        {},
    ],
    "pod": {"signedBy": "L. DUBOIS", "capturedAt": "2026-11-30T12:00:00", "documentUrl": None},
    "cancelled": "yes",  # not True: false
    "cancellation": {"reason": "customer", "cancelledAt": "2026-11-30"},
    "unknownStatusCodes": "3",
    "updatedAt": _WHEN,
    "lastEvent": {"source": "tms/us-road", "id": 9, "type": "x", "time": _WHEN},
}
ORDER: dict[str, Any] = {
    "_id": "SO-1",
    "customerId": "ACME",
    "customerReference": None,
    "orderType": "OUTBOUND",
    "orderedAt": "2026-11-01T08:00:00Z",
    "requestedDeliveryDate": "2026-11-40",
    "shipFrom": {"warehouseId": "W1", "name": "DC", "address": {"line1": "1 Road", "city": 3}},
    "shipTo": {"name": "Consignee", "address": "garbage"},
    "warehouseId": 12,
    "lines": [
        {"lineNumber": 1, "sku": "SKU-1", "description": "Widget", "quantity": 5, "uom": "EA"},
        {"lineNumber": True, "sku": None, "quantity": 2.5},
        "garbage",
    ],
    "cancelled": True,
    "cancellation": "not a mapping",
    "fulfillmentStage": "PACKED",
    "fulfillment": {
        "stage": "UNKNOWN_STAGE",
        "warehouseId": "W1",
        "history": [
            {"stage": "RELEASED", "occurredAt": _WHEN, "warehouseId": "W1"},
            None,
            {"stage": "LOADED", "shipmentId": "SH-1", "occurredAt": "yesterday"},
        ],
        "handlingUnits": [{"sscc": "00123", "weightKg": 12}, {"sscc": 5, "weightKg": "heavy"}],
        "lines": [{"lineNumber": 1, "quantityPicked": 5, "quantityShipped": None}],
    },
    "updatedAt": "2026-11-02",
    "lastEvent": "garbage",
}
INVOICE: dict[str, Any] = {
    "_id": "INV-1",
    "customerId": "ACME",
    "invoiceNumber": "2026-0001",
    "issuedAt": _WHEN,
    "dueDate": "2026-11-01",
    "currency": "EUR",
    "status": "OPEN",
    "lines": [
        {"description": "Freight", "chargeType": "FREIGHT", "amount": "100.00", "orderId": "SO-1"},
        {"description": None, "chargeType": "NOPE", "amount": 5, "shipmentId": "SH-1"},
    ],
    "subtotal": "100.00",
    "tax": None,
    "total": "121.00",
    "amountPaid": 0,
    "balance": "121.00",
    "payments": [{"paymentId": "P-1", "amount": "21.00", "paidAt": "2026-11-03T00:00:00Z"}, 1],
    "documentUrl": "https://docs.example/INV-1.pdf",
    "voided": False,
    "voidReason": None,
    "voidedAt": "never",
}


@strawberry.type
class _Query:
    @strawberry.field
    def shipment(self) -> Shipment:
        return Shipment.of(SHIPMENT)

    @strawberry.field
    def order(self) -> Order:
        return Order.of(ORDER)

    @strawberry.field
    def invoice(self) -> Invoice:
        return Invoice.of(INVOICE)


def _selection(graphql_type: GraphQLOutputType) -> str:
    """Every field without arguments, nested objects' fields too, but not the relations
    (they need the store's readers and are not value types)."""
    while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
        graphql_type = graphql_type.of_type
    if not isinstance(graphql_type, GraphQLObjectType):
        return ""
    relations = {field for field, _, _ in RELATIONS.get(graphql_type.name, ())}
    fields = [
        f"{name} {_selection(field.type)}"
        for name, field in graphql_type.fields.items()
        if not field.args and name not in relations
    ]
    return "{ " + " ".join(fields) + " }"


def _run(context_class: type[Any]) -> ExecutionResult:
    schema = strawberry.federation.Schema(query=_Query, execution_context_class=context_class)
    leaf_fields.install(schema._schema, resolved_type_names(schema._schema))
    query_type = schema._schema.query_type
    assert query_type is not None
    entities = ("shipment", "order", "invoice")  # not the federation fields
    document = (
        "{ "
        + " ".join(f"{name} {_selection(query_type.fields[name].type)}" for name in entities)
        + " }"
    )
    readers = SimpleNamespace(
        now=lambda: datetime(2026, 11, 30, tzinfo=UTC),
        scope=SimpleNamespace(can_see_amounts=True),
    )
    context = SimpleNamespace(readers=readers)
    result = execute(
        schema._schema, parse(document), context_value=context, executor_class=context_class
    )
    assert isinstance(result, ExecutionResult)
    return result


@pytest.mark.parametrize("context_class", [LeafExecutionContext, SubscriptionExecutionContext])
def test_every_field_answers_as_the_eager_conversion_did(context_class: type[Any]) -> None:
    result = _run(context_class)
    assert result.errors is None
    assert result.data == EXPECTED


#: What a stored milestone with nothing usable answers.
_NO_MILESTONE: dict[str, Any] = dict.fromkeys(
    (
        "source",
        "milestoneId",
        "rawCode",
        "status",
        "reasonCode",
        "occurredAt",
        "location",
        "estimatedDeliveryAt",
        "signedBy",
    )
)
EXPECTED: dict[str, Any] = {
    "shipment": {
        "id": "U2hpcG1lbnQ6U0gtMQ==",
        "shipmentId": "SH-1",
        "customerId": "ACME",
        "status": "IN_TRANSIT",
        "mode": None,
        "carrier": {"scac": "ABCD", "name": None},
        "trackingNumber": "1Z999",
        "origin": None,
        "destination": {
            "line1": None,
            "line2": None,
            "city": "Rotterdam",
            "region": None,
            "postalCode": None,
            "countryCode": "NL",
        },
        "plannedPickupAt": "2026-11-27T07:30:00+00:00",
        "plannedDeliveryAt": "2026-11-28T08:00:00+00:00",
        "serviceLevel": None,
        "eta": None,
        "deliveredAt": None,
        "milestones": [
            {
                "source": "tms/us-road",
                "milestoneId": "M-1",
                "rawCode": "AF",
                "status": "IN_TRANSIT",
                "reasonCode": None,
                "occurredAt": "2026-11-27T07:30:00+00:00",
                "location": {
                    "city": "Dallas",
                    "region": "TX",
                    "countryCode": None,
                    "lat": 32.78,
                    "lon": None,
                },
                "estimatedDeliveryAt": "2026-11-29T10:00:00+00:00",
                "signedBy": None,
            },
            {**_NO_MILESTONE, "rawCode": "ZZ"},
            _NO_MILESTONE,
        ],
        "proofOfDelivery": {
            "signedBy": "L. DUBOIS",
            "capturedAt": "2026-11-30T12:00:00+00:00",
            "documentUrl": None,
        },
        "cancelled": False,
        "cancellation": {"reason": "customer", "cancelledAt": "2026-11-30T00:00:00+00:00"},
        "unknownStatusCodes": 0,
        "lastUpdatedAt": "2026-11-27T07:30:00+00:00",
        "lastEvent": {
            "source": "tms/us-road",
            "id": None,
            "type": "x",
            "time": "2026-11-27T07:30:00+00:00",
        },
    },
    "order": {
        "id": "T3JkZXI6U08tMQ==",
        "orderId": "SO-1",
        "customerId": "ACME",
        "customerReference": None,
        "orderType": "OUTBOUND",
        "status": "CANCELLED",
        "orderedAt": "2026-11-01T08:00:00+00:00",
        "requestedDeliveryDate": None,
        "shipFrom": {
            "warehouseId": "W1",
            "name": "DC",
            "address": {
                "line1": "1 Road",
                "line2": None,
                "city": None,
                "region": None,
                "postalCode": None,
                "countryCode": None,
            },
        },
        "shipTo": {"warehouseId": None, "name": "Consignee", "address": None},
        "shipToName": "Consignee",
        "warehouseId": None,
        "lines": [
            {
                "lineNumber": 1,
                "sku": "SKU-1",
                "description": "Widget",
                "quantity": 5,
                "uom": "EA",
                "quantityPicked": 5,
                "quantityShipped": None,
            },
            {
                "lineNumber": None,
                "sku": None,
                "description": None,
                "quantity": None,
                "uom": None,
                "quantityPicked": 5,
                "quantityShipped": None,
            },
        ],
        "cancelled": True,
        "cancellation": None,
        "fulfillmentStage": "PACKED",
        "fulfillment": {
            "stage": None,
            "warehouseId": "W1",
            "history": [
                {
                    "stage": "RELEASED",
                    "occurredAt": "2026-11-27T07:30:00+00:00",
                    "warehouseId": "W1",
                    "shipmentId": None,
                },
                {"stage": "LOADED", "occurredAt": None, "warehouseId": None, "shipmentId": "SH-1"},
            ],
            "handlingUnits": [
                {"sscc": "00123", "weightKg": 12.0},
                {"sscc": None, "weightKg": None},
            ],
        },
        "lastUpdatedAt": "2026-11-02T00:00:00+00:00",
        "lastEvent": None,
    },
    "invoice": {
        "id": "SW52b2ljZTpJTlYtMQ==",
        "invoiceId": "INV-1",
        "customerId": "ACME",
        "invoiceNumber": "2026-0001",
        "issuedAt": "2026-11-27T07:30:00+00:00",
        "dueDate": "2026-11-01",
        "currency": "EUR",
        "status": "OVERDUE",
        "lines": [
            {
                "description": "Freight",
                "chargeType": "FREIGHT",
                "amount": {"amount": "100.00", "currency": "EUR"},
                "orderId": "SO-1",
                "shipmentId": None,
            },
            {
                "description": None,
                "chargeType": None,
                "amount": None,
                "orderId": None,
                "shipmentId": "SH-1",
            },
        ],
        "subtotal": {"amount": "100.00", "currency": "EUR"},
        "tax": None,
        "total": {"amount": "121.00", "currency": "EUR"},
        "amountPaid": None,
        "balance": {"amount": "121.00", "currency": "EUR"},
        "payments": [
            {
                "paymentId": "P-1",
                "amount": {"amount": "21.00", "currency": "EUR"},
                "paidAt": "2026-11-03T00:00:00+00:00",
            }
        ],
        "documentUrl": "https://docs.example/INV-1.pdf",
        "voided": False,
        "voidReason": None,
        "voidedAt": None,
        "lastUpdatedAt": None,
        "lastEvent": None,
    },
}
