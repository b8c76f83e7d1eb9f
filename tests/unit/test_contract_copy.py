"""The repository's copy of the contract is the upstream one, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract import CONTRACT_DIR, UPSTREAM_DIR


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and path.name != "README.md"
    }


def test_the_copy_has_the_contract_and_its_examples() -> None:
    files = _files(CONTRACT_DIR)
    assert "events-v1.md" in files
    assert len([name for name in files if name.startswith("examples/")]) == 7


def test_the_copy_equals_the_upstream_contract() -> None:
    if not UPSTREAM_DIR.is_dir():
        pytest.skip(f"no upstream contract beside this clone ({UPSTREAM_DIR})")
    assert _files(CONTRACT_DIR) == _files(UPSTREAM_DIR)
