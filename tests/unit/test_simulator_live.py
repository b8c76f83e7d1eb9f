"""The live feed continues a history in real time, paced by an injectable clock."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections.events import decode_event
from simulator.live import paced
from simulator.records import SimRecord, TimedRecord
from simulator.world import History, generate, live

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
T0 = NOW.timestamp()
HISTORY: dict[str, Any] = {"days": 4, "orders_per_day": 20, "now": NOW}
RATE = 8.0


def until(feed: Iterator[TimedRecord], seconds: float) -> list[TimedRecord]:
    return list(itertools.takewhile(lambda t: t.due <= T0 + seconds, feed))


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in generate(9, **HISTORY)]


@pytest.fixture(scope="module")
def half_hour() -> list[TimedRecord]:
    return until(live(History(9, **HISTORY), rate=RATE), 1800)


def test_live_continues_ids_and_sequences_of_the_history(
    history: list[dict[str, Any]], half_hour: list[TimedRecord]
) -> None:
    last = {(e["source"], e["subject"]): e["sequence"] for e in history}
    deliveries = {(e["source"], e["id"]) for e in history}
    continued = 0
    for timed in half_hour:
        event = json.loads(timed.record.value)
        key = (event["source"], event["subject"])
        assert event["sequence"] > last.get(key, 0), key
        continued += key in last
        last[key] = event["sequence"]
        assert (event["source"], event["id"]) not in deliveries
        deliveries.add((event["source"], event["id"]))
    assert continued > 0  # shipments in flight at "now" go on moving


def test_live_records_are_due_when_they_happen(half_hour: list[TimedRecord]) -> None:
    dues = [t.due for t in half_hour]
    assert dues == sorted(dues)
    assert dues[0] > T0
    for timed in half_hour:
        decoded = decode_event(timed.record.value)
        assert decoded.time.timestamp() == timed.due


def test_live_rate_is_about_the_requested_one(half_hour: list[TimedRecord]) -> None:
    expected = RATE * 1800
    assert 0.5 * expected < len(half_hour) < 2.0 * expected


def test_live_shipments_are_delivered_within_minutes(half_hour: list[TimedRecord]) -> None:
    planned_at: dict[str, float] = {}
    delivered_after: list[float] = []
    for timed in half_hour:
        event = json.loads(timed.record.value)
        if event["type"] == "logistics.shipment.planned.v1":
            planned_at.setdefault(event["subject"], timed.due)
        if event["type"] == "logistics.shipment.milestone.v1" and event["data"]["statusCode"] in (
            "D1",
            "DELIVERED",
        ):
            if event["subject"] in planned_at:
                delivered_after.append(timed.due - planned_at[event["subject"]])
    assert len(delivered_after) > 10
    assert min(delivered_after) < 15 * 60


def test_a_later_start_skips_the_gap_with_natural_records_only() -> None:
    start = NOW + timedelta(hours=2)
    feed = live(History(9, **HISTORY), rate=RATE, live_from=start)
    gap = until(feed, 7200)
    assert len(gap) < RATE * 600  # no boosted intake before live_from


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_the_pacer_waits_for_each_record_to_fall_due() -> None:
    records = [SimRecord("orders", b"k", str(i).encode()) for i in range(4)]
    feed = [
        TimedRecord(T0 - 5, records[0]),
        TimedRecord(T0 + 2, records[1]),
        TimedRecord(T0 + 2, records[2]),
        TimedRecord(T0 + 10, records[3]),
    ]
    clock = FakeClock(T0)
    released = []
    async for record in paced(feed, clock):
        released.append((record, clock.time()))
    assert [r for r, _ in released] == records
    assert clock.sleeps == [2, 8]
    assert [at for _, at in released] == [T0, T0 + 2, T0 + 2, T0 + 10]


async def test_the_pacer_pulls_an_endless_feed_lazily() -> None:
    endless = (
        TimedRecord(T0 + i, SimRecord("orders", b"k", str(i).encode())) for i in itertools.count()
    )
    clock = FakeClock(T0)
    got = []
    async for record in paced(endless, clock):
        got.append(record)
        if len(got) == 3:
            break
    assert clock.now == T0 + 2
