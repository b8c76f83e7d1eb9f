"""The read pointer document, read by one parser (``readmodel.read_pointer``) for the
projector, the generations drop and the API alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import CodecOptions

from projections.store import ActiveGeneration, ProjectionStore
from readmodel.documents import REVISION_OFFSET
from readmodel.read_pointer import ReadPointer, read_pointer
from resolvers.generation import GenerationPointer

SWITCHED = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pointer", "offset"),
    [
        (None, 0),  # no pointer: the original generation
        ({"_id": "active", "suffix": "g1"}, 0),  # written before session 19
        ({"_id": "active", "suffix": "g1", "config": None}, 0),
        ({"suffix": "g1", REVISION_OFFSET: 20_150}, 20_150),
        ({"suffix": "g1", REVISION_OFFSET: -3}, 0),
        ({"suffix": "g1", REVISION_OFFSET: True}, 0),
        ({"suffix": "g1", REVISION_OFFSET: "20150"}, 0),
    ],
)
def test_a_pointer_without_an_offset_means_notices_carry_the_stored_rev(
    pointer: dict[str, Any] | None, offset: int
) -> None:
    assert read_pointer(pointer).revision_offset == offset


def test_every_field_of_a_pointer_a_switch_wrote() -> None:
    """As ``ProjectionStore.set_active_suffix`` writes it; a client that decodes times
    naive still gets the switch time in UTC."""
    doc = {
        "_id": "active",
        "suffix": "g2",
        "config": "map:abc",
        REVISION_OFFSET: 10_007,
        "previous": "g1",
        "switchedAt": SWITCHED.replace(tzinfo=None),
    }
    assert read_pointer(doc) == ReadPointer(
        "g2", "map:abc", 10_007, "g1", SWITCHED, switched_at_estimated=False, exists=True
    )


def test_no_pointer_is_the_original_generation_never_switched_to() -> None:
    assert read_pointer(None) == ReadPointer(
        "", None, 0, None, None, switched_at_estimated=False, exists=False
    )


def test_a_pointer_from_before_session_19_and_its_estimated_switch_time() -> None:
    assert read_pointer({"_id": "active", "suffix": "g1"}) == ReadPointer(
        "g1", None, 0, None, None, switched_at_estimated=False, exists=True
    )
    estimated = {"_id": "active", "suffix": "g1", "switchedAt": SWITCHED}
    estimated["switchedAtEstimated"] = True
    assert read_pointer(estimated).switched_at_estimated


class _Pointers:
    def __init__(self, doc: dict[str, Any] | None) -> None:
        self._doc = doc

    async def find_one(self, _filter: dict[str, Any]) -> dict[str, Any] | None:
        return self._doc


class _Db:
    """A database holding only the read pointer ``doc``."""

    codec_options: CodecOptions[Any] = CodecOptions()

    def __init__(self, doc: dict[str, Any] | None) -> None:
        self._pointers = _Pointers(doc)

    def __getitem__(self, _name: str) -> _Pointers:
        return self._pointers


@pytest.mark.parametrize(
    "doc",
    [
        None,
        {"_id": "active", "suffix": "g1"},
        {"_id": "active"},  # no suffix
        {"_id": "active", "suffix": 20261202},  # not a string
        {"_id": "active", "suffix": None, "config": 3},
    ],
)
def test_the_projector_writes_the_generation_readers_read(doc: dict[str, Any] | None) -> None:
    """Each parsed the pointer itself: one the projector did not expect failed it with a
    ``KeyError`` (no suffix) or sent its writes to generation "20261202" while readers read
    the original one; now both read it with one parser and name one generation."""
    db: Any = _Db(doc)
    written = asyncio.run(ProjectionStore(db).active_generation())
    read = asyncio.run(GenerationPointer(max_age_seconds=0).current(db))
    assert written.suffix == read.suffix == read_pointer(doc).suffix
    assert written == ActiveGeneration(read.suffix, read_pointer(doc).config, 0)
