"""Builders and Hypothesis strategies for realistic inbound event streams.

Every event is built as the JSON a producer would publish and decoded with the real decoder,
so the reducers under test only ever see what production would give them. Streams respect
the contract's promises (one customer, per-(source, subject) strictly increasing sequences,
timestamps with offsets) and exercise its disorder: several sources per shipment, restated
milestones and payments, repeated stages, ties in ``occurredAt``, snapshots superseding
each other, cancellations before snapshots. With ``customers=`` the entity streams break
the first promise: facts of the entity reported by other customers than its snapshots'.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from projections.events import Event, decode_event
from readmodel.documents import FULFILLMENT_STAGES

CUSTOMER = "ACME"
ORDER_ID = "SO-100234"
SHIPMENT_ID = "SH-55021"
INVOICE_ID = "INV-2026-004411"
ERP = "erp/s4-prod"
WMS = "wms/dc-atl"
BASE_TIME = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

X12_CODES = "X3 AF P1 I1 OA X6 AG X2 AV X1 AH AP D1 CD SD A9 A7 CA".split()
EU_ROAD_CODES = (
    "COLLECTED LINEHAUL AT_HUB OUT_FOR_DELIVERY DELIVERED NOT_DELIVERED DELAYED DAMAGED "
    "RETURNED".split()
)
UNKNOWN_CODES = ("ZZ", "X9", "IN_ORBIT")
#: Milestone sources and the codes they send; the last source is unknown to the mapping.
MILESTONE_SOURCES: Mapping[str, tuple[str, ...]] = {
    "tms/us-road": (*X12_CODES, *UNKNOWN_CODES),
    "tms/us-parcel": (*X12_CODES, *UNKNOWN_CODES),
    "tms/eu-road": (*EU_ROAD_CODES, *UNKNOWN_CODES),
    "tms/new-carrier": ("PU", "DL"),
}

_OFFSETS = (UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=1, minutes=30)))


def rfc3339(moment: datetime, offset: int = 0) -> str:
    """``moment`` rendered in one of a few offsets, as producers in several zones would."""
    local = moment.astimezone(_OFFSETS[offset % len(_OFFSETS)])
    text = local.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def at(minutes: float, offset: int = 0) -> str:
    """A timestamp ``minutes`` after ``BASE_TIME``."""
    return rfc3339(BASE_TIME + timedelta(minutes=minutes), offset)


def address(city: str = "Atlanta") -> dict[str, Any]:
    return {
        "line1": "100 Logistics Pkwy",
        "city": city,
        "region": "GA",
        "postalCode": "30336",
        "countryCode": "US",
    }


# --- payload builders (contract field names) ----------------------------------------------


def order_snapshot(
    *, reference: str = "PO-88812", lines: int = 2, warehouse: str = "DC-ATL"
) -> dict[str, Any]:
    return {
        "orderId": ORDER_ID,
        "customerId": CUSTOMER,
        "customerReference": reference,
        "orderType": "OUTBOUND",
        "orderedAt": at(0),
        "requestedDeliveryDate": "2026-11-24",
        "shipFrom": {"warehouseId": warehouse, "name": "Atlanta DC", "address": address()},
        "shipTo": {"name": "Acme Store 112", "address": address("Chicago")},
        "lines": [
            {
                "lineNumber": n,
                "sku": f"SKU-{n}",
                "description": f"Item {n}",
                "quantity": 10 * n,
                "uom": "EA",
            }
            for n in range(1, lines + 1)
        ],
    }


def shipment_plan(
    *, order_ids: tuple[str, ...] = (ORDER_ID,), delivery: float = 4000
) -> dict[str, Any]:
    return {
        "shipmentId": SHIPMENT_ID,
        "customerId": CUSTOMER,
        "orderIds": list(order_ids),
        "mode": "LTL",
        "carrier": {"scac": "ODFL", "name": "Old Dominion"},
        "trackingNumber": "7712093341",
        "origin": address(),
        "destination": address("Chicago"),
        "plannedPickupAt": at(60),
        "plannedDeliveryAt": at(delivery),
        "serviceLevel": "STANDARD",
    }


def milestone(
    milestone_id: str,
    code: str,
    minutes: float,
    *,
    eta: float | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "shipmentId": SHIPMENT_ID,
        "milestoneId": milestone_id,
        "statusCode": code,
        "occurredAt": at(minutes, offset),
        "location": {"city": "Atlanta", "countryCode": "US", "lat": 33.75, "lon": -84.39},
    }
    if eta is not None:
        payload["estimatedDeliveryAt"] = at(eta)
    return payload


def invoice(
    *, total: str = "909.89", lines: tuple[str, ...] = ("812.40", "97.49")
) -> dict[str, Any]:
    return {
        "invoiceId": INVOICE_ID,
        "customerId": CUSTOMER,
        "invoiceNumber": "4411",
        "issuedAt": at(5000),
        "dueDate": "2026-12-25",
        "currency": "USD",
        "lines": [
            {
                "description": f"charge {n}",
                "chargeType": "FREIGHT",
                "amount": amount,
                "orderId": ORDER_ID,
                "shipmentId": SHIPMENT_ID,
            }
            for n, amount in enumerate(lines)
        ],
        "subtotal": total,
        "tax": "0.00",
        "total": total,
        "documentUrl": "https://docs.example/inv.pdf",
    }


# --- envelopes ----------------------------------------------------------------------------

_TYPE_SUBJECT_FIELD = {
    "order": "orderId",
    "fulfillment": "orderId",
    "shipment": "shipmentId",
    "invoice": "invoiceId",
    "source": "source",
}


def envelope(
    event_type: str,
    data: Mapping[str, Any],
    *,
    source: str,
    sequence: int,
    event_id: str | None = None,
    time: str | None = None,
    customer: str = CUSTOMER,
) -> dict[str, Any]:
    """A structured-mode CloudEvent around ``data``, as the contract describes it."""
    full_type = event_type if event_type.startswith("logistics.") else f"logistics.{event_type}.v1"
    subject = str(data[_TYPE_SUBJECT_FIELD[full_type.split(".")[1]]])
    return {
        "specversion": "1.0",
        "id": event_id or f"{source}-{sequence}",
        "source": source,
        "type": full_type,
        "subject": subject,
        "time": time or at(sequence),
        "datacontenttype": "application/json",
        "customerid": customer,
        "sequence": sequence,
        "data": dict(data),
    }


def event(event_type: str, data: Mapping[str, Any], **kwargs: Any) -> Event:
    """Build and decode one event; ``event_type`` like ``"shipment.milestone"``."""
    return decode_event(json.dumps(envelope(event_type, data, **kwargs)).encode())


class Stream:
    """Assigns per-source sequences in production order, as a producer would."""

    def __init__(self) -> None:
        self._sequences: dict[str, int] = defaultdict(int)
        self.events: list[Event] = []

    def add(self, event_type: str, data: Mapping[str, Any], *, source: str, **kwargs: Any) -> Event:
        self._sequences[source] += 1
        built = event(event_type, data, source=source, sequence=self._sequences[source], **kwargs)
        self.events.append(built)
        return built


def source_order(events: list[Event]) -> list[Event]:
    """Each distinct delivery once, per source in sequence order (the reference fold)."""
    distinct = {(e.source, e.id): e for e in events}
    return sorted(distinct.values(), key=lambda e: (e.source, e.sequence, e.id))


# --- strategies ---------------------------------------------------------------------------

#: Minutes after BASE_TIME; a coarse grid so that ties in occurredAt happen often.
minutes = st.integers(min_value=0, max_value=40).map(lambda m: m * 30)
offsets = st.integers(min_value=0, max_value=2)
amounts = st.decimals(min_value=0, max_value=500, places=2).map(lambda d: f"{d:.2f}")

#: One event to produce: (event type, payload, source, extra envelope fields).
Produced = tuple[str, dict[str, Any], str, dict[str, Any]]


#: Customers that report facts for another customer's entities in ``customers=`` streams.
OTHER_CUSTOMERS = ("GLOBEX", "INITECH")
#: Event types that restate their entity whole, naming its customer (``Event.is_snapshot``).
_SNAPSHOTS = frozenset({"order.created", "order.updated", "shipment.planned", "invoice.issued"})


def _produce(
    draw: st.DrawFn, produced: list[Produced], customers: tuple[str, ...] = (CUSTOMER,)
) -> list[Event]:
    """Events in a drawn production order, with per-source sequences assigned in it; each
    event but a snapshot (always ``CUSTOMER``'s) is reported by one of ``customers``."""
    stream = Stream()
    for event_type, payload, source, extra in draw(st.permutations(produced)):
        if event_type not in _SNAPSHOTS and len(customers) > 1:
            extra = {**extra, "customer": draw(st.sampled_from(customers))}
        stream.add(event_type, payload, source=source, **extra)
    return stream.events


@st.composite
def order_streams(draw: st.DrawFn, customers: tuple[str, ...] = (CUSTOMER,)) -> list[Event]:
    """ERP snapshots and cancellations plus WMS progress for one order."""
    produced: list[Produced] = []
    for n in range(draw(st.integers(0, 3))):
        payload = order_snapshot(
            reference=draw(st.sampled_from(["PO-1", "PO-2", "PO-3"])),
            lines=draw(st.integers(1, 4)),
        )
        produced.append(("order.created" if n == 0 else "order.updated", payload, ERP, {}))
    for _ in range(draw(st.integers(0, 2))):
        cancel = {
            "orderId": ORDER_ID,
            "reason": draw(st.sampled_from(["duplicate", "customer request"])),
            "cancelledAt": at(draw(minutes), draw(offsets)),
        }
        produced.append(("order.cancelled", cancel, ERP, {}))
    for _ in range(draw(st.integers(0 if produced else 1, 6))):
        source = draw(st.sampled_from([WMS, WMS, "wms/dc-chi"]))
        produced.append(("fulfillment.progressed", draw(fulfillment_payloads()), source, {}))
    return _produce(draw, produced, customers)


@st.composite
def fulfillment_payloads(draw: st.DrawFn) -> dict[str, Any]:
    stage = draw(st.sampled_from(FULFILLMENT_STAGES))
    payload: dict[str, Any] = {
        "orderId": ORDER_ID,
        "warehouseId": draw(st.sampled_from(["DC-ATL", "DC-CHI"])),
        "stage": stage,
        "occurredAt": at(draw(minutes), draw(offsets)),
    }
    if FULFILLMENT_STAGES.index(stage) >= FULFILLMENT_STAGES.index("LOADED"):
        payload["shipmentId"] = draw(st.sampled_from(["SH-1", "SH-2"]))
        units = draw(st.lists(st.sampled_from(["0030001", "0030002", "0030003"]), unique=True))
        payload["handlingUnits"] = [
            {"sscc": s, "weightKg": draw(st.sampled_from([10, 12.5, 212.5]))} for s in units
        ]
    lines = []
    for number in draw(st.lists(st.integers(1, 4), unique=True, max_size=4)):
        line: dict[str, Any] = {"lineNumber": number}
        if draw(st.booleans()):
            line["quantityPicked"] = draw(st.integers(0, 5))
        if draw(st.booleans()):
            line["quantityShipped"] = draw(st.integers(0, 5))
        lines.append(line)
    if lines:
        payload["lines"] = lines
    return payload


@st.composite
def shipment_streams(draw: st.DrawFn, customers: tuple[str, ...] = (CUSTOMER,)) -> list[Event]:
    """Plans, milestones from several sources (restated, tied, unknown), POD, cancellation."""
    produced: list[Produced] = []
    for _ in range(draw(st.integers(0, 3))):
        plan = shipment_plan(
            order_ids=tuple(draw(st.lists(st.sampled_from(["SO-1", "SO-2"]), min_size=1))),
            delivery=draw(st.sampled_from([3000, 4000])),
        )
        produced.append(("shipment.planned", plan, "tms/us-road", {}))
    for _ in range(draw(st.integers(1, 8))):
        source = draw(st.sampled_from(sorted(MILESTONE_SOURCES)))
        payload = milestone(
            f"ms-{draw(st.integers(1, 4))}",
            draw(st.sampled_from(MILESTONE_SOURCES[source])),
            draw(minutes),
            eta=draw(st.none() | st.sampled_from([3500.0, 4500.0])),
            offset=draw(offsets),
        )
        produced.append(("shipment.milestone", payload, source, {}))
    for _ in range(draw(st.integers(0, 2))):
        pod = {
            "shipmentId": SHIPMENT_ID,
            "signedBy": draw(st.sampled_from(["J. RIVERA", "K. LEE"])),
            "capturedAt": at(draw(minutes)),
            "documentUrl": "https://docs.example/pod.pdf",
        }
        produced.append(("shipment.pod-captured", pod, "tms/us-road", {}))
    if draw(st.integers(0, 4)) == 0:
        cancel = {"shipmentId": SHIPMENT_ID, "reason": "customer", "cancelledAt": at(draw(minutes))}
        produced.append(("shipment.cancelled", cancel, "tms/us-road", {}))
    return _produce(draw, produced, customers)


@st.composite
def invoice_streams(draw: st.DrawFn, customers: tuple[str, ...] = (CUSTOMER,)) -> list[Event]:
    """Issued snapshots, payments (some restated under one paymentId), maybe a void."""
    produced: list[Produced] = []
    for _ in range(draw(st.integers(0, 3))):
        charges = tuple(draw(st.lists(amounts, min_size=1, max_size=3)))
        total = f"{sum(Decimal(c) for c in charges):.2f}"
        produced.append(("invoice.issued", invoice(total=total, lines=charges), ERP, {}))
    for _ in range(draw(st.integers(0 if produced else 1, 4))):
        payment = {
            "invoiceId": INVOICE_ID,
            "paymentId": f"PAY-{draw(st.integers(1, 3))}",
            "amount": draw(amounts),
            "paidAt": at(draw(minutes) + 6000),
        }
        produced.append(("invoice.payment-recorded", payment, ERP, {}))
    if draw(st.integers(0, 3)) == 0:
        void = {"invoiceId": INVOICE_ID, "reason": "rebilled", "voidedAt": at(draw(minutes))}
        produced.append(("invoice.voided", void, ERP, {}))
    return _produce(draw, produced, customers)


@st.composite
def source_status_streams(draw: st.DrawFn) -> list[Event]:
    produced: list[Produced] = []
    for _ in range(draw(st.integers(1, 4))):
        payload: dict[str, Any] = {
            "source": ERP,
            "status": draw(st.sampled_from(["AVAILABLE", "MAINTENANCE", "DEGRADED"])),
            "message": draw(st.sampled_from(["upgrade", "all good"])),
        }
        if draw(st.booleans()):
            payload["expectedBackAt"] = at(draw(minutes))
        produced.append(("source.status-changed", payload, ERP, {"customer": "*"}))
    return _produce(draw, produced)


def deliveries(events: list[Event]) -> st.SearchStrategy[list[Event]]:
    """What the backbone may deliver: every event at least once, repeats, any order."""
    repeats = st.lists(st.sampled_from(events), max_size=len(events)) if events else st.just([])
    return repeats.flatmap(lambda extra: st.permutations([*events, *extra]))
