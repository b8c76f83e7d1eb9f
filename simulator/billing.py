"""Invoices and what happens to them: payments (full, partial, late, never), corrections
re-sent as a new snapshot, voids with a replacement invoice.

Money is integer cents until written, then a decimal string: the contract never allows
floats, and totals must add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from simulator import catalog
from simulator.catalog import CustomerProfile
from simulator.context import Charge, SimContext, Warp
from simulator.envelope import INVOICE_ISSUED, INVOICE_PAYMENT, INVOICE_VOIDED, Pending
from simulator.times import DAY, HOUR, at_local_time, local, rfc3339

#: Payment terms, in days after issue.
NET_DAYS = 30
#: Above this many handling lines a weekly invoice aggregates them into one.
MAX_HANDLING_LINES = 200


def amount(cents: int) -> str:
    """``123450`` -> ``"1234.50"``."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def tax_cents(subtotal: int, currency: str) -> int:
    bp = catalog.TAX_BP.get(currency, 0)
    return (subtotal * bp + 5000) // 10000


def freight_cents(mode: str, km: float, weight_kg: float) -> int:
    """A plausible tariff; only its shape matters (more weight and distance cost more)."""
    if mode == "PARCEL":
        dollars = 9.0 + 0.85 * weight_kg + 0.004 * km
    elif mode == "FTL":
        dollars = max(450.0, 2.15 * km)
    elif mode in ("AIR", "OCEAN"):
        dollars = (4.2 if mode == "AIR" else 0.35) * weight_kg + 600.0
    else:
        dollars = 95.0 + (weight_kg / 100.0) * (8.0 + km / 90.0)
    return round(dollars * 100)


def week_start(epoch: int) -> date:
    """Monday of the ERP-local week containing ``epoch``."""
    day = local(epoch, catalog.ERP_TZ).date()
    return day - timedelta(days=day.weekday())


def _line(charge: Charge) -> dict[str, Any]:
    line: dict[str, Any] = {
        "description": charge.description,
        "chargeType": charge.charge_type,
        "amount": amount(charge.cents),
    }
    if charge.order_id is not None:
        line["orderId"] = charge.order_id
    if charge.shipment_id is not None:
        line["shipmentId"] = charge.shipment_id
    return line


def _snapshot(
    invoice_id: str, number: int, customer: CustomerProfile, issued: int, charges: list[Charge]
) -> tuple[dict[str, Any], int]:
    subtotal = sum(c.cents for c in charges)
    tax = tax_cents(subtotal, customer.currency)
    due = local(issued, catalog.ERP_TZ).date() + timedelta(days=NET_DAYS)
    data = {
        "invoiceId": invoice_id,
        "customerId": customer.customer_id,
        "invoiceNumber": str(number),
        "issuedAt": _erp_time(issued),
        "dueDate": due.isoformat(),
        "currency": customer.currency,
        "lines": [_line(c) for c in charges],
        "subtotal": amount(subtotal),
        "tax": amount(tax),
        "total": amount(subtotal + tax),
        "documentUrl": f"https://docs.example-3pl.com/invoices/{invoice_id}.pdf",
    }
    return data, subtotal + tax


class Billing:
    """Issues invoices onto the shared queue and runs the weekly invoice cycle."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    # --- the weekly run -------------------------------------------------------------

    def record(self, customer_id: str, charge: Charge) -> None:
        """Hold a charge for the weekly invoice of the week it happened in."""
        key = (customer_id, week_start(charge.at).toordinal())
        self.ctx.ledger.setdefault(key, []).append(charge)

    def schedule_weekly_run(self, after: int) -> None:
        monday = week_start(after) + timedelta(days=7)
        run_at = at_local_time(monday, catalog.ERP_TZ, 6)
        self.ctx.call(run_at, lambda t: self._weekly_run(t, monday - timedelta(days=7)))

    def _weekly_run(self, now: int, week: date) -> None:
        rng = self.ctx.rng
        for customer in self.ctx.customers:
            profile = customer.profile
            charges = self.ctx.ledger.pop((profile.customer_id, week.toordinal()), [])
            handling = [c for c in charges if c.charge_type == "HANDLING"]
            others = [c for c in charges if c.charge_type != "HANDLING"]
            if len(handling) > MAX_HANDLING_LINES:
                handling = [
                    Charge(
                        now,
                        "HANDLING",
                        f"Pick & pack, {len(handling)} orders",
                        sum(c.cents for c in handling),
                    )
                ]
            lines = [
                Charge(
                    now,
                    "STORAGE",
                    f"Storage {dc}, {pallets} pallet positions, week of {week.isoformat()}",
                    pallets * 7 * (61 if profile.currency == "USD" else 55),
                )
                for dc, pallets in customer.pallets.items()
            ]
            lines += handling + others
            freight = sum(c.cents for c in others if c.charge_type == "FREIGHT")
            if freight:
                rate = rng.uniform(0.11, 0.19)
                lines.append(
                    Charge(now, "FUEL", f"Fuel surcharge {rate * 100:.1f}%", round(freight * rate))
                )
            self.issue(profile, lines, now, Warp(now))
        self.schedule_weekly_run(now + DAY)

    # --- one invoice ------------------------------------------------------------------

    def issue(
        self,
        customer: CustomerProfile,
        charges: list[Charge],
        issued_nat: int,
        warp: Warp,
        *,
        may_void: bool = True,
    ) -> None:
        """Plan an invoice and its whole future: payments, a correction or a void."""
        ctx, rng = self.ctx, self.ctx.rng
        number = ctx.invoice_no()
        issued = warp(issued_nat)
        invoice_id = f"INV-{local(issued, catalog.ERP_TZ).year}-{number:06d}"
        refs = tuple(
            sorted(
                {c.order_id for c in charges if c.order_id}
                | {c.shipment_id for c in charges if c.shipment_id}
            )
        )
        invoice = _Invoice(customer, invoice_id, warp, refs)
        data, total = _snapshot(invoice_id, number, customer, issued, charges)
        self._emit(invoice, INVOICE_ISSUED, issued, data)

        fate = rng.random()
        if may_void and fate < 0.03:
            self._void_and_reissue(invoice, charges, issued_nat)
            return
        if fate < 0.06 and charges:
            # A corrected snapshot re-sent: the last line's amount goes down.
            resent_nat = issued_nat + int(rng.uniform(1, 3) * DAY)
            resent = warp(resent_nat)
            corrected = [*charges[:-1], _reduced(charges[-1])]
            new_data, total = _snapshot(invoice_id, number, customer, issued, corrected)
            self._emit(invoice, INVOICE_ISSUED, resent, new_data)
            issued_nat = resent_nat
        self._payments(invoice, total, issued_nat)

    def _void_and_reissue(self, invoice: _Invoice, charges: list[Charge], issued_nat: int) -> None:
        """The invoice is voided a few days later and a corrected one issued (never voided)."""
        rng = self.ctx.rng
        voided_nat = issued_nat + int(rng.uniform(1, 5) * DAY)
        voided = invoice.warp(voided_nat)
        reason = rng.choice(catalog.VOID_REASONS)
        data = {"invoiceId": invoice.invoice_id, "reason": reason, "voidedAt": _erp_time(voided)}
        self._emit(invoice, INVOICE_VOIDED, voided, data)
        corrected = [*charges[:-1], _reduced(charges[-1])] if charges else charges
        reissued_nat = voided_nat + int(rng.uniform(0.2, 2) * HOUR)
        self.issue(invoice.customer, corrected, reissued_nat, invoice.warp, may_void=False)

    def _emit(self, invoice: _Invoice, event_type: str, at: int, data: dict[str, Any]) -> None:
        self.ctx.emit(
            Pending(
                event_type,
                catalog.ERP_SOURCE,
                invoice.invoice_id,
                invoice.customer.customer_id,
                at,
                catalog.ERP_TZ,
                data,
                invoice.refs,
            )
        )

    def _payments(self, invoice: _Invoice, total: int, issued_nat: int) -> None:
        rng = self.ctx.rng
        behaviour = rng.random()
        if total <= 0:
            return
        if behaviour < 0.72:
            plan = [(issued_nat + int(rng.uniform(5, 40) * DAY), total)]
        elif behaviour < 0.84:
            first = round(total * rng.uniform(0.3, 0.7))
            plan = [
                (issued_nat + int(rng.uniform(10, 30) * DAY), first),
                (issued_nat + int(rng.uniform(35, 70) * DAY), total - first),
            ]
        elif behaviour < 0.93:
            plan = [(issued_nat + int(rng.uniform(35, 80) * DAY), total)]
        else:
            plan = []  # never paid: overdue once the due date passes
        for paid_nat, cents in plan:
            paid = invoice.warp(paid_nat)
            data = {
                "invoiceId": invoice.invoice_id,
                "paymentId": f"PAY-{self.ctx.payment_no():07d}",
                "amount": amount(cents),
                "paidAt": _erp_time(paid),
            }
            self._emit(invoice, INVOICE_PAYMENT, paid, data)


@dataclass(frozen=True, slots=True)
class _Invoice:
    """One issued invoice, as every event about it names it."""

    customer: CustomerProfile
    invoice_id: str
    warp: Warp
    refs: tuple[str, ...]


def _reduced(charge: Charge) -> Charge:
    return replace(charge, cents=charge.cents * 9 // 10)


def _erp_time(epoch: int) -> str:
    return rfc3339(epoch, catalog.ERP_TZ)
