"""Change notices: what the projector tells the API replicas after a batch is written.

The projector publishes one notice per shipment milestone (and per shipment status change
without a milestone, e.g. a cancellation) to the ``changes`` topic *after* the documents are
written to MongoDB and *before* it commits the inbound offsets. So a subscriber that refetches
on a notice sees the new state, and a crash between the write and the commit can only repeat
a notice, never lose one (consumers dedupe on ``notice_id``).

The topic has one partition: its offset is a total order over all notices and serves as the
subscription resume cursor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson

from observability.trace_context import parse_traceparent


class InvalidChangeNotice(ValueError):
    """A record on the changes topic is not a notice this version understands."""


@dataclass(frozen=True)
class ShipmentChange:
    """One shipment milestone (or status change) as subscribers see it.

    ``notice_id`` is stable for the same underlying fact: ``<source>|<milestoneId>`` for a
    milestone, ``<shipmentId>|cancelled`` for a cancellation, so a repeated notice can be
    recognised after a projector restart.
    """

    notice_id: str
    shipment_id: str
    customer_id: str
    tracking_number: str | None
    status: str
    #: The milestone's fields as stored (see documents.Milestone), with datetimes as ISO
    #: strings; None for a change that has no milestone.
    milestone: dict[str, Any] | None
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
            return cls(
                notice_id=str(body["notice_id"]),
                shipment_id=str(body["shipment_id"]),
                customer_id=str(body["customer_id"]),
                tracking_number=body.get("tracking_number"),
                status=str(body["status"]),
                milestone=body.get("milestone"),
                rev=int(body["rev"]),
                projected_at=datetime.fromisoformat(body["projected_at"]),
                order_warehouses=_order_warehouses(body.get("order_warehouses")),
                traceparent=_traceparent(body.get("traceparent")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidChangeNotice(f"not a shipment change notice: {exc}") from exc


_FIELDS = tuple(f.name for f in fields(ShipmentChange))


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
