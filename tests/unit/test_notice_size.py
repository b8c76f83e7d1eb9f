"""Change notices too large for the changes topic go abridged, never refused."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson
import pytest

from projections.metrics import ProjectorMetrics
from projections.runner import sendable_notices
from readmodel.changes import (
    MILESTONE_IDENTITY,
    NOTICE_MAX_BYTES,
    InvalidChangeNotice,
    ShipmentChange,
    cancellation_notice_id,
    milestone_notice_id,
)

_MILESTONE = {
    "source": "tms/us-road",
    "milestoneId": "ms-1",
    "rawCode": "D1",
    "status": "DELIVERED",
    "reasonCode": "NS",
    "occurredAt": "2026-11-24T16:58:00+00:00",
    "location": {"city": "Chicago", "countryCode": "US"},
    "estimatedDeliveryAt": None,
    "signedBy": "J. RIVERA",
}


def _notice(**overrides: object) -> ShipmentChange:
    fields: dict[str, object] = {
        "notice_id": "tms/us-road|ms-1",
        "shipment_id": "SH-1",
        "customer_id": "ACME",
        "tracking_number": "7712093341",
        "status": "DELIVERED",
        "milestone": dict(_MILESTONE),
        "rev": 4,
        "projected_at": datetime(2026, 11, 24, tzinfo=UTC),
        "order_warehouses": {"SO-1": "DC-ATL"},
    }
    fields.update(overrides)
    return ShipmentChange(**fields)  # type: ignore[arg-type]


def _long_text() -> str:
    return "Receiving dock, behind the blue gate. " * (NOTICE_MAX_BYTES // 30)


def test_a_notice_within_the_bound_goes_whole() -> None:
    notice = _notice()
    assert notice.sendable() == (notice, notice.encode())
    assert not ShipmentChange.decode(notice.encode()).abridged


def test_long_milestone_text_leaves_the_milestone_its_identity_and_status() -> None:
    notice = _notice(milestone={**_MILESTONE, "signedBy": _long_text()})
    sent = notice.sendable()
    assert sent is not None
    abridged, value = sent
    assert len(value) <= NOTICE_MAX_BYTES
    assert abridged.milestone == {k: _MILESTONE[k] for k in MILESTONE_IDENTITY}
    assert abridged.order_warehouses == {"SO-1": "DC-ATL"}  # still shown to DC-ATL users
    assert ShipmentChange.decode(value) == abridged and abridged.abridged


def test_a_shipment_of_too_many_orders_goes_without_their_warehouses() -> None:
    orders = {f"SO-{n:07d}": "DC-ATL" for n in range(NOTICE_MAX_BYTES // 10)}
    notice = _notice(order_warehouses=orders)
    sent = notice.sendable()
    assert sent is not None
    abridged, value = sent
    assert len(value) <= NOTICE_MAX_BYTES
    decoded = ShipmentChange.decode(value)
    assert decoded == abridged and decoded.abridged and decoded.order_warehouses == {}
    assert decoded.milestone == {k: _MILESTONE[k] for k in MILESTONE_IDENTITY}
    assert (decoded.notice_id, decoded.status, decoded.rev) == ("tms/us-road|ms-1", "DELIVERED", 4)


def test_abridged_notices_are_counted_and_logged_and_one_too_large_even_so_is_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = ProjectorMetrics()
    whole = _notice(notice_id="a")
    texty = _notice(notice_id="b", milestone={**_MILESTONE, "location": {"city": _long_text()}})
    huge_id = "x" * (NOTICE_MAX_BYTES + 1)
    unsendable = _notice(notice_id=huge_id, milestone={**_MILESTONE, "milestoneId": huge_id})

    with caplog.at_level(logging.WARNING, logger="projections.runner"):
        sent = sendable_notices([whole, texty, unsendable], metrics)

    assert [notice.notice_id for notice, _ in sent] == ["a", "b"]
    assert [notice.abridged for notice, _ in sent] == [False, True]
    sample = metrics.registry.get_sample_value
    assert sample("portal_projector_notices_abridged_total", {"kind": "milestone"}) == 1
    assert sample("portal_projector_notices_abridged_total", {"kind": "unsent"}) == 1
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]
    assert "change notice b of shipment SH-1" in caplog.records[0].getMessage()


def test_notice_ids_of_different_statements_differ_whatever_their_ids_hold() -> None:
    """The hub drops a repeated notice id for every subscriber: a source or milestone id
    holding the separator must not make two tenants' statements one notice."""
    assert milestone_notice_id("tms/us-road", "ms-1", 3) == "tms/us-road|ms-1|3"
    assert milestone_notice_id("a|b", "c", 1) != milestone_notice_id("a", "b|c", 1)
    assert milestone_notice_id("a\\", "|b", 1) != milestone_notice_id("a\\|", "b", 1)
    ids = {
        milestone_notice_id("x", "1", 1),
        cancellation_notice_id("x|1"),
        cancellation_notice_id("x"),
    }
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("tracking_number", 7712093341), ("milestone", ["DELIVERED"]), ("milestone", "DELIVERED")],
)
def test_a_notice_of_another_shape_is_refused_as_invalid(field: str, value: object) -> None:
    """Refused where it is read (the hub and a replay skip an invalid notice), not carried on
    to fail while the hub sends it out, leaving subscribers it had not reached without it."""
    body = orjson.loads(_notice().encode())
    body[field] = value
    with pytest.raises(InvalidChangeNotice, match=field):
        ShipmentChange.decode(orjson.dumps(body))


def test_a_notice_that_is_not_an_object_is_refused_as_invalid() -> None:
    with pytest.raises(InvalidChangeNotice, match="object"):
        ShipmentChange.decode(b'["tms/us-road|ms-1", "SH-1"]')
