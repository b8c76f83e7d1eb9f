"""How current the data of each upstream source is, so portals can warn their users."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.enums import SourceStatus, enum_or_none
from resolvers.freshness import SourceFreshness as Freshness
from resolvers.freshness_copy import FreshnessCopy

#: What the web layer serves from: ``Freshness`` per source, and the process's in-memory
#: copy of it (``FreshnessCopy``), so that it need not reach past the graph into resolvers.
__all__ = ["Freshness", "FreshnessCopy", "SourceFreshness"]


@strawberry.type(
    description=(
        "Freshness of one upstream system's data (ERP, a TMS, a WMS). Reads keep working "
        "whatever this says; it tells users how far to trust what they see."
    )
)
class SourceFreshness:
    source: str = strawberry.field(description="The source system instance, e.g. erp/s4-prod.")
    last_event_at: datetime | None = strawberry.field(
        description=(
            "Source time of the newest event applied from it; a time more than 5 minutes "
            "past when it was applied counts as that (a producer clock far ahead)."
        )
    )
    last_applied_at: datetime | None = strawberry.field(
        description="When the read model last applied an event from it."
    )
    lag_seconds: float | None = strawberry.field(
        description="Seconds from the newest applied event's source time to now."
    )
    status: SourceStatus = strawberry.field(
        description=(
            "What the source declared about itself (AVAILABLE when it never did). A source "
            "in MAINTENANCE is AVAILABLE again once data it dated after its expectedBackAt "
            "was applied, announced or not."
        )
    )
    message: str | None = strawberry.field(description="The source's message with that status.")
    expected_back_at: datetime | None = strawberry.field(
        description="When the source expects to be available again, if it said."
    )
    status_changed_at: datetime | None = strawberry.field(
        description="When the source declared its current status."
    )
    stale: bool = strawberry.field(
        description=(
            "True when nothing from this source was applied for longer than the service's "
            "staleness threshold: the source is quiet or the pipeline is behind."
        )
    )

    @classmethod
    def of(cls, value: Freshness) -> SourceFreshness:
        return cls(
            source=value.source,
            last_event_at=value.last_event_at,
            last_applied_at=value.last_applied_at,
            lag_seconds=value.lag_seconds,
            status=enum_or_none(SourceStatus, value.declared_status) or SourceStatus.AVAILABLE,
            message=value.message,
            expected_back_at=value.expected_back_at,
            status_changed_at=value.declared_at,
            stale=value.stale,
        )
