"""The projector's document cache and the pure update it keeps documents by: an entry must
be exactly what a read of the store would return, or the cache must not hold it."""

from __future__ import annotations

from typing import Any

from projections.batch import EntityKey
from projections.document_cache import DocumentCache
from projections.store import updated

ORDER = EntityKey("orders", "o1")
SHIPMENT = EntityKey("shipments", "s1")


def test_update_applies_set_unset_and_inc_as_the_store_does_and_leaves_the_original_alone() -> None:
    seen: dict[str, Any] = {
        "_id": "o1",
        "rev": 3,
        "_writes": 7,
        "stage": "PICKED",
        "note": "x",
        "related": {"shipments": {"s1": {"rev": 1}}},
    }
    update: dict[str, dict[str, Any]] = {
        "$set": {"stage": "PACKED", "related.shipments.s2": {"rev": 2}, "related.invoices.i1": {}},
        "$unset": {"note": ""},
        "$inc": {"rev": 1, "_writes": 1},
    }

    after = updated(seen, update)

    assert after == {
        "_id": "o1",
        "rev": 4,
        "_writes": 8,
        "stage": "PACKED",
        "related": {"shipments": {"s1": {"rev": 1}, "s2": {"rev": 2}}, "invoices": {"i1": {}}},
    }
    assert seen["related"] == {"shipments": {"s1": {"rev": 1}}} and seen["note"] == "x"


def test_an_unset_of_a_nested_field_is_applied_as_the_store_applies_it() -> None:
    """A folded write takes out a summary grown too large (``effects.place``): the nested
    field goes from a copy, and an unset under a missing parent creates nothing."""
    seen = {"a": {"b": 1, "c": 2}}
    assert updated(seen, {"$unset": {"a.b": "", "x.y": ""}}) == {"a": {"c": 2}}
    assert seen == {"a": {"b": 1, "c": 2}}


def test_a_cached_document_is_served_per_generation_and_absence_is_never_cached() -> None:
    cache = DocumentCache(10)
    cache.remember(cache.epoch, "", {ORDER: {"_id": "o1"}})

    held, missing = cache.split("", [ORDER, SHIPMENT])
    assert held == {ORDER: {"_id": "o1"}} and missing == [SHIPMENT]
    assert cache.split("g1", [ORDER]) == ({}, [ORDER])


def test_forgetting_everything_drops_what_a_read_in_flight_brings_back() -> None:
    cache = DocumentCache(10)
    epoch = cache.epoch  # a batch starts reading
    cache.forget_all()  # the group moved partitions meanwhile
    cache.remember(epoch, "", {ORDER: {"_id": "o1"}})
    assert len(cache) == 0


def test_sources_are_not_cached_and_forgotten_documents_are_read_again() -> None:
    cache = DocumentCache(10)
    cache.remember(cache.epoch, "", {EntityKey("sources", "wms"): {"_id": "wms"}, ORDER: {}})
    cache.forget("", [ORDER])
    assert len(cache) == 0


def test_related_documents_are_served_only_while_every_partition_is_held() -> None:
    cache = DocumentCache(10)
    assert not cache.serves_related
    cache.forget_all(serves_related=True)
    cache.forget_all()  # a failed batch: the assignment is unchanged
    assert cache.serves_related
    cache.forget_all(serves_related=False)
    assert not cache.serves_related


def test_a_document_kept_as_what_derives_it_is_derived_once_when_first_taken() -> None:
    derived: list[str] = []

    def derive() -> dict[str, Any]:
        derived.append("o1")
        return {"_id": "o1", "rev": 2}

    cache = DocumentCache(10)
    cache.remember(cache.epoch, "", {ORDER: derive})
    assert derived == []  # kept, not derived
    assert cache.split("", [ORDER]) == ({ORDER: {"_id": "o1", "rev": 2}}, [])
    assert cache.split("", [ORDER]) == ({ORDER: {"_id": "o1", "rev": 2}}, [])
    assert derived == ["o1"]
