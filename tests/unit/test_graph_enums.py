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
    described,
    enum_or_none,
)
from graph.schema import build_schema
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
    assert sorted(enum.__members__) == sorted(vocabulary)
    assert all(enum_or_none(enum, stored) is enum[stored] for stored in vocabulary)


def test_fulfillment_stages_are_listed_in_the_order_they_are_reached() -> None:
    assert tuple(stage.name for stage in FulfillmentStage) == documents.FULFILLMENT_STAGES


def test_a_stored_value_this_version_does_not_know_reads_as_none() -> None:
    assert enum_or_none(ShipmentStatus, "TELEPORTED") is None
    assert enum_or_none(ShipmentStatus, None) is None
    assert enum_or_none(ShipmentStatus, 1) is None  # a member's value is no stored string


def test_every_member_carries_its_description_into_the_schema() -> None:
    sdl = build_schema().as_str()
    assert (
        '"""Where a shipment stands, in the portal\'s vocabulary."""\nenum ShipmentStatus {' in sdl
    )
    assert '  """Cancelled by the carrier or 3PL."""\n  CANCELLED\n}' in sdl


Letters = Enum("Letters", "A B")


@pytest.mark.parametrize(
    "members",
    [
        {"A": "First.", "B": "Second.", "C": "Third."},  # one too many
        {"A": "First."},  # one missing
        {"B": "Second.", "A": "First."},  # out of the enum's order
    ],
)
def test_a_descriptions_table_naming_other_members_is_refused(members: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="describes Letters as"):
        described(Letters, {"description": "Letters.", "members": members})
