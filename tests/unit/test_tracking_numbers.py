"""A typed tracking number: the lookup by number and the live feed's filter accept exactly the
same inputs for a stored number (``search_keys.tracking_number_forms``, the one rule)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph import subscriptions
from graph.subscriptions import MilestoneSelection
from readmodel import search_keys
from readmodel.changes import ShipmentChange
from readmodel.search_keys import tracking_number_forms

#: Numbers as TMSs store them: upper case and whole, some with a dash, a few in lower case.
stored_numbers = st.text(alphabet="0123456789ABZaz- ", min_size=1, max_size=14).map(str.strip)
separators = st.sampled_from([" ", "-", "\u00a0", "\u2013", "\t", ""])


@st.composite
def typed_forms(draw: st.DrawFn, stored: str) -> str:
    """``stored`` as a person types it: any case, separators added or dropped, stray spaces."""
    out = []
    for char in stored:
        if char in " -" and draw(st.booleans()):
            continue
        out.append(draw(st.sampled_from([char, char.lower(), char.upper()])))
        out.append(draw(separators) if draw(st.integers(0, 4)) == 0 else "")
    return draw(separators) + "".join(out) + draw(st.sampled_from(["", " ", "\t"]))


def _change(tracking_number: str | None) -> ShipmentChange:
    return ShipmentChange(
        notice_id="tms/us-road|ms-1",
        shipment_id="SH-1",
        customer_id="ACME",
        tracking_number=tracking_number,
        status="IN_TRANSIT",
        milestone=None,
        rev=3,
        projected_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _lookup_finds(typed: str, stored: str) -> bool:
    """What ``shipmentByTrackingNumber`` finds: an equality of the stored number with one of
    the forms ``Readers.shipment_by_tracking`` sends in ``$in``."""
    return stored in tracking_number_forms(typed)


def _feed_follows(typed: str, stored: str | None) -> bool:
    return MilestoneSelection(tracking_number=typed).selects(_change(stored))


@given(st.data(), stored_numbers)
def test_the_lookup_and_the_live_feed_accept_the_same_typed_numbers(
    data: st.DataObject, stored: str
) -> None:
    typed = data.draw(st.one_of(typed_forms(stored), stored_numbers))
    assert _lookup_finds(typed, stored) == _feed_follows(typed, stored)


def test_numbers_as_people_type_them() -> None:
    stored = "1Z999AA10123456784"
    for typed in ("1z999aa10123456784", "1Z 999 AA1 01 2345 6784", " 1z-999-aa1-0123-4567-84\t"):
        assert _lookup_finds(typed, stored) and _feed_follows(typed, stored), typed
    # The feed compared case-folded numbers without separators on both sides: it followed
    # a number stored in groups, or in lower case, that the lookup never found.
    assert not _lookup_finds("PRO555", "PRO-555") and not _feed_follows("PRO555", "PRO-555")
    assert _lookup_finds("PRO555", "pro555") and _feed_follows("PRO555", "pro555")
    assert not _feed_follows("1Z999AA1", stored)  # a whole number, not a part of one
    assert not _feed_follows("1Z999AA10123456784", None)


def test_a_subscription_works_out_the_numbers_it_follows_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The feed checks every notice against every subscriber's selection: the forms of the
    typed number are worked out when the subscription starts, not again for each notice."""
    worked_out: list[str] = []

    def counted(typed: str) -> tuple[str, ...]:
        worked_out.append(typed)
        return tracking_number_forms(typed)

    monkeypatch.setattr(search_keys, "tracking_number_forms", counted)
    monkeypatch.setattr(subscriptions, "tracking_number_forms", counted)
    selection = MilestoneSelection(tracking_number="1z 999 aa1 01 2345 6784")
    notices = [_change("1Z999AA10123456784"), _change("9600000519"), _change(None)] * 100
    assert [selection.selects(notice) for notice in notices] == [True, False, False] * 100
    assert worked_out == ["1z 999 aa1 01 2345 6784"]
    assert MilestoneSelection().selects(notices[1]) and worked_out == ["1z 999 aa1 01 2345 6784"]
