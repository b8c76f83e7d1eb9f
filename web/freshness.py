"""``extensions.freshness`` on every GraphQL response that read projections.

For each source whose data the response may hold (``resolvers.freshness.sources_for``, from
what the request's readers read), a portal gets ``lastAppliedAt``, ``stale`` and the
source's declared status, with ``message`` and ``expectedBackAt`` while it is not
AVAILABLE: enough to show "invoices as of 08:00, ERP in maintenance until 12:00" without a
second query. Served from ``FreshnessCopy`` (refreshed in the background every
``FRESHNESS_REFRESH_SECONDS``), so the cost per response is a few dictionary lookups
(``bench/api.py`` measures it against a tracking lookup).

Example (see README, "Freshness in every response")::

    "extensions": {"freshness": {
      "asOf": "2026-11-27T08:00:03.120000+00:00",
      "sources": [{"source": "erp/s4-prod", "lastAppliedAt": "2026-11-27T07:59:58+00:00",
                   "stale": false, "status": "MAINTENANCE", "message": "S/4 upgrade",
                   "expectedBackAt": "2026-11-27T12:00:00+00:00"}]}}
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from strawberry.extensions import SchemaExtension

from graph.freshness import Freshness, FreshnessCopy
from web.periodic import PeriodicTask

logger = logging.getLogger("web.freshness")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def freshness_entry(source: Freshness) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "source": source.source,
        "lastAppliedAt": _iso(source.last_applied_at),
        "stale": source.stale,
        "status": source.declared_status,
    }
    if source.declared_status != "AVAILABLE":
        entry["message"] = source.message
        entry["expectedBackAt"] = _iso(source.expected_back_at)
    return entry


def freshness_extension(sources: Iterable[Freshness], as_of: datetime | None) -> dict[str, Any]:
    return {"asOf": _iso(as_of), "sources": [freshness_entry(s) for s in sources]}


class FreshnessExtension(SchemaExtension):
    """Adds ``freshness`` to ``extensions`` when the request's readers read projections."""

    def __init__(self, copy: FreshnessCopy) -> None:
        self.copy = copy

    def get_results(self) -> dict[str, Any]:
        readers = getattr(self.execution_context.context, "readers", None)
        kinds = getattr(readers, "kinds_read", None)
        if not kinds:
            return {}
        return {"freshness": freshness_extension(self.copy.for_kinds(kinds), self.copy.as_of)}


class FreshnessRefresher(PeriodicTask):
    """Refreshes the copy every ``interval_seconds`` from ``start`` until ``stop``.

    The lifespan read the copy once before serving, so the first refresh is one interval on.
    """

    task_name = "freshness-refresher"
    tick_at_start = False

    def __init__(
        self, copy: FreshnessCopy, db: AsyncDatabase[dict[str, Any]], interval_seconds: float
    ) -> None:
        super().__init__(interval_seconds)
        self.copy = copy
        self.db = db
        self._failing = False

    async def tick(self) -> None:
        ok = await self.copy.refresh(self.db)
        if ok == self._failing:  # log once per outage, once per recovery
            self._failing = not ok
            if self._failing:
                logger.warning("freshness copy not refreshed: the store did not answer")
            else:
                logger.info("freshness copy refreshed again")
