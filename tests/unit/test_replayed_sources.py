"""How a rebuild reports when each source's replayed data was applied (``lastAppliedAt``)
and its newest event (``lastEventAt``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from projections.batch import sources_seen
from projections.dead_letter import KafkaRecord
from projections.events import Event
from projections.projector import replayed_sources
from projections.store import EVENT_CLOCK_SKEW, _believable
from tests.unit import strategies as s

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def _created(sequence: int, time: str | None = None) -> Event:
    return s.event("order.created", s.order_snapshot(), source=s.ERP, sequence=sequence, time=time)


def _record(at: datetime | None) -> KafkaRecord:
    timestamp = -1 if at is None else int(at.timestamp() * 1000)
    return KafkaRecord("orders", 0, 0, timestamp, None, b"")


def _applied_at(*applied: tuple[Event, KafkaRecord]) -> datetime | None:
    seen = sources_seen(event for event, _ in applied)
    return replayed_sources(seen, applied, NOW)[s.ERP].applied_at


def test_a_source_counts_as_applied_when_its_newest_replayed_record_reached_the_log() -> None:
    days_ago = NOW - timedelta(days=3)
    newest = (_created(2), _record(days_ago))
    assert _applied_at((_created(1), _record(days_ago - timedelta(hours=1))), newest) == days_ago


def test_a_record_stamped_ahead_of_the_clock_counts_as_now() -> None:
    assert _applied_at((_created(1), _record(NOW + timedelta(hours=2)))) == NOW


def test_a_record_stamped_in_microseconds_counts_as_now() -> None:
    """A producer that writes microseconds where Kafka wants milliseconds stamps a year past
    50,000, beyond ``datetime``: the rebuild failed at that record on every attempt."""
    stamped = KafkaRecord("orders", 0, 0, int(NOW.timestamp() * 1_000_000), None, b"")
    assert _applied_at((_created(1), stamped)) == NOW


def test_a_record_without_a_timestamp_counts_from_its_events_time() -> None:
    event = _created(1)
    assert _applied_at((event, _record(None))) == event.time


def test_a_replayed_event_dated_far_ahead_keeps_when_its_record_reached_the_log() -> None:
    """A source silent for days whose last event a bad clock dated 2099: the event time is
    capped, but the source still counts as applied days ago (stale, its banner shown), and
    its event as at most ``EVENT_CLOCK_SKEW`` after that (its lag days, not 0). Before, the
    cap dropped ``applied_at``, and the rebuild reported the source applied at its own time."""
    days_ago = NOW - timedelta(days=3)
    applied = [(_created(1, time="2099-01-01T00:00:00Z"), _record(days_ago))]
    seen = replayed_sources(sources_seen(event for event, _ in applied), applied, NOW)

    believed = _believable(seen[s.ERP], NOW)

    assert believed.applied_at == days_ago
    assert believed.last_event_at == days_ago + EVENT_CLOCK_SKEW
    assert believed.last_event_id == seen[s.ERP].last_event_id
