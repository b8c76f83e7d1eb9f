"""``extensions.freshness`` on every GraphQL response that read projections.

For each source whose data the response may hold (``resolvers.freshness.sources_for``, from
what the request's readers read), a portal gets ``lastAppliedAt``, ``stale`` and the
source's declared status, with ``message`` and ``expectedBackAt`` while it is not
AVAILABLE: enough to show "invoices as of 08:00, ERP in maintenance until 12:00" without a
second query. Served from ``FreshnessCopy`` (refreshed in the background every
``FRESHNESS_REFRESH_SECONDS``), so the cost per response is a few dictionary lookups
(``bench/api.py`` measures it against a tracking lookup).

Example (see docs/operations.md, "Freshness in every response")::

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


class FreshnessReport:
    """``extensions.freshness`` per set of kinds a response read, built once per refresh of
    the copy rather than per response (the copy changes every ``FRESHNESS_REFRESH_SECONDS``;
    a portal's responses read a handful of kind sets). One per app, shared by the schema
    extension and ``web.prepared``."""

    def __init__(self, copy: FreshnessCopy) -> None:
        self.copy = copy
        self._built_from: object = None
        self._by_kinds: dict[frozenset[str], dict[str, Any]] = {}

    def results(self, context: object) -> dict[str, Any]:
        """``{"freshness": ...}`` for a response whose request (``context``) read
        projections, else nothing. The inner value is shared: encode it, never modify it."""
        kinds = getattr(getattr(context, "readers", None), "kinds_read", None)
        if not kinds:
            return {}
        by_source = self.copy.by_source  # replaced, never modified, by each refresh
        if by_source is not self._built_from:
            self._built_from, self._by_kinds = by_source, {}
        key = frozenset(kinds)
        built = self._by_kinds.get(key)
        if built is None:
            built = freshness_extension(self.copy.for_kinds(key), self.copy.as_of)
            self._by_kinds[key] = built
        return {"freshness": built}


class FreshnessExtension(SchemaExtension):
    """Adds ``freshness`` to ``extensions`` when the request's readers read projections."""

    def __init__(self, report: FreshnessReport) -> None:
        self.report = report

    def get_results(self) -> dict[str, Any]:
        return self.report.results(self.execution_context.context)


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
