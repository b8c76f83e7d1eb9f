"""Source-status announcements: the ERP's maintenance windows and the odd degraded TMS.

The ERP announces MAINTENANCE with the time it expects to be back, then AVAILABLE when it
actually is (sometimes early, sometimes late). A TMS occasionally reports DEGRADED for a
few hours. Both recur for as long as the world runs, so a live feed keeps them coming.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from simulator import catalog
from simulator.context import SimContext
from simulator.envelope import SOURCE_STATUS, Pending
from simulator.times import DAY, HOUR, MINUTE, at_local_time, local, rfc3339

#: Every source's clock zone for its own announcements.
SOURCE_TZ: Final = {
    catalog.ERP_SOURCE: catalog.ERP_TZ,
    catalog.US_ROAD: "America/Chicago",
    catalog.US_PARCEL: "America/Chicago",
    catalog.EU_ROAD: "Europe/Amsterdam",
}
MAINTENANCE_EVERY_DAYS: Final = 14
DEGRADED_MEAN_DAYS: Final = 20.0
_MAINTENANCE_MESSAGES: Final = ("Quarterly upgrade", "Monthly patching", "Database maintenance")
_DEGRADED_MESSAGES: Final = (
    "Carrier status feed delayed",
    "EDI 214 backlog, updates may lag",
    "Partial outage of carrier integration",
)


class SourceStatus:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    def schedule(self, start: int) -> None:
        day = local(start, catalog.ERP_TZ).date()
        day += timedelta(days=(5 - day.weekday()) % 7)  # the first Saturday
        first = at_local_time(day, catalog.ERP_TZ, 22)
        if first < start:
            first += 7 * DAY
        self.ctx.call(first, self._maintenance)
        self.ctx.call(
            start + int(self.ctx.rng.expovariate(1 / DEGRADED_MEAN_DAYS) * DAY), self._degraded
        )

    def _announce(self, source: str, at: int, status: str, message: str, back: int | None) -> None:
        tz = SOURCE_TZ[source]
        data = {"source": source, "status": status, "message": message}
        if back is not None:
            data["expectedBackAt"] = rfc3339(back, tz)
        self.ctx.emit(Pending(SOURCE_STATUS, source, source, "*", at, tz, data))

    def _maintenance(self, t: int) -> None:
        rng = self.ctx.rng
        expected = t + 6 * HOUR
        self._announce(
            catalog.ERP_SOURCE, t, "MAINTENANCE", rng.choice(_MAINTENANCE_MESSAGES), expected
        )
        back = expected + int(rng.uniform(-45, 100) * MINUTE)
        self._announce(catalog.ERP_SOURCE, back, "AVAILABLE", "Maintenance completed", None)
        day = local(t, catalog.ERP_TZ).date() + timedelta(days=MAINTENANCE_EVERY_DAYS)
        self.ctx.call(at_local_time(day, catalog.ERP_TZ, 22), self._maintenance)

    def _degraded(self, t: int) -> None:
        rng = self.ctx.rng
        source = rng.choice((catalog.US_ROAD, catalog.US_PARCEL, catalog.EU_ROAD))
        duration = int(rng.uniform(2, 8) * HOUR)
        back = t + duration if rng.random() < 0.6 else None
        self._announce(source, t, "DEGRADED", rng.choice(_DEGRADED_MESSAGES), back)
        self._announce(
            source, t + duration + int(rng.uniform(0, 30) * MINUTE), "AVAILABLE", "Recovered", None
        )
        self.ctx.call(
            t + duration + int(rng.expovariate(1 / DEGRADED_MEAN_DAYS) * DAY), self._degraded
        )
