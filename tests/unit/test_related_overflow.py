"""The cap on the summaries a document embeds, decided without services: which summary has
room, what a fold and a folded write do with one that has none, and the rules that read an
overflowing holder (its warehouses fail closed; its links are found by query)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import bson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.batch import EntityChange, EntityKey
from projections.document_size import summary_bytes
from projections.effects import (
    Effects,
    NamingRead,
    SummaryPush,
    fan_out_reads,
    fold,
    place,
    summaries_of,
)
from projections.event_fields import MAX_IDENTIFIER_LENGTH
from projections.store import FoldedWrite, _folded_update, updated
from projections.summaries import summarize
from readmodel import documents, links
from tests.helpers import summary_push

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CAP = 2
#: The cap as shipped (a fixture sets it to ``CAP``).
REAL_CAP = documents.MAX_RELATED_SUMMARIES
ORDER = EntityKey("orders", "SO-1")


@pytest.fixture(autouse=True)
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_RELATED_SUMMARIES", CAP)


def _holding(*shipment_ids: str, **extra: Any) -> dict[str, Any]:
    """An order embedding a summary of each of ``shipment_ids``."""
    held = {i: {"shipmentId": i, "rev": 1} for i in shipment_ids}
    return {"_id": "SO-1", "customerId": "ACME", "known": True, "rev": 4, **extra} | {
        "related": {"shipments": held}
    }


def test_what_the_summaries_can_take_fits_in_the_room_the_document_limit_leaves() -> None:
    """The planner measures a document with the summaries it holds then; what lands later is
    at most every kind's cap of the largest summaries, which must fit beside the largest
    document and the facts set aside for other customers."""
    room = documents.STORE_DOCUMENT_BYTES - documents.MAX_DOCUMENT_BYTES
    room -= documents.MAX_FOREIGN_FACTS_BYTES
    assert documents.RELATED_SUMMARIES_BYTES < room
    kinds = ("shipments", "invoices")  # the longer names of kinds held together
    full = {kind: {"SH-1": _entry("SH-1", documents.RELATED_KIND_BYTES)} for kind in kinds}
    assert len(bson.encode({"related": full})) - 5 <= documents.RELATED_SUMMARIES_BYTES
    assert all(len(kinds) <= documents.SUMMARY_KINDS_PER_DOCUMENT for kinds in _held_kinds())


#: The longest value a summary field of the contract's vocabularies takes.
def _longest(vocabulary: tuple[str, ...]) -> str:
    return max(vocabulary, key=len)


def _largest_documents(character: str = "I") -> dict[str, dict[str, Any]]:
    """A document of each kind whose summary is as large as the caps on ids and keys allow
    (every id and key ``MAX_IDENTIFIER_LENGTH`` times ``character``), with 100-character
    names of it, 20-digit amounts and the vocabularies' longest values."""
    top, name = character * MAX_IDENTIFIER_LENGTH, character * 100
    at, amount = datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), "-" + "9" * 20
    return {
        "orders": {"_id": top, "customerId": top, "warehouseId": top}
        | {"customerReference": top, "orderType": _longest(documents.ORDER_TYPES)}
        | {"shipTo": {"name": name}, "cancelled": True}
        | {"fulfillmentStage": _longest(documents.FULFILLMENT_STAGES)},
        "shipments": {"_id": top, "customerId": top, "trackingNumber": top}
        | {"status": _longest(documents.SHIPMENT_STATUSES)}
        | {"mode": _longest(documents.TRANSPORT_MODES), "carrier": {"scac": top, "name": name}}
        | {"eta": at, "deliveredAt": at},
        "invoices": {"_id": top, "customerId": top, "invoiceNumber": top, "currency": "USD"}
        | {"total": amount, "balance": amount, "dueDate": "2026-12-31"}
        | {"status": _longest(documents.INVOICE_STATUSES)},
    }


#: Characters of 1 to 4 bytes of UTF-8, and one that ``field_key`` escapes (3 in a key).
CHARACTERS = ["I", "é", "漢", "\U0001f69a", "%"]


@pytest.mark.parametrize("character", CHARACTERS)
@pytest.mark.parametrize("kind", ["orders", "shipments", "invoices"])
def test_a_summary_of_ids_and_keys_at_their_cap_fits_its_holder(kind: str, character: str) -> None:
    """Long ids are no reason to overflow a holder (and hide it from warehouse-limited
    callers for good), whatever their characters: the largest summary they allow is
    embedded, beside as many summaries as fit its kind's budget. Until session 20 a summary
    was capped at 1,664 bytes, sized for ASCII: 256 non-ASCII characters overflowed it."""
    doc = _largest_documents(character)[kind]
    summary = {**summarize(kind, doc), "rev": 2**62}
    assert all(value is not None for value in summary.values()), summary
    key = documents.field_key(doc["_id"])
    size = summary_bytes(key, summary)  # as a push measures it
    assert links.has_room({}, kind, key, summary, size), size
    if character == "I":  # an ordinary summary: the budget holds the count cap's of them
        assert len(bson.encode({key: summary})) <= documents.SUMMARY_SHARE_BYTES


def _held_kinds() -> list[set[str]]:
    """For each kind of document, the kinds of summaries it can hold: those it names and
    those of entities that name it."""
    return [
        set(links.NAMES_KINDS[kind]) | {other for (other, named) in links.NAMED_IN if named == kind}
        for kind in ("orders", "shipments", "invoices")
    ]


@pytest.mark.parametrize(
    ("held", "key", "size", "room"),
    [
        ((), "SH-1", 300, True),
        (("SH-1",), "SH-2", 300, True),
        (("SH-1", "SH-2"), "SH-3", 300, False),
        (("SH-1", "SH-2"), "SH-2", 300, True),
        ((), "SH-1", documents.MAX_SUMMARY_BYTES + 1, False),
        (("SH-1",), "SH-1", documents.MAX_SUMMARY_BYTES + 1, False),
    ],
    ids=["empty", "below the cap", "at the cap", "held already", "too large", "too large, held"],
)
def test_a_summary_has_room_below_the_cap_or_in_place_of_its_own_and_never_when_too_large(
    held: tuple[str, ...], key: str, size: int, room: bool
) -> None:
    entry = {"shipmentId": key, "rev": 2}
    assert links.has_room(_holding(*held), "shipments", key, entry, size) is room


def _entry(key: str, size: int, rev: int = 1) -> dict[str, Any]:
    """A shipment's summary that takes exactly ``size`` BSON bytes under ``key`` (in a map
    of it alone: the map of a kind of that size)."""
    entry: dict[str, Any] = {"shipmentId": key, "status": "", "rev": rev}
    entry["status"] = "s" * (size - len(bson.encode({key: entry})))
    assert len(bson.encode({key: entry})) == size
    return entry


def _kind(**entries: dict[str, Any]) -> dict[str, Any]:
    return {"_id": "SO-1", "related": {"shipments": entries}}


def test_summaries_no_larger_than_their_share_find_no_room_only_at_the_count_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The budget changes nothing for ordinary summaries: a holder of the real cap's worth
    less one, each of ``SUMMARY_SHARE_BYTES``, takes one more of that size (and so measures
    the budget exactly), and only the count refuses the next."""
    monkeypatch.setattr(documents, "MAX_RELATED_SUMMARIES", REAL_CAP)
    share = documents.SUMMARY_SHARE_BYTES
    held = {f"SH-{n:03d}": _entry(f"SH-{n:03d}", share) for n in range(REAL_CAP - 1)}
    last = _entry("SH-LAST", share)
    assert links.has_room(_kind(**held), "shipments", "SH-LAST", last, share)
    held["SH-LAST"] = last
    assert len(bson.encode(held)) <= documents.RELATED_KIND_BYTES
    assert not links.has_room(_kind(**held), "shipments", "SH-MORE", _entry("SH-MORE", 300), 300)


def test_large_summaries_fit_while_their_kind_keeps_within_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Summaries of ``MAX_SUMMARY_BYTES`` beside an ordinary one, fewer than the cap: embedded
    while the kind keeps within ``RELATED_KIND_BYTES``, and the one that would take it past
    finds no room; a newer summary of a held source is measured in place of the old one, so
    a kind at its budget takes it up to the last byte, and not one more."""
    monkeypatch.setattr(documents, "MAX_RELATED_SUMMARIES", REAL_CAP)
    large, small = documents.MAX_SUMMARY_BYTES, 1_000
    held: dict[str, Any] = {"SH-S": _entry("SH-S", small)}
    for n in range(REAL_CAP):
        key, entry = f"SH-{n}", _entry(f"SH-{n}", large)
        if not links.has_room(_kind(**held), "shipments", key, entry, large):
            break
        held[key] = entry
    assert n == 86 < REAL_CAP - 1  # refused for bytes, not for the count
    spare = documents.RELATED_KIND_BYTES - len(bson.encode(held))
    assert small + spare < large
    fills = _entry("SH-S", small + spare, rev=2)
    assert links.has_room(_kind(**held), "shipments", "SH-S", fills, small + spare)
    past = _entry("SH-S", small + spare + 1, rev=2)
    assert not links.has_room(_kind(**held), "shipments", "SH-S", past, small + spare + 1)


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(100, 6_000)), max_size=60))
def test_no_sequence_of_summaries_takes_a_kind_past_its_budget(
    pushes: list[tuple[int, int]],
) -> None:
    """Whatever sizes arrive in whatever order (new sources, newer summaries of held ones),
    what ``place`` embeds keeps every kind within ``RELATED_KIND_BYTES``, here set to hold
    a few large summaries."""
    budget = 4 * documents.MAX_SUMMARY_BYTES
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "RELATED_KIND_BYTES", budget)
        patch.setattr(documents, "MAX_RELATED_SUMMARIES", 30)
        doc: dict[str, Any] = {"_id": "SO-1", "related": {}}
        measure = links.KindBytes()  # one run of placements, as a fold's
        for rev, (source, size) in enumerate(pushes, start=1):
            key = f"SH-{source}"
            summary = {
                name: value for name, value in _entry(key, size, rev).items() if name != "rev"
            }
            push = replace(summary_push("SO-1", key, rev), summary=summary, size=size)
            place(doc, push, measure)
            assert len(bson.encode(doc["related"].get("shipments", {}))) <= budget


#: Keys of 1- to 4-byte characters (and an empty one), few enough to be replaced in place.
_KEYS = st.sampled_from(["SH-1", "é", "漢字", "\U0001f69a%2E", ""]) | st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=6
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.datetimes(max_value=datetime(9999, 12, 31))
)
#: Summaries and whatever else a stored map may hold: nested documents and arrays.
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@given(
    st.dictionaries(_KEYS, _VALUES, max_size=6),
    st.lists(st.tuples(_KEYS, st.none() | _VALUES), max_size=20),
    _KEYS,
    _VALUES,
)
def test_a_kind_s_running_size_is_what_bson_encodes(
    held: dict[str, Any], changes: list[tuple[str, Any]], key: str, value: Any
) -> None:
    """``KindBytes`` keeps a kind's size from its elements' after one whole encoding; it
    decides room in memory as the store's ``$bsonSize`` does, so it must be what
    ``bson.encode`` gives the map, byte for byte, after any sequence of summaries put in
    (new or in place of one held) and taken out (None)."""
    entries = dict(held)
    measure = links.KindBytes()
    assert measure.with_entry(entries, key, value) == len(bson.encode({**entries, key: value}))
    for changed, new in changes:
        if new is None:
            measure.take(entries, changed)
        else:
            if changed in entries or len(entries) % 2:  # as has_room measures, or not
                measure.with_entry(entries, changed, new)
            measure.put(entries, changed, new)
        for probe in (key, changed):
            expected = len(bson.encode({**entries, probe: value}))
            assert measure.with_entry(entries, probe, value) == expected


def test_a_run_of_placements_encodes_a_holder_s_kind_whole_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Placing the cap's worth of summaries into one holder (a fold may place hundreds)
    encoded the whole kind for each placed past 85, 1.5-1.9 ms each at 250: once is enough,
    the rest is measured summary by summary."""
    monkeypatch.setattr(documents, "MAX_RELATED_SUMMARIES", REAL_CAP)
    encode = bson.encode
    maps: list[int] = []

    def counted(doc: Any, *args: Any, **kwargs: Any) -> bytes:
        if len(doc) > 1:  # a map of several summaries, not one summary under its key
            maps.append(len(doc))
        return encode(doc, *args, **kwargs)

    monkeypatch.setattr(bson, "encode", counted)
    doc: dict[str, Any] = {"_id": "SO-1", "related": {}}
    measure = links.KindBytes()
    for n in range(REAL_CAP):
        push = summary_push("SO-1", f"SH-{n:03d}", rev=1)
        assert place(doc, replace(push, size=summary_bytes(push.key, push.entry())), measure)
    assert len(maps) == 1
    monkeypatch.undo()
    assert len(doc["related"]["shipments"]) == REAL_CAP
    assert measure.with_entry(doc["related"]["shipments"], "SH-NEW", {}) == len(
        bson.encode({**doc["related"]["shipments"], "SH-NEW": {}})
    )


def test_placing_beyond_the_cap_marks_the_holder_and_leaves_the_stored_marks_alone() -> None:
    stored = _holding("SH-1", "SH-2", relatedOverflow={})
    view = {**stored, "related": {"shipments": dict(stored["related"]["shipments"])}}
    measure = links.KindBytes()
    assert not place(view, summary_push("SO-1", "SH-3", rev=1), measure)
    assert place(view, summary_push("SO-1", "SH-2", rev=2), measure)
    assert sorted(view["related"]["shipments"]) == ["SH-1", "SH-2"]
    assert view["related"]["shipments"]["SH-2"]["rev"] == 2
    assert links.overflowing(view, "shipments") and not links.overflowing(view, "invoices")
    assert stored[documents.RELATED_OVERFLOW] == {}


def test_a_newer_summary_too_large_takes_out_the_one_held_in_the_view_and_the_folded_write() -> (
    None
):
    """A summary of an embedded source that grows past ``MAX_SUMMARY_BYTES``: the holder is
    marked and keeps no summary of that source, as after the store's guarded push
    (``test_a_summary_too_large_is_never_embedded_even_where_there_is_room``), not the
    older one beside the mark."""
    stored = _holding("SH-1", "SH-2", _writes=3)
    view = {**stored, "related": {"shipments": dict(stored["related"]["shipments"])}}
    large = replace(summary_push("SO-1", "SH-1", rev=2), size=documents.MAX_SUMMARY_BYTES + 1)
    assert not place(view, large, links.KindBytes())
    assert sorted(view["related"]["shipments"]) == ["SH-2"]
    assert links.overflowing(view, "shipments")

    write = FoldedWrite("SO-1", stored, None, [replace(large, room=False)])
    update = _folded_update("orders", write, T0, "w")
    assert "related.shipments.SH-1" not in update["$set"]
    written = updated(stored, update)
    assert sorted(written["related"]["shipments"]) == ["SH-2"]
    assert written[documents.RELATED_OVERFLOW] == {"shipments": True}


def _new_shipment(shipment_id: str) -> EntityChange:
    after = {"_id": shipment_id, "customerId": "ACME", "known": True, "orderIds": ["SO-1"]}
    return EntityChange(
        key=EntityKey("shipments", shipment_id),
        before=None,
        after=after,
        set_fields=dict(after),
        unset_fields=(),
        last_event=documents.EventRef(source="tms", id="e1", type="t", time=T0),
        customer_id="ACME",
    )


def test_a_fold_embeds_up_to_the_cap_and_its_write_marks_the_holder_for_the_rest() -> None:
    """Three new shipments naming an order that embeds one already: one more fits, the other
    two go into the order's write as its overflow mark, not as summaries."""
    stored = _holding("SH-0", _writes=3)
    changes = [_new_shipment(f"SH-{n}") for n in range(1, 4)]
    groups: dict[EntityKey, list[Any]] = {change.key: [] for change in changes}
    folded = fold({ORDER: stored}, changes, set(), [], groups)
    into_order = folded.folded[ORDER]
    assert [(p.source_id, p.room) for p in into_order] == [
        ("SH-1", True),
        ("SH-2", False),
        ("SH-3", False),
    ]

    write = FoldedWrite("SO-1", stored, None, into_order)
    fields = _folded_update("orders", write, T0, "w")["$set"]
    assert sorted(name for name in fields if name.startswith("related.")) == [
        "related.shipments.SH-1"
    ]
    assert fields[f"{documents.RELATED_OVERFLOW}.shipments"] is True


def _invoice_push(invoice_id: str, customer: str) -> SummaryPush:
    """Invoice ``invoice_id``'s summary (of ``customer``) pushed into order SO-1."""
    summary = {"invoiceId": invoice_id, "status": "OPEN", "customerId": customer}
    return SummaryPush("orders", "SO-1", "invoices", invoice_id, 1, summary, customer, size=300)


def test_an_overflowing_holder_records_the_customers_of_the_invoices_it_has_no_room_for() -> None:
    """Invoices naming an order are found through their customers' indexes: the customers
    whose invoices found no room are recorded with the mark (in a fold's view, and as the
    folded write stores them), and the projector's read of what names the order, when it
    changes, reads those customers' invoices besides ACME's. Shipments are found through
    their own index: nothing recorded for them."""
    held = {f"IN-{n}": {"invoiceId": f"IN-{n}", "rev": 1} for n in range(CAP)}
    stored = _holding("SH-1", "SH-2", _writes=3)
    stored["related"]["invoices"] = held
    view = {**stored, "related": {kind: dict(sums) for kind, sums in stored["related"].items()}}
    pushes = [_invoice_push("IN-G", "GLOBEX"), _invoice_push("IN-A", "ACME")]
    pushes.append(replace(summary_push("SO-1", "SH-9", rev=1), size=300))
    measure = links.KindBytes()
    assert not any(place(view, push, measure) for push in pushes)
    assert view[documents.RELATED_OVERFLOW_CUSTOMERS] == {"invoices": ["ACME", "GLOBEX"]}

    write = FoldedWrite("SO-1", stored, None, [replace(push, room=False) for push in pushes])
    written = updated(stored, _folded_update("orders", write, T0, "w"))
    assert written[documents.RELATED_OVERFLOW_CUSTOMERS] == {"invoices": ["ACME", "GLOBEX"]}

    moved = Effects(ORDER, {**view, "warehouseId": "DC-ATL"}, {**view, "rev": 5}, [])
    assert sorted(fan_out_reads([moved])) == [
        NamingRead("invoices", "orderIds", "orders", ("ACME", "GLOBEX"), ("SO-1",)),
        NamingRead("shipments", "orderIds", "orders", None, ("SO-1",)),
    ]


#: Field names: BSON's may not hold NUL (no id or summary field does: ``event_fields``).
NAMES = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=12
)


@given(
    st.dictionaries(
        NAMES,
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**63 - 1)
        | st.floats()
        | st.lists(st.text(max_size=5), max_size=30)
        | st.text(max_size=200)
        | st.datetimes(timezones=st.just(UTC))
        | st.dictionaries(NAMES, st.text(max_size=60), max_size=4),
        max_size=14,
    ),
    NAMES,
)
def test_a_summarys_measure_is_never_below_its_bson_and_exact_when_it_is_too_large(
    entry: dict[str, Any], key: str
) -> None:
    exact = len(bson.encode({key: entry}))
    measured = summary_bytes(key, entry)
    assert measured >= exact
    if measured > documents.MAX_SUMMARY_BYTES:
        assert measured == exact


def test_a_summarys_size_is_measured_once_with_its_key_and_rev() -> None:
    name = "x" * documents.MAX_SUMMARY_BYTES
    doc = {"_id": "SO-1", "customerId": "ACME", "rev": 3, "shipTo": {"name": name}}
    to = [EntityKey("shipments", "SH-1"), EntityKey("shipments", "SH-2")]
    pushes: list[SummaryPush] = summaries_of(doc, "orders", "SO-1", to=to, exact=False)
    assert len({push.size for push in pushes}) == 1
    assert pushes[0].size > len(name) == documents.MAX_SUMMARY_BYTES
    assert not links.has_room({}, "orders", pushes[0].key, pushes[0].entry(), pushes[0].size)


@pytest.mark.parametrize("kind", sorted(documents.WAREHOUSE_DERIVED_KINDS))
def test_an_overflowing_holders_warehouses_cannot_be_told(kind: str) -> None:
    """Every order summary it holds is Atlanta's, but it has orders it embeds none of: the
    warehouse rule fails closed, and a notice made of it carries no order to judge by."""
    summaries = {"SO-1": {"orderId": "SO-1", "warehouseId": "DC-ATL", "rev": 1}}
    doc: dict[str, Any] = {
        "orderIds": ["SO-1"],
        "lines": [{"orderId": "SO-1"}],
        "related": {"orders": summaries},
    }
    assert links.visible_warehouses(kind, doc) == ["DC-ATL"]
    doc[documents.RELATED_OVERFLOW] = {"orders": True}
    assert links.visible_warehouses(kind, doc) is None
    assert links.order_warehouses(doc) == {}


@pytest.mark.parametrize(
    ("holder", "kind", "field", "indexed"),
    [
        ("orders", "shipments", "orderIds", True),
        ("orders", "invoices", "orderIds", False),
        ("shipments", "orders", "fulfillment.shipmentIds", True),
        ("shipments", "invoices", "shipmentIds", False),
        ("invoices", "orders", None, False),
        ("invoices", "shipments", None, False),
    ],
)
def test_the_links_of_an_overflowing_holder_are_found_by_the_field_naming_it(
    holder: documents.EntityKind, kind: documents.EntityKind, field: str | None, indexed: bool
) -> None:
    """An invoice is named by nothing: it names every link it has. The invoices naming an
    overflowing holder are read without an index of their own (rare; two multikey indexes
    doubled every invoice write's store time): that read may scan the caller's customers'
    invoices (``naming_scans``, which the cost limit charges)."""
    assert links.naming_field(holder, kind) == field
    if field is not None:
        assert links.naming_query(field, ["X-1", "X-2"]) == {field: {"$in": ["X-1", "X-2"]}}
        assert (documents.field_index(kind, field) is not None) is indexed
    assert links.naming_scans(holder, kind) is (field is not None and not indexed)
