"""Facts another customer reports for a document never show in it, whichever came first.

Each case is a snapshot of ACME's, a fact of ACME's and the same kind of fact reported by
GLOBEX (the same key where facts are keyed, so it would win the merge if customers were
mixed: a higher sequence, an earlier cancellation, a later proof of delivery, a further
stage). In every order of the three the document shows exactly what ACME's two events
alone give, bookkeeping included; GLOBEX's fact is refused once the snapshot is there
(dead-lettered) and kept aside, never shown, when it came before.
"""

from __future__ import annotations

import json
from itertools import permutations
from typing import Any

import pytest

from projections.batch import EntityKey, plan_entity
from projections.events import Event
from readmodel.documents import FOREIGN_FACTS
from tests.helpers import MAPPING, fold
from tests.unit import strategies as s

FOREIGN = "GLOBEX"
TMS = "tms/us-road"


def _shipment_cancelled(minutes: float, reason: str) -> dict[str, Any]:
    return {"shipmentId": s.SHIPMENT_ID, "reason": reason, "cancelledAt": s.at(minutes)}


def _pod(minutes: float, signed_by: str) -> dict[str, Any]:
    return {
        "shipmentId": s.SHIPMENT_ID,
        "signedBy": signed_by,
        "capturedAt": s.at(minutes),
        "documentUrl": f"https://docs.example/{signed_by}.pdf",
    }


def _order_cancelled(minutes: float, reason: str) -> dict[str, Any]:
    return {"orderId": s.ORDER_ID, "reason": reason, "cancelledAt": s.at(minutes)}


def _progressed(
    stage: str, minutes: float, picked: int, unit: str, warehouse: str = "DC-ATL"
) -> dict[str, Any]:
    return {
        "orderId": s.ORDER_ID,
        "warehouseId": warehouse,
        "stage": stage,
        "occurredAt": s.at(minutes),
        "shipmentId": f"SH-{unit}",
        "lines": [{"lineNumber": 1, "quantityPicked": picked}],
        "handlingUnits": [{"sscc": unit, "weightKg": 10}],
    }


def _payment(amount: str) -> dict[str, Any]:
    return {
        "invoiceId": s.INVOICE_ID,
        "paymentId": "PAY-1",
        "amount": amount,
        "paidAt": s.at(6000),
    }


def _voided(minutes: float, reason: str) -> dict[str, Any]:
    return {"invoiceId": s.INVOICE_ID, "reason": reason, "voidedAt": s.at(minutes)}


_PLANNED = ("shipment.planned", s.shipment_plan(), TMS)
_CREATED = ("order.created", s.order_snapshot(), s.ERP)
_ISSUED = ("invoice.issued", s.invoice(), s.ERP)

#: (snapshot, ACME's fact, GLOBEX's fact): each (event type, payload, source).
CASES = {
    "milestone": (
        _PLANNED,
        ("shipment.milestone", s.milestone("ms-1", "AF", 100, eta=4500), TMS),
        (
            "shipment.milestone",
            {**s.milestone("ms-1", "D1", 200, eta=9000), "signedBy": "EVIL"},
            TMS,
        ),
    ),
    "pod": (
        _PLANNED,
        ("shipment.pod-captured", _pod(300, "J. RIVERA"), TMS),
        ("shipment.pod-captured", _pod(400, "EVIL"), TMS),
    ),
    "shipment cancellation": (
        _PLANNED,
        ("shipment.cancelled", _shipment_cancelled(300, "customer"), TMS),
        ("shipment.cancelled", _shipment_cancelled(100, "EVIL"), TMS),
    ),
    "fulfillment": (
        _CREATED,
        ("fulfillment.progressed", _progressed("PICKING", 10, 3, "0030001"), s.WMS),
        ("fulfillment.progressed", _progressed("SHIPPED", 5, 99, "0039999", "EVIL"), s.WMS),
    ),
    "order cancellation": (
        _CREATED,
        ("order.cancelled", _order_cancelled(300, "duplicate"), s.ERP),
        ("order.cancelled", _order_cancelled(100, "EVIL"), s.ERP),
    ),
    "payment": (
        _ISSUED,
        ("invoice.payment-recorded", _payment("100.00"), s.ERP),
        ("invoice.payment-recorded", _payment("909.89"), s.ERP),
    ),
    "void": (
        _ISSUED,
        ("invoice.voided", _voided(300, "rebilled"), s.ERP),
        ("invoice.voided", _voided(100, "EVIL"), s.ERP),
    ),
}


def _events(case: str, foreign_at: float = 3) -> tuple[Event, Event, Event]:
    """The case's snapshot, ACME's fact and GLOBEX's, with GLOBEX's the newest statement;
    their envelope times are minutes 1, 2 and ``foreign_at``."""
    (snapshot, own, foreign) = CASES[case]
    return (
        s.event(snapshot[0], snapshot[1], source=snapshot[2], sequence=1),
        s.event(own[0], own[1], source=own[2], sequence=2),
        s.event(
            foreign[0],
            foreign[1],
            source=foreign[2],
            sequence=3,
            customer=FOREIGN,
            time=s.at(foreign_at),
        ),
    )


def shown(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without the facts it keeps aside."""
    return {name: value for name, value in doc.items() if name != FOREIGN_FACTS}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_fact_of_another_customer_is_never_shown_whichever_came_first(case: str) -> None:
    snapshot, own, foreign = _events(case)
    expected = fold(snapshot, own)
    assert FOREIGN_FACTS not in expected
    for order in permutations((snapshot, own, foreign)):
        refused: list[Event] = []
        doc = fold(*order, stored=True, refused=refused)
        assert shown(doc) == expected, [e.type for e in order]
        assert "EVIL" not in json.dumps(shown(doc), default=str)
        if order.index(foreign) > order.index(snapshot):
            assert refused == [foreign]  # dead-lettered, as before
        else:
            # kept aside, under its customer, as that customer's events alone give it
            assert refused == []
            ((customer, aside),) = [(e["customerId"], e) for e in doc[FOREIGN_FACTS]]
            alone = fold(foreign, stored=True)
            assert customer == FOREIGN
            assert {k: alone[k] for k in aside if k != "customerId"} == {
                k: v for k, v in aside.items() if k != "customerId"
            }


@pytest.mark.parametrize("case", sorted(CASES))
def test_facts_set_aside_are_held_so_a_redelivery_changes_nothing(case: str) -> None:
    snapshot, own, foreign = _events(case)
    early = fold(own, foreign, stored=True)
    assert early["customerId"] == s.CUSTOMER and early["known"] is False
    assert fold(foreign, start=early, stored=True) == early
    doc = fold(foreign, snapshot, own, stored=True)
    assert fold(own, start=doc, stored=True) == doc


@pytest.mark.parametrize("case", sorted(CASES))
def test_in_one_batch_the_times_of_the_events_do_not_decide_what_is_shown(case: str) -> None:
    """A batch folds its events by envelope time: GLOBEX's fact stamped before the snapshot
    is set aside, stamped after it refused; the document shows the same either way."""
    shown_docs = []
    for foreign_at in (0, 3):
        snapshot, own, foreign = _events(case, foreign_at)
        plan = plan_entity(
            EntityKey(snapshot.entity_kind, snapshot.entity_id),
            None,
            [snapshot, own, foreign],
            MAPPING,
        )
        assert plan.change is not None
        assert [r.event for r in plan.rejected] == ([] if foreign_at == 0 else [foreign])
        shown_docs.append(shown(dict(plan.change.after)))
    assert shown_docs[0] == shown_docs[1] == fold(snapshot, own)
