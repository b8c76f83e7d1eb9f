"""The state every planner shares: the event queue, the seeded RNG, id counters, the
customers' fixed data (stores, SKUs) and the weekly billing ledger.

Planners schedule *events* (written when their time comes) and *tasks* (callables run at
their time, which may schedule more). The queue is ordered by (time, insertion counter),
so the same seed always produces the same order, ties included.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from simulator import catalog
from simulator.catalog import City, CustomerProfile
from simulator.envelope import Pending

Task = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Warp:
    """Maps a natural-time plan onto the clock it is emitted on.

    History plans run at ``scale == 1``; the live feed compresses a whole order's life
    (days) into minutes so subscriptions visibly move, with every time in the events
    compressed alike, so the events stay consistent with each other.
    """

    origin: int
    scale: float = 1.0

    def __call__(self, t: int) -> int:
        if self.scale == 1.0:
            return t
        return self.origin + int((t - self.origin) * self.scale)


@dataclass(frozen=True, slots=True)
class Sku:
    sku: str
    description: str
    uom: str
    unit_kg: float


@dataclass(frozen=True, slots=True)
class Store:
    """A consignee location of a customer (a store, a clinic, an office)."""

    name: str
    city: City
    address: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Charge:
    """One billable fact, held until the weekly invoice run picks it up."""

    at: int
    charge_type: str
    description: str
    cents: int
    order_id: str | None = None
    shipment_id: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerWorld:
    profile: CustomerProfile
    skus: tuple[Sku, ...]
    stores: dict[str, tuple[Store, ...]]
    #: Pallet positions held per warehouse: weekly storage charges.
    pallets: dict[str, int]


def address(line1: str, city: City) -> dict[str, Any]:
    """An address object in the contract's shape; ``region`` only where the country uses one."""
    out: dict[str, Any] = {"line1": line1, "city": city.name}
    if city.region is not None:
        out["region"] = city.region
    out["postalCode"] = city.postal_code
    out["countryCode"] = city.country
    return out


class Counter:
    def __init__(self, start: int = 1) -> None:
        self._next = start

    def __call__(self) -> int:
        value = self._next
        self._next += 1
        return value


class SimContext:
    """Mutable simulation state. One per generated stream."""

    def __init__(self, rng: Random, customers: tuple[CustomerWorld, ...]) -> None:
        self.rng = rng
        self.customers = customers
        self._heap: list[tuple[int, int, Pending | Task]] = []
        self._tick = 0
        self.order_no = Counter(100001)
        self.shipment_no = Counter(50001)
        self.invoice_no = Counter(1001)
        self.payment_no = Counter(1)
        self.sscc_no = Counter(1)
        self.tracking_no = Counter(1)
        self.milestone_no: dict[str, Counter] = {}
        self.reference_no: dict[str, Counter] = {}
        self.ledger: dict[tuple[str, int], list[Charge]] = {}

    # --- queue ------------------------------------------------------------------------

    def emit(self, event: Pending) -> None:
        self._tick += 1
        heapq.heappush(self._heap, (event.at, self._tick, event))

    def call(self, at: int, task: Task) -> None:
        self._tick += 1
        heapq.heappush(self._heap, (at, self._tick, task))

    def next_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop(self) -> tuple[int, Pending | Task]:
        at, _, item = heapq.heappop(self._heap)
        return at, item

    # --- ids --------------------------------------------------------------------------

    def milestone_id(self, source: str) -> str:
        counter = self.milestone_no.setdefault(source, Counter(1))
        return f"ms-{counter():07d}"

    def customer_reference(self, customer_id: str, prefix: str) -> str:
        counter = self.reference_no.setdefault(customer_id, Counter(10001))
        return f"{prefix}-{counter()}"

    def sscc(self) -> str:
        """An 18-digit SSCC with a valid GS1 mod-10 check digit."""
        body = f"03012345{self.sscc_no():09d}"
        digits = [ord(c) - 48 for c in body]
        total = 3 * sum(digits[-1::-2]) + sum(digits[-2::-2])
        return body + str((10 - total % 10) % 10)

    def tracking_number(self, style: str) -> str:
        n = self.tracking_no()
        if style == "ups":
            return f"1Z{self.rng.randrange(16**6):06X}03{n:08d}"
        if style == "fedex":
            return f"{7700 + n % 100:04d}{n:08d}"
        if style == "eu":
            return f"JJD{n:011d}"
        if style == "apac":
            return f"KRY{n:09d}"
        return f"{77 + n % 20:02d}{n:08d}"


def build_customers(rng: Random, count: int | None) -> tuple[CustomerWorld, ...]:
    """The first ``count`` customers of the catalog (all when None), synthesizing more
    accounts beyond the named ones if asked for more."""
    profiles = list(catalog.CUSTOMERS)
    if count is not None:
        if count < 1:
            raise ValueError("customers must be at least 1")
        for i in range(len(profiles), count):
            dcs = tuple(
                sorted(rng.sample([w.warehouse_id for w in catalog.WAREHOUSES], rng.randint(1, 2)))
            )
            profiles.append(
                catalog.CustomerProfile(
                    f"CUST-{i + 1:03d}",
                    f"Customer {i + 1}",
                    dcs,
                    "EUR" if dcs == ("DC-RTM",) else "USD",
                    "weekly" if i % 2 else "per_shipment",
                    0.5,
                    f"Customer {i + 1} Site",
                    f"C{i + 1:02d}",
                )
            )
        profiles = profiles[:count]
    return tuple(_customer_world(rng, p) for p in profiles)


def _customer_world(rng: Random, profile: CustomerProfile) -> CustomerWorld:
    skus = []
    for n in range(1, 151):
        noun = rng.choice(catalog.PRODUCT_NOUNS)
        uom = rng.choice(catalog.UOMS)
        unit_kg = {"EA": 1.2, "CS": 9.0, "BX": 4.0, "PL": 380.0}[uom] * rng.uniform(0.4, 1.6)
        code = noun.split()[0][:3].upper()
        skus.append(
            Sku(
                f"{profile.sku_prefix}-{code}-{n:04d}",
                f"{noun}, {rng.choice(catalog.PRODUCT_ADJECTIVES)}",
                uom,
                unit_kg,
            )
        )
    stores: dict[str, tuple[Store, ...]] = {}
    for region, cities, streets in (
        ("US", catalog.US_CITIES, catalog.STREETS),
        ("EU", catalog.EU_CITIES, catalog.EU_STREETS),
    ):
        numbers = rng.sample(range(100, 999), 30)
        made = []
        for number in numbers:
            city = rng.choice(cities)
            street = rng.choice(streets)
            line1 = (
                f"{rng.randint(1, 2999)} {street}"
                if region == "US"
                else f"{street} {rng.randint(1, 250)}"
            )
            made.append(Store(f"{profile.consignee} {number}", city, address(line1, city)))
        stores[region] = tuple(made)
    pallets = {dc: rng.randint(80, 900) for dc in profile.warehouses}
    return CustomerWorld(profile, tuple(skus), stores, pallets)
