"""The readers leave each collection's bookkeeping out of their reads
(``documents.WITHOUT_BOOKKEEPING``): the list must name every bookkeeping field the projector
writes, or a new one is read (and dropped by the readers) for nothing. The store's own
(``_writes``, ``_writer``) are checked on documents the projector really wrote, with what the
store sends the readers (tests/integration/test_resolvers_projected.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.events import Event
from readmodel import documents
from tests.helpers import fold
from tests.unit import strategies as s

_KINDS = st.sampled_from(
    [
        (documents.ORDERS, s.order_streams()),
        (documents.SHIPMENTS, s.shipment_streams()),
        (documents.INVOICES, s.invoice_streams()),
        (documents.SOURCES, s.source_status_streams()),
    ]
)


def _bookkeeping(doc: dict[str, Any]) -> set[str]:
    return {key for key in doc if key.startswith("_") and key != "_id"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_bookkeeping_field_the_reducers_write_is_left_out_of_reads(
    data: st.DataObject,
) -> None:
    collection, streams = data.draw(_KINDS)
    events: list[Event] = data.draw(streams)
    doc = fold(*s.source_order(events))
    assert _bookkeeping(doc), "the reducers keep bookkeeping on every document"
    assert _bookkeeping(doc) <= set(documents.BOOKKEEPING_FIELDS[collection])
    assert set(documents.WITHOUT_BOOKKEEPING[collection]) == set(
        documents.BOOKKEEPING_FIELDS[collection]
    )
