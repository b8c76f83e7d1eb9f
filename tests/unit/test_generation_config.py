"""Which projectors may write a generation: the fingerprint of its status mapping and
reducers (``projections.generation_config``)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from projections import generation_config
from projections.generation_config import ConfigMismatch, projection_config, refusal
from projections.reducers import REDUCER_VERSION
from projections.status_mapping import StatusMapping, load_status_mapping


def _mapping(**codes: str) -> StatusMapping:
    return StatusMapping(MappingProxyType({"tms/us-road": MappingProxyType(dict(codes))}))


def test_a_projector_with_the_generations_configuration_writes_it() -> None:
    own = projection_config(load_status_mapping())
    assert refusal("g20261201070000", own, own) is None


def test_a_generation_without_a_recorded_configuration_is_written_by_any_projector() -> None:
    assert refusal("", None, projection_config(_mapping(AF="PICKED_UP"))) is None


def test_a_projector_with_another_mapping_is_refused_naming_both_fingerprints() -> None:
    built = projection_config(_mapping(AF="PICKED_UP", ZZ="IN_TRANSIT"))
    running = projection_config(_mapping(AF="PICKED_UP"))
    refused = refusal("g20261201070000", built, running)
    assert isinstance(refused, ConfigMismatch)
    assert all(part in str(refused) for part in ("g20261201070000", built, running))


def test_the_fingerprint_follows_the_mappings_content_not_the_order_of_its_entries() -> None:
    assert projection_config(_mapping(AF="PICKED_UP", X6="OUT_FOR_DELIVERY")) == (
        projection_config(_mapping(X6="OUT_FOR_DELIVERY", AF="PICKED_UP"))
    )
    assert projection_config(_mapping(AF="PICKED_UP")) != projection_config(_mapping(AF=""))


def test_other_reducers_are_another_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = load_status_mapping()
    before = projection_config(mapping)
    monkeypatch.setattr(generation_config, "REDUCER_VERSION", REDUCER_VERSION + 1)
    assert projection_config(mapping) != before
