"""Value types read from stored documents: what a portal sees for good, odd and absent data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import strawberry

from graph.common import (
    Address,
    Cancellation,
    Party,
    StoredValue,
    stored,
    stored_type,
    text,
    utc,
)
from graph.enums import FulfillmentStage, ShipmentStatus
from graph.plain_readers import READERS
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


def test_a_stored_field_reads_as_its_conversion_in_python_graphql_and_the_leaf_path() -> None:
    def marked(value: object) -> str:
        return f"converted {value}"

    @stored_type("A value whose conversion shows.")
    class Marked(StoredValue):
        code: str | None = stored("rawCode", marked, "The stored code, marked.")

    value = Marked.read({"rawCode": "AF"})
    assert value.code == "converted AF"  # the property, not the field or the raw value
    assert value.answers() == {"code": "converted AF"}
    (field,) = Marked.__strawberry_definition__.fields  # type: ignore[attr-defined]
    resolver = field.base_resolver.wrapped_func
    assert resolver(value) == "converted AF"  # what graphql-core calls
    assert READERS[resolver](value, None) == "converted AF"  # what the leaf path reads


@pytest.mark.parametrize(
    "stored_time",
    [
        "0001-01-01T00:00:00+05:00",  # in UTC: 31 December of year 0
        "9999-12-31T23:00:00-05:00",  # in UTC: 1 January 10000
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    ],
)
def test_a_stored_time_outside_the_utc_range_is_null_like_any_unreadable_value(
    stored_time: object,
) -> None:
    assert utc(stored_time) is None
    cancellation = Cancellation.read({"reason": "duplicate", "cancelledAt": stored_time})
    assert (cancellation.reason, cancellation.cancelled_at) == ("duplicate", None)


def test_a_stored_time_at_the_ends_of_the_utc_range_is_kept() -> None:
    assert utc("0001-01-01T05:00:00+05:00") == datetime(1, 1, 1, tzinfo=UTC)
    assert utc("9999-12-31T18:59:59-05:00") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_a_value_type_with_a_field_not_read_from_the_store_is_refused() -> None:
    with pytest.raises(TypeError, match=r"HalfStored\.computed is not declared with stored"):

        @stored_type("Half of it read from the store.")
        class HalfStored(StoredValue):
            name: str | None = stored("name", text, "Read from the store.")
            computed: str = strawberry.field(default="x", description="Not read from the store.")
