"""Global ids: the Relay convention, strict decoding, and plain numbers still accepted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from graph.global_ids import GlobalId, decode, encode, number_for


def test_the_encoding_is_base64_of_type_and_number() -> None:
    assert encode("orders", "SO-100234") == "T3JkZXI6U08tMTAwMjM0"
    assert decode("T3JkZXI6U08tMTAwMjM0") == GlobalId("orders", "SO-100234")


@given(st.sampled_from(["orders", "shipments", "invoices"]), st.text(min_size=1))
def test_round_trip(kind: str, number: str) -> None:
    assert decode(encode(kind, number)) == GlobalId(kind, number)  # type: ignore[arg-type]


def test_plain_numbers_and_foreign_ids_are_not_global_ids() -> None:
    for value in ("SO-100234", "IN-1", "T3JkZXI6U08tMTAwMjM0==", "VXNlcjox", ""):
        assert decode(value) is None, value  # "VXNlcjox" is base64("User:1"): not our type
    assert number_for("orders", "SO-1") == "SO-1"
    assert number_for("orders", encode("orders", "SO-1")) == "SO-1"
    assert number_for("orders", encode("shipments", "SO-1")) is None
