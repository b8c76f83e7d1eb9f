"""Notice revisions across rebuild switches (``projections.revision_offsets``): the arithmetic
that keeps a shipment's revision rising when a new generation counts ``rev`` from 1 again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.revision_offsets import (
    REVISION_MARGIN,
    REVISION_OFFSET_CEILING,
    corrected_offset,
    next_revision_offset,
    wrapped,
)

#: GraphQL's largest ``Int``: ``MilestoneEvent.revision`` must never pass it.
GRAPHQL_INT_MAX = 2**31 - 1

offsets = st.integers(min_value=0, max_value=REVISION_OFFSET_CEILING // 2)
revs = st.integers(min_value=0, max_value=100_000)


@given(previous=offsets, highest=revs, in_flight=st.integers(0, REVISION_MARGIN), new_rev=revs)
def test_every_notice_of_the_generation_left_is_below_every_notice_of_the_new_one(
    previous: int, highest: int, in_flight: int, new_rev: int
) -> None:
    """The old generation's notices carry at most its highest ``rev`` read at the switch
    plus what the batches in flight add (up to the margin), even those the live projector
    publishes after the switch; the new generation's start at its ``rev`` 1."""
    offset = next_revision_offset(previous, highest)
    last_before = previous + highest + in_flight
    first_after = offset + max(new_rev, 1)
    assert last_before < first_after
    assert corrected_offset(offset, previous, highest + in_flight) is None


@given(previous=offsets, highest=revs, beyond=st.integers(1, 10 * REVISION_MARGIN))
def test_a_rev_raised_past_the_margin_during_the_switch_raises_the_offset(
    previous: int, highest: int, beyond: int
) -> None:
    offset = next_revision_offset(previous, highest)
    after = highest + REVISION_MARGIN + beyond
    corrected = corrected_offset(offset, previous, after)
    assert corrected is not None and corrected > offset
    assert previous + after < corrected + 1


def test_offsets_stay_within_a_graphql_int_over_a_hundred_thousand_rebuilds() -> None:
    """Each rebuild adds the highest ``rev`` of the generation left (here 500: a shipment
    written by 500 batches) and the margin; a shipment's notice still fits an ``Int``."""
    offset, highest = 0, 500
    for _ in range(100_000):
        following = next_revision_offset(offset, highest)
        assert not wrapped(offset, following)
        offset = following
    assert offset <= REVISION_OFFSET_CEILING
    assert offset + 1_000_000 < GRAPHQL_INT_MAX


def test_past_the_ceiling_offsets_start_again_from_zero() -> None:
    previous = REVISION_OFFSET_CEILING - REVISION_MARGIN
    offset = next_revision_offset(previous, 1)
    assert offset == 0 and wrapped(previous, offset)
    # no correction can help once they wrapped: it would not be written
    assert corrected_offset(offset, previous, 5) is None
