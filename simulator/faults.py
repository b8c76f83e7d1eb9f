"""The backbone's misbehaviour, applied to the clean stream.

The world and the stamper produce a clean, time-ordered stream. This module turns it into
what the contract warns about, at configurable rates:

* **duplicates**: the same record (same ``source`` and ``id``, same bytes) delivered again
  later;
* **stale snapshots**: when a snapshot is superseded, the older snapshot is re-sent shortly
  *after* the newer one, so a lower ``sequence`` arrives last;
* **disorder**: an entity's first records are held back until a related record went past —
  WMS stages before their ERP order, milestones before their shipment plan, an invoice
  before the orders it bills;
* **broken records**: extra records that violate the contract, flagged ``broken=True``.

The fault RNG is separate from the world's, so turning faults on never changes the world:
the faulty stream holds every clean record, plus the injected extras. Rates of zero give
back the clean stream record for record.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from random import Random
from typing import Any, Final, Literal

from simulator.envelope import SHIPMENT_PLANNED, Stamped
from simulator.records import SimRecord, TimedRecord

#: A held record is released at the latest this many records later.
MAX_HOLD: Final = 2_000
#: "Invoice before order" holds wait for the invoice, up to this many records.
MAX_LONG_HOLD: Final = 50_000
#: Duplicates re-appear within this many records.
MAX_DUPLICATE_LAG: Final = 3_000


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Probabilities, each in [0, 1]. All zero (the default) is the clean stream.

    ``duplicate``: per record, delivered again later. ``stale_snapshot``: per superseded
    snapshot, re-sent after its successor. ``disorder``: per order or shipment, its first
    records held back until a related record on another stream passed. ``broken``: per
    record, a broken record injected next to it.
    """

    duplicate: float = 0.0
    stale_snapshot: float = 0.0
    disorder: float = 0.0
    broken: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicate", "stale_snapshot", "disorder", "broken"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {name}={value} is not within [0, 1]")

    @classmethod
    def none(cls) -> FaultRates:
        return cls()

    @classmethod
    def default(cls) -> FaultRates:
        """What a demo shows: every fault present, none dominating."""
        return cls(duplicate=0.02, stale_snapshot=0.2, disorder=0.03, broken=0.002)

    @classmethod
    def named(cls, name: str) -> FaultRates:
        presets = {"none": cls.none, "default": cls.default}
        if name not in presets:
            raise ValueError(f"unknown fault preset {name!r}; choose one of {sorted(presets)}")
        return presets[name]()

    @property
    def active(self) -> bool:
        return any((self.duplicate, self.stale_snapshot, self.disorder, self.broken))


BrokenKind = Literal[
    "not_json", "not_utf8", "json_array", "missing_field", "unknown_type", "wrong_type"
]
BROKEN_KINDS: Final[tuple[BrokenKind, ...]] = (
    "not_json",
    "not_utf8",
    "json_array",
    "missing_field",
    "unknown_type",
    "wrong_type",
)
_REQUIRED_ENVELOPE: Final = (
    "id",
    "source",
    "type",
    "subject",
    "time",
    "sequence",
    "data",
    "specversion",
)
_WRONG_TYPES: Final[tuple[tuple[str, Any], ...]] = (
    ("sequence", "seven"),
    ("sequence", 0),
    ("time", 1764235200),
    ("time", "yesterday afternoon"),
    ("data", "see attachment"),
    ("data", [1, 2, 3]),
    ("subject", 12345),
    ("id", None),
)


def make_broken(rng: Random, template: Stamped, serial: int) -> SimRecord:
    """A record modelled on ``template`` that the contract rejects, with an id of its own
    (so it can never be mistaken for a redelivery of the real one)."""
    kind = rng.choice(BROKEN_KINDS)
    original = template.record
    if kind == "not_json":
        return SimRecord(
            original.topic_kind,
            original.key,
            original.value[: max(1, len(original.value) // 2)],
            True,
        )
    if kind == "not_utf8":
        return SimRecord(
            original.topic_kind, original.key, b"\xff\xfe\x00{" + original.value[:40], True
        )
    envelope: dict[str, Any] = json.loads(original.value)
    envelope["id"] = f"{template.event_id}-x{serial}"
    if kind == "json_array":
        value: Any = [envelope]
    elif kind == "missing_field":
        envelope.pop(rng.choice(_REQUIRED_ENVELOPE))
        value = envelope
    elif kind == "unknown_type":
        envelope["type"] = rng.choice(
            ("logistics.order.teleported.v1", "logistics.shipment.milestone.v9", "com.example.ping")
        )
        value = envelope
    else:
        field, wrong = rng.choice(_WRONG_TYPES)
        envelope[field] = wrong
        value = envelope
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return SimRecord(original.topic_kind, original.key, encoded, True)


@dataclass(slots=True)
class _Hold:
    records: list[Stamped]
    deadline: int
    #: "other_stream": released by a record of another stream naming the subject;
    #: "invoice": only by an invoice naming it; "next_milestone": by a later record of
    #: the same shipment that is not a plan.
    release_on: Literal["other_stream", "invoice", "next_milestone"]


class FaultInjector:
    """Stateful stream transformer; use :func:`inject`."""

    def __init__(self, rates: FaultRates, rng: Random) -> None:
        self.rates = rates
        self.rng = rng
        self._index = 0
        self._tick = 0
        self._delayed: list[tuple[int, int, int, SimRecord]] = []
        self._holds: dict[tuple[str, str], _Hold] = {}
        self._deadlines: list[tuple[int, tuple[str, str]]] = []
        self._seen: set[tuple[str, str]] = set()
        self._last_snapshot: dict[tuple[str, str], SimRecord] = {}
        self._broken = 0

    def feed(self, item: Stamped) -> Iterator[TimedRecord]:
        self._index += 1
        key = (item.record.topic_kind, item.subject)
        hold = self._holds.get(key)
        if hold is not None and not _releases_own(hold, item):
            hold.records.append(item)
        elif hold is None and key not in self._seen and self._start_hold(key, item):
            pass
        else:
            yield from self._deliver(item)
        self._seen.add(key)
        yield from self._due(item.at)

    def flush(self, at: int) -> Iterator[TimedRecord]:
        for key in list(self._holds):
            yield from self._release(key)
        while self._delayed:
            _, _, due_at, record = heapq.heappop(self._delayed)
            yield TimedRecord(max(at, due_at), record)

    # --- holds --------------------------------------------------------------------------

    def _start_hold(self, key: tuple[str, str], item: Stamped) -> bool:
        kind = item.record.topic_kind
        if kind not in ("orders", "shipments") or self.rng.random() >= self.rates.disorder:
            return False
        if kind == "shipments":
            if item.type != SHIPMENT_PLANNED:
                return False
            hold = _Hold([item], self._index + MAX_HOLD, "next_milestone")
        elif self.rng.random() < 0.25:
            hold = _Hold([item], self._index + MAX_LONG_HOLD, "invoice")
        else:
            hold = _Hold([item], self._index + MAX_HOLD, "other_stream")
        self._holds[key] = hold
        heapq.heappush(self._deadlines, (hold.deadline, key))
        return True

    def _release(self, key: tuple[str, str]) -> Iterator[TimedRecord]:
        hold = self._holds.pop(key)
        for held in hold.records:
            yield from self._deliver(held, releasing=True)

    def _triggered(self, item: Stamped) -> list[tuple[str, str]]:
        """Holds that ``item`` going past releases."""
        fired = []
        kind = item.record.topic_kind
        for name in (item.subject, *item.refs):
            order_hold = self._holds.get(("orders", name))
            if order_hold is not None and kind != "orders":
                if order_hold.release_on == "other_stream" or kind == "invoices":
                    fired.append(("orders", name))
            if kind == "shipments" and name == item.subject and item.type != SHIPMENT_PLANNED:
                if ("shipments", name) in self._holds:
                    fired.append(("shipments", name))
        return fired

    # --- delivery -----------------------------------------------------------------------

    def _deliver(self, item: Stamped, releasing: bool = False) -> Iterator[TimedRecord]:
        rates, rng = self.rates, self.rng
        yield TimedRecord(item.at, item.record)
        if rates.duplicate and rng.random() < rates.duplicate:
            self._delay(item.record, rng.randint(1, MAX_DUPLICATE_LAG), item.at)
        if item.snapshot:
            seq_key = (item.source, item.subject)
            previous = self._last_snapshot.get(seq_key)
            if (
                previous is not None
                and rates.stale_snapshot
                and rng.random() < rates.stale_snapshot
            ):
                self._delay(previous, rng.randint(0, 20), item.at)
            self._last_snapshot[seq_key] = item.record
        if rates.broken and rng.random() < rates.broken:
            self._broken += 1
            yield TimedRecord(item.at, make_broken(rng, item, self._broken))
        if not releasing:
            for key in self._triggered(item):
                yield from self._release(key)

    def _delay(self, record: SimRecord, lag: int, at: int) -> None:
        self._tick += 1
        heapq.heappush(self._delayed, (self._index + lag, self._tick, at, record))

    def _due(self, at: int) -> Iterator[TimedRecord]:
        while self._delayed and self._delayed[0][0] <= self._index:
            _, _, _, record = heapq.heappop(self._delayed)
            yield TimedRecord(at, record)
        while self._deadlines and self._deadlines[0][0] <= self._index:
            deadline, key = heapq.heappop(self._deadlines)
            hold = self._holds.get(key)
            if hold is not None and hold.deadline == deadline:
                yield from self._release(key)


def _releases_own(hold: _Hold, item: Stamped) -> bool:
    """A later record of a held shipment that is not a plan is the trigger itself: it goes
    out first, then the held plans follow it."""
    return hold.release_on == "next_milestone" and item.type != SHIPMENT_PLANNED


def inject(stream: Iterable[Stamped], rates: FaultRates, rng: Random) -> Iterator[TimedRecord]:
    """The stream as the backbone delivers it. With all rates zero, exactly the input."""
    if not rates.active:
        for item in stream:
            yield TimedRecord(item.at, item.record)
        return
    injector = FaultInjector(rates, rng)
    last = 0
    for item in stream:
        last = item.at
        yield from injector.feed(item)
    yield from injector.flush(last)
