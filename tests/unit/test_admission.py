"""The lane that admits new documents to be checked: bounded in total and per client."""

from __future__ import annotations

import pytest

from web.admission import Lane, LaneFull


@pytest.mark.parametrize(
    ("total", "per_client", "share"),
    [(4, 2, 2), (2, 5, 2)],
    ids=["its own share", "a share larger than the lane is the lane"],
)
def test_one_client_cannot_take_more_than_its_share(
    total: int, per_client: int, share: int
) -> None:
    lane = Lane(total=total, per_client=per_client)
    for _ in range(share):
        lane.enter("mallory")
    with pytest.raises(LaneFull) as refused:
        lane.enter("mallory")
    assert refused.value == LaneFull(per_client=True, allowed=share)
    for other in range(total - share):  # the rest of the lane is still open to others
        lane.enter(f"client-{other}")
    assert lane.in_use == total


def test_the_lane_is_bounded_in_total_whoever_asks() -> None:
    lane = Lane(total=3, per_client=2)
    for client in ("a", "b", "c"):
        lane.enter(client)
    with pytest.raises(LaneFull) as refused:
        lane.enter("d")
    assert refused.value == LaneFull(per_client=False, allowed=3)
    assert "3 new documents" in str(refused.value)


def test_a_lane_without_a_total_bounds_each_client_only() -> None:
    lane = Lane(total=None, per_client=2)
    for client in range(100):
        lane.enter(client)
        lane.enter(client)
    with pytest.raises(LaneFull) as refused:
        lane.enter(7)
    assert refused.value == LaneFull(per_client=True, allowed=2)
    assert lane.in_use == 200


def test_leaving_gives_the_place_back() -> None:
    lane = Lane(total=1, per_client=1)
    lane.enter("a")
    with pytest.raises(LaneFull):
        lane.enter("b")
    lane.leave("a")
    lane.enter("b")
    assert lane.in_use == 1


def test_leaving_without_a_place_is_a_bug_not_a_silent_miscount() -> None:
    lane = Lane(total=2, per_client=1)
    with pytest.raises(ValueError, match="holds no place"):
        lane.leave("a")
    with pytest.raises(ValueError, match="at least one place"):
        Lane(total=0, per_client=1)
