"""The size the limit is checked against: a search document that may be over the limit is
always measured (the cheap bound that spares building it is never below it)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.document_size import document_size, encoded_size
from readmodel.search_keys import search_document

#: Characters of one, two, three and four UTF-8 bytes.
_RANGES = ((0x21, 0x7E), (0xC0, 0x24F), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF))


@st.composite
def _varied(draw: st.DrawFn) -> str:
    """Text of up to 2,000 characters, each drawn from one of ``_RANGES``: few repeated
    substrings, so about two keys per character (hypothesis' own text repeats a lot)."""
    rng = draw(st.randoms(use_true_random=False))
    ranges = draw(st.lists(st.sampled_from(_RANGES), min_size=1, max_size=4))
    length = draw(st.integers(1, 2_000))
    return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(length))


_TEXT = st.one_of(st.text(min_size=1, max_size=50), _varied())


@st.composite
def _searched(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """An order or a shipment with arbitrary searchable values (any Unicode text)."""
    entity_id = draw(_TEXT)
    customer = draw(st.one_of(st.none(), _TEXT))
    doc: dict[str, Any]
    if draw(st.booleans()):
        doc = {
            "_id": entity_id,
            "customerId": customer,
            "known": True,
            "customerReference": draw(_TEXT),
            "shipTo": {"name": draw(_TEXT)},
            "warehouseId": draw(st.one_of(st.none(), _TEXT)),
        }
        return "orders", entity_id, doc
    doc = {
        "_id": entity_id,
        "customerId": customer,
        "known": True,
        "trackingNumber": draw(_TEXT),
        "orderIds": draw(st.lists(_TEXT, max_size=8)),
        "destination": {"city": draw(_TEXT)},
    }
    return "shipments", entity_id, doc


# generating a few thousand characters per value is slow by hypothesis' measure, not a fault
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_searched())
def test_a_search_document_just_over_the_limit_is_always_measured(
    searched: tuple[str, str, dict[str, Any]],
) -> None:
    kind, entity_id, doc = searched
    search_size = encoded_size(search_document(kind, entity_id, doc))

    size = document_size(kind, entity_id, doc, limit=search_size - 1)

    assert size.bytes >= search_size
