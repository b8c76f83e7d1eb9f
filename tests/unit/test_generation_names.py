"""The names of new projection generations (``projections.rebuild``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from projections.rebuild import new_generation_suffix

NOW = datetime(2026, 12, 2, 0, 17, 5, tzinfo=UTC)


def test_two_rebuilds_started_in_one_second_get_generations_of_their_own() -> None:
    """With the time alone, both wrote into one generation (mixed, with different status
    maps) and the last switch pointed readers at what both had written."""
    names = {new_generation_suffix(NOW) for _ in range(50)}
    assert len(names) == 50
    assert all(name.startswith("g20261202001705") for name in names)


def test_generation_names_sort_by_when_their_rebuild_started() -> None:
    earlier = [new_generation_suffix(NOW) for _ in range(20)]
    later = [new_generation_suffix(NOW + timedelta(seconds=1)) for _ in range(20)]
    assert max(earlier) < min(later)
