"""Fixtures shared by the unit tests (the services' fixtures are in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def empty_toml(tmp_path: Path) -> Path:
    """An empty TOML file: what a setting naming a file needs to start with its defaults."""
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path
