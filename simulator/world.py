"""The simulated world and the two ways to read it: a history load and a live feed.

``generate`` runs the world from ``now - days`` to ``now`` and returns every record in
emission order; ``live`` replays the same world silently up to ``now`` (so ids and
sequences continue where a history load stopped) and then keeps producing records, each
with the instant it is due, for a pacer (``simulator.live``) to release in real time.

Same arguments, same bytes: every random choice comes from one ``random.Random(seed)``
consumed in the order of a deterministic event queue; the faults use their own RNG.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from random import Random
from typing import Final, NamedTuple

from simulator import catalog
from simulator.billing import Billing
from simulator.context import CustomerWorld, SimContext, build_customers
from simulator.envelope import Pending, Stamper
from simulator.faults import FaultRates, inject
from simulator.lifecycle import Lifecycle
from simulator.records import SimRecord, TimedRecord, TopicKind
from simulator.source_status import SourceStatus
from simulator.times import DAY, epoch_of, local

#: Records per live order group, measured in the live feed's steady state: at rate 10 the
#: feed gives about 4.5 records/s in its first five minutes, 9 after fifteen and 10 from
#: about half an hour on (the first groups' later stages, invoices and payments are still
#: to come at the start).
EVENTS_PER_GROUP: Final = 20.0
#: How much faster than real time the live feed's new orders live their lives.
DEFAULT_SPEEDUP: Final = 720.0
#: Days before ``now`` at which the APAC source starts sending.
APAC_DAYS: Final = 20

NO_FAULTS: Final = FaultRates()

#: Relative order intake by local hour of the warehouse (business hours dominate).
_HOUR_WEIGHT: Final = tuple(
    1.0 if 7 <= h < 19 else 0.35 if h in (6, 19, 20, 21) else 0.06 for h in range(24)
)
#: Relative intake by weekday (Monday first); averages to about one.
_WEEKDAY_WEIGHT: Final = (1.2, 1.25, 1.25, 1.2, 1.15, 0.5, 0.3)


class World:
    """The discrete-event simulation: intake of order groups, their planned lives, weekly
    billing and source-status announcements, all on one queue."""

    def __init__(
        self,
        seed: int,
        *,
        days: int,
        customers: int | None,
        orders_per_day: float,
        now: int,
    ) -> None:
        if days < 0:
            raise ValueError("days must not be negative")
        if orders_per_day < 0:
            raise ValueError("orders_per_day must not be negative")
        rng = Random(seed)
        self.now = now
        self.start = now - days * DAY
        self.orders_per_day = orders_per_day
        self.ctx = SimContext(rng, build_customers(rng, customers))
        self.billing = Billing(self.ctx)
        self.lifecycle = Lifecycle(
            self.ctx, self.billing, apac_from=now - min(days, APAC_DAYS) * DAY
        )
        self._weights = [c.profile.weight for c in self.ctx.customers]
        self._live_rate = 0.0
        self._live_scale = 1.0
        self.ctx.call(self.start, self._intake)
        self.billing.schedule_weekly_run(self.start)
        SourceStatus(self.ctx).schedule(self.start)

    @property
    def customers(self) -> tuple[CustomerWorld, ...]:
        return self.ctx.customers

    def events(self, until: int | None) -> Iterator[Pending]:
        """Events in the order the sources produce them, up to ``until`` (inclusive) or
        forever. Resumable: a second call continues where the first stopped."""
        ctx = self.ctx
        while True:
            next_time = ctx.next_time()
            if next_time is None or (until is not None and next_time > until):
                return
            at, item = ctx.pop()
            if isinstance(item, Pending):
                yield item
            else:
                item(at)

    def start_live(self, at: int, groups_per_second: float, scale: float) -> None:
        """From ``at`` on, add order groups at ``groups_per_second`` whose lives run
        ``1/scale`` times faster than natural."""
        if groups_per_second <= 0:
            return
        self._live_rate = groups_per_second
        self._live_scale = scale
        self.ctx.call(at, self._live_arrival)

    # --- intake -------------------------------------------------------------------------

    def _pick(self) -> tuple[CustomerWorld, catalog.Warehouse]:
        rng = self.ctx.rng
        customer = rng.choices(self.ctx.customers, weights=self._weights)[0]
        warehouse = catalog.WAREHOUSE_BY_ID[rng.choice(customer.profile.warehouses)]
        return customer, warehouse

    def _intake(self, t: int) -> None:
        """Plan the arrivals of the next day; reschedules itself."""
        rng = self.ctx.rng
        weekday = local(t, catalog.ERP_TZ).weekday()
        mean = self.orders_per_day * _WEEKDAY_WEIGHT[weekday]
        count = max(0, round(rng.gauss(mean, math.sqrt(mean)))) if mean > 0 else 0
        arrivals: list[_Arrival] = []
        for _ in range(count):
            customer, warehouse = self._pick()
            tz = warehouse.city.tz
            while True:
                at = t + rng.randrange(DAY)
                if rng.random() < _HOUR_WEIGHT[local(at, tz).hour]:
                    break
            arrivals.append(_Arrival(at, len(arrivals), customer, warehouse))
        for arrival in sorted(arrivals):
            self.ctx.call(arrival.at, arrival.plan(self.lifecycle))
        self.ctx.call(t + DAY, self._intake)

    def _live_arrival(self, t: int) -> None:
        customer, warehouse = self._pick()
        self.lifecycle.arrive(t, customer, warehouse, self._live_scale)
        gap = self.ctx.rng.expovariate(self._live_rate)
        self.ctx.call(t + round(gap), self._live_arrival)


@dataclass(frozen=True, order=True, slots=True)
class _Arrival:
    at: int
    n: int
    customer: CustomerWorld = field(compare=False)
    warehouse: catalog.Warehouse = field(compare=False)

    def plan(self, lifecycle: Lifecycle) -> Callable[[int], None]:
        return lambda t: lifecycle.arrive(t, self.customer, self.warehouse, 1.0)


def _epoch(now: datetime | None) -> int:
    return epoch_of(now) if now is not None else int(time.time())


def _fault_rng(seed: int, phase: str) -> Random:
    return Random(f"faults:{phase}:{seed}")


class History(NamedTuple):
    """What names a history load; ``live`` takes the same to continue it where it stopped."""

    seed: int
    days: int = 90
    customers: int | None = None
    orders_per_day: float = 40
    #: The history's end, an aware datetime; the real clock when None (not reproducible).
    now: datetime | None = None

    def world(self) -> World:
        return World(
            self.seed,
            days=self.days,
            customers=self.customers,
            orders_per_day=self.orders_per_day,
            now=_epoch(self.now),
        )


def generate(
    seed: int,
    days: int = 90,
    customers: int | None = None,
    orders_per_day: float = 40,
    now: datetime | None = None,
    faults: FaultRates = NO_FAULTS,
) -> Iterator[SimRecord]:
    """Every record of the ``History`` of these arguments (a ``days``-long history ending at
    ``now``), in emission order. Deterministic for equal arguments, ``now`` given.
    ``faults`` defaults to none: the clean stream."""
    world = History(seed, days, customers, orders_per_day, now).world()
    stamper = Stamper()
    stamped = (stamper.stamp(event) for event in world.events(until=world.now))
    for timed in inject(stamped, faults, _fault_rng(seed, "history")):
        yield timed.record


def live(
    history: History,
    *,
    rate: float = 5.0,
    speedup: float = DEFAULT_SPEEDUP,
    live_from: datetime | None = None,
    faults: FaultRates = NO_FAULTS,
) -> Iterator[TimedRecord]:
    """The world after ``history`` ends, forever, each record with the instant it is due.

    ``history`` is the history load this continues, so ids and sequences carry on where it
    stopped. Records the world produced between its ``now`` and ``live_from`` (default
    ``now``) are due at once; from ``live_from`` on, extra order groups arrive at about
    ``rate`` records per second in total, their lives compressed ``speedup`` times so
    subscriptions visibly move.
    """
    if rate < 0:
        raise ValueError("rate must not be negative")
    if speedup < 1:
        raise ValueError("speedup must be at least 1")
    world = history.world()
    stamper = Stamper()
    for event in world.events(until=world.now):
        stamper.skip(event)
    start = max(world.now + 1, epoch_of(live_from) if live_from is not None else world.now + 1)
    world.start_live(start, rate / EVENTS_PER_GROUP, 1.0 / speedup)
    stamped = (stamper.stamp(event) for event in world.events(until=None))
    yield from inject(stamped, faults, _fault_rng(history.seed, "live"))


@dataclass
class Tally:
    """Counts of a record stream, by topic kind: what a publisher or a test checks."""

    records: dict[TopicKind, int] = field(default_factory=dict)
    broken: dict[TopicKind, int] = field(default_factory=dict)

    def add(self, record: SimRecord) -> None:
        self.records[record.topic_kind] = self.records.get(record.topic_kind, 0) + 1
        if record.broken:
            self.broken[record.topic_kind] = self.broken.get(record.topic_kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.records.values())

    @property
    def total_broken(self) -> int:
        return sum(self.broken.values())


def expected_counts(records: Iterable[SimRecord]) -> Tally:
    """Tally a stream (consumes an iterator)."""
    tally = Tally()
    for record in records:
        tally.add(record)
    return tally
