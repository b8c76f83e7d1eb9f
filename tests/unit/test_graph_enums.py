"""The API's enumerations say exactly what the projections store.

Each vocabulary is declared once in ``readmodel.documents`` (the projector checks events
against it); the GraphQL enums carry the same names with descriptions for API users. A value
added on one side only would be stored and then shown as null (``enum_or_none``), or offered
as a filter that never matches.
"""

from __future__ import annotations

from enum import Enum

import pytest

from graph.enums import (
    ChargeType,
    FulfillmentStage,
    InvoiceStatus,
    OrderType,
    ShipmentStatus,
    SourceStatus,
    TransportMode,
)
from readmodel import documents
from resolvers.filters import INVOICE_VIEW_STATUSES


@pytest.mark.parametrize(
    ("enum", "vocabulary"),
    [
        (ShipmentStatus, documents.SHIPMENT_STATUSES),
        (FulfillmentStage, documents.FULFILLMENT_STAGES),
        (OrderType, documents.ORDER_TYPES),
        (TransportMode, documents.TRANSPORT_MODES),
        (ChargeType, documents.CHARGE_TYPES),
        (InvoiceStatus, INVOICE_VIEW_STATUSES),
        (SourceStatus, documents.DECLARED_STATUSES),
    ],
)
def test_each_enum_holds_the_stored_vocabulary(
    enum: type[Enum], vocabulary: tuple[str, ...]
) -> None:
    assert sorted(member.value for member in enum) == sorted(vocabulary)
    assert all(member.name == member.value for member in enum)


def test_fulfillment_stages_are_listed_in_the_order_they_are_reached() -> None:
    assert tuple(stage.name for stage in FulfillmentStage) == documents.FULFILLMENT_STAGES
