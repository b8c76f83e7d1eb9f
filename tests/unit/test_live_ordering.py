"""The hand-over of a resumed subscription: replayed notices, then buffered live ones.

Whatever the overlap between the two sources and however the projector repeated notices,
the subscriber gets every notice after its cursor once, in log order.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from web.live.ordering import DeliveryGate, RecentIds


def test_recent_ids_forget_the_oldest_beyond_capacity() -> None:
    recent = RecentIds(3)
    assert [recent.seen_before(i) for i in "abc"] == [False, False, False]
    assert recent.seen_before("a")
    assert not recent.seen_before("d")  # evicts "a"
    assert not recent.seen_before("a")
    assert len(recent) == 3


def _log(size: int, repeats: list[tuple[int, int]]) -> list[tuple[int, str]]:
    """``size`` notices at offsets 0..size-1 with distinct ids, except that each (i, j) with
    i < j makes the notice at j a repeat of the one at i (the projector re-published it)."""
    ids = [f"n{offset}" for offset in range(size)]
    for earlier, later in repeats:
        if earlier < later:
            ids[later] = ids[earlier]
    return list(enumerate(ids))


def _hub(log: list[tuple[int, str]], hub_start: int, live_from: int) -> list[tuple[int, str]]:
    """What the hub hands a subscription registered at ``live_from``: it dedupes every
    notice it dispatched since it started at ``hub_start``."""
    seen: set[str] = set()
    handed = []
    for offset, notice_id in log[hub_start:]:
        repeated = notice_id in seen
        seen.add(notice_id)
        if not repeated and offset >= live_from:
            handed.append((offset, notice_id))
    return handed


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[list[tuple[int, str]], int, int, int, int]:
    size = draw(st.integers(min_value=0, max_value=50))
    index = st.integers(0, max(size - 1, 0))
    log = _log(size, draw(st.lists(st.tuples(index, index), max_size=6)))
    after = draw(st.integers(min_value=-1, max_value=size))
    hub_start = draw(st.integers(min_value=0, max_value=size))
    live_from = draw(st.integers(min_value=hub_start, max_value=size))
    # The replay reads up to the live start, or (harmlessly) past it.
    replay_until = draw(st.integers(min_value=live_from, max_value=size))
    return log, after, hub_start, live_from, replay_until


@given(_scenarios())
def test_replay_then_live_has_no_gap_no_duplicate_and_keeps_log_order(
    scenario: tuple[list[tuple[int, str]], int, int, int, int],
) -> None:
    log, after, hub_start, live_from, replay_until = scenario
    gate = DeliveryGate(None if after < 0 else after, dedupe_window=1000)
    delivered: list[tuple[int, str]] = []
    for offset, notice_id in log[after + 1 : replay_until]:
        if gate.admit(offset, notice_id):
            delivered.append((offset, notice_id))
    for offset, notice_id in _hub(log, hub_start, live_from):
        if gate.admit(offset, notice_id, remember=False):
            delivered.append((offset, notice_id))

    offsets = [offset for offset, _ in delivered]
    assert offsets == sorted(set(offsets)), "log order, each offset once"
    assert all(offset > after for offset in offsets), "nothing at or before the cursor"
    ids = [notice_id for _, notice_id in delivered]
    assert len(ids) == len(set(ids)), "a repeated notice is delivered once"
    first_occurrences = {notice_id: offset for offset, notice_id in reversed(log)}
    missed = [
        offset
        for notice_id, offset in first_occurrences.items()
        if offset > after and notice_id not in ids
    ]
    assert not missed, "every notice after the cursor arrives"


def test_a_live_notice_repeating_a_replayed_one_is_dropped() -> None:
    gate = DeliveryGate(4, dedupe_window=10)
    assert gate.admit(5, "ms-1")
    assert gate.admit(6, "ms-2")
    assert not gate.admit(7, "ms-1", remember=False)
    assert gate.admit(8, "ms-3", remember=False)


def test_offsets_at_or_before_the_cursor_are_never_delivered() -> None:
    gate = DeliveryGate(10, dedupe_window=10)
    assert not gate.admit(10, "a")
    assert not gate.admit(3, "b")
    assert gate.admit(11, "c")
    assert not gate.admit(11, "c")
