"""Milestone timelines per transport network: pure functions of a seeded ``Random``.

A timeline is planned in *natural* time (real transit durations, business hours, weekends);
the caller may compress it afterwards for the live feed. Each network speaks its own
vocabulary (X12 214 codes for the US networks, words for the EU network, unknown codes for
the new APAC source), but they all walk the same steps, so one planner serves them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from random import Random
from typing import Final, Literal

from simulator import catalog
from simulator.catalog import City, Mode
from simulator.times import DAY, HOUR, add_business_days, at_local_time, local

Step = Literal[
    "ARRIVED_PICKUP",
    "DEPARTED_PICKUP",
    "HUB_IN",
    "HUB_OUT",
    "HUB_OUT_ORIGIN",
    "ETA",
    "AVAILABLE",
    "OUT_FOR_DELIVERY",
    "ETA_CONSIGNEE",
    "ARRIVED_DELIVERY",
    "DELIVERED",
    "DEPARTED_DELIVERY",
    "ATTEMPTED",
    "NOT_COMPLETED",
    "DELAYED",
    "DAMAGED",
    "REFUSED",
    "RETURNED",
    "CANCELLED",
]

_X12: Final[dict[Step, str]] = {
    "ARRIVED_PICKUP": "X3",
    "DEPARTED_PICKUP": "AF",
    "HUB_IN": "I1",
    "HUB_OUT": "OA",
    "HUB_OUT_ORIGIN": "P1",
    "ETA": "AG",
    "AVAILABLE": "AV",
    "OUT_FOR_DELIVERY": "X6",
    "ETA_CONSIGNEE": "X2",
    "ARRIVED_DELIVERY": "X1",
    "DELIVERED": "D1",
    "DEPARTED_DELIVERY": "CD",
    "ATTEMPTED": "AH",
    "NOT_COMPLETED": "AP",
    "DELAYED": "SD",
    "DAMAGED": "A9",
    "REFUSED": "A7",
    "CANCELLED": "CA",
}
_X12_PARCEL: Final[dict[Step, str]] = {
    k: v
    for k, v in _X12.items()
    if k not in ("ARRIVED_PICKUP", "DEPARTED_DELIVERY", "AVAILABLE", "ETA_CONSIGNEE")
}
_EU: Final[dict[Step, str]] = {
    "DEPARTED_PICKUP": "COLLECTED",
    "HUB_IN": "AT_HUB",
    "HUB_OUT": "LINEHAUL",
    "HUB_OUT_ORIGIN": "LINEHAUL",
    "OUT_FOR_DELIVERY": "OUT_FOR_DELIVERY",
    "DELIVERED": "DELIVERED",
    "ATTEMPTED": "NOT_DELIVERED",
    "DELAYED": "DELAYED",
    "DAMAGED": "DAMAGED",
    "REFUSED": "NOT_DELIVERED",
    "RETURNED": "RETURNED",
}
_APAC: Final[dict[Step, str]] = {
    "DEPARTED_PICKUP": "PKUP",
    "HUB_IN": "ARR_HUB",
    "HUB_OUT": "DEPT_HUB",
    "HUB_OUT_ORIGIN": "DEPT_HUB",
    "OUT_FOR_DELIVERY": "ON_VEHICLE",
    "DELIVERED": "POD_OK",
}


def vocabulary(source: str, mode: Mode) -> dict[Step, str]:
    """The codes a source sends for each step; a step missing here is not reported."""
    if source == catalog.EU_ROAD:
        return _EU
    if source == catalog.APAC_ROAD:
        return _APAC
    return _X12_PARCEL if mode == "PARCEL" else _X12


@dataclass(frozen=True, slots=True)
class Route:
    source: str
    mode: Mode
    origin: City
    destination: City
    hubs: tuple[City, ...]


@dataclass(frozen=True, slots=True)
class Exceptions:
    delayed: bool = False
    failed_attempt: bool = False
    damaged: bool = False
    refused: bool = False


@dataclass(frozen=True, slots=True)
class Stop:
    at: int
    code: str
    city: City
    reason: str | None = None
    eta: int | None = None
    signed_by: str | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    stops: tuple[Stop, ...]
    departed_at: int
    delivered_at: int | None
    refused_at: int | None
    signed_by: str | None
    #: When the carrier's estimate moved, the last estimate given (for a re-planned snapshot).
    revised_eta: int | None = None


@cache
def distance_km(a: City, b: City) -> float:
    """Great-circle distance times a road factor."""
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(math.sqrt(h)) * 1.2


@cache
def pick_hubs(
    network: tuple[City, ...], origin: City, destination: City, mode: Mode
) -> tuple[City, ...]:
    """Terminals a shipment passes: nearest to evenly spaced points along the way."""
    if mode == "FTL":
        return ()
    km = distance_km(origin, destination)
    count = 2 if mode in ("PARCEL", "AIR", "OCEAN") else (1 if km < 400 else 2 if km < 1500 else 3)
    hubs: list[City] = []
    for i in range(count):
        f = 0.0 if count == 1 else i / (count - 1)
        f = 0.1 + 0.8 * f
        lat = origin.lat + (destination.lat - origin.lat) * f
        lon = origin.lon + (destination.lon - origin.lon) * f
        probe = City("", None, "", "", lat, lon, origin.tz)
        on_the_way = [
            h
            for h in network
            if distance_km(origin, h) + distance_km(h, destination) <= 1.3 * km + 120
        ]
        if not on_the_way:
            break
        best = min(on_the_way, key=lambda h: distance_km(h, probe))
        if not hubs or hubs[-1] != best:
            hubs.append(best)
    return tuple(hubs)


def transit_days(route: Route) -> int:
    km = distance_km(route.origin, route.destination)
    if route.mode == "OCEAN":
        return 28
    if route.mode == "AIR":
        return 4
    if route.mode == "FTL":
        return max(1, math.ceil(km / 900))
    if route.mode == "PARCEL":
        return min(5, 1 + int(km // 900))
    return 1 + int(km // 750)


def planned_delivery(route: Route, pickup_at: int) -> int:
    """The carrier's promise at planning time: noon local on the transit day."""
    pickup_day = local(pickup_at, route.origin.tz).date()
    days = transit_days(route)
    if route.mode in ("OCEAN", "AIR"):
        day = pickup_day + timedelta(days=days)
    else:
        day = add_business_days(pickup_day, days)
    return at_local_time(day, route.destination.tz, 12)


def _morning(rng: Random, epoch: int, tz: str, *, earliest: int) -> int:
    """An out-for-delivery time on the morning of ``epoch``'s local day, moved to the
    next business morning until it is not before ``earliest``."""
    day = local(epoch, tz).date()
    while True:
        t = at_local_time(day, tz, 6, 30) + int(rng.uniform(0, 3 * HOUR))
        if t >= earliest and day.weekday() < 5:
            return t
        day += timedelta(days=1)


@dataclass
class _Writer:
    vocab: dict[Step, str]
    stops: list[Stop] = field(default_factory=list)
    last: int = 0

    def add(
        self,
        step: Step,
        at: int,
        city: City,
        *,
        reason: str | None = None,
        eta: int | None = None,
        signed_by: str | None = None,
    ) -> int:
        """Record ``step`` if the source reports it; times strictly increase."""
        at = max(at, self.last + 60)
        code = self.vocab.get(step)
        if code is not None:
            self.stops.append(Stop(at, code, city, reason, eta, signed_by))
            self.last = at
        return at


def plan_timeline(
    rng: Random, route: Route, arrived_at: int, promised: int, exceptions: Exceptions
) -> Timeline:
    """Every milestone the carrier will report, in natural time, in occurrence order.

    ``arrived_at`` is when the truck reaches the pickup dock, ``promised`` the planned
    delivery. Exceptions: a delay on the way (and a revised estimate), damage at a hub, a
    failed first delivery attempt then success the next business day, or a refusal (the
    goods go back; the caller creates the return). The steps draw from ``rng`` in this
    order; keep it, or the same seed no longer gives the same timeline.
    """
    w = _Writer(vocabulary(route.source, route.mode))
    origin = route.origin
    w.add("ARRIVED_PICKUP", arrived_at, origin)
    departed = w.add("DEPARTED_PICKUP", arrived_at + int(rng.uniform(20, 60) * 60), origin)
    w.last = departed
    trip = _plan_trip(rng, route, departed, promised, exceptions)
    revised = _linehaul(rng, w, route, exceptions, trip)
    delivered_at, refused_at, signer = _final_mile(rng, w, route, exceptions, trip)
    return Timeline(tuple(w.stops), departed, delivered_at, refused_at, signer, revised)


@dataclass(frozen=True)
class _Trip:
    """When the freight leaves, goes out for delivery and arrives, and the delay on the way."""

    departed: int
    out: int
    deliver: int
    delay: int


def _plan_trip(
    rng: Random, route: Route, departed: int, promised: int, exceptions: Exceptions
) -> _Trip:
    km = distance_km(route.origin, route.destination)
    speed = {"PARCEL": 55.0, "LTL": 45.0, "FTL": 60.0, "AIR": 400.0, "OCEAN": 25.0}[route.mode]
    min_hours = km / speed + 4 * len(route.hubs)
    delay = int(rng.uniform(18, 54) * HOUR) if exceptions.delayed else 0
    if route.mode == "FTL":
        # Truckload deliveries keep their appointment unless the road makes them late.
        drive = departed + int(min_hours * rng.uniform(0.95, 1.15) * HOUR)
        out = max(drive, promised - int(rng.uniform(0, 2) * HOUR)) + delay
    else:
        out = _morning(
            rng,
            promised + delay,
            route.destination.tz,
            earliest=departed + int(min_hours * HOUR) + delay,
        )
    deliver = out + int(rng.uniform(0.5, 6) * HOUR) if route.mode != "FTL" else out
    return _Trip(departed, out, deliver, delay)


def _linehaul(
    rng: Random, w: _Writer, route: Route, exceptions: Exceptions, trip: _Trip
) -> int | None:
    """The hub scans, a delay or damage at one hub; the revised delivery estimate, if any.

    Hubs are spaced by their share of the distance over the undelayed span; a delay at one
    hub shifts everything after it. What the carrier expects once the freight moves is the
    real delivery, less any delay it does not know about yet.
    """
    eu = route.source == catalog.EU_ROAD
    origin, departed, delay = route.origin, trip.departed, trip.delay
    km = distance_km(origin, route.destination)
    eta_now = trip.deliver - delay
    revised: int | None = None
    span = max(trip.out - delay - departed, HOUR)
    shift = 0
    delay_at_hub = rng.randrange(len(route.hubs)) if route.hubs else -1
    damage_at_hub = rng.randrange(len(route.hubs)) if route.hubs else -1
    if route.mode == "FTL" or not route.hubs:
        w.add("ETA", departed + 600, origin, eta=eta_now)
    if route.mode == "FTL":
        w.add("OUT_FOR_DELIVERY", departed + 900, origin)
    f_in = 0.0
    for i, hub in enumerate(route.hubs):
        f_in = min(max(distance_km(origin, hub) / max(km, 1.0), f_in + 0.05), 0.92)
        hub_in = w.add("HUB_IN", departed + int(span * f_in) + shift, hub)
        if exceptions.damaged and i == damage_at_hub:
            damaged_at = hub_in + int(rng.uniform(0.3, 2) * HOUR)
            w.add("DAMAGED", damaged_at, hub, reason=catalog.REASON_DAMAGED)
        dwell = min(int(rng.uniform(2, 10) * HOUR), int(span * 0.15 / len(route.hubs)))
        last_ltl_hub = i == len(route.hubs) - 1 and route.mode == "LTL" and len(route.hubs) > 1
        if exceptions.delayed and i == delay_at_hub:
            revised = eta_now = trip.deliver
            _report_delay(rng, w, hub, hub_in, dwell, revised, eu)
            shift = delay
        held = shift if i == delay_at_hub else 0  # the delay happens while at this hub
        if last_ltl_hub:
            w.add("AVAILABLE", hub_in + dwell + held, hub)
            continue
        hub_out = w.add(
            "HUB_OUT_ORIGIN" if i == 0 else "HUB_OUT",
            hub_in + dwell + held,
            hub,
            eta=eta_now if eu else None,
        )
        if i == 0 and not eu and not (exceptions.delayed and i == delay_at_hub):
            w.add("ETA", hub_out + 300, hub, eta=eta_now)
    if exceptions.delayed and revised is None:
        revised = trip.deliver
        w.add("DELAYED", departed + span // 3, origin, reason=catalog.REASON_CARRIER, eta=revised)
    return revised


def _report_delay(
    rng: Random, w: _Writer, hub: City, hub_in: int, dwell: int, revised: int, eu: bool
) -> None:
    """The carrier's delay report during the stay at ``hub`` (and its revised ETA)."""
    reason = rng.choice((catalog.REASON_WEATHER, catalog.REASON_CARRIER, catalog.REASON_MECHANICAL))
    if eu:
        reason = {"AO": "WEATHER", "AJ": "TRAFFIC", "AI": "VEHICLE_BREAKDOWN"}[reason]
    at = hub_in + int(rng.uniform(0.5, 1) * dwell)
    w.add("DELAYED", at, hub, reason=reason, eta=revised)
    if not eu:
        w.add("ETA", w.last + 600, hub, eta=revised)


def _final_mile(
    rng: Random, w: _Writer, route: Route, exceptions: Exceptions, trip: _Trip
) -> tuple[int | None, int | None, str | None]:
    """Delivery attempts, then delivery or refusal: (delivered at, refused at, signer).

    Out for delivery from the last terminal when it is local, else from the consignee's city.
    """
    eu = route.source == catalog.EU_ROAD
    origin, dest, deliver = route.origin, route.destination, trip.deliver
    last_city = dest
    if route.hubs and route.mode != "FTL" and distance_km(route.hubs[-1], dest) < 250:
        last_city = route.hubs[-1]

    def attempt(out_at: int, at: int) -> None:
        if route.mode != "FTL":
            w.add("OUT_FOR_DELIVERY", out_at, last_city)
        w.add("ETA_CONSIGNEE", out_at + 600, last_city, eta=at)
        w.add("ARRIVED_DELIVERY", at - int(rng.uniform(5, 20) * 60), dest)

    attempt(trip.out - 2 * HOUR if route.mode == "FTL" else trip.out, deliver)
    if exceptions.failed_attempt and not exceptions.refused:
        reason = rng.choice((catalog.REASON_RECIPIENT_UNAVAILABLE, catalog.REASON_CONSIGNEE_CLOSED))
        if eu:
            reason = (
                "RECIPIENT_ABSENT" if reason == catalog.REASON_RECIPIENT_UNAVAILABLE else "CLOSED"
            )
        tried = w.add("ATTEMPTED", deliver, dest, reason=reason)
        retry_out = _morning(rng, tried + 12 * HOUR, dest.tz, earliest=tried + 8 * HOUR)
        retry_at = retry_out + int(rng.uniform(0.5, 6) * HOUR)
        w.add("NOT_COMPLETED", tried + 300, dest, eta=retry_at)
        w.add("DEPARTED_DELIVERY", tried + 900, dest)
        attempt(retry_out, retry_at)
        deliver = retry_at
    if exceptions.refused:
        reason = "REFUSED" if eu else catalog.REASON_REFUSED
        refused_at = w.add("REFUSED", deliver, dest, reason=reason)
        w.add("DEPARTED_DELIVERY", refused_at + 1200, dest)
        w.add("RETURNED", refused_at + int(rng.uniform(1, 3) * DAY), origin)
        return None, refused_at, None
    signer: str | None = rng.choice(catalog.SIGNERS)
    if route.mode == "PARCEL" and rng.random() < 0.3:
        signer = None
    delivered_at = w.add("DELIVERED", deliver, dest, signed_by=signer)
    w.add("DEPARTED_DELIVERY", delivered_at + int(rng.uniform(10, 40) * 60), dest)
    return delivered_at, None, signer
