"""Exactly-once, in-order delivery to one subscriber, from a replay and a live stream.

A resumed subscription reads the log from its cursor while live notices are already being
buffered for it, so the two sources may overlap, and the projector may repeat a notice after a
crash (same ``notice_id``, later offset). ``DeliveryGate`` is the one rule applied to both
sources: deliver a notice only if its offset is past the last one delivered and its
``notice_id`` was not delivered recently. Pure, so the hand-over can be tested exhaustively.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable


class RecentIds:
    """The last ``capacity`` ids seen: bounded memory whatever the stream's length (notice
    ids, or the offsets of the notices the hub dropped as repeats: ``LiveHub.dropped``)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._order: deque[Hashable] = deque()
        self._members: set[Hashable] = set()

    def __contains__(self, notice_id: object) -> bool:
        return notice_id in self._members

    def seen_before(self, notice_id: Hashable) -> bool:
        """Whether ``notice_id`` is among the recent ids; remembers it if not."""
        if notice_id in self._members:
            return True
        self._members.add(notice_id)
        self._order.append(notice_id)
        if len(self._order) > self._capacity:
            self._members.discard(self._order.popleft())
        return False

    def __len__(self) -> int:
        return len(self._order)


class DeliveryGate:
    """Decides, notice by notice, what one subscriber receives."""

    def __init__(self, after_offset: int | None, dedupe_window: int) -> None:
        #: Offset of the last notice passed (or the resume cursor's); -1 before any.
        self.last_offset = -1 if after_offset is None else after_offset
        self._recent = RecentIds(dedupe_window)

    def admit(self, offset: int, notice_id: str, *, remember: bool = True) -> bool:
        """True when the notice at ``offset`` must be delivered.

        Offsets at or before the last one passed were delivered already (or precede the
        cursor). A repeated ``notice_id`` still moves the position, so it is skipped once.
        Live notices are deduplicated by the hub already, so they are checked against the
        replayed ids without being remembered (``remember=False``): a subscription that
        never replayed keeps no ids at all.
        """
        if offset <= self.last_offset:
            return False
        self.last_offset = offset
        if not remember:
            return notice_id not in self._recent
        return not self._recent.seen_before(notice_id)
