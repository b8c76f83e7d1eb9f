"""Prometheus metrics of one projector process, in a registry of its own.

Each process (``python -m projections run`` or ``rebuild``) exports its own instruments on
``PROJECTOR_METRICS_PORT`` (``projections.metrics_server``); Prometheus scrapes every process
and sums. What the process alone knows is here: what it applied and refused, how long its
batches took, how old events were when their documents were written, which partitions it
holds and how far behind they are. The group-wide lag (which keeps growing while no projector
runs) is the API's ``portal_projector_consumer_lag``, polled from Kafka.

Label values are bounded: topics and event types come from the contract, dead-letter
reasons are reduced to a class (``reason_class``), partitions are those the process holds.
"""

from __future__ import annotations

import re
import time
from collections import Counter as CountOf
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Final, Protocol

from prometheus_client import Counter, Gauge, Histogram

from observability.instruments import InstrumentSet, observe_all
from projections.dead_letter import HEADER_NAME_NOT_UTF8, NO_VALUE
from projections.document_size import DOCUMENT_TOO_LARGE
from projections.phases import PhaseClock

_PATH = re.compile(r"[A-Za-z_][\w.]*(?:\[\d*\][\w.]*)*")
_INDEX = re.compile(r"\[\d+\]")
_PLAIN_REASONS: Final = frozenset(
    {"not UTF-8", "not JSON", "not a JSON object", "nested too deeply", HEADER_NAME_NOT_UTF8}
)


def reason_class(reason: str) -> str:
    """A dead letter's reason as a label value with a bounded set of values.

    The full reason (with the offending value) travels in the dead letter's headers; the
    metric only needs to tell kinds apart: ``not JSON``, ``wrong topic``, the field path
    that failed (``data.lines[].sku``, indexes dropped), ``customer conflict``, ``document
    too large``...
    """
    if reason == NO_VALUE:
        return "no value"
    if reason.startswith("event type ") and " does not belong on " in reason:
        return "wrong topic"
    if reason.startswith("customerid ") and "does not match the customer" in reason:
        return "customer conflict"
    if reason.startswith(DOCUMENT_TOO_LARGE + ":"):
        return "document too large"
    prefix = reason.split(":", 1)[0].strip()
    if prefix in _PLAIN_REASONS:
        return prefix
    if ":" in reason and _PATH.fullmatch(prefix):
        return _INDEX.sub("[]", prefix)
    return "other"


#: One applied event as the metrics see it: inbound topic, CloudEvents type, the event's
#: source time and its Kafka record timestamp (milliseconds; 0 when the broker gave none).
AppliedEvent = tuple[str, str, datetime, int]


class StoreObserver(Protocol):
    """What ``ProjectionStore`` reports: writes that lost a race with another writer."""

    def write_conflict(self, kind: str, count: int = 1) -> None: ...


class NoStoreObserver:
    """For stores nobody watches (tests, benchmarks)."""

    def write_conflict(self, kind: str, count: int = 1) -> None:
        return None


class PartitionKey(Protocol):
    topic: str
    partition: int


class ProjectorMetrics(InstrumentSet, declared_in=Path(__file__).with_name("metrics.toml")):
    """The instruments of one projector process, and what it tracks to set them."""

    events_applied: Counter
    dead_letters: Counter
    notices_abridged: Counter
    write_conflicts: Counter
    batch_retries: Counter
    batch_records: Histogram
    batch_seconds: Histogram
    event_delay: Histogram
    record_delay: Histogram
    phase_seconds: Counter
    phase_cpu_seconds: Counter
    committed_offset: Gauge
    partition_lag: Gauge
    assigned_partitions: Gauge
    records_removed_unread: Counter
    rebuild_remaining: Gauge
    last_loop: Gauge

    def __init__(self) -> None:
        super().__init__()
        #: Read by ``/healthz`` from the server's thread (plain values: no lock needed).
        self.last_loop_at: float | None = None
        self._assigned: set[tuple[str, int]] = set()
        self._held: dict[tuple[str, int], int] = {}

    # --- store ------------------------------------------------------------------------

    def write_conflict(self, kind: str, count: int = 1) -> None:
        if count:
            self.write_conflicts.labels(kind=kind).inc(count)

    # --- batches ----------------------------------------------------------------------

    def dead_lettered(self, topic: str, reason: str) -> None:
        self.dead_letters.labels(topic=topic, reason=reason_class(reason)).inc()

    def notice_abridged(self, kind: str) -> None:
        """A change notice over ``NOTICE_MAX_BYTES``: ``kind`` as ``notices_abridged`` says."""
        self.notices_abridged.labels(kind=kind).inc()

    def applied(self, events: Iterable[AppliedEvent], now: datetime) -> None:
        """A batch's applied events, whose documents were written at ``now``.

        Counted once per (topic, type) and batch rather than once per event: a labelled
        child's lookup and increment per event was a visible part of the projector's CPU.
        The delays stay one observation per event, added to each histogram per batch
        (``observe_all``).
        """
        counts: CountOf[tuple[str, str]] = CountOf()
        event_delays: list[float] = []
        record_delays: list[float] = []
        now_seconds = now.timestamp()
        for topic, event_type, event_time, record_ms in events:
            counts[(topic, event_type)] += 1
            event_delays.append(max(now_seconds - event_time.timestamp(), 0.0))
            if record_ms > 0:
                record_delays.append(max(now_seconds - record_ms / 1000, 0.0))
        observe_all(self.event_delay, event_delays)
        observe_all(self.record_delay, record_delays)
        for (topic, event_type), count in counts.items():
            self.events_applied.labels(topic=topic, type=event_type).inc(count)

    def batch_done(self, records: int, seconds: float) -> None:
        self.batch_records.observe(records)
        self.batch_seconds.observe(seconds)

    def phases(self, clock: PhaseClock) -> None:
        """Add one batch's (or one batch finishing's) phases to the per-phase totals."""
        for phase, seconds in clock.wall.items():
            self.phase_seconds.labels(phase=phase).inc(seconds)
        for phase, seconds in clock.cpu.items():
            self.phase_cpu_seconds.labels(phase=phase).inc(max(seconds, 0.0))

    # --- partitions -------------------------------------------------------------------

    def loop_came_round(self) -> None:
        self.last_loop_at = time.time()
        self.last_loop.set(self.last_loop_at)

    @property
    def assigned_count(self) -> int:
        return len(self._assigned)

    def holding(self, partitions: Iterable[PartitionKey]) -> list[tuple[str, int]]:
        """Record the partitions held now; returns those newly held (no offset known yet).

        Partitions no longer held lose their series, so a sum over processes counts each
        partition once after a rebalance.
        """
        held = {(tp.topic, tp.partition) for tp in partitions}
        for key in set(self._held) - held:
            del self._held[key]
            for gauge in (self.committed_offset, self.partition_lag):
                try:
                    gauge.remove(key[0], str(key[1]))
                except KeyError:
                    pass
        self._assigned = held
        self.assigned_partitions.set(len(held))
        return sorted(held - set(self._held))

    def offsets(
        self,
        committed: Mapping[tuple[str, int], int],
        ends: Mapping[tuple[str, int], int | None],
    ) -> None:
        """Committed offsets (after a commit, or a newly held partition's position) and lags
        against the partitions' ends as last fetched (None: not fetched yet)."""
        self._held.update({key: o for key, o in committed.items() if key in self._assigned})
        for (topic, partition), offset in self._held.items():
            self.committed_offset.labels(topic=topic, partition=str(partition)).set(offset)
            end = ends.get((topic, partition))
            if end is not None:
                self.partition_lag.labels(topic=topic, partition=str(partition)).set(
                    max(end - offset, 0)
                )
