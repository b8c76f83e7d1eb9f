"""Value types read from stored documents: what a portal sees for good, odd and absent data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import strawberry

from graph.common import Address, Party, StoredValue, stored, stored_type, text
from graph.enums import FulfillmentStage, ShipmentStatus
from graph.values import Fulfillment, Milestone


def test_a_stored_milestone_reads_every_field_with_its_conversion() -> None:
    milestone = Milestone.read(
        {
            "source": "tms/us-road",
            "milestoneId": "M-1",
            "rawCode": "AF",
            "status": "IN_TRANSIT",
            "occurredAt": "2026-11-27T08:00:00+01:00",
            "location": {"city": "Dallas", "countryCode": "US", "lat": 32.78, "lon": True},
            "signedBy": 42,
        }
    )
    assert milestone.source == "tms/us-road"
    assert milestone.milestone_id == "M-1"
    assert milestone.raw_code == "AF"
    assert milestone.status is ShipmentStatus.IN_TRANSIT
    assert milestone.occurred_at == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert milestone.location is not None
    assert milestone.location.answers() == {
        "city": "Dallas",
        "region": None,
        "country_code": "US",
        "lat": 32.78,
        "lon": None,  # a boolean is not a longitude
    }
    assert milestone.reason_code is None and milestone.estimated_delivery_at is None
    assert milestone.signed_by is None  # not a string: null rather than a wrong type


def test_a_status_this_version_does_not_know_is_null_and_the_raw_code_stays() -> None:
    milestone = Milestone.read({"rawCode": "ZZ", "status": "TELEPORTED"})
    assert (milestone.raw_code, milestone.status) == ("ZZ", None)


def test_absent_or_malformed_embedded_values_are_null() -> None:
    assert Address.of(None) is None
    assert Address.of("12 Main St") is None
    party = Party.of({"name": "ACME DC", "address": ["not", "a", "mapping"]})
    assert party is not None
    assert party.answers() == {"warehouse_id": None, "name": "ACME DC", "address": None}


def test_lists_keep_only_their_well_formed_entries() -> None:
    fulfillment = Fulfillment.of(
        {
            "stage": "PACKED",
            "history": [{"stage": "RELEASED"}, "garbage", {"stage": "PACKED"}],
            "handlingUnits": None,
        }
    )
    assert fulfillment is not None
    assert fulfillment.stage is FulfillmentStage.PACKED
    assert [step.stage for step in fulfillment.history] == [
        FulfillmentStage.RELEASED,
        FulfillmentStage.PACKED,
    ]
    assert fulfillment.handling_units == []


def test_a_value_type_with_a_field_not_read_from_the_store_is_refused() -> None:
    with pytest.raises(TypeError, match=r"HalfStored\.computed is not declared with stored"):

        @stored_type("Half of it read from the store.")
        class HalfStored(StoredValue):
            name: str | None = stored("name", text, "Read from the store.")
            computed: str = strawberry.field(default="x", description="Not read from the store.")
