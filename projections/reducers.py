"""Pure reducers: (current document, event) -> new document. No I/O, input never mutated.

Why the result does not depend on delivery order
------------------------------------------------
Upstream delivers at least once, retries can reorder a key, and topics are not ordered
against each other. Every reducer is therefore a *merge*: the stored document is a function
of the set of distinct events applied, whatever order they came in and however often.

* **Snapshots** (order created/updated, shipment planned, invoice issued, source status) win
  by the version ``[sequence, time, source, id]``; a snapshot not newer than the stored one
  changes nothing. Within one ``(source, subject)`` that is the contract's sequence rule; across
  sources (not expected: one system of record per entity) the comparison is arbitrary but
  deterministic.
* **Keyed facts** (milestones by ``(source, milestoneId)``, payments by ``paymentId``,
  fulfillment lines by ``lineNumber``, handling units by ``sscc``) are merged per key; a
  restatement of a key replaces it only when its version is higher, so redeliveries are
  harmless and need no list of seen event ids.
* **One-off facts** (cancellation, void, proof of delivery, the step of a fulfillment stage)
  keep a single winner chosen by a total order: the *first* cancellation/void/stage step by
  ``(time, source, event id)`` (when it happened), the *latest* proof of delivery.
* **Derived fields** (shipment status, ETA, deliveredAt, unknown-code count, fulfillment
  stage, invoice amounts and status) are recomputed from the merged facts on every event, with
  the status mapping in force: a mapping change reaches a shipment with its next event.

The versions needed for this live in the writer's own ``_xxxState`` field. Version keys are
lists of JSON-like scalars (timestamps as fixed-width UTC strings), so they survive a BSON
round trip unchanged and compare the same afterwards.

Ownership: each reducer writes only the fields its topic owns (see ``documents``) plus
``customerId``, ``known`` (set to False only when absent; True only by the system-of-record
snapshot) and ``_id`` on a new document. It never writes ``rev``, ``updatedAt``,
``lastEvent`` or ``related``.

Tenancy: a snapshot is authoritative for ``customerId``, and what a document shows is the
merge of its snapshot's customer's events alone, whatever arrived when:

* any other event whose ``customerid`` differs from a *known* document's customer raises
  ``ConflictingEvent`` (dead-lettered: its data must not land in another tenant's document);
* before the snapshot, the document takes the customer of the first event that reports a
  fact; an event of another customer is merged, by the same reducers, into a document of
  that customer's own kept in ``_foreignFacts`` (``FOREIGN_FACTS``), never into the shown
  fields;
* a snapshot naming another customer than the document's swaps them: the facts shown so far
  go to ``_foreignFacts`` under their customer, that customer's set-aside facts (if any)
  come back, and every derived field is recomputed. This is the one place where a reducer
  writes fields another topic owns (the order snapshot moves the WMS's fulfillment).

Facts stored before ``_foreignFacts`` existed carry no customer: they are the document's
customer's, as they always were read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Context, Decimal, localcontext
from functools import partial
from typing import Any, Final, Literal, TypeVar

from projections.event_schema import (
    Address,
    EventData,
    FulfillmentProgressed,
    InvoiceIssued,
    InvoiceVoided,
    OrderCancelled,
    OrderSnapshot,
    PaymentRecorded,
    Piece,
    PodCaptured,
    ShipmentCancelled,
    ShipmentMilestone,
    ShipmentPlanned,
    SourceStatusChanged,
    wire_names,
)
from projections.events import Event, InvalidEvent
from projections.status_mapping import StatusMapping
from readmodel.documents import FOREIGN_FACTS, FULFILLMENT_STAGES, field_key
from readmodel.quoting import quoted
from readmodel.search_keys import tracking_key

Doc = dict[str, Any]
Version = list[Any]

#: Bump with every change that makes the reducers build other documents from the same
#: events (a rebuild is how existing documents get it). A rebuild records it with its
#: generation (``projections.generation_config``), and a projector running other reducers
#: refuses to write that generation: it would undo the change document by document.
#: 2 (session 22): search keys in ``search_keys.search_form``; shipments' ``trackingKey``.
REDUCER_VERSION: Final = 2
_D = TypeVar("_D")


class ConflictingEvent(InvalidEvent):
    """A well-formed event that contradicts the document it targets (e.g. another tenant).

    A subclass of ``InvalidEvent`` so the projector dead-letters it like a broken record.
    """


def apply(doc: Mapping[str, Any] | None, event: Event, mapping: StatusMapping) -> Doc:
    """The whole new document of ``event.entity_kind``/``event.entity_id`` after ``event``.

    ``doc`` is the whole current document (None when there is none yet); it is not mutated.
    Raises ``ConflictingEvent`` when the event must not be applied to this document.
    """
    if doc is not None and doc.get("_id", event.entity_id) != event.entity_id:
        raise ValueError(f"event for {event.entity_id!r} applied to document {doc.get('_id')!r}")
    new: Doc = dict(doc) if doc is not None else {}
    new.setdefault("_id", event.entity_id)
    reducer = _REDUCERS[type(event.data)]
    if _is_set_aside(new, event):
        _apply_aside(new, event, mapping, reducer)
    else:
        reducer(new, event, mapping)
    return new


# --- shared helpers -----------------------------------------------------------------------


def _stamp(value: datetime) -> str:
    """Fixed-width UTC timestamp: sorts as text exactly as the instants sort."""
    return _utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _utc(value: datetime) -> datetime:
    """Stored datetimes come back aware (tz_aware client); a naive one is taken as UTC."""
    if value.tzinfo is UTC:  # decoded events and stored documents: nothing to convert
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _snapshot_version(event: Event) -> Version:
    return [event.sequence, _stamp(event.time), event.source, event.id]


def _is_newer(candidate: Version, stored: Any) -> bool:
    return stored is None or candidate > list(stored)


def _is_earlier(candidate: Version, stored: Any) -> bool:
    return stored is None or candidate < list(stored)


def _state(doc: Doc, name: str) -> Doc:
    """A private copy of the writer's bookkeeping, safe to change."""
    current = doc.get(name)
    # A dict (what reducers and the driver give) is told without the costlier ABC check.
    return dict(current) if type(current) is dict or isinstance(current, Mapping) else {}


def _one_off(
    doc: Doc,
    event: Event,
    state_name: str,
    fact: str,
    at: datetime,
    winner: Literal["first", "latest"],
) -> tuple[Doc, bool]:
    """The writer's bookkeeping, and whether ``event`` is the winning report of a one-off
    ``fact`` (a cancellation, a void, a proof of delivery): the first or the latest by
    ``(at, source, id)``. A winner's version is recorded; the customer is taken either way."""
    _take_customer(doc, event, authoritative=False)
    state = _state(doc, state_name)
    version = [_stamp(at), event.source, event.id]
    wins = (_is_earlier if winner == "first" else _is_newer)(version, state.get(fact))
    if wins:
        state[fact] = version
    return state, wins


def customer_conflict(event: Event, current: object) -> str:
    """Why ``event`` is refused by a document of customer ``current`` (reason class
    ``customer conflict``, ``metrics.reason_class``)."""
    return (
        f"customerid {quoted(event.customer_id)} does not match the customer "
        f"{quoted(str(current))} of {event.entity_kind} {quoted(event.entity_id)}"
    )


def _take_customer(doc: Doc, event: Event, *, authoritative: bool) -> None:
    current = doc.get("customerId")
    if (
        not authoritative
        and doc.get("known") is True
        and current is not None
        and current != event.customer_id
    ):
        raise ConflictingEvent(customer_conflict(event, current))
    doc["customerId"] = event.customer_id
    doc.setdefault("known", False)


def _as_sent(data: Piece, *attributes: str) -> Doc:
    """Fields a document keeps as the payload sent them, under the contract's names."""
    names = wire_names(type(data))
    return {names[attribute]: getattr(data, attribute) for attribute in attributes}


def _address(address: Address) -> Doc:
    return {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postalCode": address.postal_code,
        "countryCode": address.country_code,
    }


def _sorted_distinct(values: Iterable[str | None]) -> list[str]:
    return sorted({value for value in values if value is not None})


# --- orders: ERP-owned fields -------------------------------------------------------------

_ORDER_STATE: Final = "_orderState"


def _cancellation_defaults(doc: Doc) -> None:
    """An order's and a shipment's cancellation fields before any cancellation is known."""
    doc.setdefault("cancelled", False)
    doc.setdefault("cancellation", None)


def _order_fields(data: OrderSnapshot) -> Doc:
    return dict(
        _as_sent(data, "customer_reference", "order_type", "ordered_at", "requested_delivery_date"),
        shipFrom={
            "warehouseId": data.ship_from.warehouse_id,
            "name": data.ship_from.name,
            "address": _address(data.ship_from.address),
        },
        shipTo={"name": data.ship_to.name, "address": _address(data.ship_to.address)},
        warehouseId=data.ship_from.warehouse_id,
        lines=[
            {
                "lineNumber": line.line_number,
                "sku": line.sku,
                "description": line.description,
                "quantity": line.quantity,
                "uom": line.uom,
            }
            for line in sorted(data.lines, key=lambda line: line.line_number)
        ],
    )


def _finish_order(doc: Doc, state: Doc) -> None:
    _cancellation_defaults(doc)
    doc[_ORDER_STATE] = state


def _order_cancelled(doc: Doc, event: Event, mapping: StatusMapping) -> None:
    """Cancellation is sticky: a later snapshot updates the order but never revives it."""
    data = _data(event, OrderCancelled)
    state, wins = _one_off(doc, event, _ORDER_STATE, "cancellation", data.cancelled_at, "first")
    _cancellation_defaults(doc)
    if wins:
        doc["cancellation"] = {"reason": data.reason, "cancelledAt": data.cancelled_at}
    doc["cancelled"] = True
    doc[_ORDER_STATE] = state


# --- orders: WMS-owned fields -------------------------------------------------------------

_FULFILLMENT_STATE: Final = "_fulfillmentState"
_STAGE_RANK: Final = {stage: rank for rank, stage in enumerate(FULFILLMENT_STAGES)}
#: The fields of a fulfillment line that reports set (``_fulfillment_progressed``), in name
#: order, each with the report's attribute it comes from: the one list of them for reading,
#: merging and writing a line (a field missing here would be dropped from the document).
_LINE_ATTRIBUTES: Final = {
    "quantityPicked": "quantity_picked",
    "quantityShipped": "quantity_shipped",
}
_LINE_FIELDS: Final = tuple(_LINE_ATTRIBUTES)


def _fulfillment_progressed(doc: Doc, event: Event, mapping: StatusMapping) -> None:
    """Merge one warehouse progress report into the order's fulfillment.

    * history: one step per stage, the first report of it by ``(occurredAt, source,
      sequence, id)`` (when the stage was reached); the stage is the furthest one seen;
    * line quantities and handling-unit weights: per line/field and per SSCC, the latest
      report by the same key wins (a later count corrects an earlier one);
    * shipment ids: the union of every shipment any report named.

    Line and handling-unit versions are stored as indexes into one sorted list of the
    distinct report versions still in use, which keeps a 2,000-line order's bookkeeping
    small (a few report versions, two small integers per line).
    """
    data = _data(event, FulfillmentProgressed)
    _take_customer(doc, event, authoritative=False)
    state = _state(doc, _FULFILLMENT_STATE)
    previous = doc.get("fulfillment") or {}
    version: Version = [_stamp(data.occurred_at), event.source, event.sequence, event.id]
    steps, history = _merge_steps(state, previous, data, version)
    versions: list[Version] = [list(v) for v in state.get("versions", [])]
    lines = _read_line_versions(previous.get("lines", []), state.get("lines") or {}, versions)
    for progress in data.lines or ():
        entry = lines.setdefault(progress.line_number, {})
        for field, attribute in _LINE_ATTRIBUTES.items():
            value = getattr(progress, attribute)
            if value is not None and _is_newer(version, entry.get(field, (None, None))[1]):
                entry[field] = (value, version)
    units = _read_unit_versions(
        previous.get("handlingUnits", []), state.get("handlingUnits") or {}, versions
    )
    for unit in data.handling_units or ():
        if _is_newer(version, units.get(unit.sscc, (None, None))[1]):
            units[unit.sscc] = (unit.weight_kg, version)
    shipment_ids = _sorted_distinct([*previous.get("shipmentIds", []), data.shipment_id])
    _write_fulfillment(doc, steps, history, lines, units, shipment_ids)


def _merge_steps(
    state: Mapping[str, Any],
    previous: Mapping[str, Any],
    data: FulfillmentProgressed,
    version: Version,
) -> tuple[dict[str, Version], dict[str, dict[str, Any]]]:
    """The version that reached each stage first, and the history step of each stage."""
    steps: dict[str, Version] = {k: list(v) for k, v in (state.get("steps") or {}).items()}
    history = {step["stage"]: step for step in previous.get("history", [])}
    if _is_earlier(version, steps.get(data.stage)):
        steps[data.stage] = version
        history[data.stage] = {
            "stage": data.stage,
            "occurredAt": data.occurred_at,
            "warehouseId": data.warehouse_id,
            "shipmentId": data.shipment_id,
        }
    return steps, history


def _write_fulfillment(
    doc: Doc,
    steps: dict[str, Version],
    history: dict[str, dict[str, Any]],
    lines: dict[int, dict[str, tuple[int, Version]]],
    units: dict[str, tuple[float, Version]],
    shipment_ids: list[str],
) -> None:
    """The merged fulfillment, and its bookkeeping with versions stored as indexes.

    Lines and handling units are gone through once each, in number (SSCC) order, for both
    the document and the bookkeeping (a line's fields in ``_LINE_FIELDS`` order, which is
    their name order): this runs for every progress report, over the whole order."""
    ordered_steps = sorted(history.values(), key=lambda step: _STAGE_RANK[step["stage"]])
    furthest = ordered_steps[-1]
    in_use = sorted(
        {tuple(v) for entry in lines.values() for _, v in entry.values()}
        | {tuple(v) for _, v in units.values()}
    )
    index = {v: i for i, v in enumerate(in_use)}
    shown_lines: list[Doc] = []
    line_versions: dict[str, list[int]] = {}
    for number in sorted(lines):
        entry = lines[number]
        shown: Doc = {"lineNumber": number}
        positions: list[int] = []
        for name in _LINE_FIELDS:
            held = entry.get(name)
            if held is None:
                positions.append(-1)
            else:
                shown[name] = held[0]
                positions.append(index[tuple(held[1])])
        shown_lines.append(shown)
        line_versions[str(number)] = positions
    ssccs = sorted(units)
    doc["fulfillment"] = {
        "stage": furthest["stage"],
        "warehouseId": furthest["warehouseId"],
        "history": ordered_steps,
        "handlingUnits": [{"sscc": sscc, "weightKg": units[sscc][0]} for sscc in ssccs],
        "lines": shown_lines,
        "shipmentIds": shipment_ids,
    }
    doc["fulfillmentStage"] = furthest["stage"]
    doc[_FULFILLMENT_STATE] = {
        "steps": steps,
        "versions": [list(v) for v in in_use],
        "lines": line_versions,
        "handlingUnits": {field_key(sscc): index[tuple(units[sscc][1])] for sscc in ssccs},
    }


def _read_line_versions(
    stored_lines: Iterable[Mapping[str, Any]],
    stored_index: Mapping[str, list[int]],
    versions: list[Version],
) -> dict[int, dict[str, tuple[int, Version]]]:
    lines: dict[int, dict[str, tuple[int, Version]]] = {}
    for line in stored_lines:
        number = int(line["lineNumber"])
        positions = stored_index.get(str(number), [-1] * len(_LINE_FIELDS))
        entry: dict[str, tuple[int, Version]] = {}
        for field, position in zip(_LINE_FIELDS, positions, strict=True):
            if field in line and position >= 0:
                entry[field] = (int(line[field]), versions[position])
        lines[number] = entry
    return lines


def _read_unit_versions(
    stored_units: Iterable[Mapping[str, Any]],
    stored_index: Mapping[str, int],
    versions: list[Version],
) -> dict[str, tuple[float, Version]]:
    units: dict[str, tuple[float, Version]] = {}
    for unit in stored_units:
        sscc = str(unit["sscc"])
        position = stored_index.get(field_key(sscc), -1)
        if position >= 0:
            units[sscc] = (float(unit["weightKg"]), versions[position])
    return units


# --- shipments ----------------------------------------------------------------------------

_SHIPMENT_STATE: Final = "_shipmentState"
#: Marks a stored milestone without a ``status`` key (never equal to a mapped status).
_NO_STATUS: Final = object()


def _shipment_defaults(doc: Doc) -> None:
    doc.setdefault("milestones", [])
    doc.setdefault("pod", None)
    _cancellation_defaults(doc)


def _shipment_plan_fields(data: ShipmentPlanned) -> Doc:
    return dict(
        _as_sent(
            data,
            "mode",
            "tracking_number",
            "planned_pickup_at",
            "planned_delivery_at",
            "service_level",
        ),
        orderIds=_sorted_distinct(data.order_ids),
        carrier={"scac": data.carrier.scac, "name": data.carrier.name},
        carrierScac=data.carrier.scac,
        trackingKey=tracking_key(data.tracking_number),
        origin=_address(data.origin),
        destination=_address(data.destination),
    )


def _shipment_milestone(doc: Doc, event: Event, mapping: StatusMapping) -> None:
    """Merge a milestone by ``(source, milestoneId)``; a restatement wins by sequence."""
    data = _data(event, ShipmentMilestone)
    _take_customer(doc, event, authoritative=False)
    state = _state(doc, _SHIPMENT_STATE)
    versions = _milestone_versions(state)
    key = (event.source, data.milestone_id)
    version: Version = [event.sequence, event.id]
    if _is_newer(version, versions.get(key)):
        versions[key] = version
        milestones = [
            m for m in doc.get("milestones", []) if (m.get("source"), m.get("milestoneId")) != key
        ]
        location = data.location
        milestones.append(
            {
                "source": event.source,
                "milestoneId": data.milestone_id,
                "rawCode": data.status_code,
                "status": None,
                "reasonCode": data.reason_code,
                "occurredAt": data.occurred_at,
                "location": None
                if location is None
                else {
                    "city": location.city,
                    "region": location.region,
                    "countryCode": location.country_code,
                    "lat": location.lat,
                    "lon": location.lon,
                },
                "estimatedDeliveryAt": data.estimated_delivery_at,
                "signedBy": data.signed_by,
            }
        )
        doc["milestones"] = milestones
        state["milestones"] = [[s, m, *v] for (s, m), v in sorted(versions.items())]
    _finish_shipment(doc, state, mapping, versions)


def _milestone_versions(state: Mapping[str, Any]) -> dict[tuple[str, str], Version]:
    return {(str(entry[0]), str(entry[1])): entry[2:] for entry in state.get("milestones", [])}


def milestone_versions(doc: Mapping[str, Any]) -> dict[tuple[str, str], Version]:
    """``(source, milestoneId)`` -> ``[sequence, event id]`` of the statement of each
    milestone a shipment document shows: a restatement that wins changes it."""
    state = doc.get(_SHIPMENT_STATE)
    return _milestone_versions(state) if isinstance(state, Mapping) else {}


def rederived(kind: str, doc: Mapping[str, Any], mapping: StatusMapping) -> Doc:
    """``doc`` (of entity ``kind``; not mutated) with what derives from the status mapping
    recomputed under ``mapping``, as the shipment's next event recomputes it: its facts, and
    those set aside for other customers, as stored. What a document holding every event
    sent to it looks like once the mapping changes (``holdings`` compares with this); only
    finished shipments derive anything from the mapping, others come back as they are."""
    new: Doc = dict(doc)
    if kind != "shipments" or "milestones" not in new:
        return new
    finish = partial(_refinish_shipment, mapping=mapping)
    finish(new)
    entries = _foreign_entries(new)
    if entries:
        for customer in list(entries):
            _step_aside(new["_id"], kind, entries, customer, finish)
        _store_foreign(new, entries)
    return new


def _refinish_shipment(doc: Doc, mapping: StatusMapping) -> None:
    _finish_shipment(doc, _state(doc, _SHIPMENT_STATE), mapping)


def _pod_captured(doc: Doc, event: Event, mapping: StatusMapping) -> None:
    """The latest proof of delivery by ``(capturedAt, source, id)`` is the one shown."""
    data = _data(event, PodCaptured)
    state, wins = _one_off(doc, event, _SHIPMENT_STATE, "pod", data.captured_at, "latest")
    if wins:
        doc["pod"] = {
            "signedBy": data.signed_by,
            "capturedAt": data.captured_at,
            "documentUrl": data.document_url,
        }
    _finish_shipment(doc, state, mapping)


def _shipment_cancelled(doc: Doc, event: Event, mapping: StatusMapping) -> None:
    """Sticky: a cancelled shipment stays CANCELLED whatever milestones follow."""
    data = _data(event, ShipmentCancelled)
    state, wins = _one_off(doc, event, _SHIPMENT_STATE, "cancellation", data.cancelled_at, "first")
    if wins:
        doc["cancellation"] = {"reason": data.reason, "cancelledAt": data.cancelled_at}
    doc["cancelled"] = True
    _finish_shipment(doc, state, mapping)


def _finish_shipment(
    doc: Doc,
    state: Doc,
    mapping: StatusMapping,
    versions: Mapping[tuple[str, str], Version] | None = None,
) -> None:
    """Recompute every derived shipment field from the merged facts.

    The timeline is sorted by ``(occurredAt, source, sequence, milestoneId)``: within one
    source at one instant the later-produced milestone counts as the later one. Status is
    that of the last milestone whose code maps to a portal status; informational codes
    (mapped to "") and unknown codes (unmapped) never move it, and both are stored with
    ``status: None`` (only unknown ones are counted). The ETA is the estimate of the last
    milestone carrying one, whatever its code (an estimate is an estimate), else the plan.

    ``versions``: ``_milestone_versions(state)`` when the caller has it already.
    """
    _shipment_defaults(doc)
    if versions is None:
        versions = _milestone_versions(state)

    def timeline_key(m: Mapping[str, Any]) -> tuple[datetime, str, int, str]:
        source, milestone_id = str(m["source"]), str(m["milestoneId"])
        held = versions.get((source, milestone_id))
        return (_utc(m["occurredAt"]), source, 0 if held is None else int(held[0]), milestone_id)

    milestones: list[Doc] = []
    unknown = 0
    status = "PLANNED"
    eta = doc.get("plannedDeliveryAt")
    delivered_at = None
    for stored in sorted(doc["milestones"], key=timeline_key):
        mapped = mapping.map(str(stored["source"]), str(stored["rawCode"]))
        if mapped is None:
            unknown += 1
        shown = mapped or None
        # Unchanged milestones are shared with the previous document, as the merge above
        # shares them: nothing mutates a milestone once built, and equal-by-identity
        # entries make the planner's comparisons of the two documents cheap.
        milestone = (
            stored if stored.get("status", _NO_STATUS) == shown else {**stored, "status": shown}
        )
        milestones.append(milestone)
        if shown:
            status = shown
        if milestone.get("estimatedDeliveryAt") is not None:
            eta = milestone["estimatedDeliveryAt"]
        if shown == "DELIVERED":
            delivered_at = milestone["occurredAt"]
    if doc["cancelled"]:
        status = "CANCELLED"

    doc["milestones"] = milestones
    doc["status"] = status
    doc["eta"] = eta
    doc["deliveredAt"] = delivered_at
    doc["unknownStatusCodes"] = unknown
    doc[_SHIPMENT_STATE] = state


# --- invoices -----------------------------------------------------------------------------

_INVOICE_STATE: Final = "_invoiceState"
#: Arithmetic on amounts: exact for what the decoder lets through (at most
#: ``event_fields.MAX_AMOUNT_DIGITS`` digits, so sums and differences of up to 34 integer and
#: 34 fractional digits, with room for any count of payments), where the default context's
#: 28 digits would round a sum or refuse to quantize it and fail the batch.
_EXACT: Final = Context(prec=100)
#: Decimal places used for amounts before the invoice (and so its currency scale) is known.
_DEFAULT_SCALE: Final = 2


def _invoice_fields(data: InvoiceIssued) -> Doc:
    return dict(
        _as_sent(data, "invoice_number", "issued_at", "due_date", "currency", "document_url"),
        lines=[
            {
                "description": line.description,
                "chargeType": line.charge_type,
                "amount": _plain(line.amount),
                "orderId": line.order_id,
                "shipmentId": line.shipment_id,
            }
            for line in data.lines
        ],
        subtotal=_plain(data.subtotal),
        tax=_plain(data.tax),
        total=_plain(data.total),
        orderIds=_sorted_distinct(line.order_id for line in data.lines),
        shipmentIds=_sorted_distinct(line.shipment_id for line in data.lines),
    )


def _payment_recorded(doc: Doc, event: Event, mapping: StatusMapping) -> None:
    """Payments are keyed by ``paymentId``; a restatement wins by ``[sequence, source, id]``."""
    data = _data(event, PaymentRecorded)
    _take_customer(doc, event, authoritative=False)
    state = _state(doc, _INVOICE_STATE)
    versions = {str(e[0]): list(e[1:]) for e in state.get("payments", [])}
    version: Version = [event.sequence, event.source, event.id]
    if _is_newer(version, versions.get(data.payment_id)):
        versions[data.payment_id] = version
        payments = [p for p in doc.get("payments", []) if p.get("paymentId") != data.payment_id]
        payments.append(
            {"paymentId": data.payment_id, "amount": _plain(data.amount), "paidAt": data.paid_at}
        )
        doc["payments"] = payments
        state["payments"] = [[pid, *v] for pid, v in sorted(versions.items())]
    _finish_invoice(doc, state)


def _invoice_voided(doc: Doc, event: Event, mapping: StatusMapping) -> None:
    """Sticky: a void is final; the first void by ``(voidedAt, source, id)`` is shown."""
    data = _data(event, InvoiceVoided)
    state, wins = _one_off(doc, event, _INVOICE_STATE, "void", data.voided_at, "first")
    if wins:
        doc["voidReason"] = data.reason
        doc["voidedAt"] = data.voided_at
    doc["voided"] = True
    _finish_invoice(doc, state)


def _finish_invoice(doc: Doc, state: Doc) -> None:
    """Recompute payments order, amountPaid, balance and status.

    Amounts use the scale of the invoice's ``total`` (its currency's minor unit as the ERP
    wrote it; 2 places before the invoice arrives, when there is no balance yet), widened
    only if a payment carries more places, so no amount is ever rounded away. Status: VOID
    once voided (sticky), PAID when the balance is 0 or less, else OPEN (OVERDUE is derived
    by readers from ``dueDate``).
    """
    doc.setdefault("payments", [])
    doc.setdefault("voided", False)
    doc.setdefault("voidReason", None)
    doc.setdefault("voidedAt", None)
    payments = sorted(doc["payments"], key=lambda p: (_utc(p["paidAt"]), str(p["paymentId"])))
    total_text = doc.get("total") if doc.get("known") else None
    total = Decimal(total_text) if isinstance(total_text, str) else None
    amounts = [Decimal(p["amount"]) for p in payments]
    base_scale = _DEFAULT_SCALE if total is None else _scale(total)
    scale = max([base_scale, *(_scale(a) for a in amounts)])
    with localcontext(_EXACT):
        paid = sum(amounts, Decimal(0))
        balance = None if total is None else total - paid
        paid_text = _plain(paid, scale)
        balance_text = None if balance is None else _plain(balance, scale)
    if doc["voided"]:
        status = "VOID"
    elif balance is not None and balance <= 0:
        status = "PAID"
    else:
        status = "OPEN"
    doc["payments"] = payments
    doc["amountPaid"] = paid_text
    doc["balance"] = balance_text
    doc["status"] = status
    doc[_INVOICE_STATE] = state


def _scale(amount: Decimal) -> int:
    return max(-int(amount.as_tuple().exponent), 0)


def _plain(amount: Decimal, scale: int | None = None) -> str:
    """A decimal string without exponent; quantized to ``scale`` places when given."""
    if scale is not None:
        amount = amount.quantize(Decimal(1).scaleb(-scale))
    if amount.is_zero():
        amount = amount.copy_abs()
    return format(amount, "f")


# --- sources ------------------------------------------------------------------------------

_SOURCE_STATE: Final = "_sourceState"


def _source_status_changed(doc: Doc, event: Event, mapping: StatusMapping) -> None:
    """What a source declared about itself; the newest declaration by sequence wins.

    Only ``declared`` and the bookkeeping are written: the I/O layer owns the freshness
    fields, and sources have no tenant (``customerid`` is ``*``).
    """
    data = _data(event, SourceStatusChanged)
    state = _state(doc, _SOURCE_STATE)
    if not _supersedes(state, event):
        return
    doc["declared"] = {
        "status": data.status,
        "message": data.message,
        "expectedBackAt": data.expected_back_at,
        "changedAt": event.time,
    }
    doc[_SOURCE_STATE] = state


# --- facts of another customer ------------------------------------------------------------

# Each entry of ``FOREIGN_FACTS`` is what the reducers would have written for its customer
# alone (``_apply_aside``); the field is absent when there are none.

#: The fields holding one customer's facts, by entity kind: shown facts and the derived
#: fields the snapshot's writer does not recompute (an order's fulfillment), then the
#: writers' bookkeeping, whose ``snapshot`` version stays with the document. A fact field
#: missing here would stay shown when the customer is swapped (the property tests over
#: streams of several customers compare every field).
_FACT_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "orders": ("cancelled", "cancellation", "fulfillment", "fulfillmentStage"),
    "shipments": ("milestones", "pod", "cancelled", "cancellation"),
    "invoices": ("payments", "voided", "voidReason", "voidedAt"),
}
_FACT_STATES: Final[dict[str, tuple[str, ...]]] = {
    "orders": (_ORDER_STATE, _FULFILLMENT_STATE),
    "shipments": (_SHIPMENT_STATE,),
    "invoices": (_INVOICE_STATE,),
}


def _is_set_aside(doc: Doc, event: Event) -> bool:
    """Whether ``event`` reports a fact of another customer than that of the facts the
    document holds, which is not known yet: it goes to ``FOREIGN_FACTS``. (Once known, the
    reducer refuses it; a document that holds no fact yet takes the event's customer.)"""
    current = doc.get("customerId")
    return (
        current is not None
        and current != event.customer_id
        and not event.is_snapshot
        and doc.get("known") is not True
        and event.entity_kind in _FACT_STATES
        and _holds_facts(doc, event.entity_kind)
    )


def _holds_facts(doc: Mapping[str, Any], kind: str) -> bool:
    return any(name != "snapshot" for state in _FACT_STATES[kind] for name in doc.get(state) or {})


def _facts_of(doc: Mapping[str, Any], kind: str) -> Doc:
    """The fields of ``doc`` that hold its customer's facts (``_FACT_FIELDS``)."""
    facts = {name: doc[name] for name in _FACT_FIELDS[kind] if name in doc}
    for name in _FACT_STATES[kind]:
        state = {k: v for k, v in (doc.get(name) or {}).items() if k != "snapshot"}
        if state:
            facts[name] = state
    return facts


def _foreign_entries(doc: Mapping[str, Any]) -> dict[str, Doc]:
    return {str(entry["customerId"]): dict(entry) for entry in doc.get(FOREIGN_FACTS) or ()}


def _store_foreign(doc: Doc, entries: Mapping[str, Doc]) -> None:
    if entries:
        doc[FOREIGN_FACTS] = [entries[customer] for customer in sorted(entries)]
    else:
        doc.pop(FOREIGN_FACTS, None)


def _apply_aside(doc: Doc, event: Event, mapping: StatusMapping, reducer: _Reducer) -> None:
    """Merge ``event`` into its customer's set-aside facts, by the reducer that would merge
    it into a document of that customer's: the document's own fields stay as they were."""
    entries = _foreign_entries(doc)

    def step(own: Doc) -> None:
        reducer(own, event, mapping)

    _step_aside(doc["_id"], event.entity_kind, entries, event.customer_id, step)
    _store_foreign(doc, entries)


def _step_aside(
    entity_id: str, kind: str, entries: dict[str, Doc], customer: str, step: Callable[[Doc], None]
) -> None:
    """Run ``step`` on a document of ``customer``'s facts set aside (``entries``, as
    ``_foreign_entries`` reads them) and keep the facts it leaves there."""
    own = {"_id": entity_id, **entries.get(customer, {}), "customerId": customer}
    step(own)
    entries[customer] = {"customerId": customer, **_facts_of(own, kind)}


def _switch_customer(doc: Doc, kind: str, current: str, customer: str) -> None:
    """Make ``doc`` (of entity ``kind``) hold ``customer``'s facts (set aside until now, or
    none) and set the facts of ``current`` it held aside; derived fields are recomputed by
    the caller's finish. Bookkeeping keeps its ``snapshot`` version."""
    entries = _foreign_entries(doc)
    incoming = entries.pop(customer, {})
    if _holds_facts(doc, kind):
        entries[current] = {"customerId": current, **_facts_of(doc, kind)}
    for name in _FACT_FIELDS[kind]:
        if name in incoming:
            doc[name] = incoming[name]
        else:
            doc.pop(name, None)
    for name in _FACT_STATES[kind]:
        snapshot = (doc.get(name) or {}).get("snapshot")
        state = dict(incoming.get(name) or {})
        if snapshot is not None:
            state["snapshot"] = snapshot
        if state:
            doc[name] = state
        else:
            doc.pop(name, None)
    _store_foreign(doc, entries)


# --- dispatch -----------------------------------------------------------------------------


_Reducer = Callable[[Doc, Event, StatusMapping], None]


def _snapshot(
    kind: type[_D],
    state_name: str,
    fields: Callable[[_D], Doc],
    finish: Callable[[Doc, Doc, StatusMapping], None],
) -> _Reducer:
    """The reducer of a snapshot: when it is newer than the one applied, its ``fields``
    replace the document's and ``finish`` recomputes what derives from them (keeping the
    bookkeeping); an older or repeated snapshot changes nothing."""

    def reduce(doc: Doc, event: Event, mapping: StatusMapping) -> None:
        state = _accepted_snapshot(doc, event, state_name)
        if state is not None:
            doc.update(fields(_data(event, kind)))
            finish(doc, state, mapping)

    return reduce


def _accepted_snapshot(doc: Doc, event: Event, state_name: str) -> Doc | None:
    """The writer's bookkeeping with snapshot ``event`` recorded, the customer taken (the
    facts swapped when it names another: ``_switch_customer``) and the document marked
    known; None (``doc`` untouched) when the snapshot is not newer."""
    state = _state(doc, state_name)
    if not _supersedes(state, event):
        return None
    current = doc.get("customerId")
    if current is not None and current != event.customer_id:
        _switch_customer(doc, event.entity_kind, str(current), event.customer_id)
        state = {**_state(doc, state_name), "snapshot": state["snapshot"]}
    _take_customer(doc, event, authoritative=True)
    doc["known"] = True
    return state


def _supersedes(state: Doc, event: Event) -> bool:
    """Record snapshot ``event`` in ``state`` when it is newer than the one applied.

    False for an older or repeated snapshot, which must then change nothing.
    """
    version = _snapshot_version(event)
    if not _is_newer(version, state.get("snapshot")):
        return False
    state["snapshot"] = version
    return True


def _data(event: Event, kind: type[_D]) -> _D:
    if not isinstance(event.data, kind):  # pragma: no cover - dispatch is by data type
        raise TypeError(f"{event.type} carries {type(event.data).__name__}, not {kind.__name__}")
    return event.data


_REDUCERS: Final[dict[type[EventData], _Reducer]] = {
    OrderSnapshot: _snapshot(
        OrderSnapshot,
        _ORDER_STATE,
        _order_fields,
        lambda doc, state, _: _finish_order(doc, state),
    ),
    OrderCancelled: _order_cancelled,
    FulfillmentProgressed: _fulfillment_progressed,
    ShipmentPlanned: _snapshot(
        ShipmentPlanned, _SHIPMENT_STATE, _shipment_plan_fields, _finish_shipment
    ),
    ShipmentMilestone: _shipment_milestone,
    PodCaptured: _pod_captured,
    ShipmentCancelled: _shipment_cancelled,
    InvoiceIssued: _snapshot(
        InvoiceIssued,
        _INVOICE_STATE,
        _invoice_fields,
        lambda doc, state, _: _finish_invoice(doc, state),
    ),
    PaymentRecorded: _payment_recorded,
    InvoiceVoided: _invoice_voided,
    SourceStatusChanged: _source_status_changed,
}
