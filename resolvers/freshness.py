"""How fresh each upstream source's data is (pure logic, no I/O).

A source is *stale* when the projector has applied nothing from it for longer than the
threshold: either the source is quiet, or the pipeline (broker, projector) is behind. Reads
keep working either way; portals show the warning. A source's *declared* status is what it
announced itself on ``ops.source-status.v1`` (e.g. an ERP maintenance window), until it is
seen back (``back_from_maintenance``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from readmodel.documents import DECLARED_STATUSES

DEFAULT_STALE_AFTER: Final = timedelta(seconds=300)


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    last_event_at: datetime | None
    last_applied_at: datetime | None
    #: Seconds from the newest applied event's source time to now: the age of the newest data.
    lag_seconds: float | None
    #: What the source last declared (AVAILABLE when it never did), or AVAILABLE once it is
    #: seen back from MAINTENANCE (``back_from_maintenance``): what every report shows.
    declared_status: str
    message: str | None
    expected_back_at: datetime | None
    declared_at: datetime | None
    stale: bool


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def source_freshness(
    doc: Mapping[str, Any], *, now: datetime, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> SourceFreshness:
    """Freshness of the source described by one ``sources`` document."""
    last_event_at = _utc(doc.get("lastEventAt"))
    last_applied_at = _utc(doc.get("lastAppliedAt"))
    declared = doc.get("declared")
    declared = declared if isinstance(declared, Mapping) else {}
    status = declared.get("status")
    status = status if status in DECLARED_STATUSES else "AVAILABLE"
    message = declared.get("message")
    expected_back_at = _utc(declared.get("expectedBackAt"))
    declared_at = _utc(declared.get("changedAt"))
    if back_from_maintenance(status, expected_back_at, declared_at, last_event_at):
        # What the maintenance declared no longer holds: no message, time or date of it.
        status, message, expected_back_at, declared_at = "AVAILABLE", None, None, None
    return SourceFreshness(
        source=str(doc["_id"]),
        last_event_at=last_event_at,
        last_applied_at=last_applied_at,
        lag_seconds=(
            max(0.0, (now - last_event_at).total_seconds()) if last_event_at is not None else None
        ),
        declared_status=status,
        message=message if isinstance(message, str) else None,
        expected_back_at=expected_back_at,
        declared_at=declared_at,
        stale=last_applied_at is None or now - last_applied_at > stale_after,
    )


def back_from_maintenance(
    status: str,
    expected_back_at: datetime | None,
    declared_at: datetime | None,
    last_event_at: datetime | None,
) -> bool:
    """Whether a source that declared ``MAINTENANCE`` is back without saying so: an event of
    its own was applied whose source time is after the ``expectedBackAt`` it gave and after
    the declaration itself (``last_event_at``: the newest applied, ``lastEventAt``).

    Sources do not always announce ``AVAILABLE`` when a window ends; data flowing again after
    the time they gave is the sign users trust, and a maintenance banner over fresh data is
    what they would not. The declaration's own time counts so that a source repeating its
    ``MAINTENANCE`` after the time it gave (still down, no new time) stays in maintenance:
    that event is its newest, not after itself. A window with no ``expectedBackAt`` lasts
    until the source says otherwise (data sent during a window proves nothing), and
    ``DEGRADED`` is kept whatever flows: a degraded source does send data.
    """
    return (
        status == "MAINTENANCE"
        and expected_back_at is not None
        and last_event_at is not None
        and last_event_at > expected_back_at
        and (declared_at is None or last_event_at > declared_at)
    )


#: Which upstream systems feed each projection (the contract's topics): an order's header
#: comes from the ERP and its fulfillment from a WMS, shipments from TMSs, invoices from the
#: ERP. Source names start with their system (``erp/s4-prod``, ``tms/us-road``, ``wms/dc-atl``).
SYSTEMS_OF: Final[Mapping[str, frozenset[str]]] = {
    "orders": frozenset({"erp", "wms"}),
    "shipments": frozenset({"tms"}),
    "invoices": frozenset({"erp"}),
}


def system_of(source: str) -> str:
    return source.split("/", 1)[0]


def sources_for(kinds: Iterable[str], sources: Iterable[str]) -> list[str]:
    """The sources whose data a response that read ``kinds`` may contain, sorted.

    Reading the ``sources`` collection (``dataFreshness``) uses every source. A source whose
    name does not start with a known system is reported with any projection read: better a
    warning too many than a stale source left out.
    """
    kinds = set(kinds)
    if "sources" in kinds:
        return sorted(sources)
    systems = frozenset().union(*(SYSTEMS_OF.get(kind, frozenset()) for kind in kinds))
    known = frozenset().union(*SYSTEMS_OF.values())
    return sorted(
        source
        for source in sources
        if system_of(source) in systems or (systems and system_of(source) not in known)
    )
