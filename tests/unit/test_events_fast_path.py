"""The decoder's fast path (msgspec schemas) accepts exactly what the checked reader accepts.

``decode_event`` answers from the schemas when they accept a record and asks
``decode_event_checked`` otherwise, so it can only go wrong one way: by accepting a record
the checked reader refuses, or decoding it differently. Both are caught here by comparing
the two on the simulator's whole stream (with the contract's faults) and on random damage
to every field of every contract example.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.events import Event, InvalidEvent, decode_event, decode_event_checked
from simulator.faults import FaultRates
from simulator.world import generate
from tests.contract import EXAMPLES

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FAULTS = FaultRates(duplicate=0.05, stale_snapshot=0.2, disorder=0.1, broken=0.05)


def outcome(decode: Callable[[bytes], Event], value: bytes) -> Event | str:
    try:
        return decode(value)
    except InvalidEvent as exc:
        return f"refused: {exc.reason}"


def test_the_simulated_stream_decodes_the_same_both_ways() -> None:
    records = list(generate(7, days=10, orders_per_day=20, now=NOW, faults=FAULTS))
    assert any(r.broken for r in records) and len(records) > 1000
    for record in records:
        assert outcome(decode_event, record.value) == outcome(decode_event_checked, record.value)


EXAMPLE_BODIES = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and index path inside a JSON value (the value itself excluded)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found.extend(paths(item, (*prefix, index)))
    return found


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([1e400, -1e400, 2.5, 3.0, 0.0, 10**30]),
    st.sampled_from(
        [
            "",
            " ",
            "1.0",
            "12.50",
            "-0",
            "9.0e2",
            "NaN",
            " 97.49",
            "2026-11-21T15:42:00Z",
            "2026-11-21t15:42:00.123456z",
            "2026-11-21T15:42:00",
            "2026-11-21 15:42:00Z",
            "2026-11-21T15:42:00.1+05:30",
            "2026-02-30",
            "2026-11-24",
            "US",
            "USD",
            "us",
            "US\n",
            "x" * 129,
            "application/json; charset=utf-8",
            "text/xml",
            "RELEASED",
            "PARCEL",
            "FREIGHT",
            "OUTBOUND",
            "AVAILABLE",
            "logistics.shipment.milestone.v1",
        ]
    ),
    st.text(max_size=5),
)
#: Mostly scalars: a composite where a scalar belongs is refused by both at once.
JSON_VALUES = st.one_of(
    SCALARS,
    st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["lineNumber", "sscc", "a"]), inner, max_size=2)
        ),
        max_leaves=4,
    ),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_examples_decode_the_same_both_ways(data: st.DataObject) -> None:
    body = copy.deepcopy(data.draw(st.sampled_from(EXAMPLE_BODIES)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=2))):
        candidates = paths(body)
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON_VALUES)
    value = json.dumps(body).encode()
    assert outcome(decode_event, value) == outcome(decode_event_checked, value)


def test_a_duplicated_key_counts_once_the_last_time_both_ways() -> None:
    text = (EXAMPLES / "shipment-milestone.json").read_text()
    twice = text.replace('"sequence":3', '"sequence":3,"sequence":0', 1).encode()
    assert outcome(decode_event, twice) == outcome(decode_event_checked, twice)
    assert "sequence: must be at least 1" in str(outcome(decode_event, twice))
