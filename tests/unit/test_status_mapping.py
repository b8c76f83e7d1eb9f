"""The packaged status map covers the contract; a bad map file stops start-up clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from projections.status_mapping import (
    INFORMATIONAL,
    StatusMappingError,
    load_status_mapping,
)
from readmodel.documents import SHIPMENT_STATUSES
from tests.contract import CONTRACT


def contract_codes() -> tuple[list[str], list[str]]:
    """The X12 codes and the eu-road words, read from the contract's prose."""
    text = " ".join(CONTRACT.read_text().split())
    x12_part = text[text.index("send X12 214") : text.index("`tms/eu-road` sends")]
    eu_part = text[text.index("`tms/eu-road` sends") : text.index("New sources and codes")]
    x12 = re.findall(r"`([A-Z0-9]{2})`", x12_part)
    eu = re.findall(r"`([A-Z_]+)`", eu_part)
    return x12, eu


def test_the_contract_lists_the_codes_this_test_expects() -> None:
    x12, eu = contract_codes()
    assert len(x12) == 18 and {"X3", "D1", "CA"} <= set(x12)
    assert len(eu) == 9 and {"COLLECTED", "RETURNED"} <= set(eu)


@pytest.mark.parametrize("source", ["tms/us-road", "tms/us-parcel"])
def test_every_x12_code_is_mapped_for_the_us_sources(source: str) -> None:
    mapping = load_status_mapping()
    x12, _ = contract_codes()
    missing = [code for code in x12 if mapping.map(source, code) is None]
    assert missing == []


def test_every_eu_road_word_is_mapped() -> None:
    mapping = load_status_mapping()
    _, eu = contract_codes()
    assert [word for word in eu if mapping.map("tms/eu-road", word) is None] == []


def test_every_mapped_value_is_a_portal_status_or_informational() -> None:
    mapping = load_status_mapping()
    for codes in mapping.table.values():
        for status in codes.values():
            assert status == INFORMATIONAL or status in SHIPMENT_STATUSES


@pytest.mark.parametrize(
    ("source", "code", "status"),
    [
        ("tms/us-road", "AF", "PICKED_UP"),
        ("tms/us-road", "D1", "DELIVERED"),
        ("tms/us-parcel", "AH", "DELIVERY_ATTEMPTED"),
        ("tms/us-road", "X3", "PLANNED"),  # carrier at pick-up: not picked up yet
        ("tms/us-road", "AG", INFORMATIONAL),  # estimates are not progress
        ("tms/us-road", "X2", INFORMATIONAL),
        ("tms/us-road", "CD", INFORMATIONAL),  # must not undo DELIVERED
        ("tms/us-road", "A9", "EXCEPTION"),
        ("tms/eu-road", "OUT_FOR_DELIVERY", "OUT_FOR_DELIVERY"),
        ("tms/eu-road", "NOT_DELIVERED", "DELIVERY_ATTEMPTED"),
    ],
)
def test_notable_codes_mean_what_a_portal_user_expects(source: str, code: str, status: str) -> None:
    assert load_status_mapping().map(source, code) == status


def test_codes_are_per_source_and_unknown_ones_are_none() -> None:
    mapping = load_status_mapping()
    assert mapping.map("tms/eu-road", "D1") is None  # an X12 code from a non-X12 source
    assert mapping.map("tms/us-road", "DELIVERED") is None
    assert mapping.map("tms/brand-new", "D1") is None  # no default table
    assert mapping.map("tms/us-road", "d1") is None  # exact match only


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.toml"
    path.write_text(text)
    return path


def test_another_file_can_be_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, '[sources."tms/new"]\nPU = "PICKED_UP"\nETA = ""\n')
    mapping = load_status_mapping(path)
    assert mapping.map("tms/new", "PU") == "PICKED_UP"
    assert mapping.map("tms/new", "ETA") == INFORMATIONAL
    assert mapping.map("tms/us-road", "AF") is None


def test_an_unknown_portal_status_is_refused_naming_file_source_and_code(tmp_path: Path) -> None:
    path = write(tmp_path, '[sources."tms/new"]\nPU = "PICKED_UP"\nDL = "DELIVERD"\n')
    with pytest.raises(StatusMappingError) as refused:
        load_status_mapping(path)
    message = str(refused.value)
    assert str(path) in message
    assert "'tms/new'" in message and "'DL'" in message and "'DELIVERD'" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[sources."tms/new"]\nPU = 3\n', "status must be a string"),
        ('[sources]\n"tms/new" = "PICKED_UP"\n', "must be a table"),
        ('[default]\nPU = "PICKED_UP"\n', "unexpected top-level key(s) default"),
        ("[sources\n", "not valid TOML"),
    ],
)
def test_malformed_map_files_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(StatusMappingError) as refused:
        load_status_mapping(write(tmp_path, text))
    assert fragment in str(refused.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StatusMappingError, match="cannot read"):
        load_status_mapping(tmp_path / "absent.toml")
