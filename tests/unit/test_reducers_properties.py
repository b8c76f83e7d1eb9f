"""Exactness under the backbone's delivery guarantees, checked over generated streams.

The reference is each distinct event applied once, per source in sequence order. What the
backbone delivers (every event at least once, repeated, in any order, interleaved across
topics) must give the very same document, bookkeeping included, even when every
intermediate document goes through a BSON round trip as it would through MongoDB.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.event_schema import PaymentRecorded, ShipmentMilestone
from projections.events import Event
from projections.reducers import apply
from readmodel.documents import FOREIGN_FACTS
from tests.helpers import MAPPING, fold
from tests.unit import strategies as s

#: The exactness properties get the most examples; the targeted ones fewer (suite < 20 s).
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TARGETED = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def foreign_doc(entity_id: str) -> dict[str, Any]:
    """A document another writer created first: a related summary pushed before our data."""
    return {
        "_id": entity_id,
        "known": False,
        "rev": 4,
        "customerId": s.CUSTOMER,
        "related": {"invoices": {"INV-1": {"invoiceId": "INV-1", "status": "OPEN", "rev": 2}}},
    }


def check_exact(events: list[Event], delivered: list[Event], entity_id: str) -> None:
    reference = fold(*s.source_order(events))
    assert fold(*delivered, stored=True) == reference
    # From a document another writer created first, the result is the same plus their
    # fields, untouched; the I/O fields are never written.
    start = foreign_doc(entity_id)
    from_foreign = fold(*delivered, start=start, stored=True)
    assert from_foreign == {**reference, "related": start["related"], "rev": start["rev"]}


@PROPERTY
@pytest.mark.parametrize(
    ("streams", "entity_id"),
    [
        pytest.param(s.order_streams(), s.ORDER_ID, id="order"),
        pytest.param(s.shipment_streams(), s.SHIPMENT_ID, id="shipment"),
        pytest.param(s.invoice_streams(), s.INVOICE_ID, id="invoice"),
    ],
)
@given(data=st.data())
def test_documents_do_not_depend_on_delivery(
    streams: st.SearchStrategy[list[Event]], entity_id: str, data: st.DataObject
) -> None:
    events = data.draw(streams)
    check_exact(events, data.draw(s.deliveries(events)), entity_id)


MIXED = (s.CUSTOMER, *s.OTHER_CUSTOMERS)


@PROPERTY
@pytest.mark.parametrize(
    ("streams", "entity_id"),
    [
        pytest.param(s.order_streams(customers=MIXED), s.ORDER_ID, id="order"),
        pytest.param(s.shipment_streams(customers=MIXED), s.SHIPMENT_ID, id="shipment"),
        pytest.param(s.invoice_streams(customers=MIXED), s.INVOICE_ID, id="invoice"),
    ],
)
@given(data=st.data())
def test_a_document_shows_the_facts_of_its_snapshot_s_customer_alone(
    streams: st.SearchStrategy[list[Event]], entity_id: str, data: st.DataObject
) -> None:
    """Facts other customers reported are refused once the snapshot is there and set aside
    before: in any delivery, what the document shows is what ACME's events alone give."""
    events = data.draw(streams)
    delivered = data.draw(s.deliveries(events))
    own = [event for event in events if event.customer_id == s.CUSTOMER]
    known = any(event.is_snapshot for event in events)
    reference = fold(*s.source_order(own)) if known else {}
    start = foreign_doc(entity_id)
    for begin, expected in ((None, reference), (start, {**reference, **start})):
        refused: list[Event] = []
        doc = fold(*delivered, start=begin, stored=True, refused=refused)
        assert all(event.customer_id != s.CUSTOMER for event in refused)
        if not known:
            assert doc["known"] is False  # hidden from every reader until its snapshot
            continue
        shown = {name: value for name, value in doc.items() if name != FOREIGN_FACTS}
        assert shown == {**expected, "known": True, "customerId": s.CUSTOMER}
        for entry in doc.get(FOREIGN_FACTS, []):
            assert entry["customerId"] in s.OTHER_CUSTOMERS


@PROPERTY
@given(events=s.source_status_streams(), data=st.data())
def test_source_documents_do_not_depend_on_delivery(
    events: list[Event], data: st.DataObject
) -> None:
    delivered = data.draw(s.deliveries(events))
    assert fold(*delivered, stored=True) == fold(*s.source_order(events))


@TARGETED
@given(events=s.order_streams() | s.shipment_streams() | s.invoice_streams(), data=st.data())
def test_a_superseded_snapshot_changes_nothing(events: list[Event], data: st.DataObject) -> None:
    doc = fold(*s.source_order(events))
    newest: dict[str, int] = {}
    for event in events:
        if event.is_snapshot:
            newest[event.source] = max(newest.get(event.source, 0), event.sequence)
    stale = [e for e in events if e.is_snapshot and e.sequence < newest[e.source]]
    for event in stale:
        assert apply(doc, event, MAPPING) == doc


@TARGETED
@given(events=s.shipment_streams())
def test_status_is_that_of_the_latest_mapped_milestone(events: list[Event]) -> None:
    doc = fold(*s.source_order(events))
    # Independent oracle: the newest restatement of each milestone, then the latest by time.
    current: dict[tuple[str, str], Event] = {}
    for event in events:
        if isinstance(event.data, ShipmentMilestone):
            key = (event.source, event.data.milestone_id)
            if key not in current or event.sequence > current[key].sequence:
                current[key] = event
    mapped = [
        (e.data.occurred_at, e.source, e.sequence, e.data.milestone_id, status)
        for e in current.values()
        if isinstance(e.data, ShipmentMilestone)
        and (status := MAPPING.map(e.source, e.data.status_code))
    ]
    cancelled = any(e.type == "logistics.shipment.cancelled.v1" for e in events)
    expected = "CANCELLED" if cancelled else (max(mapped)[-1] if mapped else "PLANNED")
    assert doc["status"] == expected
    unknown = sum(
        1
        for e in current.values()
        if isinstance(e.data, ShipmentMilestone)
        and MAPPING.map(e.source, e.data.status_code) is None
    )
    assert doc["unknownStatusCodes"] == unknown
    assert len(doc["milestones"]) == len(current)


@TARGETED
@given(events=s.shipment_streams(), code=st.sampled_from(s.UNKNOWN_CODES))
def test_an_unknown_code_never_moves_the_status(events: list[Event], code: str) -> None:
    doc = fold(*s.source_order(events))
    latest = s.event(
        "shipment.milestone",
        s.milestone("ms-new", code, 10_000),
        source="tms/us-road",
        sequence=1_000,
    )
    after = apply(doc, latest, MAPPING)
    assert after["status"] == doc["status"]
    assert after["unknownStatusCodes"] == doc["unknownStatusCodes"] + 1
    assert after["milestones"][-1]["rawCode"] == code
    assert after["milestones"][-1]["status"] is None


@TARGETED
@given(events=s.invoice_streams())
def test_amount_paid_counts_each_payment_once(events: list[Event]) -> None:
    doc = fold(*s.source_order(events))
    latest: dict[str, Event] = {}
    for event in events:
        if isinstance(event.data, PaymentRecorded):
            pid = event.data.payment_id
            if pid not in latest or event.sequence > latest[pid].sequence:
                latest[pid] = event
    paid = sum(
        (e.data.amount for e in latest.values() if isinstance(e.data, PaymentRecorded)),
        Decimal(0),
    )
    assert Decimal(doc["amountPaid"]) == paid
    assert [p["paymentId"] for p in doc["payments"]] == sorted(
        latest,
        key=lambda pid: (latest[pid].data.paid_at, pid),  # type: ignore[union-attr]
    )
    if doc["known"]:
        assert Decimal(doc["balance"]) == Decimal(doc["total"]) - paid
