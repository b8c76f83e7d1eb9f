"""The committed schema file is the schema the code defines (client toolchains read it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.export import SCHEMA_FILE, main, schema_sdl


def test_the_committed_schema_file_is_current() -> None:
    assert SCHEMA_FILE.read_text("utf-8") == schema_sdl(), (
        "graph/schema.graphql is stale: run `python -m graph.export` and commit it"
    )


def test_the_check_command_reports_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: String }\n", "utf-8")
    monkeypatch.setattr("graph.export.SCHEMA_FILE", stale)
    assert main(["--check"]) == 1
    assert main([]) == 0
    assert main(["--check"]) == 0
    assert "interface Node" in stale.read_text("utf-8")
