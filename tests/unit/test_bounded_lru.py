"""The bounded LRU every in-process cache is built on (documents, measures, verified tokens,
APQ texts, first-page hints): what it keeps decides what a flood of unique keys evicts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from caching.bounded_lru import BoundedLRU


def test_the_least_recently_used_entry_goes_first_and_a_lookup_counts_as_use() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_storing_a_known_key_again_makes_it_the_most_recently_used() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), len(cache)) == (10, None, 2)


def test_a_size_of_zero_keeps_nothing() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(0)
    cache.put("a", 1)
    assert (cache.get("a"), len(cache)) == (None, 0)


def test_discard_and_clear_forget_entries() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(3)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.discard("a")
    cache.discard("missing")
    assert (cache.get("a"), cache.get("b")) == (None, 2)
    cache.clear()
    assert len(cache) == 0


@given(st.integers(0, 5), st.lists(st.tuples(st.booleans(), st.integers(0, 8))))
def test_it_holds_exactly_the_most_recently_used_keys(
    maxsize: int, operations: list[tuple[bool, int]]
) -> None:
    """Against a model: a list of keys, most recently used last, cut to ``maxsize``."""
    cache: BoundedLRU[int, int] = BoundedLRU(maxsize)
    recent: list[int] = []
    for is_put, key in operations:
        if is_put:
            cache.put(key, key)
            if maxsize > 0:
                recent = [k for k in recent if k != key][-(maxsize - 1) :] if maxsize > 1 else []
                recent.append(key)
        else:
            assert cache.get(key) == (key if key in recent else None)
            if key in recent:
                recent = [k for k in recent if k != key] + [key]
    assert len(cache) == len(recent)
