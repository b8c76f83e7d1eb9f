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
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


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

    def encode(self) -> bytes:
        body = asdict(self)
        body["projected_at"] = self.projected_at.isoformat()
        return json.dumps(body, separators=(",", ":"), default=_json_default).encode()

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
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidChangeNotice(f"not a shipment change notice: {exc}") from exc


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")
