"""Search keys: every value containing a fragment holds the fragment's keys, so the index
lookup the readers send never misses a match (the ``$regex`` check then drops the rest); and
the projector writes a search document only when it would differ."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from projections.batch import EntityKey
from projections.effects import Effects
from projections.search_writes import search_documents_to_write
from readmodel.search_keys import (
    MIN_FRAGMENT,
    fragment_keys,
    search_document,
    search_form,
    without_separators,
)

values = st.text(
    alphabet=st.characters(codec="latin-1", exclude_categories=["Cc", "Cs"]), max_size=30
)


def test_text_is_compared_without_case_accents_spaces_and_dashes() -> None:
    """What support staff type and what sources stored meet in one form: Unicode case
    folding, accents dropped (NFKD), no spaces or dashes; ASCII's ``lower()`` for ASCII."""
    every_ascii = "".join(map(chr, range(128)))
    assert search_form(every_ascii) == without_separators(every_ascii).lower()
    assert search_form("İSTANBUL") == search_form("İstanbul") == "istanbul"
    assert search_form("Zürich") == search_form("ZU\u0308RICH") == "zurich"
    assert search_form("Straße ÉTÉ ŁÓDŹ ﬁLE") == "strasseetełodzfile"
    assert search_form("PO-10045") == search_form("po 10045") == search_form("PO10045")
    assert search_form("1Z\u00a0999\u2013AA1") == "1z999aa1"


@given(values, st.data())
def test_a_document_holds_the_keys_of_every_fragment_it_contains(
    value: str, data: st.DataObject
) -> None:
    """A fragment of a value, typed in other case, with separators added or left out,
    yields keys the value's search document holds."""
    assume(len(value) >= MIN_FRAGMENT)
    start = data.draw(st.integers(min_value=0, max_value=len(value) - MIN_FRAGMENT))
    end = data.draw(st.integers(min_value=start + MIN_FRAGMENT, max_value=len(value)))
    part = value[start:end]
    typed = data.draw(
        st.sampled_from(
            [part, part.swapcase(), without_separators(part), " - ".join(part), part.upper()]
        )
    )
    assume(search_form(typed) in search_form(value))
    keys = fragment_keys(typed)
    assume(keys is not None)  # separators only: too short a form to have a key
    assert keys
    shipment = search_document("shipments", "SH-1", {"trackingNumber": value})
    order = search_document("orders", "SO-1", {"shipTo": {"name": value}})
    assert shipment is not None and order is not None
    assert set(keys) <= set(shipment["keys"])
    assert set(keys) <= set(order["keys"])


def test_a_value_stored_with_separators_holds_the_keys_of_the_text_typed_without() -> None:
    order = search_document("orders", "SO-1", {"customerReference": "PO-10045"})
    shipment = search_document("shipments", "SH-1", {"trackingNumber": "1Z 999 AA1"})
    city = search_document("shipments", "SH-2", {"destination": {"city": "İstanbul"}})
    assert order is not None and shipment is not None and city is not None
    assert set(fragment_keys("PO10045") or ()) <= set(order["keys"])
    assert set(fragment_keys("1z999aa1") or ()) <= set(shipment["keys"])
    assert set(fragment_keys("istanbul") or ()) <= set(city["keys"])


def test_a_search_document_holds_what_the_search_and_the_scope_filter_read() -> None:
    shipment = {
        "_id": "SH-1",
        "customerId": "ACME",
        "known": True,
        "rev": 4,
        "trackingNumber": "1Z999",
        "orderIds": ["SO-77"],
        "destination": {"city": "Rome"},
        "carrierScac": "ODFL",
    }
    document = search_document("shipments", "SH-1", shipment)
    assert document is not None
    assert document["text"] == ["SH-1", "1Z999", "SO-77", "Rome"]
    assert {"1z9", "z99", "999", "so7", "o77", "rom", "ome"} <= set(document["keys"])
    assert "1z999" not in document["keys"]  # 5 characters: no key of 6
    assert not any("odf" in key for key in document["keys"])
    assert (document["customerId"], document["known"], document["rev"]) == ("ACME", True, 4)
    assert document["orderIds"] == ["SO-77"]
    order = search_document("orders", "SO-1", {"customerReference": "PO-1", "warehouseId": "W"})
    assert order is not None and order["warehouseId"] == "W"
    assert search_document("invoices", "IN-1", {"_id": "IN-1"}) is None


def test_a_fragment_is_looked_up_by_its_first_and_last_keys_of_the_longest_length() -> None:
    assert fragment_keys("1Z999AA10123") == ["1z999a", "a10123"]
    assert fragment_keys("Rome") == ["rom", "ome"]
    assert fragment_keys("ROM") == ["rom"]
    assert fragment_keys("ab") is None
    assert fragment_keys("a-b") is None  # separators are no characters of the form
    assert fragment_keys("PO-10045") == fragment_keys("po10045") == ["po1004", "o10045"]


def _effects(before: dict[str, object] | None, after: dict[str, object]) -> Effects:
    return Effects(EntityKey("orders", "SO-1"), before, after, ())


def test_the_projector_writes_a_search_document_only_when_it_would_differ() -> None:
    stored = dict(_id="SO-1", customerId="ACME", known=True, rev=2, customerReference="PO-1")
    progressed = {**stored, "rev": 3, "fulfillmentStage": "PICKED"}
    renamed = {**stored, "rev": 3, "customerReference": "PO-2"}
    known = {**stored, "known": False}
    written = search_documents_to_write(
        [
            _effects(stored, progressed),  # nothing searchable changed: no write
            _effects(stored, renamed),
            _effects(known, stored),  # became known: the scope filter reads it
            _effects(None, stored),  # new, or events repeated: derived again
            _effects(None, known),  # a placeholder: not served, no search document
            Effects(EntityKey("invoices", "IN-1"), None, {"invoiceNumber": "1"}, ()),
        ]
    )
    assert [(doc["rev"], doc["text"]) for doc in written] == [
        (3, ["SO-1", "PO-2"]),
        (2, ["SO-1", "PO-1"]),
        (2, ["SO-1", "PO-1"]),
    ]
