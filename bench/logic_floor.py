"""The projector's pure-logic floor: what its Python must do per event with no I/O at all.

``bench/projector.py`` prints it beside the ``insert_many`` ceiling so the two are compared
in one run. Every record is decoded (``projections.events.decode_event``), every event is
applied to its entity's document in memory (``projections.reducers.apply``, the reducers
the projector folds with), and each final document is BSON-encoded once (what sending it
to any store costs the client). No Kafka, no store, no reads, no related summaries, no
search documents, no change notices: a projector built on these reducers does all of
this and more, so its rate cannot exceed this one whatever the store or the batching.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import bson

from config.garbage import tune_garbage_collection
from projections.events import Event, InvalidEvent, decode_event
from projections.reducers import apply
from projections.status_mapping import load_status_mapping


class LogicFloor(NamedTuple):
    """CPU seconds of each step over the whole stream, and what it produced."""

    events: int
    documents: int
    decode_seconds: float
    fold_seconds: float
    encode_seconds: float

    @property
    def seconds(self) -> float:
        return self.decode_seconds + self.fold_seconds + self.encode_seconds

    def report(self) -> str:
        per_event = 1e6 / self.events
        return (
            f"{self.seconds:.1f}s CPU = {self.events / self.seconds:,.0f} events/s"
            f" (decode {self.decode_seconds * per_event:.1f}, fold"
            f" {self.fold_seconds * per_event:.1f}, encode {self.documents:,} documents"
            f" {self.encode_seconds * per_event:.1f} us/event)"
        )


def _decoded(values: Iterable[bytes]) -> list[Event]:
    events: list[Event] = []
    for value in values:
        try:
            events.append(decode_event(value))
        except InvalidEvent:
            pass  # dead-lettered by the projector: decoded, then no further work
    return events


def _folded(events: Iterable[Event]) -> list[dict[str, Any]]:
    mapping = load_status_mapping()
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        key = (event.entity_kind, event.entity_id)
        try:
            docs[key] = apply(docs.get(key), event, mapping)
        except InvalidEvent:
            pass  # a conflicting event: dead-lettered, the document unchanged
    return list(docs.values())


def measure_logic_floor(values: list[bytes]) -> LogicFloor:
    """The floor over ``values`` (record values in stream order), in the calling thread's CPU
    time, with the projector's garbage collection settings (what exists now frozen, as the
    projector freezes what it keeps, so earlier work's objects are not walked again).

    Thread time, so that a caller may run it off its event loop (``asyncio.to_thread``): the
    benchmark's in-process projector keeps that loop, and its consumer's heartbeats with it
    (seconds of work on the loop itself let the group session expire)."""
    tune_garbage_collection()
    started = time.thread_time()
    events = _decoded(values)
    decoded = time.thread_time()
    docs = _folded(events)
    folded = time.thread_time()
    for doc in docs:
        bson.encode(doc)
    encoded = time.thread_time()
    return LogicFloor(len(values), len(docs), decoded - started, folded - decoded, encoded - folded)
