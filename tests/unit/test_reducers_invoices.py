"""Invoices: payments counted once, exact decimal amounts, sticky voids."""

from __future__ import annotations

from projections.events import Event
from tests.helpers import fold
from tests.unit import strategies as s


def issued(
    sequence: int = 1, total: str = "909.89", lines: tuple[str, ...] = ("812.40", "97.49")
) -> Event:
    return s.event(
        "invoice.issued", s.invoice(total=total, lines=lines), source=s.ERP, sequence=sequence
    )


def paid(sequence: int, payment_id: str, amount: str, minutes: float = 6000) -> Event:
    payload = {
        "invoiceId": s.INVOICE_ID,
        "paymentId": payment_id,
        "amount": amount,
        "paidAt": s.at(minutes),
    }
    return s.event("invoice.payment-recorded", payload, source=s.ERP, sequence=sequence)


def voided(sequence: int, minutes: float, reason: str = "rebilled") -> Event:
    payload = {"invoiceId": s.INVOICE_ID, "reason": reason, "voidedAt": s.at(minutes)}
    return s.event("invoice.voided", payload, source=s.ERP, sequence=sequence)


def test_an_issued_invoice_is_open_for_its_total() -> None:
    doc = fold(issued())
    assert doc["known"] is True
    assert (doc["status"], doc["amountPaid"], doc["balance"]) == ("OPEN", "0.00", "909.89")
    assert doc["orderIds"] == [s.ORDER_ID] and doc["shipmentIds"] == [s.SHIPMENT_ID]
    assert [line["amount"] for line in doc["lines"]] == ["812.40", "97.49"]


def test_a_partial_payment_leaves_an_exact_balance() -> None:
    doc = fold(issued(), paid(2, "PAY-1", "0.89"))
    assert (doc["status"], doc["amountPaid"], doc["balance"]) == ("OPEN", "0.89", "909.00")


def test_a_payment_delivered_twice_is_counted_once() -> None:
    payment = paid(2, "PAY-1", "500.00")
    doc = fold(issued(), payment, payment)
    assert doc["amountPaid"] == "500.00"
    assert len(doc["payments"]) == 1


def test_a_restated_payment_replaces_the_earlier_statement() -> None:
    first, restated = paid(2, "PAY-1", "500.00"), paid(3, "PAY-1", "450.00")
    for doc in (fold(issued(), first, restated), fold(issued(), restated, first)):
        assert doc["amountPaid"] == "450.00"
        assert doc["balance"] == "459.89"


def test_payments_covering_the_total_make_it_paid() -> None:
    doc = fold(issued(), paid(2, "PAY-1", "900"), paid(3, "PAY-2", "9.89", minutes=6100))
    assert (doc["status"], doc["amountPaid"], doc["balance"]) == ("PAID", "909.89", "0.00")
    assert [p["paymentId"] for p in doc["payments"]] == ["PAY-1", "PAY-2"]


def test_an_overpayment_is_paid_with_a_negative_balance() -> None:
    doc = fold(issued(total="100.00", lines=("100.00",)), paid(2, "PAY-1", "120.5"))
    assert (doc["status"], doc["balance"]) == ("PAID", "-20.50")


def test_a_payment_before_the_invoice_is_kept_and_settles_it_once_issued() -> None:
    early = fold(paid(2, "PAY-1", "909.89"))
    assert early["known"] is False
    assert (early["status"], early["amountPaid"], early["balance"]) == ("OPEN", "909.89", None)
    doc = fold(issued(), start=early)
    assert (doc["status"], doc["balance"]) == ("PAID", "0.00")


def test_a_void_is_final_and_the_first_void_is_shown() -> None:
    doc = fold(
        voided(3, 200, "second"), issued(), voided(2, 100, "first"), paid(4, "PAY-1", "909.89")
    )
    assert doc["status"] == "VOID"
    assert doc["voided"] is True
    assert doc["voidReason"] == "first"
    assert doc["amountPaid"] == "909.89"


def test_amounts_are_strings_at_the_invoice_scale() -> None:
    doc = fold(issued(total="1000", lines=("1000",)), paid(2, "PAY-1", "0.4"))
    assert doc["total"] == "1000"
    assert (doc["amountPaid"], doc["balance"]) == ("0.4", "999.6")  # nothing rounded away
    cents = fold(issued(), paid(2, "PAY-1", "100"))
    assert (cents["amountPaid"], cents["balance"]) == ("100.00", "809.89")
    values = [doc["amountPaid"], doc["balance"], *(p["amount"] for p in doc["payments"])]
    assert all(isinstance(v, str) for v in values)


def test_the_longest_amounts_are_summed_without_rounding_or_failing() -> None:
    """34 digits (what the decoder lets through) before the point in the total and after it
    in a payment: the balance has 66 digits, beyond the default context's 28, and is exact."""
    total = "9" * 32 + ".99"
    tiny = "0." + "0" * 32 + "1"
    doc = fold(issued(total=total, lines=(total,)), paid(2, "PAY-1", tiny), paid(3, "PAY-2", tiny))
    assert doc["amountPaid"] == "0." + "0" * 32 + "2"
    assert doc["balance"] == "9" * 32 + ".98" + "9" * 30 + "8"  # 33 places, as the payments
    assert doc["status"] == "OPEN"
