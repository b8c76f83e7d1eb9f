"""A typed tracking number: the lookup by number and the live feed's filter accept exactly the
same inputs for a stored number. The lookup is driven as it runs: the shipment document the
reducers build from a plan carrying the stored number, and the condition the reader sends
(``resolvers.readers.tracking_lookup``), evaluated on it; the feed through
``MilestoneSelection.selects``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph import subscriptions
from graph.subscriptions import MilestoneSelection
from readmodel import search_keys
from readmodel.changes import ShipmentChange
from resolvers.readers import tracking_lookup
from tests.helpers import fold
from tests.unit import strategies as s

#: Numbers as TMSs store them: mostly upper case and whole, some in groups or lower case.
stored_numbers = (
    st.text(alphabet="0123456789ABZaz- ", min_size=1, max_size=14).map(str.strip).filter(bool)
)
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


def _projected(stored: str) -> dict[str, Any]:
    """The shipment document the projector stores for a plan carrying ``stored``."""
    plan = {**s.shipment_plan(), "trackingNumber": stored}
    return fold(s.event("shipment.planned", plan, source="tms/us-road", sequence=1), stored=True)


def _satisfies(value: Any, condition: str | Mapping[str, Any]) -> bool:
    """Whether a stored field's ``value`` meets the reader's condition on it: an equality or
    an ``$in`` (the two a lookup by number sends)."""
    if isinstance(condition, Mapping):
        assert set(condition) == {"$in"}, condition
        return value in condition["$in"]
    return bool(value == condition)


def _lookup_finds(typed: str, stored: str) -> bool:
    """Whether ``shipmentByTrackingNumber(typed)`` finds the shipment stored with ``stored``
    in a generation of today's projector (its shipments hold their tracking keys)."""
    lookup = tracking_lookup(typed, keyed=True)
    return lookup is not None and _satisfies(_projected(stored).get(lookup[0].field), lookup[1])


def _found_before_the_key(typed: str, stored: str) -> bool:
    """The same in a generation whose shipments do not hold their keys yet."""
    lookup = tracking_lookup(typed, keyed=False)
    return lookup is not None and _satisfies(_projected(stored).get(lookup[0].field), lookup[1])


def _feed_follows(typed: str, stored: str | None) -> bool:
    return MilestoneSelection(tracking_number=typed).selects(_change(stored))


@given(st.data(), stored_numbers)
def test_the_lookup_and_the_live_feed_accept_the_same_typed_numbers(
    data: st.DataObject, stored: str
) -> None:
    typed = data.draw(st.one_of(typed_forms(stored), stored_numbers))
    assert _lookup_finds(typed, stored) == _feed_follows(typed, stored)


@given(st.data(), stored_numbers.filter(search_keys.tracking_key))  # a placeholder ("-") names none
def test_a_number_typed_as_the_label_prints_it_is_found_and_followed(
    data: st.DataObject, stored: str
) -> None:
    typed = data.draw(typed_forms(stored))
    assert _lookup_finds(typed, stored) and _feed_follows(typed, stored)


def test_numbers_as_people_type_them() -> None:
    stored = "1Z999AA10123456784"
    for typed in ("1z999aa10123456784", "1Z 999 AA1 01 2345 6784", " 1z-999-aa1-0123-4567-84\t"):
        assert _lookup_finds(typed, stored) and _feed_follows(typed, stored), typed
    # A number stored in groups or in mixed case is found and followed typed whole, in
    # either case (before session 22's keys, the lookup found it only as stored).
    for typed, stored in (("PRO555", "PRO-555"), ("pro 555", "PRO-555"), ("1ZAB", "1Zab")):
        assert _lookup_finds(typed, stored) and _feed_follows(typed, stored), (typed, stored)
        assert not _found_before_the_key(typed, stored), (typed, stored)
    assert _lookup_finds("PRO-555", "PRO-555") and _found_before_the_key("PRO-555", "PRO-555")
    assert not _lookup_finds("1Z999AA1", stored)  # a whole number, not a part of one
    assert not _feed_follows("1Z999AA1", stored)
    assert not _feed_follows("1Z999AA10123456784", None)
    assert not _feed_follows(" ", "-") and not _feed_follows("-", "")  # no number named


def test_a_subscription_works_out_the_key_it_follows_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The feed checks every notice against every subscriber's selection: the key of the
    typed number is worked out when the subscription starts, not again for each notice."""
    worked_out: list[str] = []

    def counted(number: str) -> str:
        worked_out.append(number)
        return search_keys.tracking_key(number)

    monkeypatch.setattr(subscriptions, "tracking_key", counted)
    typed = "1z 999 aa1 01 2345 6784"
    selection = MilestoneSelection(tracking_number=typed)
    notices = [_change("1Z999AA10123456784"), _change("9600000519"), _change(None)] * 100
    assert [selection.selects(notice) for notice in notices] == [True, False, False] * 100
    assert worked_out.count(typed) == 1
    assert MilestoneSelection().selects(notices[1]) and worked_out.count(typed) == 1
