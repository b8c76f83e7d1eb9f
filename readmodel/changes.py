"""Change notices: what the projector tells the API replicas after a batch is written.

The projector publishes one notice per shipment milestone (and per shipment status change
without a milestone, e.g. a cancellation) to the ``changes`` topic *after* the documents are
written to MongoDB and *before* it commits the inbound offsets. So a subscriber that refetches
on a notice sees the new state, and a crash between the write and the commit can only repeat
a notice, never lose one (consumers dedupe on ``notice_id``).

The topic has one partition: its offset is a total order over all notices and serves as the
subscription resume cursor.

A notice is small (a few hundred bytes), but its milestone's fields and its shipment's orders
come from upstream events whose producers may compress them: the broker then takes an event
of several MiB (it limits the *compressed* batch), and a notice carrying all of it would be
refused by the changes topic, failing the batch on every restart. ``ShipmentChange.sendable``
abridges such a notice instead (``NOTICE_MAX_BYTES``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Final, TypeVar

import orjson

from observability.trace_context import parse_traceparent

_T = TypeVar("_T")

#: Largest encoded notice sent as it is; a larger one is abridged (``ShipmentChange.sendable``).
#: A quarter of what the changes topic takes (the broker's default ``max.message.bytes``,
#: 1 MiB, which ``ensure_own_topics`` leaves as it is) and of the notice producer's
#: ``max_request_size`` (1 MiB, checked on the record with its framing): room for the framing
#: and for a broker whose default was lowered, while no real notice comes near it (a few
#: hundred bytes; tens of KiB for a shipment of a thousand orders).
NOTICE_MAX_BYTES: Final = 256 * 1024
#: The milestone fields an abridged notice keeps: what identifies the milestone and what it
#: means for the shipment, each an identifier or a time. Free text (location, signer) and the
#: reason code go; subscribers refetch the shipment for them.
MILESTONE_IDENTITY: Final = (
    "source",
    "milestoneId",
    "rawCode",
    "status",
    "occurredAt",
    "estimatedDeliveryAt",
)


def milestone_notice_id(source: str, milestone_id: str, sequence: int) -> str:
    """``<source>|<milestoneId>|<sequence>``: the id of the notice of a milestone as its
    statement of ``sequence`` states it. The sequence is part of it (since session 16) so a
    restatement (same source and milestoneId, a higher sequence: it may change the
    shipment's status) is not dropped by subscribers as a repeat of the first statement,
    while a redelivery of either keeps its id (the contract's sequence is strictly
    increasing per source and shipment). A ``|`` or ``\\`` inside a part is escaped with
    ``\\``, so two statements never share an id (source ``a|b`` with milestone ``c`` and
    source ``a`` with milestone ``b|c``: the hub drops a repeated id for every subscriber).
    Two statements of one milestone at the same sequence (which the contract rules out; the
    reducers keep the one of the greater event id) share an id: subscribers get the first."""
    return f"{_escaped(source)}|{_escaped(milestone_id)}|{sequence}"


def cancellation_notice_id(shipment_id: str) -> str:
    """``<shipmentId>|cancelled``: the id of the notice of a shipment's cancellation (one
    per shipment: it is sticky). With its one unescaped ``|`` it is never a milestone's."""
    return f"{_escaped(shipment_id)}|cancelled"


def _escaped(part: str) -> str:
    return part.replace("\\", "\\\\").replace("|", "\\|")


class InvalidChangeNotice(ValueError):
    """A record on the changes topic is not a notice this version understands."""


@dataclass(frozen=True)
class ShipmentChange:
    """One shipment milestone (or status change) as subscribers see it.

    ``notice_id`` is stable for the same underlying fact: ``milestone_notice_id`` for a
    milestone as one statement states it, ``<shipmentId>|cancelled`` for a cancellation, so
    a repeated notice can be recognised after a projector restart.
    """

    notice_id: str
    shipment_id: str
    customer_id: str
    tracking_number: str | None
    #: The shipment's status right after this milestone was applied, as the projector folds
    #: a batch's events one by one (``effects.notices``), not after the whole batch.
    status: str
    #: The milestone's fields as stored (see documents.Milestone), with datetimes as ISO
    #: strings; None for a change that has no milestone.
    milestone: dict[str, Any] | None
    #: The shipment's revision once the batch holding this change was stored: the store
    #: writes a batch's document once, so every notice of the batch carries the same one.
    #: The stored ``rev`` plus its generation's revision offset (since session 19), so it
    #: goes on rising across a rebuild's switch (``projections.revision_offsets``).
    rev: int
    projected_at: datetime
    #: orderId -> ship-from warehouse (None while the order's summary has not arrived) of
    #: every order the shipment names, as the document held them when the notice was made:
    #: what the entitlement rule for warehouse-restricted customers needs.
    order_warehouses: Mapping[str, str | None] = field(default_factory=dict)
    #: W3C ``traceparent`` of the event that carried this milestone or cancellation, when
    #: its producer set one: the API logs it with every delivery, so one trace id follows
    #: the milestone from the TMS to the subscriber.
    traceparent: str | None = None
    #: True when the projector left fields out to keep the notice under
    #: ``NOTICE_MAX_BYTES`` (``sendable``): the milestone holds only ``MILESTONE_IDENTITY``,
    #: and perhaps ``order_warehouses`` is empty, which hides the notice from callers limited
    #: to some warehouses (no order's warehouse is known: fail closed).
    abridged: bool = False

    def sendable(self) -> tuple[ShipmentChange, bytes] | None:
        """The notice as it goes to the changes topic, and its encoding: itself while it is
        no larger than ``NOTICE_MAX_BYTES``; else abridged, first to its milestone's
        ``MILESTONE_IDENTITY``, then also without ``order_warehouses``. None when even that
        is too large (ids of hundreds of KiB): no notice, rather than a refused one that
        fails the batch on every restart; the shipment document has the milestone.
        """
        value = self.encode()
        if len(value) <= NOTICE_MAX_BYTES:
            return self, value
        milestone = self.milestone
        if milestone is not None:
            milestone = {k: milestone[k] for k in MILESTONE_IDENTITY if k in milestone}
        for abridged in (
            replace(self, milestone=milestone, abridged=True),
            replace(self, milestone=milestone, order_warehouses={}, abridged=True),
        ):
            value = abridged.encode()
            if len(value) <= NOTICE_MAX_BYTES:
                return abridged, value
        return None

    def encode(self) -> bytes:
        # The fields one by one, not ``dataclasses.asdict``: that deep-copies the milestone
        # first, and encoding was a third of the projector's CPU (bench/projector.py profile).
        # orjson, as the API's responses: several times faster than ``json.dumps``, and what
        # ``decode`` reads back is the same (datetimes as ``isoformat`` writes them; text as
        # UTF-8 rather than ``\u`` escapes).
        body = {name: getattr(self, name) for name in _FIELDS}
        body["projected_at"] = self.projected_at.isoformat()
        body["order_warehouses"] = dict(self.order_warehouses)
        return orjson.dumps(body)

    @classmethod
    def decode(cls, value: bytes) -> ShipmentChange:
        try:
            body = json.loads(value)
            if not isinstance(body, dict):
                raise TypeError("a notice is a JSON object")
            return cls(
                notice_id=str(body["notice_id"]),
                shipment_id=str(body["shipment_id"]),
                customer_id=str(body["customer_id"]),
                tracking_number=_optional(body, "tracking_number", str),
                status=str(body["status"]),
                milestone=_optional(body, "milestone", dict),
                rev=int(body["rev"]),
                projected_at=datetime.fromisoformat(body["projected_at"]),
                order_warehouses=_order_warehouses(body.get("order_warehouses")),
                traceparent=_traceparent(body.get("traceparent")),
                abridged=body.get("abridged") is True,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidChangeNotice(f"not a shipment change notice: {exc}") from exc


_FIELDS = tuple(f.name for f in fields(ShipmentChange))


def _optional(body: Mapping[str, Any], name: str, kind: type[_T]) -> _T | None:
    """``body[name]`` if it is a ``kind`` or absent (None): a notice of another shape is
    refused here, as invalid, rather than failing wherever the hub or a replay reads it."""
    value = body.get(name)
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__} or null")
    return value


def _order_warehouses(value: Any) -> dict[str, str | None]:
    """Notices from before this field decode with none, which fails closed."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError("order_warehouses must be an object")
    return {str(k): v if isinstance(v, str) else None for k, v in value.items()}


def _traceparent(value: Any) -> str | None:
    """Notices from before this field, or with a malformed value, carry no trace."""
    context = parse_traceparent(value)
    return context.traceparent if context is not None else None
