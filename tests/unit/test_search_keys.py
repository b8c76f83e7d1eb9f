"""Search keys: every document containing a fragment holds the fragment's key, so the index
lookup the readers send never misses a match (the ``$regex`` check then drops the rest)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from projections.batch import EntityKey
from projections.search_keys import (
    MIN_FRAGMENT,
    fragment_keys,
    order_keys,
    search_keys,
    with_search_keys,
)

values = st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=30)


@given(values, st.data())
def test_a_document_holds_the_key_of_every_fragment_it_contains(
    value: str, data: st.DataObject
) -> None:
    if len(value) < MIN_FRAGMENT:
        return
    start = data.draw(st.integers(min_value=0, max_value=len(value) - MIN_FRAGMENT))
    end = data.draw(st.integers(min_value=start + MIN_FRAGMENT, max_value=len(value)))
    fragment = data.draw(st.sampled_from([value[start:end], value[start:end].swapcase()]))
    shipment = {"_id": "SH-1", "trackingNumber": value}
    order = {"_id": "SO-1", "shipTo": {"name": value}}
    assert set(fragment_keys(fragment)) <= set(search_keys("shipments", shipment) or [])
    assert set(fragment_keys(fragment)) <= set(search_keys("orders", order) or [])


def test_keys_of_each_searchable_field_and_nothing_else() -> None:
    shipment = {
        "_id": "SH-1",
        "trackingNumber": "1Z999",
        "orderIds": ["SO-77"],
        "destination": {"city": "Rome"},
        "carrierScac": "ODFL",
    }
    keys = search_keys("shipments", shipment) or []
    assert {"1z9", "1z999"} - set(keys) == {"1z999"}  # 5 characters: no 6-gram
    assert {"sh-", "so-77", "rom", "ome"} <= set(keys)
    assert not any("odf" in key for key in keys)
    assert search_keys("invoices", {"_id": "IN-1"}) is None
    assert order_keys(["SO-77", "so-77"]) == ["so-77"]


def test_a_fragment_looks_up_its_first_and_last_substring_of_the_longest_length() -> None:
    assert fragment_keys("1Z999AA10123") == ["1z999a", "a10123"]
    assert fragment_keys("Rom") == ["rom"]
    assert fragment_keys("ABCDE") == ["abc", "cde"]
    assert all(re.fullmatch(r"[a-z0-9]{6}", key) for key in fragment_keys("X" * 40))


def test_the_projector_writes_the_keys_with_the_document() -> None:
    doc = with_search_keys("orders", {"_id": "SO-1", "customerReference": "PO-4711"})
    assert "po-471" in doc["_search"]
    assert with_search_keys(EntityKey("invoices", "IN-1").kind, {"_id": "IN-1"}) == {"_id": "IN-1"}
