"""No function outside the tests is longer than 60 lines, except the data tables named here.

A long function hides the steps it takes; split it into steps with names. A table (a list of
GraphiQL examples) reads best in one piece, or better in a data file.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 60
#: Where code lives; ``tests``, the vendored ``clients`` and the virtualenv are left out.
PACKAGES = (
    "bench",
    "config",
    "entitlements",
    "graph",
    "observability",
    "projections",
    "resolvers",
    "scripts",
    "simulator",
    "web",
)
#: (file, function) -> why it may be longer: data tables only.
TABLES: dict[tuple[str, str], str] = {}


def long_functions() -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            for node in ast.walk(ast.parse(path.read_text("utf-8"), relative)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    assert node.end_lineno is not None
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_LINES:
                        found[(relative, node.name)] = lines
    return found


def test_no_function_is_longer_than_60_lines_except_tables() -> None:
    too_long = {key: lines for key, lines in long_functions().items() if key not in TABLES}
    assert not too_long, f"split these into named steps: {too_long}"


def test_every_exempt_table_still_exists_and_is_long() -> None:
    """An exemption that no longer applies is removed, not left to cover something else."""
    assert set(TABLES) <= set(long_functions())
